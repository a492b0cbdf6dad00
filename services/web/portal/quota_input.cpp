#include "services/web/portal/quota_input.h"

#include "common/config/config.h"
#include "common/mailauth/text_util.h"

namespace postline::web::portal {

std::optional<int64_t> parse_quota_size(std::string_view text, std::string* why) {
  if (text.empty()) return 0;
  try {
    const uint64_t bytes = config::parse_size(std::string(text), "quota");
    if (bytes <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(bytes);
  } catch (const std::exception&) {
  }
  if (why) *why = "quota: give a size such as 500MiB or 2GiB (empty or 0 = unlimited)";
  return std::nullopt;
}

std::optional<int64_t> parse_message_limit(std::string_view text, std::string* why) {
  if (text.empty()) return 0;
  if (auto n = mailauth::parse_uint(text, kMaxMessageLimitDigits)) return static_cast<int64_t>(*n);
  if (why) {
    const bool digits = text.find_first_not_of("0123456789") == std::string_view::npos;
    *why = digits ? "messages: at most " + std::to_string(kMaxMessageLimitDigits) +
                        " digits (empty or 0 = unlimited)"
                  : std::string("messages: give a whole number of messages such as 10000, digits only "
                                "(empty or 0 = unlimited)");
  }
  return std::nullopt;
}

std::string quota_size_text(int64_t bytes) {
  if (bytes <= 0) return "";
  constexpr int64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  if (bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "GiB";
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "MiB";
  if (bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "KiB";
  return std::to_string(bytes);
}

std::string message_limit_text(int64_t messages) { return messages > 0 ? std::to_string(messages) : ""; }

}  // namespace postline::web::portal
