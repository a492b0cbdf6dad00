#include "services/delivery-queue/delivery/transport_encoding.h"

#include "common/mailauth/text_util.h"
#include "common/mime/mime.h"

#include <algorithm>

namespace postline::queue {
namespace {

bool has_eight_bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x80; });
}

bool has_long_line(std::string_view s) {
  size_t start = 0;
  while (start < s.size()) {
    size_t eol = s.find('\n', start);
    size_t end = eol == std::string_view::npos ? s.size() : eol;
    size_t len = end - start;
    if (len > 0 && s[end - 1] == '\r' && eol != std::string_view::npos) --len;
    if (len > kMaxLineOctets) return true;
    if (eol == std::string_view::npos) break;
    start = eol + 1;
  }
  return false;
}

// Base64 in lines of 76 characters, CRLF between them (none after the last).
std::string base64_lines(std::string_view bytes) {
  const std::string flat = mailauth::base64_encode(bytes);
  std::string out;
  out.reserve(flat.size() + flat.size() / 76 * 2 + 2);
  for (size_t i = 0; i < flat.size(); i += 76) {
    if (i) out += "\r\n";
    out.append(flat, i, 76);
  }
  return out;
}

class Encoder {
 public:
  Encoder(std::string_view raw, bool eight_bit_ok) : raw_(raw), eight_bit_ok_(eight_bit_ok) {}

  bool run(const mime::Part& root) {
    out_.reserve(raw_.size() + raw_.size() / 3);
    return emit(root) && copy(root.body_end, raw_.size(), "after the message");
  }
  std::string take() { return std::move(out_); }
  const std::string& error() const { return error_; }

 private:
  bool offends(std::string_view s) const { return (!eight_bit_ok_ && has_eight_bit(s)) || has_long_line(s); }
  std::string_view bytes(uint64_t from, uint64_t to) const {
    from = std::min<uint64_t>(from, raw_.size());
    to = std::clamp<uint64_t>(to, from, raw_.size());
    return raw_.substr(from, to - from);
  }
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  // Bytes that are not a part's body (boundaries, preamble, epilogue) go out
  // as they are, or the conversion is not possible.
  bool copy(uint64_t from, uint64_t to, std::string_view what) {
    const auto s = bytes(from, to);
    if (offends(s))
      return fail(std::string(has_long_line(s) ? "a line over 998 octets" : "8-bit octets") + " " +
                  std::string(what) + " cannot be re-encoded");
    out_.append(s);
    return true;
  }

  // A part's header with its Content-Transfer-Encoding replaced by `encoding`
  // (and MIME-Version added to a message header that lacks it).
  bool rewrite_header(const mime::Part& p, std::string_view encoding) {
    const auto header = bytes(p.header_start, p.body_start);
    if (offends(header)) return fail(header_problem(header));
    uint64_t pos = p.header_start, insert_at = p.header_start;
    bool has_version = false;
    for (const auto& f : p.fields) {
      insert_at = std::max<uint64_t>(insert_at, f.end);
      if (mailauth::iequals(f.name, "MIME-Version")) has_version = true;
    }
    for (const auto& f : p.fields) {
      if (!mailauth::iequals(f.name, "Content-Transfer-Encoding")) continue;
      out_.append(bytes(pos, f.start));
      pos = f.end;
    }
    out_.append(bytes(pos, insert_at));
    // A header ending without a line break (only possible without a body) gets one.
    if (!out_.empty() && out_.back() != '\n' && insert_at > p.header_start) out_ += "\r\n";
    if (p.envelope && !has_version) out_ += "MIME-Version: 1.0\r\n";
    out_ += "Content-Transfer-Encoding: ";
    out_ += encoding;
    out_ += "\r\n";
    const auto rest = bytes(insert_at, p.body_start);
    if (rest.empty()) out_ += "\r\n";  // the blank line the header lacked
    out_.append(rest);
    return true;
  }
  static std::string header_problem(std::string_view header) {
    if (has_long_line(header)) return "a header line is longer than 998 octets";
    return "8-bit octets in a header need SMTPUTF8, which the server does not offer";
  }

  bool emit(const mime::Part& p) {
    if (p.is_multipart() || p.is_message()) return emit_container(p);
    return emit_leaf(p);
  }

