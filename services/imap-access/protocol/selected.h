// The session's view of its selected mailbox (RFC 9051 2.3.1.2, 7.5): message
// sequence numbers are per session, so each session keeps the UID list it has
// announced and turns store changes into EXISTS / EXPUNGE / FETCH FLAGS at the
// points the RFC allows. Pure data; no I/O.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace postline::imap {

struct MessageUpdate {
  uint32_t uid = 0;
  std::vector<std::string> flags;
  int64_t modseq = 0;
};

class SelectedMailbox {
 public:
  int64_t mailbox_id = 0;
  std::string name;
  bool read_only = false;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  int64_t highestmodseq = 0;  // every change up to here is reflected in this view

  void load(const std::vector<MessageUpdate>& messages);
  uint32_t exists() const { return static_cast<uint32_t>(uids_.size()); }
  uint32_t uid_at(uint32_t msn) const { return uids_[msn - 1]; }
  const std::vector<std::string>& flags_at(uint32_t msn) const { return flags_[msn - 1]; }
  uint32_t msn_of(uint32_t uid) const;  // 0 when not in the view
  uint32_t max_uid() const { return uids_.empty() ? 0 : uids_.back(); }
  const std::vector<uint32_t>& uids() const { return uids_; }
  bool is_pending_expunge(uint32_t uid) const { return pending_expunge_.count(uid) > 0; }
  void set_flags(uint32_t uid, std::vector<std::string> flags);
  // Removes a message at once (our own EXPUNGE); returns its MSN before removal.
  uint32_t remove(uint32_t uid);

  struct Options {
    bool allow_expunge = true;  // false while answering FETCH/STORE/SEARCH by MSN
    bool uid_in_fetch = true;   // add UID to unsolicited FETCH (clients like it)
    bool modseq_in_fetch = false;  // CONDSTORE enabled
    bool qresync = false;          // VANISHED instead of EXPUNGE
  };
  // Applies what changed in the store since `highestmodseq`: changed/new
  // messages (modseq order irrelevant) and expunged UIDs. Returns the untagged
  // responses to send now.
  std::string apply(const std::vector<MessageUpdate>& changed, const std::vector<uint32_t>& expunged,
                    int64_t new_highestmodseq, int64_t new_uidnext, const Options& options);
  // Sends expunges deferred while they were not allowed.
  std::string flush_expunges(const Options& options);

 private:
  std::vector<uint32_t> uids_;
  std::vector<std::vector<std::string>> flags_;
  std::set<uint32_t> pending_expunge_;
};

}  // namespace postline::imap
