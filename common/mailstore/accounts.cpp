#include "common/mailstore/accounts.h"

#include <string>

namespace postline::mailstore {

const std::vector<DefaultMailbox>& default_mailboxes() {
  static const std::vector<DefaultMailbox> list = {
      {"INBOX", nullptr},       {"Sent", "\\Sent"}, {"Drafts", "\\Drafts"},
      {"Trash", "\\Trash"},     {"Junk", "\\Junk"}, {"Archive", "\\Archive"},
  };
  return list;
}

const char* default_special_use(std::string_view name) {
  for (const auto& d : default_mailboxes())
    if (name == d.name) return d.special_use;
  return nullptr;
}

bool valid_mailbox_name(const std::string& name) {
  if (name.empty() || name.size() > 1000 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("//") != std::string::npos) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '*' || c == '%') return false;
  // "." and ".." as a level ("..", "INBOX/..", "a/./b") read as paths to
  // every tool that maps names onto directories (doveadm, exports, mbsync's
  // Maildir side); they name nothing sensible, so they are refused.
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    const std::string_view level(name.data() + start, slash - start);
    if (level == "." || level == "..") return false;
    start = slash + 1;
  }
  return true;
}

std::string normalize_mailbox_name(std::string_view name) {
  auto is_inbox = [](std::string_view s) {
    if (s.size() != 5) return false;
    for (size_t i = 0; i < 5; ++i)
      if ((s[i] | 0x20) != "inbox"[i]) return false;
    return true;
  };
  if (is_inbox(name)) return "INBOX";
  if (name.size() > 5 && name[5] == '/' && is_inbox(name.substr(0, 5)))
    return "INBOX" + std::string(name.substr(5));
  return std::string(name);
}

std::string encode_change(const ChangeEvent& e) {
  std::string out = std::to_string(e.user_id) + ":" + std::to_string(e.mailbox_id) + ":" + std::to_string(e.modseq);
  if (e.kind == ChangeKind::kMessages) return out;  // the original three-field form
  out += ':';
  out += static_cast<char>(e.kind);
  out += ':' + std::to_string(e.name.size()) + ':' + e.name;
  if (e.kind == ChangeKind::kRenamed) out += ':' + e.old_name;
  if (e.kind == ChangeKind::kMetadata) {
    out += ':';
    for (size_t i = 0; i < e.entries.size(); ++i) out += (i ? "\n" : "") + e.entries[i];
  }
  return out;
}

std::vector<ChangeEvent> metadata_change_events(UserId user, MailboxId mailbox, const std::string& name,
                                                const std::vector<std::string>& entries) {
  std::vector<ChangeEvent> out;
  size_t size = 0;
  for (const auto& entry : entries) {
    if (out.empty() || size + entry.size() + 1 > kMaxMetadataPayload) {
      out.emplace_back(user, mailbox, 0, ChangeKind::kMetadata, name);
      size = name.size() + 64;  // the ids, the kind and the separators
    }
    out.back().entries.push_back(entry);
    size += entry.size() + 1;
  }
  return out;
}

namespace {
// Reads a decimal (optionally negative) integer up to the next ':' or the end.
bool take_number(std::string_view& s, int64_t& out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && s[i] == '-') neg = true, ++i;
  if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
  int64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = neg ? -v : v;
  s.remove_prefix(i);
  return true;
}
bool take_colon(std::string_view& s) {
  if (s.empty() || s.front() != ':') return false;
  s.remove_prefix(1);
  return true;
}
}  // namespace

std::optional<ChangeEvent> parse_change(std::string_view s) {
  ChangeEvent e;
  if (!take_number(s, e.user_id) || !take_colon(s) || !take_number(s, e.mailbox_id)) return std::nullopt;
  // The modseq was always there, but only the ids matter to a reader.
  if (!take_colon(s) || !take_number(s, e.modseq)) return s.empty() ? std::optional(e) : std::nullopt;
  if (s.empty()) return e;
  if (!take_colon(s) || s.empty()) return std::nullopt;
  const char kind = s.front();
  s.remove_prefix(1);
  switch (kind) {
    case 'c': case 'd': case 'r': case 's': case 'u': case 'a': case 'x': e.kind = static_cast<ChangeKind>(kind); break;
    default: return e;  // a kind from a newer writer: at least the ids are known
  }
  int64_t len = 0;
  if (!take_colon(s) || !take_number(s, len) || !take_colon(s) || len < 0 || static_cast<uint64_t>(len) > s.size())
    return std::nullopt;
  e.name = std::string(s.substr(0, len));
  s.remove_prefix(len);
  if (e.kind == ChangeKind::kRenamed) {
    if (!take_colon(s)) return std::nullopt;
    e.old_name = std::string(s);
  } else if (e.kind == ChangeKind::kMetadata) {
    if (!take_colon(s)) return std::nullopt;
    while (!s.empty()) {
      const size_t nl = s.find('\n');
      e.entries.emplace_back(s.substr(0, nl));
      if (nl == std::string_view::npos) break;
      s.remove_prefix(nl + 1);
    }
  } else if (!s.empty()) {
    return std::nullopt;
  }
  return e;
}

}  // namespace postline::mailstore
