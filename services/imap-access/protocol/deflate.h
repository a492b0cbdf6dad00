// COMPRESS=DEFLATE (RFC 4978), sans-I/O: raw DEFLATE (RFC 1951: no zlib or
// gzip header, zlib with negative windowBits) in both directions of one
// connection. The connection puts it between the protocol and the stream
// (cleartext IMAP -> deflate -> TLS -> TCP); it sees no socket, so the tests
// and the fuzzer drive it with byte strings.
//
// Limits. Inflating is parsing peer bytes: a few KiB of DEFLATE can expand to
// many MiB (about 1032:1 at best). The codec never inflates more than the
// caller's buffer per call and holds at most what was fed since the input
// was last drained (the caller feeds one socket read at a time, and only when
// input_pending() is false), so memory stays bounded whatever the ratio; the
// plain bytes then go through the Receiver, whose line and literal limits
// apply as without compression. Garbage is a sticky error, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace postline::imap {

class DeflateCodec {
 public:
  // Dovecot's default level: most of the gain of 9 for a fraction of its CPU.
  static constexpr int kDefaultLevel = 6;

  // Allocates zlib's state (about 300 KiB: the deflate window and hash
  // tables, the inflate window). ok() is false when zlib could not (memory).
  explicit DeflateCodec(int level = kDefaultLevel);
  ~DeflateCodec();
  DeflateCodec(const DeflateCodec&) = delete;
  DeflateCodec& operator=(const DeflateCodec&) = delete;
  bool ok() const { return ok_; }

  // ---- server -> client
  // Appends the DEFLATE bytes for `plain` to `out`. zlib may keep some of it
  // back until flush().
  void compress(std::string_view plain, std::string& out);
  // Ends a write burst with a sync flush (an empty stored block, 00 00 ff ff):
  // the peer can decode everything compressed so far, so no response waits
  // for the next one.
  void flush(std::string& out);

  // ---- client -> server
  // Hands over compressed bytes. They are kept (copied) until inflate() has
  // consumed them; call it again only once input_pending() is false.
  void feed(std::string_view compressed);
  struct Inflated {
    size_t bytes = 0;    // plain bytes written to the caller's buffer
    bool error = false;  // the input is not DEFLATE (error() says why); sticky
  };
  // Writes at most `max` plain bytes from the fed input to `out`. bytes == 0
  // without error: everything fed is consumed, feed more.
  Inflated inflate(char* out, size_t max);
  // inflate() would give more without another feed().
  bool input_pending() const;
  bool failed() const { return failed_; }
  // zlib's reason (a constant text, not peer bytes).
  const std::string& error() const { return error_; }

  // Totals for the metrics: plain and compressed bytes each way.
  uint64_t plain_in() const { return plain_in_; }
  uint64_t compressed_in() const { return compressed_in_; }
  uint64_t plain_out() const { return plain_out_; }
  uint64_t compressed_out() const { return compressed_out_; }

 private:
  void deflate_into(std::string_view plain, std::string& out, int mode);
  void fail(std::string why);

  struct Zlib;  // z_stream x2, kept out of this header
  std::unique_ptr<Zlib> z_;
  bool ok_ = false;
  bool failed_ = false;
  bool ended_ = false;        // the client ended its stream (a final block)
  bool more_output_ = false;  // the last inflate() filled the buffer: zlib may hold more
  std::string in_;            // compressed bytes fed and not yet consumed
  size_t in_pos_ = 0;
  std::string error_;
  uint64_t plain_in_ = 0, compressed_in_ = 0, plain_out_ = 0, compressed_out_ = 0;
};

}  // namespace postline::imap
