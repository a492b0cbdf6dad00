#include "services/managesieve/protocol/script_name.h"

#include "common/imapclient/mutf7.h"

namespace postline::managesieve {

std::optional<std::string> script_name_error(std::string_view name) {
  if (name.empty()) return "empty script name";
  if (!imapclient::valid_utf8(name)) return "script name is not UTF-8";
  size_t chars = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if ((c & 0xc0) != 0x80) ++chars;
    if (c < 0x20 || c == 0x7f) return "control character in script name";
    // U+0080..U+009F are C2 80..C2 9F; U+2028/U+2029 are E2 80 A8/A9 (valid UTF-8 checked above).
    if (c == 0xc2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) <= 0x9f)
      return "control character in script name";
    if (c == 0xe2 && i + 2 < name.size() && static_cast<unsigned char>(name[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(name[i + 2]) == 0xa8 || static_cast<unsigned char>(name[i + 2]) == 0xa9))
      return "line or paragraph separator in script name";
  }
  if (chars > kMaxScriptNameChars) return "script name longer than 128 characters";
  return std::nullopt;
}

}  // namespace postline::managesieve
