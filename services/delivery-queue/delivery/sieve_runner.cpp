#include "services/delivery-queue/delivery/sieve_runner.h"

#include "common/config/config.h"
#include "common/mailauth/text_util.h"
#include "common/mailstore/accounts.h"
#include "common/sieve/memory.h"
#include "services/delivery-queue/dsn/dsn.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace postline::queue {

namespace sst = mailstore::pg::sieve_state;

namespace {

std::string one_line(std::string_view s, size_t max = 400) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\t') {
      if (!space && !out.empty()) out += ' ';
      space = true;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    space = false;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;  // a UTF-8 boundary
    out.resize(cut);
  }
  return out;
}

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; });
}

// RFC 2047 B-encoded words of at most 45 octets of UTF-8 each (split on
// character boundaries), folded onto continuation lines.
std::string encoded_words(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t n = std::min<size_t>(45, text.size() - i);
    while (n > 0 && i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xc0) == 0x80) --n;
    if (n == 0) n = std::min<size_t>(45, text.size() - i);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + mailauth::base64_encode(text.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

// A header value: as it is when ASCII, else encoded words.
std::string header_text(std::string_view text) { return ascii(text) ? std::string(text) : encoded_words(text); }

// A mailbox for From: "Name <a@b>" with a non-ASCII name gets the name encoded.
std::string header_mailbox(std::string_view from) {
  if (ascii(from)) return std::string(from);
  const size_t lt = from.rfind('<');
  if (lt == std::string_view::npos) return std::string(from);  // an address with UTF-8 (SMTPUTF8)
  std::string name(from.substr(0, lt));
  while (!name.empty() && name.back() == ' ') name.pop_back();
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  return encoded_words(name) + " " + std::string(from.substr(lt));
}

std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string random_hex(size_t bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rng() & 0xff);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// "rfc822;a@b" (ORCPT) -> "a@b".
std::string orcpt_address(std::string_view orcpt) {
  const size_t semi = orcpt.find(';');
  return std::string(semi == std::string_view::npos ? orcpt : orcpt.substr(semi + 1));
}

bool keyword_atom(std::string_view k) {
  if (k.empty() || k.size() > 200) return false;
  for (unsigned char c : k)
    if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' || c == '\\' ||
        c == ']')
      return false;
  return true;
}

std::unique_ptr<CompiledScript> compile(const std::string& name, std::string_view text, const sieve::Limits& limits) {
  auto c = std::make_unique<CompiledScript>();
  c->name = name;
  sieve::CheckOptions opts;
  opts.limits = limits;
  auto r = sieve::compile(text, opts);
  c->script = std::move(r.script);
  c->errors = std::move(r.errors);
  return c;
}

std::string errors_text(const std::vector<sieve::Error>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "; ") + e.text();
  return out;
}

// What the interpreter asks, answered from `known` for questions asked in an
// earlier round (`answered`) and recorded in `asked` otherwise.
class Lookups final : public sieve::MailboxLookup,
                      public sieve::VacationHistory,
                      public sieve::DuplicateTracker,
                      public sieve::ScriptLoader {
 public:
  Lookups(const sst::Answers& known, const sst::Questions& answered, sst::Questions& asked,
          const std::map<std::string, std::string>& globals)
      : known_(known), answered_(answered), asked_(asked), globals_(globals) {}

  bool exists(std::string_view mailbox) const override {
    const std::string name = mailstore::normalize_mailbox_name(mailbox);
    if (mailstore::default_special_use(name) || name == "INBOX") return true;  // delivery makes them
    if (!answered_.mailboxes.count(name)) {
      asked_.mailboxes.insert(name);
      return false;
    }
    return known_.mailboxes.count(name) > 0;
  }
  bool replied_within(std::string_view key, std::uint64_t seconds) const override {
    const std::string k(key);
    if (!answered_.vacation_keys.count(k)) {
      asked_.vacation_keys.insert(k);
      return false;
    }
    auto it = known_.vacation_age.find(k);
    return it != known_.vacation_age.end() && it->second >= 0 && static_cast<std::uint64_t>(it->second) < seconds;
  }
  bool seen_within(std::string_view key, std::uint64_t) const override {
    const std::string k(key);
    if (!answered_.duplicate_keys.count(k)) {
      asked_.duplicate_keys.insert(k);
      return false;
    }
    return known_.duplicates_seen.count(k) > 0;
  }
  std::optional<std::string> load(Location where, std::string_view name) const override {
    const std::string n(name);
    if (where == Location::kGlobal) {
      auto it = globals_.find(n);
      if (it == globals_.end()) return std::nullopt;
      return it->second;
    }
    if (!answered_.scripts.count(n)) {
      asked_.scripts.insert(n);
      return std::nullopt;
    }
    auto it = known_.scripts.find(n);
    if (it == known_.scripts.end()) return std::nullopt;
    return it->second;
  }

 private:
  const sst::Answers& known_;
  const sst::Questions& answered_;
  sst::Questions& asked_;
  const std::map<std::string, std::string>& globals_;
};

}  // namespace

