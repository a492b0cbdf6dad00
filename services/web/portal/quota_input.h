// An account's limits as the administrator types them on the users page
// (docs/web.md "Administration"): the storage quota (`quota`, a size) and the
// message-count limit (`messages`, a number), both 0 = unlimited as authd
// stores them (quota_bytes, quota_messages). Strict and bounded: a refusal
// names the field and says what it takes, never guesses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postline::web::portal {

// The message limit has at most this many digits (as `postline quota set
// --messages` takes it), so at most kMaxMessageLimit.
inline constexpr size_t kMaxMessageLimitDigits = 15;
inline constexpr int64_t kMaxMessageLimit = 999'999'999'999'999;

// "1GiB", "500MiB", "1048576", "0", "": octets (0 = unlimited), the size
// syntax of the configuration (config::parse_size). nullopt with `why`
// ("quota: ...") when it is not a size or over INT64_MAX.
std::optional<int64_t> parse_quota_size(std::string_view text, std::string* why);

// "10000", "0", "": a message count (0 = unlimited). Digits only - no sign,
// spaces, separators or unit - and at most kMaxMessageLimitDigits of them.
// nullopt with `why` ("messages: ...") otherwise.
std::optional<int64_t> parse_message_limit(std::string_view text, std::string* why);

// A quota back as the form shows it, so that posting the form unchanged keeps
// it: "" for 0 (unlimited), else the largest exact unit ("2GiB", "500MiB",
// "12KiB", "1000"). parse_quota_size(quota_size_text(n)) == n for every n
// parse_quota_size returns (a quota set elsewhere over 15 digits of bytes
// that is no whole KiB is shown too, and refused if posted back).
std::string quota_size_text(int64_t bytes);
// "" for 0 (unlimited), else the number.
std::string message_limit_text(int64_t messages);

}  // namespace postline::web::portal
