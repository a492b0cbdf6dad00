// Typed arguments for every command in the command table
// (commands/registry.cpp), parsed before anything runs. A parser consumes
// everything after the command name, end of command included, and returns a
// struct or throws SyntaxError with the reason (the session answers a tagged
// BAD). So an Args value exists only for a syntactically complete command, and
// a command that fails to parse has changed no session state (`SELECT box
// (CONDSTORE) x` does not turn CONDSTORE on): every handler in commands/
// calls its parser before anything else.
//
// The parsers are pure and do not see the session. Whatever depends on
// session state is left to the handler, which gets the raw wire values:
// decoding mailbox names (modified UTF-7 unless UTF8=ACCEPT), whether QRESYNC
// is enabled (SELECT ... QRESYNC, UID FETCH ... VANISHED), whether APPEND ...
// UTF8 is allowed, and side effects such as a CONDSTORE-using command turning
// CONDSTORE on.
//
// Every parser takes a Reader positioned just after the command name, with
// the SP before the first argument not yet read. That is where the
// dispatcher (commands/dispatch.cpp) leaves it ("a1 UID FETCH| 1:* FLAGS").
//
// Limits. The Receiver already bounds a command line (imap.max_line, 64 KiB,
// literals excluded, so also every sequence set) and each literal
// (imap.max_literal). Inside a line the limits below apply wherever the grammar
// is unbounded. Each is far above what real clients send; they exist so that
// one command costs bounded work and memory after parsing too.
#pragma once

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/imap_url.h"
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/notify_spec.h"
#include "services/imap-access/protocol/reader.h"
#include "services/imap-access/protocol/search_keys.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace postline::imap {

// Mailbox names as sent (before any decoding), LIST references and patterns,
// NOTIFY mailbox names and quota roots.
inline constexpr size_t kMaxMailboxNameOctets = 1024;
// LOGIN userid and password. Passwords are hashed by authd, and a 50 MiB literal
// password would cost it just as much to hash.
inline constexpr size_t kMaxCredentialOctets = 1024;
// Flags in one STORE or APPEND, and the length of one keyword.
inline constexpr size_t kMaxFlags = 256;
inline constexpr size_t kMaxKeywordOctets = 100;
// Distinct keywords one mailbox may hold through STORE (Cyrus allows 128): each
// is in every FLAGS and PERMANENTFLAGS line, so without a cap a client makes
// those lines (and every other session's) arbitrarily long.
inline constexpr size_t kMaxMailboxKeywords = 256;
// Items in one STATUS or LIST RETURN (STATUS (...)) list (repeats count too).
inline constexpr size_t kMaxStatusItems = 32;
// LIST: patterns in one pattern list; selection options; return options.
inline constexpr size_t kMaxListPatterns = 64;
inline constexpr size_t kMaxListOptions = 32;
// ENABLE: capability names in one command.
inline constexpr size_t kMaxEnableCapabilities = 32;
// ID (RFC 2971 3.3): at most 30 pairs, field names at most 30 octets, values at most 1024.
inline constexpr size_t kMaxIdPairs = 30;
inline constexpr size_t kMaxIdFieldOctets = 30;
inline constexpr size_t kMaxIdValueOctets = 1024;
// SETQUOTA: resource/limit pairs, and each limit (KiB * 1024 must fit authd's int64).
inline constexpr size_t kMaxQuotaResources = 16;
inline constexpr uint64_t kMaxQuotaLimit = uint64_t{1} << 40;
// NOTIFY: mailbox names across all subtree/mailboxes filters (the handler's own
// cap, kMaxNotifyMailboxes, counts watched mailboxes after resolving them).
inline constexpr size_t kMaxNotifyMailboxNames = 1000;
// SORT criteria in one command (RFC 5256 allows repeating a key; nothing
// after its first use can change the order).
inline constexpr size_t kMaxSortCriteria = 32;