// ---- settings ----

SieveSettings SieveSettings::from(const config::Config& cfg) {
  SieveSettings s;
  auto load = [](const std::string& key, const std::vector<std::string>& paths) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& path : paths) {
      std::ifstream in(path, std::ios::binary);
      if (!in) throw config::ConfigError(key + ": cannot read " + path);
      std::ostringstream text;
      text << in.rdbuf();
      std::string name = std::filesystem::path(path).filename().string();
      if (name.size() > 6 && name.compare(name.size() - 6, 6, ".sieve") == 0) name.resize(name.size() - 6);
      out.emplace_back(name, text.str());
    }
    return out;
  };
  s.before = load("sieve.before", cfg.list("sieve", "before"));
  s.after = load("sieve.after", cfg.list("sieve", "after"));
  s.spam_threshold = static_cast<int>(cfg.integer("sieve", "spam_to_junk_threshold"));
  if (s.spam_threshold > 10) throw config::ConfigError("sieve.spam_to_junk_threshold: must be 0-10");
  const std::string max = cfg.str("spam", "reject_score");
  char* end = nullptr;
  s.spam_max_score = std::strtod(max.c_str(), &end);
  if (end == max.c_str() || !(s.spam_max_score > 0))
    throw config::ConfigError("spam.reject_score: must be a positive number (the scale of Sieve's spamtest)");
  s.max_hops = static_cast<int>(cfg.integer("sieve", "max_hops"));
  s.cache_entries = static_cast<size_t>(cfg.integer("sieve", "script_cache"));
  s.hostname = cfg.str("queue", "hostname");
  return s;
}

SpamVerdict spam_verdict(std::string_view message, bool junk, const SieveSettings& s) {
  SpamVerdict v;
  if (auto status = first_header(message, "x-spam-status:")) {
    // "Yes, score=7.5 required=5.0 tests=..." (smtpd's spam_policy.cpp)
    if (const size_t at = status->find("score="); at != std::string::npos) {
      const char* begin = status->c_str() + at + 6;
      char* end = nullptr;
      const double score = std::strtod(begin, &end);
      if (end != begin) {
        v.score = sieve::spamtest_value(score, s.spam_max_score);
        v.percent = sieve::spamtest_percent(score, s.spam_max_score);
      }
    }
  }
  if (junk && s.spam_threshold > 0) v.score = std::max(v.score.value_or(0), s.spam_threshold);
  return v;
}

mailstore::Flags sieve_flags(const std::vector<std::string>& names, std::vector<std::string>* dropped) {
  std::vector<std::string> ok;
  for (const auto& n : names) {
    if (n.empty()) continue;
    if (n[0] == '\\') {
      if (mailstore::system_flag_bit(n)) ok.push_back(n);
      else if (dropped) dropped->push_back(n);  // \Recent or an unknown system flag
      continue;
    }
    if (keyword_atom(n)) ok.push_back(n);
    else if (dropped) dropped->push_back(n);
  }
  return mailstore::flags_from_names(ok);
}

