// What a new password must be (issue 16): at least auth.password_min_length
// characters, not containing the account's local part, and not what a
// guesser tries first - checked with cracklib (Debian's libcrack2 and its
// packaged dictionary, cracklib-runtime): dictionary words and their usual
// mangling ("Secret1", "drowssap"), keyboard runs, too few different
// characters. Applied where a password is set (AdminService AddUser and
// SetPassword; the user-facing change later), never at login: an existing
// password keeps working after the policy tightens.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::auth {

struct PasswordPolicy {
  size_t min_length = 0;        // characters (UTF-8 code points); 0 = any length
  std::string dictionary;       // cracklib dictionary path (without .pwd/.pwi/.hwm); "" = no check
};

// The cracklib dictionary Debian's cracklib-runtime builds.
inline constexpr const char* kDefaultCracklibDictionary = "/var/cache/cracklib/cracklib_dict";

// True when the dictionary's files are there (authd refuses to start on a
// configured dictionary that is missing: a silently skipped check is worse).
bool dictionary_available(const std::string& path);

// nullopt when `password` is acceptable for `email`; otherwise why not, in
// words for the person choosing it ("password is shorter than 10 characters").
std::optional<std::string> password_problem(const PasswordPolicy& policy, std::string_view password,
                                            std::string_view email);

}  // namespace postline::auth