// METADATA (RFC 5464): the length of one entry name, and entries in one
// GETMETADATA or SETMETADATA (as many as a mailbox may hold,
// mailstore::kMaxMetadataEntries). Value sizes are the store's limit
// (mailstore::kMaxMetadataValueOctets, NO [METADATA MAXSIZE]): a value is a
// literal the Receiver has bounded already, and the RFC wants NO, not BAD.
inline constexpr size_t kMaxMetadataEntryOctets = 256;
inline constexpr size_t kMaxMetadataEntriesPerCommand = 100;
// mod-sequence-value (RFC 7162 7): a 63-bit unsigned integer.
inline constexpr uint64_t kMaxModSequence = 0x7fffffffffffffffu;

// CAPABILITY NOOP LOGOUT CHECK UNSELECT CLOSE EXPUNGE IDLE STARTTLS NAMESPACE.
struct NoArgs {};

// COMPRESS (RFC 4978 3): the one algorithm there is. Any other name is a
// SyntaxError (the RFC wants a tagged BAD for an unknown algorithm).
enum class CompressMechanism { kDeflate };
struct CompressArgs {
  CompressMechanism mechanism = CompressMechanism::kDeflate;
};

// ID (RFC 2971): nullopt for NIL; otherwise field/value pairs as sent (a NIL value is nullopt).
struct IdArgs {
  std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>> params;
};

// ENABLE (RFC 5161): capability names upper-cased, in the order sent. Names the
// server does not know are kept: RFC 5161 says to ignore them, and ignoring them
// is the handler's job.
struct EnableArgs {
  std::vector<std::string> capabilities;
};

struct LoginArgs {
  std::string userid, password;
};

// AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959). `mechanism` is upper-cased;
// `initial_response` holds the decoded bytes of the base64 initial response
// ("" for "="), or nullopt when there is none.
struct AuthenticateArgs {
  std::string mechanism;
  std::optional<std::string> initial_response;
};

// SELECT / EXAMINE with RFC 7162 parameters. `condstore` means the (CONDSTORE)
// parameter was sent; QRESYNC implying CONDSTORE is the handler's business, and
// so is refusing QRESYNC before ENABLE QRESYNC.
struct SelectArgs {
  struct SeqMatch {
    SequenceSet msns;  // known-sequence-set
    SequenceSet uids;  // known-uid-set, as many numbers as `msns`
  };
  struct Qresync {
    uint32_t uidvalidity = 0;
    uint64_t modseq = 0;  // <= kMaxModSequence
    std::optional<SequenceSet> known_uids;
    std::optional<SeqMatch> seq_match;
  };
  std::string mailbox;
  bool condstore = false;
  std::optional<Qresync> qresync;
};

// CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT: a single mailbox name.
struct MailboxArgs {
  std::string mailbox;
};

struct RenameArgs {
  std::string from, to;
};

// STATUS data items (RFC 9051 6.3.11, RFC 3501 RECENT, RFC 7162 HIGHESTMODSEQ,
// RFC 7889 APPENDLIMIT, RFC 8474 MAILBOXID, RFC 9208 DELETED-STORAGE).
struct StatusItems {
  bool messages = false, uidnext = false, uidvalidity = false, unseen = false, deleted = false, size = false,
       recent = false, highestmodseq = false, appendlimit = false, mailboxid = false, deleted_storage = false;
};

// LIST (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS
// RFC 5819) and LSUB. The `return_*` fields say only what the client asked for
// in RETURN (...). Defaults such as SUBSCRIBED implying RETURN (SUBSCRIBED) are
// up to the handler.
struct ListArgs {
  // Selection options, RFC 5258 3.1.
  bool select_subscribed = false, select_remote = false, select_recursivematch = false, select_special_use = false;
  std::string reference;
  std::vector<std::string> patterns;  // one or more, as sent (list-mailbox)
  bool has_return = false;            // RETURN (...) was given, even if empty
  bool return_subscribed = false, return_children = false, return_special_use = false;
  std::optional<StatusItems> return_status;
  // RFC 5258 3: selection options, a pattern list or RETURN made this an extended LIST.
  bool extended = false;
};