std::string compose_vacation(const sieve::VacationAction& v, const std::string& hostname, std::time_t now,
                             const std::string& unique) {
  std::string h;
  h += "From: " + header_mailbox(one_line(v.from, 900)) + "\r\n";
  h += "To: <" + one_line(v.to, 900) + ">\r\n";
  h += "Subject: " + header_text(one_line(v.subject, 600)) + "\r\n";
  h += "Date: " + rfc5322_date(Clock::from_time_t(now)) + "\r\n";
  h += "Message-ID: <" + unique + ".vacation@" + hostname + ">\r\n";
  if (const auto irt = one_line(v.in_reply_to, 900); !irt.empty()) h += "In-Reply-To: " + irt + "\r\n";
  if (const auto refs = one_line(v.references, 900); !refs.empty()) h += "References: " + refs + "\r\n";
  h += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 5: never answered in turn
  h += "Precedence: bulk\r\n";              // for the autoresponders that predate RFC 3834
  h += "MIME-Version: 1.0\r\n";
  const std::string reason = crlf(v.reason);
  if (v.mime) return h + reason;  // :mime: the reason is a whole entity (its own header fields first)
  h += "Content-Type: text/plain; charset=utf-8\r\n";
  h += std::string("Content-Transfer-Encoding: ") + (ascii(reason) ? "7bit" : "8bit") + "\r\n\r\n";
  h += reason;
  if (h.size() < 2 || h.compare(h.size() - 2, 2, "\r\n") != 0) h += "\r\n";
  return h;
}

// ---- the runner ----

SieveRunner::SieveRunner(SieveSettings settings) : settings_(std::move(settings)) {
  auto compile_all = [&](const char* key, const std::vector<std::pair<std::string, std::string>>& in,
                         std::vector<std::unique_ptr<CompiledScript>>& out) {
    for (const auto& [name, text] : in) {
      auto c = compile(name, text, settings_.limits);
      if (!c->script) throw config::ConfigError(std::string(key) + ": " + name + ": " + errors_text(c->errors));
      out.push_back(std::move(c));
    }
  };
  compile_all("sieve.before", settings_.before, before_);
  compile_all("sieve.after", settings_.after, after_);
  for (const auto* list : {&settings_.before, &settings_.after})
    for (const auto& [n, t] : *list) globals_.emplace(n, t);
  if (settings_.spam_threshold > 0) {
    default_ = compile("spam-to-junk", sieve::spam_to_junk_script(settings_.spam_threshold, "Junk"), settings_.limits);
    if (!default_->script) throw std::logic_error("the spam-to-junk default does not compile: " + errors_text(default_->errors));
  }
}

SieveRunner::~SieveRunner() = default;

std::string SieveRunner::default_mailbox(std::string_view message, std::string_view target) const {
  const std::string box = target.empty() ? "INBOX" : std::string(target);
  if (settings_.spam_threshold == 0) return box;
  const bool junk = box == "Junk";
  const auto v = spam_verdict(message, junk, settings_);
  if (v.score && *v.score >= settings_.spam_threshold) return "Junk";
  return junk ? "INBOX" : box;
}

std::shared_ptr<const CompiledScript> SieveRunner::user_script(
    int64_t user, const std::string& name, const std::string& sha256,
    const std::function<std::optional<std::string>()>& text) {
  const std::string key = std::to_string(user) + ":" + sha256 + ":" + name;
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->compiled;
    }
  }
  auto body = text();
  if (!body) return nullptr;
  std::shared_ptr<const CompiledScript> compiled = compile(name, *body, settings_.limits);
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) return it->second->compiled;  // another thread was faster
  lru_.push_front({key, compiled});
  index_[key] = lru_.begin();
  while (lru_.size() > std::max<size_t>(1, settings_.cache_entries)) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  return compiled;
}

size_t SieveRunner::cached_scripts() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