  bool emit_container(const mime::Part& p) {
    const auto header = bytes(p.header_start, p.body_start);
    if (offends(header)) return fail(header_problem(header));
    if (!offends(bytes(p.body_start, p.body_end))) {
      out_.append(bytes(p.header_start, p.body_end));
      return true;
    }
    if (p.children.empty())
      return fail(p.is_multipart() ? "a multipart without its boundary has content that cannot be re-encoded"
                                   : "an encapsulated message cannot be re-encoded");
    // RFC 2045 6.4: a composite type's encoding is 7bit, 8bit or binary, and
    // says what its parts contain; 7-bit parts make it 7bit.
    const bool relabel = !eight_bit_ok_ && (p.encoding == "8bit" || p.encoding == "binary");
    if (relabel) {
      if (!rewrite_header(p, "7bit")) return false;
    } else {
      out_.append(header);
    }
    uint64_t pos = p.body_start;
    for (const auto& child : p.children) {
      if (!copy(pos, child.header_start, p.is_multipart() ? "outside the parts of a multipart" : "in a message"))
        return false;
      if (!emit(child)) return false;
      pos = child.body_end;
    }
    return copy(pos, p.body_end, "after the last part of a multipart");
  }

  bool emit_leaf(const mime::Part& p) {
    const auto body = bytes(p.body_start, p.body_end);
    if (!offends(body)) {
      const auto header = bytes(p.header_start, p.body_start);
      if (offends(header)) return fail(header_problem(header));
      out_.append(bytes(p.header_start, p.body_end));
      return true;
    }
    std::string decoded;
    if (p.encoding.empty() || p.encoding == "7bit" || p.encoding == "8bit" || p.encoding == "binary")
      decoded = std::string(body);
    else if (p.encoding == "quoted-printable" || p.encoding == "base64")
      decoded = mime::decode_transfer(body, p.encoding);  // its lines were too long: encode them again
    else
      return fail("a part with Content-Transfer-Encoding " + p.encoding + " cannot be re-encoded");
    const bool text = p.type == "text";
    if (!rewrite_header(p, text ? "quoted-printable" : "base64")) return false;
    out_ += text ? quoted_printable(decoded) : base64_lines(decoded);
    // The root's body runs to the end of the message: end it with a line break.
    // (A part's body ends before the CRLF of the next delimiter.)
    if (p.body_end >= raw_.size() && (out_.size() < 2 || out_.compare(out_.size() - 2, 2, "\r\n") != 0))
      out_ += "\r\n";
    return true;
  }

  std::string_view raw_;
  bool eight_bit_ok_;
  std::string out_;
  std::string error_;
};

}  // namespace

bool needs_transport_encoding(std::string_view message, bool eight_bit_ok) {
  return (!eight_bit_ok && has_eight_bit(message)) || has_long_line(message);
}

std::string quoted_printable(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t line_len = 0;
  auto put = [&](std::string_view token) {
    // 76 characters per line at most, the soft break's "=" included.
    if (line_len + token.size() > 75) {
      out += "=\r\n";
      line_len = 0;
    }
    out += token;
    line_len += token.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      if (c == '\r') ++i;
      out += "\r\n";
      line_len = 0;
      continue;
    }
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' ||
                             (text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n');
    const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      const char ch = static_cast<char>(c);
      put(std::string_view(&ch, 1));
    } else {
      const char esc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
      put(std::string_view(esc, 3));
    }
  }
  return out;
}

TransportEncoding encode_for_transport(std::string_view message, bool eight_bit_ok) {
  TransportEncoding result;
  if (!needs_transport_encoding(message, eight_bit_ok)) return result;
  const auto parsed = mime::parse(message);
  if (parsed.truncated) {
    result.status = TransportEncoding::Status::kImpossible;
    result.error = "the message's MIME structure is too complex to re-encode";
    return result;
  }
  Encoder encoder(message, eight_bit_ok);
  if (!encoder.run(parsed.root)) {
    result.status = TransportEncoding::Status::kImpossible;
    result.error = encoder.error();
    return result;
  }
  result.status = TransportEncoding::Status::kConverted;
  result.message = encoder.take();
  return result;
}

}  // namespace postline::queue