struct StatusArgs {
  std::string mailbox;
  StatusItems items;
};

// APPEND (RFC 9051 6.3.12; literal8 RFC 3516; UTF8 RFC 6855 3.4; MULTIAPPEND
// RFC 3502: several messages in one command, all stored or none). `literal8`
// records that a message came as ~{n}: binary content, which must not have
// its line endings converted. `utf8` is the UTF8 (~{n}) form, which needs
// UTF8=ACCEPT (checked by the handler).
// CATENATE (RFC 4469): the message is built from text literals and IMAP URLs
// of messages (or parts of them) the user already has.
struct CatenatePart {
  bool is_url = false;
  // TEXT literal bytes, or the URL as sent (at most kMaxImapUrlOctets). The
  // URL is parsed by the handler, which knows the user (parse_imap_url) and
  // answers NO [BADURL] for one it cannot use (RFC 4469 5).
  std::string text;
  bool literal8 = false;
};
inline constexpr size_t kMaxCatenateParts = 100;

struct AppendMessage {
  std::vector<std::string> flags;        // system flags in canonical case
  std::optional<int64_t> internal_date;  // seconds since the epoch
  std::string message;
  bool literal8 = false;
  bool utf8 = false;
  // CATENATE: the parts the handler assembles into `message` (then non-empty).
  std::vector<CatenatePart> catenate;
};
struct AppendArgs {
  std::string mailbox;
  std::vector<AppendMessage> messages;  // 1..kMaxAppendMessages
};
// Messages in one MULTIAPPEND. Each message is bounded by imap.max_literal (the
// Receiver refuses a bigger literal before reading it) and all of a command's
// literal bytes by the shared imap.max_inflight_literals budget.
inline constexpr size_t kMaxAppendMessages = 1000;

// REPLACE / UID REPLACE (RFC 8508): one message (a number or '*') of the
// selected mailbox is replaced by a message appended to `mailbox`.
struct ReplaceArgs {
  bool uid = false;
  SequenceSet target;  // exactly one number, or '*'
  std::string mailbox;
  AppendMessage message;
};

// COPY / MOVE and their UID forms.
struct CopyArgs {
  bool uid = false;
  SequenceSet set;
  std::string mailbox;
};

struct FetchArgs {
  bool uid = false;
  SequenceSet set;
  FetchRequest request;  // changed_since, if any, is 0..kMaxModSequence
};

enum class StoreMode { kReplace, kAdd, kRemove };  // FLAGS, +FLAGS, -FLAGS

// STORE (RFC 9051 6.4.6, UNCHANGEDSINCE RFC 7162 3.1.3). Flags have been
// checked: system flags in canonical case; no \Recent, \* or unknown \flags;
// keywords at most kMaxKeywordOctets.
struct StoreArgs {
  bool uid = false;
  SequenceSet set;
  std::optional<uint64_t> unchanged_since;  // <= kMaxModSequence
  StoreMode mode = StoreMode::kReplace;
  bool silent = false;
  std::vector<std::string> flags;
};

struct SearchArgs {
  bool uid = false;
  SearchRequest request;
};

// SORT and UID SORT (RFC 5256 3, SORT=DISPLAY RFC 5957, ESORT RFC 5267 4:
// RETURN with MIN MAX COUNT ALL, SAVE of SEARCHRES (RFC 5182), and
// CONTEXT=SORT's CONTEXT, UPDATE and PARTIAL). The charset is upper-cased but not checked (the handler
// answers NO [BADCHARSET]).
struct SortArgs {
  bool uid = false;
  std::vector<mailstore::SortCriterion> criteria;  // 1..kMaxSortCriteria
  std::string charset;
  SearchKey key;  // kAnd of the keys
  bool esort = false;  // RETURN (...) given: the answer is ESEARCH
  bool ret_min = false, ret_max = false, ret_count = false, ret_all = false, ret_save = false;
  ContextOptions ctx;  // CONTEXT=SORT (RFC 5267 4): CONTEXT, UPDATE, PARTIAL
};