namespace {
// The parts of a run that do not depend on the round.
sieve::RunContext context_for(const SieveInput& in, const SieveSettings& s, const sieve::Message& msg) {
  sieve::RunContext ctx;
  ctx.limits = s.limits;
  ctx.envelope.from = in.mail_from;
  ctx.envelope.to = in.recipient;
  ctx.envelope.orig_to = orcpt_address(in.orcpt);
  ctx.envelope.auth = in.authenticated_user;
  ctx.now = in.now ? in.now : std::time(nullptr);
  ctx.user = std::to_string(in.user_id);
  ctx.user_addresses = {in.recipient};
  if (!ctx.envelope.orig_to.empty() && ctx.envelope.orig_to != in.recipient)
    ctx.user_addresses.push_back(ctx.envelope.orig_to);
  const std::string box = in.target_mailbox.empty() ? "INBOX" : in.target_mailbox;
  const bool junk = box == "Junk";
  const auto v = spam_verdict(in.message, junk, s);
  ctx.spam_score = v.score;
  ctx.spam_percent = v.percent;
  // With the default on, smtpd's Junk verdict reaches the user through
  // spamtest (the default files it); the implicit keep means INBOX.
  ctx.default_mailbox = (junk && s.spam_threshold > 0) ? "INBOX" : box;
  // Redirect loops (docs/sieve.md): a message that went through this
  // recipient already, or through too many hosts, is not sent on again.
  ctx.redirects_allowed = !sieve::already_delivered_to(msg, in.recipient) &&
                          sieve::count_fields(msg, "Received") < static_cast<size_t>(std::max(1, s.max_hops));
  return ctx;
}
}  // namespace

