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

int64_t create_mailbox_if_missing(pqxx::transaction_base& tx, int64_t user_id, const std::string& name,
                                  const char* special_use) {
  auto r = tx.exec_params(
      "INSERT INTO mailstore_mailboxes (user_id, name, special_use) VALUES ($1, $2, $3) "
      "ON CONFLICT (user_id, name) DO NOTHING RETURNING mailbox_id",
      user_id, name, special_use);  // nullptr -> SQL NULL
  if (!r.empty()) return r[0][0].as<int64_t>();
  r = tx.exec_params("SELECT mailbox_id FROM mailstore_mailboxes WHERE user_id = $1 AND name = $2", user_id,
                     name);
  return r.at(0)[0].as<int64_t>();
}

bool ensure_account(pqxx::transaction_base& tx, int64_t user_id) {
  auto r = tx.exec_params(
      "INSERT INTO mailstore_accounts (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
      user_id);
  if (r.empty()) return false;
  for (const auto& mb : default_mailboxes()) {
    create_mailbox_if_missing(tx, user_id, mb.name, mb.special_use);
    tx.exec_params("INSERT INTO mailstore_subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   user_id, std::string(mb.name));
  }
  return true;
}

void notify_change(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t modseq) {
  tx.exec_params("SELECT pg_notify($1, $2)", std::string(kChangeChannel),
                 std::to_string(user_id) + ":" + std::to_string(mailbox_id) + ":" + std::to_string(modseq));
}

}  // namespace postline::mailstore
