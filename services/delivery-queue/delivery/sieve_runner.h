// Sieve at local delivery, the part without a database (docs/sieve.md "How
// delivery runs scripts"): the administrator's before and after scripts and
// the per-user "spam to Junk" default, compiled once; users' scripts compiled
// once per version (a cache keyed by user and the script's SHA-256); one run
// of a recipient's sequence of scripts against a message, turned into a plan -
// the copies to store (mailbox, flags, bytes), the messages to queue
// (redirects, the vacation reply), the reject, the history to record.
//
// The interpreter asks about the world while it runs (vacation history,
// duplicate ids, whether a mailbox exists, other scripts to include). run()
// answers from what it is given and lists what it did not know; the caller
// (sieve_delivery.h) fetches those answers in one round trip and runs again
// (the interpreter is deterministic), until nothing new is asked.
#pragma once

#include "common/mailstore/mail_store.h"
#include "common/mailstore/pg/sieve_state.h"
#include "common/sieve/sieve.h"
#include "services/delivery-queue/store/queue_store.h"

#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postline::config {
class Config;
}

namespace postline::queue {

struct SieveSettings {
  // The administrator's scripts (name = file name without ".sieve", text), in
  // order: `before` run ahead of the user's script, `after` behind it.
  std::vector<std::pair<std::string, std::string>> before, after;
  // The per-user default (sieve.spam_to_junk_threshold): spamtest at least
  // this files into Junk and stops, ahead of the user's script; 0 = none.
  int spam_threshold = 4;
  // The scale spamtest maps a score onto (spam.reject_score: anything higher
  // was refused at DATA).
  double spam_max_score = 15.0;
  // A message with this many Received fields is not redirected (sieve.max_hops).
  int max_hops = 50;
  size_t cache_entries = 10000;  // compiled users' scripts kept (sieve.script_cache)
  sieve::Limits limits;
  std::string hostname = "localhost";  // Message-IDs of vacation replies

  // From the configuration (reads the script files). Throws config::ConfigError.
  static SieveSettings from(const config::Config& cfg);
};

// The spam verdict as the spamtest test sees it (RFC 3685/5235): from the
// score in smtpd's X-Spam-Status field on the scale [0, spam_max_score]; a
// Junk verdict (the message's target mailbox, which DMARC quarantine or
// Rspamd's "add header" also give below the score) counts as at least the
// default's threshold. nullopt: no verdict (spamtest says 0, "not tested").
struct SpamVerdict {
  std::optional<int> score;    // 1..10
  std::optional<int> percent;  // 0..100
};
SpamVerdict spam_verdict(std::string_view message, bool junk, const SieveSettings& s);

// One recipient's delivery.
struct SieveInput {
  std::string_view message;  // as queued (no Return-Path yet)
  std::string mail_from;     // "" = null reverse-path
  std::string recipient;
  std::string orcpt;         // "rfc822;addr" as given, may be empty
  std::string authenticated_user;
  int64_t user_id = 0;
  std::string target_mailbox;  // the message's ("" = INBOX; "Junk" = smtpd's spam verdict)
  bool smtputf8 = false;
  std::string body_type;
  std::string queue_id;  // for the Message-ID of copies and the log
  std::time_t now = 0;
};

// A compiled script (or its errors).
struct CompiledScript {
  std::string name;
  std::unique_ptr<sieve::Script> script;  // null: it does not compile
  std::vector<sieve::Error> errors;
};

struct SievePlan {
  enum class Result { kOk, kCompileError, kRuntimeError };
  Result result = Result::kOk;
  std::string error;  // the error text for the log (compile or runtime)
  struct Store {
    std::string mailbox;
    mailstore::Flags flags;
    std::string message;  // the bytes to store (header edits applied; no Return-Path)
  };
  std::vector<Store> stores;          // in action order, one per mailbox
  std::vector<NewMessage> outgoing;   // redirects, the vacation reply; queue ids set
  std::vector<std::string> redirected_to;
  bool vacation = false;
  std::vector<std::string> vacation_keys;
  std::vector<mailstore::pg::sieve_state::Records::Duplicate> duplicates;
  std::optional<std::string> reject;  // the reason, one line
  std::vector<std::string> notes;     // for the log
  std::vector<std::string> actions;   // "keep", "fileinto", ... for the metric
};

class SieveRunner {
 public:
  // Compiles the administrator's scripts and the default; throws
  // config::ConfigError naming the script when one does not compile.
  explicit SieveRunner(SieveSettings settings);
  ~SieveRunner();

  const SieveSettings& settings() const { return settings_; }
  // Whether every local delivery runs Sieve (before/after scripts exist);
  // otherwise only those of users with an active script do.
  bool has_global_scripts() const { return !before_.empty() || !after_.empty(); }

  // Where a message goes for a user without an active script when there are
  // no administrator's scripts: the default's decision (Junk when spamtest
  // reaches the threshold) without running it - the same answer, tested
  // against the script in sieve_runner_test.cpp - or, with the default off,
  // the message's target mailbox as before issue 19.
  std::string default_mailbox(std::string_view message, std::string_view target_mailbox) const;

  // The user's script compiled, from the cache when (user, sha256) is there;
  // `text` is called only on a miss (nullopt: the script is gone).
  std::shared_ptr<const CompiledScript> user_script(int64_t user, const std::string& name, const std::string& sha256,
                                                    const std::function<std::optional<std::string>()>& text);
  size_t cached_scripts() const;

  // One run: the sequence (before, default, the user's script if it
  // compiled, after) against `in`. Questions the interpreter asked that
  // `known` does not answer go into `asked` (the plan is then provisional).
  SievePlan run(const SieveInput& in, const CompiledScript* user, const mailstore::pg::sieve_state::Answers& known,
                const mailstore::pg::sieve_state::Questions& answered, mailstore::pg::sieve_state::Questions& asked) const;

  // For the Enqueue-time delivery of users without a script when there are
  // administrator's scripts: the sequence run in process with nothing known;
  // the store (mailbox, flags) when the result is one copy of the message as
  // it is and nothing else (no redirect, vacation, reject, duplicate record,
  // header edit, question, error); nullopt otherwise (a worker runs it).
  struct SimpleStore {
    std::string mailbox;
    mailstore::Flags flags;
  };
  std::optional<SimpleStore> simple_store(const SieveInput& in) const;

 private:
  SieveSettings settings_;
  std::vector<std::unique_ptr<CompiledScript>> before_, after_;
  std::unique_ptr<CompiledScript> default_;
  std::map<std::string, std::string> globals_;  // include :global, by name
  // LRU of users' compiled scripts.
  struct Entry {
    std::string key;
    std::shared_ptr<const CompiledScript> compiled;
  };
  mutable std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// The vacation reply composed from the action (RFC 5230 5, RFC 3834); exposed for tests.
std::string compose_vacation(const sieve::VacationAction& v, const std::string& hostname, std::time_t now,
                             const std::string& unique);
// IMAP flags from Sieve's flag strings: system flags by name, keywords that are
// valid IMAP atoms; the rest is left out and named in `dropped`.
mailstore::Flags sieve_flags(const std::vector<std::string>& names, std::vector<std::string>* dropped);

}  // namespace postline::queue
