// XML text for the documents webd writes. Every value that comes from a
// request or from configuration goes through xml_escape, so an address such as
// a&b<"c">@example.org cannot end an element or an attribute early.
#pragma once

#include <string>
#include <string_view>

namespace postline::web {

// Escapes the five XML-special characters (&, <, >, " and ') so the result is
// safe both in element content and in a quoted attribute value. The input must
// already be valid UTF-8 without control characters (EmailAddress guarantees
// that for addresses; configuration values are checked at start-up).
std::string xml_escape(std::string_view text);

// True when `text` is valid UTF-8 with no C0 control character and no DEL:
// what may be put into an XML 1.0 document as character data.
bool xml_safe_text(std::string_view text);

}  // namespace postline::web
