// The destination side of `postline import`: messages go into one mailbox of
// one user through the mailstore's typed interface (mailstore::MailStore; no
// SQL here), in batches of one transaction each, with
//  - duplicates skipped: a message whose stored bytes equal those of a
//    message already in the mailbox (the blob key, SHA-256 of the stored
//    bytes) is not appended again; each message already there absorbs one
//    incoming copy, so a source that really holds two equal messages still
//    gets two. This is what makes a repeated mbox/Maildir import, an IMAP
//    folder whose UIDVALIDITY changed, and a run that stopped between an
//    append and its checkpoint import nothing twice;
//  - the quota enforced as at APPEND (soft) unless the operator said
//    --ignore-quota; over it the import stops with QuotaExceeded;
//  - the resume state of an IMAP source folder (UIDVALIDITY and the highest
//    UID imported) kept as a private METADATA entry of the destination
//    mailbox (RFC 5464), so it lives in the database with the mail and goes
//    away with the mailbox.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/mailstore/mail_store.h"

namespace postline::cli::import {

class QuotaExceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IncomingMessage {
  std::string bytes;
  mailstore::Flags flags;
  std::optional<int64_t> internaldate;  // Unix seconds; nullopt = now
  bool exact = false;  // store the bytes as they are (from IMAP); else CRLF-canonicalised (files)
};

class MailboxWriter {
 public:
  // `quota` as authd has it; an empty one is no limit (--ignore-quota).
  MailboxWriter(mailstore::MailStore& store, mailstore::UserId user, std::string mailbox, mailstore::Quota quota);

  // Creates the mailbox (subscribed) when it does not exist. Throws
  // std::runtime_error for a name the store refuses.
  void open();
  bool created() const { return created_; }
  const std::string& mailbox() const { return mailbox_; }

  // Queues a message; false when it is a duplicate (nothing queued).
  bool add(IncomingMessage message);
  size_t pending() const { return pending_.size(); }
  size_t pending_bytes() const { return pending_bytes_; }
  // Appends what is queued in one transaction (all or nothing). Throws
  // QuotaExceeded (nothing appended) or std::runtime_error.
  void flush();

 private:
  void load_existing();

  mailstore::MailStore& store_;
  mailstore::UserId user_;
  std::string mailbox_;
  mailstore::Quota quota_;
  bool opened_ = false, created_ = false, existing_loaded_ = false;
  bool mailbox_was_empty_ = true;
  std::map<std::string, int> existing_;  // blob key -> messages not yet matched
  std::vector<IncomingMessage> pending_;
  size_t pending_bytes_ = 0;
};

// Resume state of one IMAP source folder.
struct FolderState {
  uint64_t uidvalidity = 0;
  uint32_t last_uid = 0;  // every UID up to this one is imported (or was gone)
  bool operator==(const FolderState&) const = default;
};

// "/private/vendor/postline/import/<32 hex digits>": a hash of the source
// server, login and folder name, so several sources can feed one mailbox.
std::string state_entry(const std::string& host, const std::string& user, const std::string& folder);
std::optional<FolderState> load_state(mailstore::MailStore& store, mailstore::UserId user, const std::string& mailbox,
                                      const std::string& entry);
// `source` is written next to the numbers for whoever reads the entry
// (GETMETADATA): "imap://user@host/folder".
void save_state(mailstore::MailStore& store, mailstore::UserId user, const std::string& mailbox,
                const std::string& entry, const FolderState& state, const std::string& source);
// The value's text form and back (unit-tested).
std::string format_state(const FolderState& state, const std::string& source);
std::optional<FolderState> parse_state(const std::string& value);

// Keywords a store can take from a foreign source: IMAP atoms without
// wildcards, brackets or backslashes; \Recent and unknown system flags are dropped.
mailstore::Flags flags_from_source(const std::vector<std::string>& names);

}  // namespace postline::cli::import
