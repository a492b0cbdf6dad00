#include "common/mailauth/canonicalization.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

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

namespace {

// Feeds the canonical body to sink(string_view) line by line. Trailing empty lines are
// counted rather than buffered, and only emitted when a non-empty line follows, which
// is how both algorithms drop them at the end.
template <typename Sink>
void canonical_body_stream(std::string_view body, Canon c, Sink&& sink) {
  uint64_t pending_empty = 0;
  bool any = false;
  std::string relaxed;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    bool has_eol = eol != std::string_view::npos;
    std::string_view line = body.substr(pos, has_eol ? eol - pos : std::string_view::npos);
    pos = has_eol ? eol + 2 : body.size();
    if (c == Canon::kRelaxed) {
      // WSP runs become one SP; WSP at the end of the line goes.
      relaxed.clear();
      bool pending_space = false;
      for (char ch : line) {
        if (is_wsp(ch)) {
          pending_space = true;
          continue;
        }
        if (pending_space) relaxed.push_back(' ');
        pending_space = false;
        relaxed.push_back(ch);
      }
      line = relaxed;
    }
    if (line.empty()) {
      ++pending_empty;
      continue;
    }
    for (; pending_empty; --pending_empty) sink(std::string_view("\r\n"));
    sink(line);
    sink(std::string_view("\r\n"));  // a final line without CRLF gets one (RFC 6376 3.4.3/3.4.4)
    any = true;
  }
  // Simple: an empty body is one CRLF. Relaxed: it stays empty (RFC 6376 errata 1384).
  if (!any && c == Canon::kSimple) sink(std::string_view("\r\n"));
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string canonicalize_body(std::string_view body, Canon c) {
  std::string out;
  out.reserve(body.size() + 2);
  canonical_body_stream(body, c, [&](std::string_view piece) { out.append(piece); });
  return out;
}

BodyHash body_hash(std::string_view body, Canon c, HashAlg alg, std::optional<uint64_t> limit) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), alg == HashAlg::kSha1 ? EVP_sha1() : EVP_sha256(), nullptr);
  BodyHash out;
  canonical_body_stream(body, c, [&](std::string_view piece) {
    uint64_t take = piece.size();
    if (limit) take = out.canonical_length >= *limit ? 0 : std::min<uint64_t>(take, *limit - out.canonical_length);
    if (take) EVP_DigestUpdate(ctx.get(), piece.data(), size_t(take));
    out.canonical_length += piece.size();
  });
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  out.digest.assign(reinterpret_cast<char*>(md), len);
  return out;
}

}  // namespace postline::mailauth
