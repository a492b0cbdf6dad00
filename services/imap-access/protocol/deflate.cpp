#include "services/imap-access/protocol/deflate.h"

#include <zlib.h>

#include <algorithm>

namespace postline::imap {

namespace {
// Raw DEFLATE (RFC 4978 3: no zlib header or checksum); 2^15 window, the
// largest, which every client's inflater accepts.
constexpr int kRawWindowBits = -15;
constexpr int kMemLevel = 8;
// Output grows by this much while zlib still has bytes to give.
constexpr size_t kOutStep = 16 * 1024;
}  // namespace

struct DeflateCodec::Zlib {
  z_stream out{};  // deflate: server -> client
  z_stream in{};   // inflate: client -> server
  bool out_init = false, in_init = false;
  ~Zlib() {
    if (out_init) deflateEnd(&out);
    if (in_init) inflateEnd(&in);
  }
};

DeflateCodec::DeflateCodec(int level) : z_(std::make_unique<Zlib>()) {
  z_->out_init =
      deflateInit2(&z_->out, level, Z_DEFLATED, kRawWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) == Z_OK;
  z_->in_init = inflateInit2(&z_->in, kRawWindowBits) == Z_OK;
  ok_ = z_->out_init && z_->in_init;
  if (!ok_) fail("zlib initialisation failed");
}

DeflateCodec::~DeflateCodec() = default;

void DeflateCodec::fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(why);
  // Nothing more will be read: give the input buffer back now.
  std::string().swap(in_);
  in_pos_ = 0;
}

void DeflateCodec::deflate_into(std::string_view plain, std::string& out, int mode) {
  if (!z_->out_init) return;
  z_stream& s = z_->out;
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  s.avail_in = static_cast<uInt>(plain.size());
  const size_t before = out.size();
  for (;;) {
    const size_t used = out.size();
    // Room for the whole input's worst case, or a step for what zlib holds.
    const size_t room = std::max<size_t>(kOutStep, deflateBound(&s, s.avail_in));
    out.resize(used + room);
    s.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    s.avail_out = static_cast<uInt>(room);
    const int rc = ::deflate(&s, mode);
    out.resize(used + room - s.avail_out);
    // Z_BUF_ERROR: no progress possible, i.e. nothing left to do.
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    // Done when zlib did not fill the buffer: it has nothing more to give.
    if (s.avail_in == 0 && s.avail_out != 0) break;
  }
  plain_out_ += plain.size();
  compressed_out_ += out.size() - before;
}

void DeflateCodec::compress(std::string_view plain, std::string& out) {
  if (!plain.empty()) deflate_into(plain, out, Z_NO_FLUSH);
}

void DeflateCodec::flush(std::string& out) { deflate_into({}, out, Z_SYNC_FLUSH); }

void DeflateCodec::feed(std::string_view compressed) {
  if (failed_ || compressed.empty()) return;
  compressed_in_ += compressed.size();
  if (in_pos_ > 0) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  in_.append(compressed);
}

bool DeflateCodec::input_pending() const { return !failed_ && (in_pos_ < in_.size() || more_output_); }

DeflateCodec::Inflated DeflateCodec::inflate(char* out, size_t max) {
  Inflated r;
  if (failed_) {
    r.error = true;
    return r;
  }
  if (max == 0 || !input_pending()) return r;
  if (ended_) {
    // The client sent a final block; there is no stream left to be part of.
    fail("data after the end of the compressed stream");
    r.error = true;
    return r;
  }
  z_stream& s = z_->in;
  const size_t avail = in_.size() - in_pos_;
  s.next_in = reinterpret_cast<Bytef*>(in_.data() + in_pos_);
  s.avail_in = static_cast<uInt>(avail);
  s.next_out = reinterpret_cast<Bytef*>(out);
  s.avail_out = static_cast<uInt>(std::min<size_t>(max, UINT32_MAX));
  const uInt room = s.avail_out;
  const int rc = ::inflate(&s, Z_SYNC_FLUSH);
  const size_t consumed = avail - s.avail_in;
  r.bytes = room - s.avail_out;
  in_pos_ += consumed;
  plain_in_ += r.bytes;
  // A full buffer may mean zlib has more output without more input.
  more_output_ = s.avail_out == 0;
  if (rc == Z_STREAM_END) {
    ended_ = true;
    more_output_ = false;
  } else if ((rc == Z_OK || rc == Z_BUF_ERROR) && consumed == 0 && r.bytes == 0) {
    // No progress with room on both sides: zlib cannot go on with this
    // input. Never report pending work that cannot make progress (the
    // caller would spin).
    more_output_ = false;
    if (in_pos_ < in_.size()) {
      fail("inflate made no progress");
      r.error = true;
      return r;
    }
  } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
    fail(s.msg ? s.msg : "inflate error " + std::to_string(rc));
    r.error = true;
    return r;
  }
  if (in_pos_ >= in_.size()) {
    in_pos_ = 0;
    in_.clear();
    // An idle connection must not keep a burst's buffer (thousands of them).
    if (in_.capacity() > 4096) std::string().swap(in_);
  }
  return r;
}

}  // namespace postline::imap