// CANCELUPDATE (RFC 5267 4.3.5): the tags of the UPDATE contexts to end.
struct CancelUpdateArgs {
  std::vector<std::string> tags;  // 1..kMaxCancelUpdateTags
};
inline constexpr size_t kMaxCancelUpdateTags = 100;

// THREAD and UID THREAD (RFC 5256 3): ORDEREDSUBJECT or REFERENCES.
struct ThreadArgs {
  bool uid = false;
  mailstore::ThreadAlgorithm algorithm = mailstore::ThreadAlgorithm::kReferences;
  std::string charset;
  SearchKey key;
};

// UID EXPUNGE (RFC 4315 2.1).
struct UidExpungeArgs {
  SequenceSet set;
};

// GETQUOTA (RFC 9208 4.2).
struct QuotaRootArgs {
  std::string root;
};

// SETQUOTA (RFC 9208 4.1.3). Resources other than STORAGE and MESSAGE are
// syntactically fine but unsupported. They are listed, upper-cased, so the
// handler can fail the command with NO as the RFC requires.
struct SetQuotaArgs {
  std::string root;
  std::optional<uint64_t> storage_kib, messages;  // <= kMaxQuotaLimit
  std::vector<std::string> unsupported;
};

// NOTIFY (RFC 5465). `outcome` is kSet, kNone or kBadEvent, never kBad (that is
// a SyntaxError). kBadEvent carries the reason in `bad_event` and is answered NO [BADEVENT ...].
struct NotifyArgs {
  NotifyParse::Outcome outcome = NotifyParse::Outcome::kNone;
  NotifySpec spec;
  std::string bad_event;
};

// GETMETADATA (RFC 5464 4.2, options before the mailbox as in the ABNF and
// errata 2785/2786). Entry names follow RFC 5464 3.2 (checked here, BAD
// otherwise): "/private" or "/shared", alone or followed by "/" and more;
// printable ASCII only, no "*" or "%", no "//", no trailing "/", at most
// kMaxMetadataEntryOctets. They are kept as sent (the store folds case).
// `mailbox` "" means the server annotations (METADATA-SERVER).
struct GetMetadataArgs {
  std::optional<uint32_t> maxsize;
  mailstore::MetadataDepth depth = mailstore::MetadataDepth::kZero;
  std::string mailbox;
  std::vector<std::string> entries;  // 1..kMaxMetadataEntriesPerCommand
};

// SETMETADATA (RFC 5464 4.3): entry/value pairs, a value nullopt for NIL
// (remove). Values are string or literal8 (any octets; NUL only in a
// literal8, where RFC 3516 allows it). An entry must name something below
// /private or /shared (those two alone cannot be set).
struct SetMetadataArgs {
  std::string mailbox;
  std::vector<mailstore::MetadataUpdate> updates;  // 1..kMaxMetadataEntriesPerCommand
};

// RFC 5464 3.2 entry name rules; nullopt when `entry` follows them, else why not.
std::optional<std::string> metadata_entry_error(std::string_view entry);

// URLAUTH (RFC 4467). URLs stay text here: commands/urlauth.cpp parses them
// with common/urlauth (it knows the user and the clock). Mechanisms are
// upper-cased atoms (1*(ALPHA / DIGIT / "-" / ".")); which ones are
// supported is the handler's business (INTERNAL only).
inline constexpr size_t kMaxUrlsPerCommand = 100;
struct GenUrlauthArgs {
  struct Item {
    std::string rump;       // astring: the URL ending in ";URLAUTH=<access>"
    std::string mechanism;  // upper case
  };
  std::vector<Item> items;  // 1..kMaxUrlsPerCommand
};
struct ResetKeyArgs {
  std::optional<std::string> mailbox;   // nullopt: every mailbox
  std::vector<std::string> mechanisms;  // upper case; only with a mailbox
};
struct UrlFetchArgs {
  std::vector<std::string> urls;  // astrings, 1..kMaxUrlsPerCommand
};

