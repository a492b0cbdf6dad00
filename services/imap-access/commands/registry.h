// The command table (Dovecot's idea): one entry per command with the states it
// is valid in and whether it refers to messages by sequence number (then
// EXPUNGE responses must wait, RFC 9051 7.5.1). Handlers live one family per file.
#pragma once

#include "services/imap-access/commands/context.h"

#include "common/mailstore/mail_store.h"

#include <map>
#include <string_view>

namespace postline::imap {

struct SearchKey;     // protocol/search_keys.h
struct PartialRange;  // protocol/search_keys.h

using Handler = asio::awaitable<Result> (*)(Context&);

enum StateMask : unsigned {
  kNotAuth = 1,
  kAuth = 2,
  kSelectedState = 4,
  kAnyState = 7,
  kAuthOrSelected = 6,
};

struct CommandSpec {
  const char* name;  // "FETCH", "UID FETCH"
  Handler handler;
  unsigned states;
  bool uses_msn;  // FETCH/STORE/SEARCH by sequence number: no EXPUNGE responses
};

const CommandSpec* find_command(std::string_view upper_name);

// capability.cpp
std::string capabilities(const SessionState& s, const Settings& settings);
// sync.cpp: brings the selected view up to date and queues the untagged updates.
asio::awaitable<void> sync_selected(Context& ctx, bool allow_expunge);
// A CONDSTORE-enabling command (RFC 7162 3.1: CHANGEDSINCE, UNCHANGEDSINCE, the
// MODSEQ fetch item and search key, STATUS HIGHESTMODSEQ): turns CONDSTORE on
// and, the first time with a mailbox selected, tells the client its
// HIGHESTMODSEQ.
void enable_condstore(Context& ctx);

// fetch.cpp: BODY[section]<offset.length> of one message, read on the calling
// (database) thread: what CATENATE's URLs (RFC 4469) name. nullopt: no such
// message, or a section that does not parse (RFC 5092 isection = BODY's).
std::optional<std::string> read_message_section(mailstore::MailStore& st, int64_t user, int64_t mailbox, uint32_t uid,
                                                const std::string& section, std::optional<uint64_t> offset,
                                                std::optional<uint64_t> length);

// Handlers, by family.
asio::awaitable<Result> cmd_capability(Context&);  // any_state.cpp
asio::awaitable<Result> cmd_noop(Context&);
asio::awaitable<Result> cmd_logout(Context&);
asio::awaitable<Result> cmd_id(Context&);
asio::awaitable<Result> cmd_enable(Context&);
asio::awaitable<Result> cmd_check(Context&);
asio::awaitable<Result> cmd_login(Context&);  // login.cpp
asio::awaitable<Result> cmd_authenticate(Context&);
asio::awaitable<Result> cmd_starttls(Context&);
asio::awaitable<Result> cmd_unauthenticate(Context&);
asio::awaitable<Result> cmd_select(Context&);  // select.cpp
asio::awaitable<Result> cmd_examine(Context&);
asio::awaitable<Result> cmd_close(Context&);
asio::awaitable<Result> cmd_unselect(Context&);
asio::awaitable<Result> cmd_fetch(Context&);  // fetch.cpp
asio::awaitable<Result> cmd_store(Context&);  // store.cpp
asio::awaitable<Result> cmd_expunge(Context&);  // expunge.cpp
asio::awaitable<Result> cmd_copy(Context&);  // copy.cpp
asio::awaitable<Result> cmd_move(Context&);
asio::awaitable<Result> cmd_append(Context&);  // append.cpp
asio::awaitable<Result> cmd_replace(Context&);
asio::awaitable<Result> cmd_create(Context&);  // mailbox.cpp
asio::awaitable<Result> cmd_delete(Context&);
asio::awaitable<Result> cmd_rename(Context&);
asio::awaitable<Result> cmd_subscribe(Context&);
asio::awaitable<Result> cmd_unsubscribe(Context&);
asio::awaitable<Result> cmd_list(Context&);  // list.cpp (LIST and LSUB)
asio::awaitable<Result> cmd_namespace(Context&);
asio::awaitable<Result> cmd_status(Context&);
asio::awaitable<Result> cmd_search(Context&);  // search.cpp
// A parsed search key as the store evaluates it: sequence numbers and the
// session's \Recent become UID ranges of `sel` (SEARCH, SORT, THREAD).
mailstore::SearchCriterion store_criterion(const SearchKey& key, const SelectedMailbox& sel);
bool uses_modseq(const SearchKey& key);
// Whether a command's arguments (that may not parse) ask for RETURN (... SAVE ...):
// a failed SEARCH or SORT with SAVE leaves "$" empty (RFC 5182 2.1).
bool asks_to_save(std::string_view args);
// The view-only evaluation SEARCH uses (flags, keywords, UIDs, MODSEQ): whether
// `c` can be answered without the store, and whether message `msn` matches.
bool view_only(const mailstore::SearchCriterion& c);
bool matches(const mailstore::SearchCriterion& c, const SelectedMailbox& sel, uint32_t msn);
asio::awaitable<Result> cmd_sort(Context&);  // sort.cpp (SORT, UID SORT)
// search_context.cpp: RFC 5267 contexts (CONTEXT=SEARCH, CONTEXT=SORT).
asio::awaitable<Result> cmd_cancelupdate(Context&);
// After a SEARCH or SORT with RETURN (UPDATE) found `results` (as sent:
// UIDs or message numbers, in result order): starts the context, or sends
// NO [NOUPDATE "tag"] when the session has kMaxUpdateContexts already.
// `keys` is null for SEARCH.
void start_update_context(Context& ctx, const std::vector<uint32_t>& results, mailstore::SearchCriterion criteria,
                          const std::vector<mailstore::SortCriterion>* keys);
// " PARTIAL (range set)" / " PARTIAL (range NIL)" of an ESEARCH response.
std::string partial_item(const PartialRange& range, const std::vector<uint32_t>& results, bool sorted);
// Re-evaluates the contexts for the messages that changed and sends ADDTO /
// REMOVEFROM. Only where EXPUNGE could be sent (sync_selected with
// allow_expunge, or after a command that does not use message numbers).
asio::awaitable<void> update_contexts(Context& ctx);
asio::awaitable<Result> cmd_thread(Context&);  // (THREAD, UID THREAD)
asio::awaitable<Result> cmd_idle(Context&);  // idle.cpp
asio::awaitable<Result> cmd_getquotaroot(Context&);  // quota.cpp
asio::awaitable<Result> cmd_getquota(Context&);
asio::awaitable<Result> cmd_setquota(Context&);
asio::awaitable<Result> cmd_notify(Context&);  // notify.cpp
asio::awaitable<Result> cmd_compress(Context&);  // compress.cpp
asio::awaitable<Result> cmd_getmetadata(Context&);  // metadata.cpp (RFC 5464)
asio::awaitable<Result> cmd_setmetadata(Context&);
asio::awaitable<Result> cmd_genurlauth(Context&);  // urlauth.cpp (RFC 4467)
asio::awaitable<Result> cmd_resetkey(Context&);
asio::awaitable<Result> cmd_urlfetch(Context&);
// NOTIFY's untagged responses, shared with the connection loop that pushes them.
std::string notify_status_line(const SessionState& s, const mailstore::MailboxStatus& st);
// Reads the named mailboxes' status in one transaction and sends a STATUS line
// for each that still exists (NOTIFY SET STATUS and the pushed updates). With
// `last_sent` (mailbox name -> the line sent last), a line the client already
// has is not sent again: notifications arrive after the data they announce,
// so a burst's last event can come after its final count went out.
asio::awaitable<void> send_notify_status(Context& ctx, std::vector<std::string> names,
                                         std::map<std::string, std::string>* last_sent = nullptr);
std::string notify_list_line(const SessionState& s, const std::string& attributes, const std::string& name,
                             const std::string& old_name = "");
// NOTIFY MailboxMetadataChange / ServerMetadataChange (RFC 5465 5.9, 5.10):
// the unsolicited `* METADATA mailbox entry ...` (RFC 5464 4.4.2, no values);
// `name` "" for the server annotations (metadata.cpp).
std::string notify_metadata_line(const SessionState& s, const std::string& name,
                                 const std::vector<std::string>& entries);
// NOTIFY caps: watched mailboxes per session, and STATUS per mailbox at most
// once per kNotifyStatusInterval (bursts coalesce into one).
inline constexpr size_t kMaxNotifyMailboxes = 1000;
inline constexpr std::chrono::milliseconds kNotifyStatusInterval{100};
// Re-reads the session's own limits from authd when they are older than
// kQuotaRefresh (quota.cpp); keeps the old ones when authd does not answer.
asio::awaitable<void> refresh_limits(Context& ctx, bool force = false);

}  // namespace postline::imap
