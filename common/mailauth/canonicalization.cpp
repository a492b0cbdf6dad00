#include "common/mailauth/canonicalization.h"

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

const char* to_string(Canon c) { return c == Canon::kSimple ? "simple" : "relaxed"; }

std::string canonicalize_header(std::string_view raw, Canon c) {
  if (c == Canon::kSimple) {
    std::string out(raw);
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
    return out;
  }
  size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : raw.substr(colon + 1);
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  std::string out = to_lower(name);
  out.push_back(':');
  // Unfold (drop CR/LF), collapse WSP runs, drop leading and trailing WSP.
  bool pending_space = false;
  bool started = false;
  for (char ch : value) {
    if (ch == '\r' || ch == '\n') continue;
    if (is_wsp(ch)) {
      pending_space = true;
      continue;
    }
    if (pending_space && started) out.push_back(' ');
    pending_space = false;
    started = true;
    out.push_back(ch);
  }
  out += "\r\n";
  return out;
}

std::string canonicalize_body(std::string_view body, Canon c) {
  std::string out;
  out.reserve(body.size() + 2);
  if (c == Canon::kSimple) {
    out.assign(body);
    if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) out += "\r\n";
  } else {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eol = body.find("\r\n", pos);
      bool has_eol = eol != std::string_view::npos;
      std::string_view line = body.substr(pos, has_eol ? eol - pos : std::string_view::npos);
      bool pending_space = false;
      for (char ch : line) {
        if (is_wsp(ch)) {
          pending_space = true;
          continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(ch);
      }
      out += "\r\n";  // a final line without CRLF gets one (RFC 6376 3.4.4)
      pos = has_eol ? eol + 2 : body.size();
    }
  }
  // Remove trailing empty lines.
  while (out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0) out.resize(out.size() - 2);
  if (out == "\r\n" && c == Canon::kRelaxed) out.clear();
  if (out.empty() && c == Canon::kSimple) out = "\r\n";
  return out;
}

}  // namespace postline::mailauth