NoArgs parse_no_args(Reader& r);
IdArgs parse_id_args(Reader& r);
EnableArgs parse_enable_args(Reader& r);
LoginArgs parse_login_args(Reader& r);
AuthenticateArgs parse_authenticate_args(Reader& r);
SelectArgs parse_select_args(Reader& r);    // SELECT, EXAMINE
MailboxArgs parse_create_args(Reader& r);   // CREATE (no create-params: none is supported)
MailboxArgs parse_mailbox_args(Reader& r);  // DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT
RenameArgs parse_rename_args(Reader& r);
ListArgs parse_list_args(Reader& r);
ListArgs parse_lsub_args(Reader& r);  // reference and one pattern only
StatusArgs parse_status_args(Reader& r);
AppendArgs parse_append_args(Reader& r);
ReplaceArgs parse_replace_args(Reader& r, bool uid);
CopyArgs parse_copy_args(Reader& r, bool uid);  // COPY, MOVE
FetchArgs parse_fetch_args(Reader& r, bool uid);
StoreArgs parse_store_args(Reader& r, bool uid);
SearchArgs parse_search_args(Reader& r, bool uid);
SortArgs parse_sort_args(Reader& r, bool uid);
CancelUpdateArgs parse_cancelupdate_args(Reader& r);
ThreadArgs parse_thread_args(Reader& r, bool uid);
UidExpungeArgs parse_uid_expunge_args(Reader& r);
QuotaRootArgs parse_getquota_args(Reader& r);
SetQuotaArgs parse_setquota_args(Reader& r);
NotifyArgs parse_notify_args(Reader& r);
CompressArgs parse_compress_args(Reader& r);
GetMetadataArgs parse_getmetadata_args(Reader& r);
SetMetadataArgs parse_setmetadata_args(Reader& r);
GenUrlauthArgs parse_genurlauth_args(Reader& r);
ResetKeyArgs parse_resetkey_args(Reader& r);
UrlFetchArgs parse_urlfetch_args(Reader& r);

using CommandArgs = std::variant<NoArgs, IdArgs, EnableArgs, LoginArgs, AuthenticateArgs, SelectArgs, MailboxArgs,
                                 RenameArgs, ListArgs, StatusArgs, AppendArgs, ReplaceArgs, CopyArgs, FetchArgs, StoreArgs,
                                 SearchArgs, UidExpungeArgs, QuotaRootArgs, SetQuotaArgs, NotifyArgs, CompressArgs,
                                 SortArgs, ThreadArgs, GetMetadataArgs, SetMetadataArgs, CancelUpdateArgs,
                                 GenUrlauthArgs, ResetKeyArgs, UrlFetchArgs>;

// Dispatches on the command table name ("FETCH", "UID FETCH": upper case, the
// UID form as one name). A name not in the table is a SyntaxError too.
CommandArgs parse_command_args(std::string_view name, Reader& r);
// The names parse_command_args knows: those of commands/registry.cpp.
std::span<const std::string_view> command_args_names();

// The part of a command before its arguments, read as commands/dispatch.cpp
// reads it: tag SP name [SP name after "UID"]. `name` is upper-cased, "UID X"
// for the UID forms. Leaves `r` just after the name.
struct CommandHead {
  std::string tag, name;
};
CommandHead parse_command_head(Reader& r);

// base64 (RFC 4648, padding required) as SASL uses it in AUTHENTICATE's initial
// response and its continuation lines. nullopt when `in` is not valid base64.
std::optional<std::string> decode_sasl_base64(std::string_view in);

}  // namespace postline::imap
