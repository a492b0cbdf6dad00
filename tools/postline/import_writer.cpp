#include "tools/postline/import_writer.h"

#include <algorithm>

#include "common/mailstore/message_meta.h"

namespace postline::cli::import {

namespace ms = postline::mailstore;

MailboxWriter::MailboxWriter(ms::MailStore& store, ms::UserId user, std::string mailbox, ms::Quota quota)
    : store_(store), user_(user), mailbox_(std::move(mailbox)), quota_(quota) {}

void MailboxWriter::open() {
  if (opened_) return;
  auto info = store_.find_mailbox(user_, mailbox_);
  if (!info) {
    const auto err = store_.create_mailbox(user_, mailbox_);
    if (err == ms::StoreError::kInvalidName) throw std::runtime_error("mailbox name '" + mailbox_ + "' is not valid here");
    if (err != ms::StoreError::kNone && err != ms::StoreError::kAlreadyExists)
      throw std::runtime_error("cannot create mailbox '" + mailbox_ + "'");
    // Like the default mailboxes: clients that show subscribed folders only see it.
    store_.subscribe(user_, mailbox_);
    created_ = err == ms::StoreError::kNone;
    info = store_.find_mailbox(user_, mailbox_);
    if (!info) throw std::runtime_error("mailbox '" + mailbox_ + "' vanished while it was being created");
  }
  mailbox_was_empty_ = info->uidnext <= 1;
  opened_ = true;
}

// The blob keys of what the mailbox holds, read once, only for a mailbox that
// ever had messages (a fresh one cannot hold duplicates).
void MailboxWriter::load_existing() {
  existing_loaded_ = true;
  if (mailbox_was_empty_) return;
  auto opened = store_.open(user_, mailbox_);
  if (!opened.index) return;
  std::vector<ms::Uid> uids;
  uids.reserve(opened.index->entries.size());
  for (const auto& e : opened.index->entries) uids.push_back(e.uid);
  constexpr size_t kChunk = 2000;
  for (size_t i = 0; i < uids.size(); i += kChunk) {
    std::vector<ms::Uid> part(uids.begin() + static_cast<std::ptrdiff_t>(i),
                              uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), i + kChunk)));
    for (const auto& m : store_.read_messages(user_, opened.index->info.mailbox_id, part, ms::kFieldBlob))
      ++existing_[m.blob];
  }
}

bool MailboxWriter::add(IncomingMessage message) {
  open();
  if (!existing_loaded_) load_existing();
  if (!existing_.empty()) {
    const std::string key =
        ms::sha256(message.exact ? std::string_view(message.bytes) : ms::canonicalize_line_endings(message.bytes));
    auto it = existing_.find(key);
    if (it != existing_.end() && it->second > 0) {
      --it->second;
      return false;
    }
  }
  pending_bytes_ += message.bytes.size();
  pending_.push_back(std::move(message));
  return true;
}

void MailboxWriter::flush() {
  if (pending_.empty()) return;
  std::vector<ms::AppendItem> items;
  items.reserve(pending_.size());
  for (const auto& m : pending_) items.push_back(ms::AppendItem{m.bytes, m.flags, m.internaldate, m.exact});
  const auto result = store_.append(user_, mailbox_, items, quota_);
  if (result.error == ms::StoreError::kOverQuota) {
    const auto usage = store_.usage(user_);
    std::string limit;
    if (quota_.bytes > 0) limit += std::to_string(quota_.bytes) + " bytes";
    if (quota_.messages > 0) limit += (limit.empty() ? "" : ", ") + std::to_string(quota_.messages) + " messages";
    throw QuotaExceeded("the account is at its quota (" + std::to_string(usage.bytes) + " bytes in " +
                        std::to_string(usage.messages) + " messages; limit " + limit + "): " +
                        std::to_string(pending_.size()) + " message(s) for " + mailbox_ +
                        " were not imported. Raise it (postline quota set) or pass --ignore-quota, then run the "
                        "import again: it resumes where it stopped");
  }
  if (result.error == ms::StoreError::kNoSuchMailbox)
    throw std::runtime_error("mailbox '" + mailbox_ + "' was deleted during the import");
  if (result.error != ms::StoreError::kNone) throw std::runtime_error("appending to '" + mailbox_ + "' failed");
  pending_.clear();
  pending_bytes_ = 0;
}

// ---- resume state -------------------------------------------------------------

std::string state_entry(const std::string& host, const std::string& user, const std::string& folder) {
  std::string h = host;
  for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string digest = ms::to_hex(ms::sha256("imap\n" + h + "\n" + user + "\n" + folder));
  return "/private/vendor/postline/import/" + digest.substr(0, 32);
}

std::string format_state(const FolderState& s, const std::string& source) {
  return "uidvalidity=" + std::to_string(s.uidvalidity) + " last_uid=" + std::to_string(s.last_uid) +
         " source=" + source;
}

std::optional<FolderState> parse_state(const std::string& value) {
  FolderState s;
  bool have_validity = false, have_uid = false;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t end = value.find(' ', pos);
    if (end == std::string::npos) end = value.size();
    const std::string field = value.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = field.substr(0, eq), v = field.substr(eq + 1);
    if (k == "source") break;  // the rest is the description
    if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    const uint64_t n = std::stoull(v);
    if (k == "uidvalidity") {
      s.uidvalidity = n;
      have_validity = true;
    } else if (k == "last_uid") {
      if (n > UINT32_MAX) return std::nullopt;
      s.last_uid = static_cast<uint32_t>(n);
      have_uid = true;
    }
  }
  if (!have_validity || !have_uid) return std::nullopt;
  return s;
}

std::optional<FolderState> load_state(ms::MailStore& store, ms::UserId user, const std::string& mailbox,
                                      const std::string& entry) {
  auto r = store.get_metadata(user, mailbox, {entry}, ms::MetadataDepth::kZero);
  if (r.error != ms::MetadataError::kNone || r.entries.empty()) return std::nullopt;
  return parse_state(r.entries.front().value);
}

void save_state(ms::MailStore& store, ms::UserId user, const std::string& mailbox, const std::string& entry,
                const FolderState& state, const std::string& source) {
  const auto err = store.set_metadata(user, mailbox, {ms::MetadataUpdate{entry, format_state(state, source)}});
  if (err == ms::MetadataError::kTooMany)
    throw std::runtime_error("cannot record the import's progress on '" + mailbox +
                             "': the mailbox has the most METADATA entries it may have");
  if (err != ms::MetadataError::kNone)
    throw std::runtime_error("cannot record the import's progress on '" + mailbox + "'");
}

mailstore::Flags flags_from_source(const std::vector<std::string>& names) {
  std::vector<std::string> kept;
  for (const auto& n : names) {
    if (n.empty()) continue;
    if (n[0] == '\\') {
      if (ms::system_flag_bit(n)) kept.push_back(n);
      continue;
    }
    const bool atom = n.size() <= 200 && std::all_of(n.begin(), n.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' && c != '"' &&
             c != '\\' && c != ']' && c != '[';
    });
    if (atom) kept.push_back(n);
  }
  return ms::flags_from_names(kept);
}

}  // namespace postline::cli::import
