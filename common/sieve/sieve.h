// postline_sieve: a sans-I/O Sieve interpreter (RFC 5228 and extensions; README.md).
//
//   parse(text)            -> Script (an AST with line/column positions) or syntax errors
//   check(script, options) -> errors (require, names, argument types, tags, comparators)
//   run(script, message, context) -> RunResult: the actions to perform, or an error
//
// Nothing here does I/O. What the interpreter needs from the world comes through the small
// interfaces below (Message, MailboxLookup, VacationHistory, DuplicateTracker, ScriptLoader),
// each with an in-memory implementation for tests (memory.h). Nothing throws across the
// API; hostile scripts are bounded by Limits.
//
// The rule for every caller (queue delivery, ManageSieve CHECKSCRIPT aside): on any error
// (parse, check or run), deliver the message to INBOX as if there were no script. run()
// already returns exactly that (one implicit keep) together with the error, so executing
// RunResult::actions is always safe. Mail is never lost because of a script.
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace postline::sieve {

// ---- limits ----

struct Limits {
  std::size_t max_script_size = 1024 * 1024;  // bytes of one script (each include counts alone)
  std::size_t max_nesting = 32;               // nested blocks and tests
  std::size_t max_actions = 64;               // actions one run may produce (keep included)
  std::size_t max_redirects = 4;              // redirect actions per run
  std::uint64_t max_steps = 200000;           // commands + tests + match comparisons per run
  std::uint64_t max_run_ms = 2000;            // wall clock per run (checked with the steps)
  std::size_t max_include_depth = 8;          // nested include (RFC 6609)
  std::size_t max_includes = 32;              // include commands executed per run
  std::size_t max_variable_size = 4096;       // bytes of one variable value (longer: truncated,
                                              // RFC 5229 3 allows it)
  std::size_t max_variables = 256;            // distinct variable names per script
  std::size_t max_header_edits = 64;          // addheader/deleteheader per run
};

// ---- the syntax tree ----

struct Position {
  int line = 1;
  int column = 1;
};

struct Test;

struct Argument {
  enum class Kind { kTag, kNumber, kString, kStringList };
  Kind kind = Kind::kString;
  Position pos;
  std::string tag;                    // kTag: lowercased, without ':'
  std::uint64_t number = 0;           // kNumber: K/M/G applied
  std::vector<std::string> strings;   // kString: one element; kStringList: the list
};

struct Test {
  std::string name;                   // lowercased identifier
  Position pos;
  std::vector<Argument> args;
  std::vector<Test> tests;            // allof/anyof/not children
  // Filled in by check(): the tags by name (value = the tag's parameter, or nullptr) and
  // the positional arguments in order.
  std::map<std::string, const Argument*> tags;
  std::vector<const Argument*> positional;
};

struct Command {
  std::string name;
  Position pos;
  std::vector<Argument> args;
  std::optional<Test> test;           // if/elsif
  std::vector<Test> test_list;        // unused by base commands; kept for the grammar
  bool has_block = false;
  std::vector<Command> block;
  std::map<std::string, const Argument*> tags;
  std::vector<const Argument*> positional;
};

// After check(), Test/Command::tags and positional point into the nodes' own args, so a
// Script is not copyable (a copy would point into the original); it may be moved, and a
// checked Script may be shared by threads: run() never modifies it.
struct Script {
  Script() = default;
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;
  Script(Script&&) = default;
  Script& operator=(Script&&) = default;
  std::vector<Command> commands;
  std::set<std::string> required;     // capabilities named by `require` (filled by check)
  bool checked = false;
};

struct Error {
  Position pos;
  std::string message;
  // "line 3: unknown command 'foo'" — what ManageSieve PUTSCRIPT/CHECKSCRIPT show.
  std::string text() const;
};

struct ParseResult {
  std::unique_ptr<Script> script;     // null when there are errors
  std::vector<Error> errors;
};

ParseResult parse(std::string_view text, const Limits& limits = {});

// The capabilities this library implements (for ManageSieve's SIEVE capability line).
const std::vector<std::string>& supported_extensions();

struct CheckOptions {
  Limits limits;
  // Capabilities a script may require; empty = every supported one. ManageSieve/the queue
  // pass the administrator's list.
  std::set<std::string> allowed_extensions;
};

// Validates and annotates the script (Test::tags/positional, Script::required). Returns the
// errors (empty = ok); a script with errors must not be run.
std::vector<Error> check(Script& script, const CheckOptions& options = {});

// parse + check; errors of either stage. What CHECKSCRIPT/PUTSCRIPT call.
ParseResult compile(std::string_view text, const CheckOptions& options = {});

// ---- what a run reads ----

struct HeaderField {
  std::string name;   // as written
  std::string value;  // raw (undecoded, folding kept or not: the interpreter unfolds)
};

struct BodyPart {
  std::string content_type;  // "text/plain", lowercased
  std::string text;          // transfer-decoded; text/* converted to UTF-8
};

// One message. The queue implements this over the stored message; memory.h has one over
// raw bytes (parsed with common/mime).
class Message {
 public:
  virtual ~Message() = default;
  virtual const std::vector<HeaderField>& header_fields() const = 0;  // top level, in order
  virtual std::uint64_t size() const = 0;                             // octets (RFC 5228 5.9)
  // The parts for `body :content` / `:text` (RFC 5173), in message order: every leaf, and
  // for each multipart its prologue and epilogue (the text outside its body parts) with
  // its multipart/* type.
  virtual std::vector<BodyPart> body_parts() const = 0;
  // The body as it is (after the blank line), for `body :raw`.
  virtual std::string raw_body() const = 0;
};

struct Envelope {
  std::string from;          // MAIL FROM path without <>; "" is the null path
  std::string to;            // this recipient (RCPT TO) without <>
  std::string orig_to;       // ORCPT or alias before expansion; "" = same as `to`
  std::string auth;          // the SASL identity that submitted it, "" = none
};

// "Does this mailbox exist" (RFC 5490 mailboxexists; fileinto :create is the caller's).
class MailboxLookup {
 public:
  virtual ~MailboxLookup() = default;
  virtual bool exists(std::string_view mailbox) const = 0;
};

// RFC 5230 4.2: "have I answered this sender for this handle within `seconds`". The
// interpreter only asks; the caller records after it queued the reply (VacationAction::key).
class VacationHistory {
 public:
  virtual ~VacationHistory() = default;
  virtual bool replied_within(std::string_view key, std::uint64_t seconds) const = 0;
};

// RFC 7352: "has a message with this id been seen for this handle within `seconds`". The
// interpreter only asks; RunResult::duplicate_marks lists what the caller must record once
// the delivery committed (RFC 7352: recorded only when the script ran successfully).
class DuplicateTracker {
 public:
  virtual ~DuplicateTracker() = default;
  virtual bool seen_within(std::string_view key, std::uint64_t seconds) const = 0;
};

// RFC 6609: loads a script by name. nullopt = no such script.
class ScriptLoader {
 public:
  virtual ~ScriptLoader() = default;
  enum class Location { kPersonal, kGlobal };
  virtual std::optional<std::string> load(Location where, std::string_view name) const = 0;
};

struct RunContext {
  Limits limits;
  Envelope envelope;
  std::time_t now = 0;                  // currentdate, vacation, duplicate (0 = time(nullptr))
  int zone_minutes = 0;                 // local zone for currentdate/date without :zone
  std::vector<std::string> user_addresses;  // vacation: "my" addresses besides envelope.to
  std::string user;                     // the account, part of vacation/duplicate keys
  // spamtest (RFC 3685): 0 = not tested, 1..10; nullopt = no verdict (spamtest then says 0).
  std::optional<int> spam_score;
  std::optional<int> spam_percent;      // spamtestplus :percent, 0..100
  const MailboxLookup* mailboxes = nullptr;   // null: every mailbox exists
  const VacationHistory* vacation_history = nullptr;  // null: never replied
  const DuplicateTracker* duplicates = nullptr;       // null: nothing seen
  const ScriptLoader* loader = nullptr;               // null: include fails at run time
  int vacation_min_days = 1;            // :days is clamped into [min, max] (RFC 5230 4.1)
  int vacation_max_days = 90;
  std::string default_mailbox = "INBOX";
  // false when already_delivered_to(message, recipient): redirect then does nothing (a
  // note says so) and, unlike a redirect, leaves the implicit keep in force.
  bool redirects_allowed = true;
};

// ---- what a run produces ----

struct VacationAction {
  std::string to;           // the sender the reply goes to (envelope from)
  std::string from;         // :from, or the recipient's address
  std::string subject;      // :subject, or "Auto: " + original subject (RFC 5230 4.3)
  std::string reason;       // body text, or a MIME entity when `mime`
  bool mime = false;
  std::string handle;       // :handle, or derived from the arguments (RFC 5230 4.2)
  std::uint64_t seconds = 0;  // the period after :days/:seconds and clamping
  std::string in_reply_to;    // the original Message-ID, for In-Reply-To/References
  std::string references;
  // What to record in VacationHistory after sending: user, handle and sender.
  std::string key;
};

struct Action {
  enum class Kind { kKeep, kFileinto, kRedirect, kDiscard, kReject, kEreject, kVacation };
  Kind kind = Kind::kKeep;
  Position pos;
  bool implicit = false;            // kKeep: the implicit keep
  std::string mailbox;              // kKeep (the default mailbox) / kFileinto
  std::vector<std::string> flags;   // kKeep/kFileinto: IMAP flags to set (RFC 5232)
  bool copy = false;                // :copy (RFC 3894)
  bool create = false;              // fileinto :create (RFC 5490)
  std::string address;              // kRedirect
  std::string reason;               // kReject/kEreject
  VacationAction vacation;          // kVacation
  // editheader: how many of RunResult::header_edits were made before this action; the copy
  // this action stores or redirects carries the original header with those edits applied
  // (RFC 5293: edits affect the actions that follow them).
  std::size_t edits_before = 0;
};

// editheader (RFC 5293): the header the delivered copy must carry, as a list of edits
// applied in order to the original header.
struct HeaderEdit {
  enum class Kind { kAdd, kDelete };
  Kind kind = Kind::kAdd;
  std::string name;
  std::string value;       // kAdd: the new value, one line of UTF-8 (apply_header_edits
                           // RFC 2047-encodes and folds it)
  bool last = false;       // kAdd: append at the end instead of the top
  // kDelete: the fields deleted, as 1-based occurrences among the fields named `name` in
  // the header as it was at that edit (after the edits before it).
  std::vector<std::size_t> occurrences;
};

// editheader's result in bytes: `raw` with the first `count` edits applied (an action's
// copy: count = Action::edits_before; the implicit keep's copy: all). Added fields are
// RFC 2047-encoded when not ASCII and folded when long; deletions remove the numbered
// occurrences. Everything after the header is unchanged.
std::string apply_header_edits(std::string_view raw, const std::vector<HeaderEdit>& edits,
                               std::size_t count = static_cast<std::size_t>(-1));

// Loop protection for redirect is the caller's (docs/sieve.md "Redirect loops"): before
// running a user's script, it asks whether this message already went through this
// recipient (a Delivered-To field naming it, the Postfix and Dovecot convention); if so it
// runs with RunContext::redirects_allowed = false. It adds "Delivered-To: <recipient>" to
// every copy it redirects.
bool already_delivered_to(const Message& message, std::string_view address);
// Fields named `name` in the message (the caller's hop limit: Received).
std::size_t count_fields(const Message& message, std::string_view name);

struct RunResult {
  bool ok = true;                   // false: `error` is set and actions is one implicit keep
  std::optional<Error> error;
  std::size_t error_script = 0;     // index of the failing script in run()'s sequence
  std::vector<Action> actions;      // in execution order; implicit keep last if in force
  std::vector<HeaderEdit> header_edits;
  std::vector<HeaderField> edited_header;  // the header after the edits (when there were any)
  // RFC 7352: ids to record in DuplicateTracker once delivery committed. `refresh`: the
  // test had :last, so an existing entry's period starts again.
  struct DuplicateMark {
    std::string key;
    std::string handle;  // :handle as given ("" = none), for logs
    std::uint64_t seconds = 0;
    bool refresh = false;
  };
  std::vector<DuplicateMark> duplicate_marks;
  std::vector<std::string> notes;   // why vacation did not reply, etc. (for the log)
};

RunResult run(const Script& script, const Message& message, const RunContext& context);
// Several scripts as one delivery, in order: the administrator's before scripts, the
// user's, the after scripts. Actions, the imap4flags variable and header edits carry over,
// variables do not; the next script runs only while the message is still kept (implicit
// keep in force, or an explicit keep), as in Pigeonhole; `stop` ends the sequence. An
// error in any of them is the error of the run (RunResult::error_script says which).
RunResult run(const std::vector<const Script*>& scripts, const Message& message, const RunContext& context);

// RFC 3685 / RFC 5235 values from a spam score on a scale [0, max_score] (Rspamd's score
// against its reject threshold, say): spamtest 1 + 9 * score/max truncated (1..10; "0" is
// reserved for "not tested", which is RunContext::spam_score = nullopt), :percent
// 100 * score/max rounded (0..100). Scores outside the scale are clamped. The same mapping
// as Pigeonhole's sieve_spamtest_status_type = score.
int spamtest_value(double score, double max_score);
int spamtest_percent(double score, double max_score);

// `text` as a Sieve quoted string (RFC 5228 2.4.2), quotes included: '"' and
// '\\' escaped, line ends made CRLF (the only line break a quoted string may
// hold), NUL and lone CR dropped. For scripts written by programs (the spam
// default, the web portal's filters).
std::string quote_string(std::string_view text);

// The per-user default as a Sieve script (issue 19: "spam to Junk"): when spamtest is at
// least `threshold` (1..10), file into `mailbox` and stop. Meant as a before script
// (run()'s sequence), so the user's own script still sees everything else.
std::string spam_to_junk_script(int threshold = 8, std::string_view mailbox = "Junk");

// The actions one per line in the differential tier's normalised form (README.md).
std::string describe(const RunResult& result);

}  // namespace postline::sieve
