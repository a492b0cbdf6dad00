#include "services/web/core/autodiscover.h"

#include "services/web/core/xml.h"

#include <cstdint>
#include <string>
#include <vector>

namespace postline::web {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_name_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' || u == '-' ||
         u == '.' || u == ':' || u >= 0x80;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::string_view local_name(std::string_view qname) {
  const auto colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

class Reader {
 public:
  Reader(std::string_view in, const AutodiscoverLimits& limits) : in_(in), limits_(limits) {}

  std::optional<AutodiscoverRequest> run(std::string* why) {
    if (in_.substr(0, 3) == "\xef\xbb\xbf") pos_ = 3;
    bool seen_root = false;
    while (pos_ < in_.size()) {
      if (in_[pos_] != '<') {
        if (!text()) return fail(why);
        continue;
      }
      if (starts("<?")) {
        if (!skip_past("?>")) return fail(why, "unterminated processing instruction");
      } else if (starts("<!--")) {
        if (!skip_past("-->")) return fail(why, "unterminated comment");
      } else if (starts("<![CDATA[")) {
        if (stack_.empty()) return fail(why, "CDATA outside the root element");
        pos_ += 9;
        const auto end = in_.find("]]>", pos_);
        if (end == std::string_view::npos) return fail(why, "unterminated CDATA section");
        keep(in_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else if (starts("<!")) {
        return fail(why, "DOCTYPE and other declarations are not accepted");
      } else if (starts("</")) {
        if (!end_tag()) return fail(why);
      } else {
        if (stack_.empty() && seen_root) return fail(why, "more than one root element");
        seen_root = true;
        if (!start_tag()) return fail(why);
      }
    }
    if (!stack_.empty()) return fail(why, "the document ends inside an element");
    if (!seen_root) return fail(why, "no root element");
    if (!found_email_ && email_too_long_) {
      error_ = "EMailAddress is longer than " + std::to_string(limits_.max_value) + " octets";
      return fail(why);
    }
    if (!found_email_) return fail(why, "no Autodiscover/Request/EMailAddress element");
    return result_;
  }

 private:
  struct Open {
    std::string name;  // qualified, for matching the end tag
    std::string value;
    bool keep_value = false;
  };

  std::optional<AutodiscoverRequest> fail(std::string* why, const char* reason = nullptr) {
    if (why) *why = reason ? reason : error_;
    return std::nullopt;
  }
  bool error(const char* reason) {
    error_ = reason;
    return false;
  }
  bool starts(std::string_view s) const { return in_.substr(pos_, s.size()) == s; }
  bool skip_past(std::string_view s) {
    const auto end = in_.find(s, pos_);
    if (end == std::string_view::npos) return false;
    pos_ = end + s.size();
    return true;
  }
  void keep(std::string_view s) {
    if (stack_.empty() || !stack_.back().keep_value) return;
    auto& v = stack_.back().value;
    if (v.size() + s.size() > limits_.max_value) {
      too_long_ = true;
      return;
    }
    v.append(s);
  }

  // Character data up to the next '<', entities decoded.
  bool text() {
    const auto end = std::min(in_.find('<', pos_), in_.size());
    const auto raw = in_.substr(pos_, end - pos_);
    pos_ = end;
    if (stack_.empty()) {
      for (char c : raw)
        if (!is_space(c)) return error("text outside the root element");
      return true;
    }
    std::string decoded;
    if (!decode(raw, decoded)) return false;
    keep(decoded);
    return true;
  }

  bool decode(std::string_view raw, std::string& out) {
    size_t i = 0;
    while (i < raw.size()) {
      if (raw[i] != '&') {
        out += raw[i++];
        continue;
      }
      const auto semi = raw.find(';', i);
      if (semi == std::string_view::npos || semi - i > 12) return error("bad entity reference");
      const auto name = raw.substr(i + 1, semi - i - 1);
      if (name == "lt") out += '<';
      else if (name == "gt") out += '>';
      else if (name == "amp") out += '&';
      else if (name == "quot") out += '"';
      else if (name == "apos") out += '\'';
      else if (name.size() >= 2 && name[0] == '#') {
        uint32_t cp = 0;
        const bool hex = name[1] == 'x';
        const auto digits = name.substr(hex ? 2 : 1);
        if (digits.empty()) return error("bad character reference");
        for (char c : digits) {
          uint32_t d;
          if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
          else if (hex && c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
          else if (hex && c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
          else return error("bad character reference");
          cp = cp * (hex ? 16 : 10) + d;
          if (cp > 0x10ffff) return error("bad character reference");
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return error("bad character reference");
        append_utf8(out, cp);
      } else {
        return error("unknown entity (only the five XML entities are accepted)");
      }
      i = semi + 1;
    }
    return true;
  }

  bool start_tag() {
    ++pos_;  // '<'
    const auto name_start = pos_;
    while (pos_ < in_.size() && is_name_char(in_[pos_])) ++pos_;
    if (pos_ == name_start) return error("bad element name");
    std::string name(in_.substr(name_start, pos_ - name_start));
    // Attributes: name = "value" | 'value'; values are not needed, only skipped safely.
    for (;;) {
      while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
      if (pos_ >= in_.size()) return error("the document ends inside a tag");
      if (in_[pos_] == '>' || starts("/>")) break;
      const auto attr_start = pos_;
      while (pos_ < in_.size() && is_name_char(in_[pos_])) ++pos_;
      if (pos_ == attr_start) return error("bad attribute");
      while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
      if (pos_ >= in_.size() || in_[pos_] != '=') return error("attribute without a value");
      ++pos_;
      while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
      if (pos_ >= in_.size() || (in_[pos_] != '"' && in_[pos_] != '\'')) return error("unquoted attribute value");
      const char quote = in_[pos_++];
      const auto end = in_.find(quote, pos_);
      if (end == std::string_view::npos) return error("unterminated attribute value");
      if (in_.substr(pos_, end - pos_).find('<') != std::string_view::npos) return error("'<' in an attribute value");
      pos_ = end + 1;
    }
    if (++elements_ > limits_.max_elements) return error("too many elements");
    const bool empty = starts("/>");
    pos_ += empty ? 2 : 1;
    Open open;
    open.name = std::move(name);
    // Keep character data only where we read it: Autodiscover/Request/{EMailAddress,AcceptableResponseSchema}.
    const auto local = local_name(open.name);
    if (stack_.size() == 2 && local_name(stack_[0].name) == "Autodiscover" && local_name(stack_[1].name) == "Request")
      open.keep_value = local == "EMailAddress" || local == "AcceptableResponseSchema";
    if (empty) {
      finish(open);
      return true;
    }
    if (stack_.size() >= limits_.max_depth) return error("elements nested too deeply");
    stack_.push_back(std::move(open));
    return true;
  }

  bool end_tag() {
    pos_ += 2;
    const auto name_start = pos_;
    while (pos_ < in_.size() && is_name_char(in_[pos_])) ++pos_;
    const auto name = in_.substr(name_start, pos_ - name_start);
    while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
    if (pos_ >= in_.size() || in_[pos_] != '>') return error("bad end tag");
    ++pos_;
    if (stack_.empty() || stack_.back().name != name) return error("end tag does not match the open element");
    Open open = std::move(stack_.back());
    stack_.pop_back();
    finish(open);
    return true;
  }

  void finish(const Open& open) {
    if (!open.keep_value) return;
    const auto local = local_name(open.name);
    if (local == "EMailAddress" && !found_email_) {
      found_email_ = !too_long_;
      email_too_long_ = too_long_;
      result_.email = trim(open.value);
    } else if (local == "AcceptableResponseSchema" && result_.schema.empty()) {
      result_.schema = trim(open.value);
    }
    too_long_ = false;
  }

  static std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b])) ++b;
    while (e > b && is_space(s[e - 1])) --e;
    return s.substr(b, e - b);
  }

  std::string_view in_;
  AutodiscoverLimits limits_;
  size_t pos_ = 0;
  size_t elements_ = 0;
  std::vector<Open> stack_;
  AutodiscoverRequest result_;
  bool found_email_ = false;
  bool too_long_ = false;
  bool email_too_long_ = false;
  std::string error_ = "malformed XML";
};

void protocol(std::string& out, const char* type, const Endpoint& e, const std::string& login, bool smtp) {
  out += "      <Protocol>\n";
  out += std::string("        <Type>") + type + "</Type>\n";
  out += "        <Server>" + xml_escape(e.hostname) + "</Server>\n";
  out += "        <Port>" + std::to_string(e.port) + "</Port>\n";
  out += "        <DomainRequired>off</DomainRequired>\n";
  out += "        <LoginName>" + login + "</LoginName>\n";
  out += "        <SPA>off</SPA>\n";
  // Encryption (Outlook 2010+) says which kind of TLS; SSL=on is what older
  // versions read. Both say "TLS, never plaintext".
  out += "        <SSL>on</SSL>\n";
  out += std::string("        <Encryption>") + (e.security == Security::kImplicitTls ? "SSL" : "TLS") +
         "</Encryption>\n";
  out += "        <AuthRequired>on</AuthRequired>\n";
  if (smtp) {
    out += "        <UsePOPAuth>off</UsePOPAuth>\n";
    out += "        <SMTPLast>off</SMTPLast>\n";
  }
  out += "      </Protocol>\n";
}

}  // namespace

std::optional<AutodiscoverRequest> parse_autodiscover_request(std::string_view body, std::string* why,
                                                              const AutodiscoverLimits& limits) {
  return Reader(body, limits).run(why);
}

std::string autodiscover_response_xml(const ClientSettings& settings, const EmailAddress& address) {
  const std::string login = xml_escape(address.address);
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n";
  out += "  <Response xmlns=\"" + std::string(kOutlookResponseSchema) + "\">\n";
  out += "    <User>\n      <DisplayName>" + login + "</DisplayName>\n    </User>\n";
  out += "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n";
  for (const auto& e : settings.imap) protocol(out, "IMAP", e, login, false);
  for (const auto& e : settings.smtp) protocol(out, "SMTP", e, login, true);
  out += "    </Account>\n  </Response>\n</Autodiscover>\n";
  return out;
}

}  // namespace postline::web
