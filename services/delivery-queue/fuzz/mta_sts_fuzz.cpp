// libFuzzer entry point for policy/mta_sts (README.md here): byte 0 picks the
// parser (even: the policy file, odd: the TXT record), the rest is its input.
#include "services/delivery-queue/policy/mta_sts.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace postline::queue::sts;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string why;
  if (data[0] % 2 == 0) {
    auto p = parse_policy(input, &why);
    check(p.has_value() || !why.empty());
    if (p) {
      check(p->mx.size() <= kMaxMxPatterns);
      check(p->max_age >= 0 && p->max_age <= kMaxMaxAge);
      check(p->mode == Mode::kNone || !p->mx.empty());
      for (const auto& m : p->mx) {
        check(valid_pattern(m));
        // Every pattern matches some host: itself, or one label in place of '*'.
        check(mx_matches(m, m.rfind("*.", 0) == 0 ? "x" + m.substr(1) : m));
      }
    }
    // Matching never reads past its inputs, whatever they are.
    mx_matches(input.substr(0, input.size() / 2), input.substr(input.size() / 2));
  } else {
    auto t = parse_txt(input, &why);
    check(t.has_value() || !why.empty());
    if (t) check(!t->id.empty() && t->id.size() <= kMaxIdLength);
    auto a = evaluate_txt({std::string(input)});
    check(a.status != TxtStatus::kFound || a.id == (t ? t->id : a.id));
  }
  return 0;
}
