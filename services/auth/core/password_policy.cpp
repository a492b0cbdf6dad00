#include "services/auth/core/password_policy.h"

#include <crack.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <sys/stat.h>

namespace postline::auth {

namespace {

size_t code_points(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a continuation byte
  }));
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

bool dictionary_available(const std::string& path) {
  return file_exists(path + ".pwd") && file_exists(path + ".pwi") && file_exists(path + ".hwm");
}

std::optional<std::string> password_problem(const PasswordPolicy& policy, std::string_view password,
                                            std::string_view email) {
  if (password.empty()) return "password must not be empty";
  if (policy.min_length > 0 && code_points(password) < policy.min_length)
    return "password is shorter than " + std::to_string(policy.min_length) + " characters";
  const std::string local = ascii_lower(email.substr(0, email.find('@')));
  if (local.size() >= 3 && ascii_lower(password).find(local) != std::string::npos)
    return "password contains the user name";
  if (!policy.dictionary.empty()) {
    // cracklib keeps static state: one check at a time (the hash pool runs several).
    static std::mutex cracklib;
    std::lock_guard lock(cracklib);
    const std::string pw(password);  // NUL-terminated for the C API; a NUL inside ends the check early
    if (const char* why = FascistCheck(pw.c_str(), policy.dictionary.c_str()))
      return std::string("password is too easy to guess: ") + why;
  }
  return std::nullopt;
}

}  // namespace postline::auth
