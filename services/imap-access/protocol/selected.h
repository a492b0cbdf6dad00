// The session's view of its selected mailbox (RFC 9051 2.3.1.2, 7.5): message
// sequence numbers are per session, so each session keeps the messages it has
// announced (UID, flags, MODSEQ) and turns store changes into EXISTS /
// EXPUNGE / FETCH FLAGS at the points the RFC allows. FETCH FLAGS, SEARCH on
// flags and sequence numbers are answered from here without the store.
//
// The view starts as the store's immutable index snapshot itself, shared with
// every other session that opened the mailbox in the same state (SELECT of a
// 100,000-message mailbox copies nothing); the first change this session must
// reflect makes it a private copy (about 24 bytes a message). Pure data; no I/O.
#pragma once

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/search_context.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace postline::imap {

class SelectedMailbox {
 public:
  int64_t mailbox_id = 0;
  std::string name;
  bool read_only = false;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  int64_t highestmodseq = 0;  // every change up to here is reflected in this view
  // \Recent (IMAP4rev1 only, RFC 3501 2.3.2) is shown in FLAGS and counted in
  // RECENT responses; false after ENABLE IMAP4rev2, which has no \Recent.
  bool show_recent = true;
  // SEARCHRES (RFC 5182): the UIDs the last SEARCH RETURN (SAVE) found, what
  // "$" stands for. UIDs, so it needs no update when messages are expunged: a
  // UID no longer in the view is simply not selected. A new SELECT starts a
  // new view and so an empty result.
  std::vector<uint32_t> saved_uids;
  // CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 4.3): the live results. Every
  // change the view takes marks the message in them; messages leaving the
  // view leave them (their REMOVEFROM, see take_context_output()).
  SearchContexts contexts;
  // The REMOVEFROM responses of messages remove() took out of the view: the
  // caller sends them before its EXPUNGE/VANISHED responses.
  std::string take_context_output() { return std::exchange(context_output_, {}); }

  // Shares the snapshot until the view must change.
  void load(std::shared_ptr<const mailstore::MailboxIndex> index);
  void load(const mailstore::MailboxIndex& index) { load(std::make_shared<mailstore::MailboxIndex>(index)); }
  uint32_t exists() const { return static_cast<uint32_t>(entries().size()); }
  uint32_t uid_at(uint32_t msn) const { return entries()[msn - 1].uid; }
  uint8_t system_flags_at(uint32_t msn) const { return entries()[msn - 1].system; }
  const std::vector<std::string>& keywords_at(uint32_t msn) const {
    return keywords().get(entries()[msn - 1].keywords);
  }
  mailstore::Flags flags_at(uint32_t msn) const { return {system_flags_at(msn), keywords_at(msn)}; }
  int64_t modseq_at(uint32_t msn) const { return entries()[msn - 1].modseq; }
  // True while the view is still the shared snapshot (tests, memory accounting).
  bool shares_snapshot() const { return base_ != nullptr; }
  // Appends "(\Seen $Work)" for the message: FETCH FLAGS without temporaries.
  void append_flag_list(std::string& out, uint32_t msn) const;
  std::string flag_list_at(uint32_t msn) const {
    std::string s;
    append_flag_list(s, msn);
    return s;
  }
  uint32_t msn_of(uint32_t uid) const;  // 0 when not in the view
  // MSN of the first message with UID >= uid (exists() + 1 when none).
  uint32_t first_msn_at_or_after(uint32_t uid) const;
  uint32_t max_uid() const { return entries().empty() ? 0 : entries().back().uid; }
  bool is_pending_expunge(uint32_t uid) const { return pending_expunge_.count(uid) > 0; }
  // The UIDs [from, to) are \Recent in this session (the store handed them to
  // it: mailstore claim_recent, or what an EXAMINE may show).
  void add_recent(uint32_t from, uint32_t to);
  bool is_recent(uint32_t uid) const;
  // Messages in the view that are \Recent in this session.
  uint32_t recent_count() const;
  // The count as told to the client (SELECT's RECENT response).
  void told_recent(uint32_t n) { told_recent_ = n; }
  const std::vector<std::pair<uint32_t, uint32_t>>& recent_ranges() const { return recent_; }
  // Every keyword the client has been told about in FLAGS (sorted).
  const std::set<std::string>& announced_keywords() const { return announced_; }
  // Our own write changed a message (STORE, FETCH setting \Seen): the view
  // takes its flags and MODSEQ at once. When that write's MODSEQ directly
  // follows what the view reflects, the view's HIGHESTMODSEQ moves with it (no
  // change of another session can lie in between); otherwise the next resync
  // brings what lies in between.
  void set_flags(uint32_t uid, const mailstore::Flags& flags, int64_t modseq);
  // Removes messages at once (our own EXPUNGE, MOVE); returns the MSN each had
  // when it was removed, in the order given (ascending UIDs: each number is
  // valid at the moment the client applies it).
  std::vector<uint32_t> remove(const std::vector<uint32_t>& ascending_uids);

  struct Options {
    bool allow_expunge = true;     // false while answering FETCH/STORE/SEARCH by MSN
    bool uid_in_fetch = true;      // add UID to unsolicited FETCH (clients like it)
    bool modseq_in_fetch = false;  // CONDSTORE enabled
    bool qresync = false;          // VANISHED instead of EXPUNGE
    bool recent = false;           // "* n RECENT" after EXISTS when the count changed (IMAP4rev1)
  };
  // Applies what changed in the store since `highestmodseq`: changed/new
  // messages (ascending UID) and expunged UIDs. Returns the untagged
  // responses to send now.
  std::string apply(const std::vector<mailstore::MessageChange>& changed, const std::vector<uint32_t>& expunged,
                    int64_t new_highestmodseq, int64_t new_uidnext, const Options& options);
  // Sends expunges deferred while they were not allowed.
  std::string flush_expunges(const Options& options);
  // "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" when a keyword appeared
  // that the client was not told about (RFC 9051 7.3.5); empty otherwise.
  std::string announce_new_keywords();
  // The FLAGS / PERMANENTFLAGS lines for SELECT (and after new keywords).
  std::string flags_responses() const;

 private:
  using Entry = mailstore::IndexEntry;
  const std::vector<Entry>& entries() const { return base_ ? base_->entries : entries_; }
  const mailstore::KeywordSets& keywords() const { return base_ ? base_->keywords : keywords_; }
  // Before any change: the view becomes a private copy of the snapshot.
  void make_own();
  std::shared_ptr<const mailstore::MailboxIndex> base_;  // the shared snapshot, until make_own()
  std::vector<Entry> entries_;
  mailstore::KeywordSets keywords_;
  std::set<uint32_t> pending_expunge_;
  std::set<std::string> announced_;
  std::vector<std::pair<uint32_t, uint32_t>> recent_;  // [from, to) ranges, ascending
  uint32_t told_recent_ = 0;                            // the count the client was last told
  std::string context_output_;
};

}  // namespace postline::imap
