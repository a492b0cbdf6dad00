// What the portal asks of the rest of Postline, as plain structs so the
// portal's pages and rules are tested without gRPC. The server's
// implementation (services/web/server/portal_backend.h) calls authd, queued
// and the mailstore; every call blocks and runs on webd's worker threads.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::web::portal {

// A service could not answer (503 page, "try again").
struct Unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The request was refused with a reason meant for the user (authd's password
// policy, an app-password label already taken, ...).
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The message a page cursor names is no longer in the queue (deleted, or
// purged after queue.keep_finished): the portal starts at the first page.
struct PageGone : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class LoginOutcome { kOk, kInvalid, kThrottled, kDisabled, kUnavailable };
const char* login_outcome_name(LoginOutcome o);  // the `outcome` label

struct LoginResult {
  LoginOutcome outcome = LoginOutcome::kUnavailable;
  int64_t user_id = 0;
  std::string email;
  bool admin = false;
};

enum class RecipientState { kQueued, kDelivering, kDelivered, kDeferred, kBounced, kExpired, kUnknown };
const char* recipient_state_name(RecipientState s);  // "queued", "delivered", ...

struct Attempt {
  int64_t started_unix = 0;
  std::string mx_host;  // "" for local delivery
  std::string reply;
  RecipientState outcome = RecipientState::kUnknown;
  bool remote_reply = false;
};

struct SentRecipient {
  std::string address;
  RecipientState state = RecipientState::kUnknown;
  bool local = false;
  int64_t next_attempt_unix = 0;  // when pending
  std::string last_reply;
  std::vector<Attempt> attempts;
};

struct SentMessage {
  std::string queue_id;
  int64_t created_unix = 0;
  std::string mail_from;
  std::string submitter;  // Envelope.authenticated_user
  std::string message_id;
  std::string subject;  // decoded; "" = none
  int64_t size = 0;
  std::vector<SentRecipient> recipients;
};

struct AppPasswordInfo {
  std::string label;
  std::string created_at;    // RFC 3339
  std::string last_used_at;  // "" = never
};

struct QuotaInfo {
  int64_t limit_bytes = 0, limit_messages = 0;  // 0 = unlimited
  std::optional<int64_t> used_bytes, used_messages;  // nullopt: the mailstore is not reachable from webd
};

// Administration (accounts authd marks admin; docs/web.md "Administration").
struct DomainInfo {
  std::string name;
  int64_t users = 0, aliases = 0;
  std::string catch_all;  // "" = none
};
struct UserInfo {
  std::string email;
  bool disabled = false, admin = false;
  int64_t quota_bytes = 0;  // 0 = unlimited
  std::string last_login_at;
  int64_t quota_messages = 0;  // 0 = unlimited
};
struct AliasInfo {
  std::string address;
  std::vector<std::string> targets;
};
struct NewUser {
  std::string email, password;
  int64_t quota_bytes = 0;
  bool admin = false;
  int64_t quota_messages = 0;  // 0 = unlimited
};
// A change of an account's limits (AdminService UpdateUser): only what is
// set changes; 0 = unlimited.
struct QuotaChange {
  std::optional<int64_t> bytes, messages;
};
enum class QueueAction { kRetry, kHold, kRelease, kDelete };
struct ServiceHealth {
  std::string name;    // "authd", "queued", "mailstore database", "smtpd", "imapd"
  std::string target;  // where webd reaches it
  bool ok = false;
  std::string detail;  // why not, or what was asked
  // The services asked over HTTP /readyz (web.health_urls): "ready", "not
  // ready" (it answered, not 200) or "unreachable"; "" = up/down from `ok`.
  std::string state;
};
// One DNS record a hosted domain needs (common/dnsrecords), and when checked
// what DNS answered.
struct DnsRecordView {
  std::string purpose, name, type, value, note;  // value "" = not known here (note says why)
  bool required = false;
  std::string verdict;  // "" = not checked; ok, missing, wrong, unchecked
  bool fails = false;   // a problem (`postline dns check` would exit 1 for it)
  std::vector<std::string> found;
  std::string detail;
};
struct DomainDns {
  std::string domain, host;  // host: the mail server (smtp.hostname)
  std::string zone_file;     // what to publish, zone-file text
  std::string resolver;      // checked: whom webd asked
  std::string warning;       // "" or why part of it is unknown (a DKIM key webd cannot read)
  std::vector<DnsRecordView> records;
};
struct QueueFilter {  // "" / 0 = no condition (queue.proto MessageFilter)
  std::string sender, recipient, domain, message_id;
  std::string older;               // the age as typed ("2h"), shown again in the form
  int64_t older_than_seconds = 0;  // parsed from `older`
  // "" = a pending recipient (queued or deferred); queued, deferred,
  // delivering, delivered, bounced, expired; held; any (finished ones too).
  std::string state;
};
// One page of a listing (keyset paging, queue.proto page_after/page_before):
// the messages after, or before, the one with this queue id. At most one set.
struct PageCursor {
  std::string after, before;
};
// A queued message as an administrator views it (QueueService.ReadMessage).
struct QueuedContent {
  SentMessage message;
  bool body_stored = true;  // false: delivered during Enqueue, the bytes were never kept
  std::string data;         // the message's first bytes as queued stores them
  bool cut = false;         // there are more than `data` holds (message.size says how many)
};
// What removing an account takes with it (as `postline user remove` lists it).
struct UserRemoval {
  std::string email;  // authd's canonical address
  int64_t user_id = 0;
  std::vector<std::string> app_passwords;  // labels: they go
  std::vector<std::string> aliases_to_it;  // aliases delivering to it: they stay (and bounce for it)
};
// What removing a domain takes with it (as `postline domain remove` lists it):
// authd's foreign keys remove its users with their app passwords, its aliases
// and its catch-all; the mailboxes stay in the mailstore.
struct DomainRemoval {
  std::string name;  // authd's form (lower-case A-labels)
  std::vector<std::string> users, aliases;
  std::string catch_all;                      // "" = none
  std::vector<std::string> aliases_elsewhere;  // other domains' aliases delivering into it: they stay
};

// What the filters page reads of a user's Sieve scripts.
struct FilterScripts {
  std::optional<std::pair<std::string, std::string>> active;  // name, text; nullopt = none active
  std::optional<std::string> named;                            // the script asked for by name
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Password or app password, throttled by authd on `client_ip` exactly like
  // an IMAP or SMTP login. Never throws.
  virtual LoginResult authenticate(const std::string& username, const std::string& password,
                                   const std::string& client_ip) = 0;
  // Messages submitted by `email` (Envelope.authenticated_user), newest first,
  // with every recipient's attempts; at most `limit`, from `page` on. Throws
  // Unavailable, PageGone.
  virtual std::vector<SentMessage> sent_messages(const std::string& email, int limit, const PageCursor& page) = 0;
  // One queued message by id, whoever sent it (the portal checks); nullopt
  // when there is none. Throws Unavailable.
  virtual std::optional<SentMessage> message(const std::string& queue_id) = 0;
  // Throw Unavailable or Refused.
  virtual std::vector<AppPasswordInfo> app_passwords(const std::string& email) = 0;
  virtual std::string add_app_password(const std::string& email, const std::string& label) = 0;  // the secret
  virtual void remove_app_password(const std::string& email, const std::string& label) = 0;
  virtual void set_password(const std::string& email, const std::string& password) = 0;
  virtual QuotaInfo quota(int64_t user_id, const std::string& email) = 0;
  // The user's Sieve scripts (the filters page), through the mailstore's
  // interface on the user's shard, in one visit: the active script and the
  // one called `name`; then storing `text` as `name` and making it the active
  // script. Throw Unavailable.
  virtual FilterScripts filter_scripts(int64_t user_id, const std::string& name) = 0;
  virtual void save_active_sieve_script(int64_t user_id, const std::string& name, const std::string& text) = 0;

  // Administration. is_admin asks authd now (a flag taken away since sign-in
  // counts at once). The rest throw Unavailable or Refused.
  virtual bool is_admin(const std::string& email) = 0;
  virtual std::vector<DomainInfo> domains() = 0;
  virtual void add_domain(const std::string& name) = 0;
  // What removing `name` would remove; nullopt when there is no such domain.
  virtual std::optional<DomainRemoval> domain_removal(const std::string& name) = 0;
  // force: also when it still has users (they go with it).
  virtual void remove_domain(const std::string& name, bool force) = 0;
  virtual void set_catch_all(const std::string& domain, const std::string& target) = 0;  // "" = none
  // What removing the account would remove; nullopt when there is no such account.
  virtual std::optional<UserRemoval> user_removal(const std::string& email) = 0;
  virtual void remove_user(const std::string& email) = 0;
  virtual std::vector<UserInfo> users() = 0;
  virtual void add_user(const NewUser& user) = 0;
  virtual void set_quota(const std::string& email, const QuotaChange& change) = 0;
  virtual void set_disabled(const std::string& email, bool disabled) = 0;
  virtual std::vector<AliasInfo> aliases() = 0;
  virtual void add_alias(const std::string& address, const std::string& target) = 0;
  virtual void remove_alias(const std::string& address, const std::string& target) = 0;
  // Messages matching `filter` (by default: with a pending recipient), oldest
  // first, at most `limit`, from `page` on. Throws PageGone too.
  virtual std::vector<SentMessage> queue(int limit, const QueueFilter& filter, const PageCursor& page) = 0;
  // One queued message with its first `max_bytes` bytes; nullopt when there
  // is none. `viewer` (the administrator) is named in webd's log.
  virtual std::optional<QueuedContent> read_message(const std::string& queue_id, size_t max_bytes,
                                                    const std::string& viewer) = 0;
  // The number of messages changed (0: no such message, or nothing pending).
  virtual int64_t queue_action(QueueAction action, const std::string& queue_id) = 0;
  // The records `domain` needs (from webd's configuration: smtp.hostname,
  // queue.hostname, queue.dkim_keys); with `check`, each asked of DNS
  // (dns.servers). Throws Refused (not a domain name, the configuration cannot
  // make the records).
  virtual DomainDns dns(const std::string& domain, bool check) = 0;
  // What webd can see of the services it talks to (gRPC health, the database). Never throws.
  virtual std::vector<ServiceHealth> health() = 0;
};

}  // namespace postline::web::portal
