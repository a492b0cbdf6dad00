// libFuzzer entry point: server bytes through the ResponseParser, fed in
// chunks whose sizes the first input byte picks, then through the data item
// readers. Invariants (abort when broken):
//  - the responses do not depend on how the bytes were cut into chunks
//    (framing is by lines and announced literal lengths only);
//  - no value is longer than the limits allow;
//  - parse_internaldate and format_internaldate round-trip;
//  - decode_mutf7 of encode_mutf7 of a decoded name gives that name again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/imapclient/mutf7.h"
#include "common/imapclient/response.h"

namespace ic = postline::imapclient;

namespace {

void dump(const ic::Value& v, std::string& out) {
  out += static_cast<char>('0' + v.kind);
  out += std::to_string(v.text.size()) + ":" + v.text;
  if (v.kind == ic::Value::kList) {
    out += "(";
    for (const auto& i : v.items) dump(i, out);
    out += ")";
  }
}

std::string dump(const ic::Response& r) {
  std::string out = std::to_string(r.type) + "|" + r.tag + "|" + r.keyword + "|" +
                    (r.number ? std::to_string(*r.number) : "-") + "|" + r.code + "|" + r.text + "|";
  for (const auto& v : r.data) dump(v, out);
  return out;
}

void check_sizes(const ic::Value& v, const ic::Limits& l) {
  if (v.text.size() > l.max_literal && v.text.size() > l.max_line) std::abort();
  for (const auto& i : v.items) check_sizes(i, l);
}

std::vector<std::string> run(std::string_view input, size_t chunk, const ic::Limits& limits, bool& failed) {
  ic::ResponseParser p(limits);
  std::vector<std::string> out;
  failed = false;
  for (size_t pos = 0; pos <= input.size() && !failed; pos += chunk) {
    p.feed(input.substr(pos, chunk));
    ic::Response r;
    for (;;) {
      auto st = p.next(r);
      if (st == ic::ResponseParser::Status::kNeedMore) break;
      if (st == ic::ResponseParser::Status::kError) {
        if (p.error().empty()) std::abort();
        failed = true;
        break;
      }
      for (const auto& v : r.data) check_sizes(v, limits);
      std::string err;
      if (r.keyword == "FETCH") {
        auto f = ic::parse_fetch(r, err);
        if (f && f->body && f->body->size() > limits.max_literal && f->body->size() > limits.max_line) std::abort();
        if (f && f->internaldate) {
          if (auto t = ic::parse_internaldate(*f->internaldate)) {
            if (ic::parse_internaldate(ic::format_internaldate(*t)) != t) std::abort();
          }
        }
      }
      if (r.keyword == "LIST" || r.keyword == "LSUB") {
        if (auto e = ic::parse_list(r, err)) {
          if (auto utf8 = ic::decode_mutf7(e->name)) {
            if (ic::decode_mutf7(ic::encode_mutf7(*utf8)) != utf8) std::abort();
          }
        }
      }
      if (r.keyword == "STATUS") (void)ic::parse_status(r, err);
      (void)ic::parse_capabilities(r);
      (void)r.code_name();
      out.push_back(dump(r));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ic::Limits limits;
  limits.max_line = 2048;
  limits.max_literal = 4096;
  limits.max_response = 8192;
  limits.max_depth = 8;
  limits.max_values = 500;
  bool failed_whole = false, failed_chunked = false;
  const auto whole = run(input, input.size() + 1, limits, failed_whole);
  const auto chunked = run(input, chunk, limits, failed_chunked);
  // The chunked run may stop earlier only if... it may not: same bytes, same answers.
  if (whole != chunked || failed_whole != failed_chunked) std::abort();
  (void)ic::parse_internaldate(input.substr(0, 64));
  if (auto utf8 = ic::decode_mutf7(input.substr(0, 256))) {
    if (ic::decode_mutf7(ic::encode_mutf7(*utf8)) != utf8) std::abort();
  }
  return 0;
}