SievePlan SieveRunner::run(const SieveInput& in, const CompiledScript* user, const sst::Answers& known,
                           const sst::Questions& answered, sst::Questions& asked) const {
  SievePlan plan;
  sieve::MemoryMessage msg{std::string(in.message)};
  std::vector<const sieve::Script*> seq;
  std::vector<std::string> names;
  for (const auto& b : before_) seq.push_back(b->script.get()), names.push_back("before script " + b->name);
  if (default_) seq.push_back(default_->script.get()), names.push_back("spam-to-junk default");
  if (user && user->script) seq.push_back(user->script.get()), names.push_back("script " + user->name);
  for (const auto& a : after_) seq.push_back(a->script.get()), names.push_back("after script " + a->name);
  if (user && !user->script) {
    plan.result = SievePlan::Result::kCompileError;
    plan.error = "script " + user->name + ": " + errors_text(user->errors);
  }

  Lookups lookups(known, answered, asked, globals_);
  sieve::RunContext ctx = context_for(in, settings_, msg);
  ctx.mailboxes = &lookups;
  ctx.vacation_history = &lookups;
  ctx.duplicates = &lookups;
  ctx.loader = &lookups;

  sieve::RunResult r;
  if (seq.empty()) {
    sieve::Action keep;
    keep.kind = sieve::Action::Kind::kKeep;
    keep.implicit = true;
    keep.mailbox = ctx.default_mailbox;
    r.actions.push_back(keep);
  } else {
    r = sieve::run(seq, msg, ctx);
  }
  if (!r.ok) {
    plan.result = SievePlan::Result::kRuntimeError;
    const std::string where = r.error_script < names.size() ? names[r.error_script] : "script";
    plan.error = where + ": " + (r.error ? r.error->text() : std::string("error"));
  }
  plan.notes = r.notes;

  auto bytes_for = [&](const sieve::Action& a) {
    if (r.header_edits.empty()) return std::string(in.message);
    return sieve::apply_header_edits(in.message, r.header_edits, a.edits_before);
  };
  for (const auto& a : r.actions) {
    switch (a.kind) {
      case sieve::Action::Kind::kKeep:
      case sieve::Action::Kind::kFileinto: {
        const bool fileinto = a.kind == sieve::Action::Kind::kFileinto;
        plan.actions.push_back(fileinto ? "fileinto" : (a.implicit ? "implicit_keep" : "keep"));
        std::string box = mailstore::normalize_mailbox_name(a.mailbox.empty() ? ctx.default_mailbox : a.mailbox);
        if (!mailstore::valid_mailbox_name(box)) {
          plan.notes.push_back("fileinto '" + a.mailbox + "': not a valid mailbox name, delivered to INBOX");
          box = "INBOX";
        } else if (fileinto && !a.create && box != "INBOX" && !mailstore::default_special_use(box)) {
          // RFC 5490 3.2: without :create the mailbox must exist. (The
          // default mailboxes are made by delivery, as they always were.)
          bool exists = true;
          if (!answered.mailboxes.count(box)) asked.mailboxes.insert(box);
          else exists = known.mailboxes.count(box) > 0;
          if (!exists) {
            plan.notes.push_back("fileinto '" + box + "': no such mailbox (no :create), delivered to INBOX");
            box = "INBOX";
          }
        }
        std::vector<std::string> dropped;
        mailstore::Flags flags = sieve_flags(a.flags, &dropped);
        for (const auto& d : dropped) plan.notes.push_back("flag '" + d + "' is not an IMAP flag: left out");
        auto same = std::find_if(plan.stores.begin(), plan.stores.end(), [&](const auto& s) { return s.mailbox == box; });
        if (same != plan.stores.end()) {
          // Two actions ended in one mailbox (a fallback to INBOX): one copy, both flag sets.
          std::vector<std::string> all = mailstore::flag_names(same->flags);
          for (const auto& f : mailstore::flag_names(flags)) all.push_back(f);
          same->flags = mailstore::flags_from_names(all);
          break;
        }
        plan.stores.push_back({box, std::move(flags), bytes_for(a)});
        break;
      }
      case sieve::Action::Kind::kRedirect: {
        plan.actions.push_back("redirect");
        NewMessage m;
        m.queue_id = generate_queue_id();
        m.mail_from = in.mail_from;
        m.helo = settings_.hostname;
        m.smtputf8 = in.smtputf8;
        m.body_type = in.body_type;
        NewRecipient rc;
        rc.address = a.address;
        rc.needs_resolve = true;
        m.recipients.push_back(rc);
        // docs/sieve.md "Redirect loops": every copy names this recipient.
        m.body = "Delivered-To: " + one_line(in.recipient, 900) + "\r\n" + bytes_for(a);
        plan.outgoing.push_back(std::move(m));
        plan.redirected_to.push_back(a.address);
        break;
      }
      case sieve::Action::Kind::kDiscard: plan.actions.push_back("discard"); break;
      case sieve::Action::Kind::kReject:
      case sieve::Action::Kind::kEreject:
        plan.actions.push_back(a.kind == sieve::Action::Kind::kReject ? "reject" : "ereject");
        plan.reject = one_line(a.reason.empty() ? std::string("rejected") : a.reason);
        break;
      case sieve::Action::Kind::kVacation: {
        plan.actions.push_back("vacation");
        NewMessage m;
        m.queue_id = generate_queue_id();
        m.mail_from = "";  // RFC 3834 3.3 / RFC 5230 5: automatic replies go out with a null reverse-path
        m.helo = settings_.hostname;
        NewRecipient rc;
        rc.address = a.vacation.to;
        rc.needs_resolve = true;
        m.recipients.push_back(rc);
        m.body = compose_vacation(a.vacation, settings_.hostname, ctx.now, random_hex(12));
        m.body_type = ascii(m.body) ? "7BIT" : "8BITMIME";
        m.smtputf8 = !ascii(a.vacation.to);
        plan.outgoing.push_back(std::move(m));
        plan.vacation = true;
        plan.vacation_keys.push_back(a.vacation.key);
        break;
      }
    }
  }
  if (r.ok)  // RFC 7352: recorded only when the script ran successfully
    for (const auto& d : r.duplicate_marks) plan.duplicates.push_back({d.key, d.seconds, d.refresh});
  return plan;
}

std::optional<SieveRunner::SimpleStore> SieveRunner::simple_store(const SieveInput& in) const {
  const sst::Answers known;
  const sst::Questions answered;
  sst::Questions asked;
  SievePlan plan = run(in, nullptr, known, answered, asked);
  if (!asked.empty() || plan.result != SievePlan::Result::kOk || plan.stores.size() != 1 || !plan.outgoing.empty() ||
      plan.reject || !plan.duplicates.empty() || !plan.vacation_keys.empty() || plan.stores[0].message != in.message)
    return std::nullopt;
  return SimpleStore{plan.stores[0].mailbox, plan.stores[0].flags};
}

}  // namespace postline::queue
