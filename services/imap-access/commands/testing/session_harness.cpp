#include "services/imap-access/commands/testing/session_harness.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace postline::imap::testing {

// ---- FakeAuthenticator --------------------------------------------------------

int64_t FakeAuthenticator::add(const std::string& address, const std::string& password, bool admin) {
  auto it = accounts_.find(address);
  const int64_t id = it != accounts_.end() ? it->second.user_id : next_id_++;
  Account a;
  a.password = password;
  a.user_id = id;
  a.admin = admin;
  accounts_[address] = a;
  return id;
}

const std::pair<const std::string, FakeAuthenticator::Account>* FakeAuthenticator::by_id(int64_t user_id) const {
  for (const auto& entry : accounts_)
    if (entry.second.user_id == user_id) return &entry;
  return nullptr;
}

asio::awaitable<AuthOutcome> FakeAuthenticator::authenticate(const std::string& user, const std::string& password,
                                                             const std::string& mechanism, const std::string&) {
  attempts.push_back(user + ":" + password + ":" + mechanism);
  AuthOutcome out;
  if (unreachable) co_return out;  // kUnavailable
  auto it = accounts_.find(user);
  if (it == accounts_.end() || it->second.password != password) {
    out.status = AuthStatus::kInvalid;
    co_return out;
  }
  if (it->second.disabled) {
    out.status = AuthStatus::kDisabled;
    co_return out;
  }
  out.status = AuthStatus::kOk;
  out.user_id = it->second.user_id;
  out.email = it->first;
  out.quota_bytes = it->second.quota_bytes;
  out.quota_messages = it->second.quota_messages;
  out.admin = it->second.admin;
  co_return out;
}

Authenticator::SaslReply FakeAuthenticator::next_sasl() {
  if (unreachable || sasl_replies.empty()) return {};  // kFailure, kUnavailable
  SaslReply r = sasl_replies.front();
  sasl_replies.pop_front();
  return r;
}

asio::awaitable<Authenticator::SaslReply> FakeAuthenticator::sasl_start(const std::string&,
                                                                        std::optional<std::string> initial,
                                                                        const std::string&) {
  sasl_initial = std::move(initial);
  co_return next_sasl();
}

asio::awaitable<Authenticator::SaslReply> FakeAuthenticator::sasl_step(const std::string&,
                                                                       const std::string& response) {
  sasl_steps.push_back(response);
  co_return next_sasl();
}

asio::awaitable<QuotaReply> FakeAuthenticator::get_quota(int64_t acting_user_id, const std::string& address) {
  QuotaReply r;
  if (unreachable) co_return r;
  const auto* acting = by_id(acting_user_id);
  if (!acting) {
    r.status = QuotaReply::Status::kDenied;
    co_return r;
  }
  const std::pair<const std::string, Account>* target = acting;
  if (!address.empty()) {
    auto it = accounts_.find(address);
    if (it == accounts_.end()) {
      r.status = acting->second.admin ? QuotaReply::Status::kNotFound : QuotaReply::Status::kDenied;
      co_return r;
    }
    target = &*it;
  }
  if (target != acting && !acting->second.admin) {
    r.status = QuotaReply::Status::kDenied;
    co_return r;
  }
  r.status = QuotaReply::Status::kOk;
  r.user_id = target->second.user_id;
  r.email = target->first;
  r.quota_bytes = target->second.quota_bytes;
  r.quota_messages = target->second.quota_messages;
  co_return r;
}

asio::awaitable<QuotaReply> FakeAuthenticator::set_quota(int64_t acting_user_id, const std::string& address,
                                                         int64_t quota_bytes, int64_t quota_messages) {
  QuotaReply r;
  if (unreachable) co_return r;
  const auto* acting = by_id(acting_user_id);
  if (!acting || !acting->second.admin) {
    r.status = QuotaReply::Status::kDenied;
    co_return r;
  }
  auto it = address.empty() ? accounts_.find(acting->first) : accounts_.find(address);
  if (it == accounts_.end()) {
    r.status = QuotaReply::Status::kNotFound;
    co_return r;
  }
  it->second.quota_bytes = quota_bytes;
  it->second.quota_messages = quota_messages;
  r.status = QuotaReply::Status::kOk;
  r.user_id = it->second.user_id;
  r.email = it->first;
  r.quota_bytes = quota_bytes;
  r.quota_messages = quota_messages;
  co_return r;
}

// ---- SessionHarness -----------------------------------------------------------

struct SessionHarness::Shared {
  // Seconds since the epoch; read on the database threads. Starts on a fixed
  // day so dates in responses are stable.
  std::atomic<int64_t> now{1795633200};  // 25-Nov-2026 19:00:00 +0000
  mailstore::MemoryMailStore store{[this] { return std::chrono::system_clock::time_point(std::chrono::seconds(now.load())); }};
  FakeAuthenticator auth;
  asio::thread_pool db_threads{2};  // last: stopped and joined before the store goes
};

SessionHarness::SessionHarness(Settings settings) : SessionHarness(std::make_shared<Shared>(), std::move(settings)) {}

SessionHarness::SessionHarness(std::shared_ptr<Shared> shared, Settings settings)
    : shared_(std::move(shared)),
      services_{std::move(settings), &shared_->store, &shared_->db_threads, &shared_->auth, nullptr, nullptr},
      dispatcher_(session_, services_,
                  SessionIo{[this](std::string s) { out_ += s; },
                            [this]() -> asio::awaitable<void> {
                              ++flushes_;
                              co_return;
                            },
                            [this](const std::string& prompt) -> asio::awaitable<std::optional<std::string>> {
                              out_ += "+ " + prompt + "\r\n";
                              if (client_lines.empty()) co_return std::nullopt;
                              std::string line = std::move(client_lines.front());
                              client_lines.pop_front();
                              co_return line;
                            }}),
      receiver_(ReceiverLimits{services_.settings.max_line, services_.settings.max_literal,
                               services_.settings.literal_budget.get()}) {
  session_.session_id = "test";
  session_.remote_ip = "192.0.2.1";
  session_.listener = "imap";
}

SessionHarness::~SessionHarness() = default;

mailstore::MemoryMailStore& SessionHarness::store() { return shared_->store; }
FakeAuthenticator& SessionHarness::auth() { return shared_->auth; }

std::unique_ptr<SessionHarness> SessionHarness::another_session() {
  return std::unique_ptr<SessionHarness>(new SessionHarness(shared_, services_.settings));
}

std::string SessionHarness::run(std::string_view command) {
  std::optional<Dispatched> result;
  std::exception_ptr error;
  // The database threads post their results back to io_: keep it running
  // until the command has finished, not just until it has nothing queued.
  auto guard = asio::make_work_guard(io_);
  auto done = [&](std::exception_ptr e, Dispatched d) {
    error = e;
    result = std::move(d);
    guard.reset();
  };
  asio::co_spawn(io_, dispatcher_.dispatch(std::string(command)), std::move(done));
  io_.restart();
  io_.run();
  if (error) std::rethrow_exception(error);
  last_ = std::move(*result);
  out_ += last_.reply;
  return std::exchange(out_, {});
}

std::string SessionHarness::client(std::string_view bytes) {
  receiver_.feed(bytes);
  std::string out;
  for (;;) {
    Receiver::Event ev = receiver_.next();
    switch (ev.kind) {
      case Receiver::Kind::kNeedMore: return out;
      case Receiver::Kind::kContinue: out += "+ Ready for literal data\r\n"; break;
      case Receiver::Kind::kCommand:
        out += run(ev.text);
        receiver_.command_done();
        break;
      default: throw std::runtime_error("the receiver refused the input (kind " + std::to_string(int(ev.kind)) + ")");
    }
  }
}

namespace {
void expect_ok(const std::string& what, const Dispatched& d, const std::string& response) {
  if (d.status != Status::kOk) throw std::runtime_error(what + " failed: " + response);
}
}  // namespace

void SessionHarness::login(const std::string& user, const std::string& password) {
  if (user == kUser && password == kPassword) auth().add(user, password);
  const std::string response = run("L1 LOGIN \"" + user + "\" \"" + password + "\"");
  expect_ok("LOGIN", last_, response);
}

std::string SessionHarness::select(const std::string& mailbox) {
  const std::string response = run("S1 SELECT \"" + mailbox + "\"");
  expect_ok("SELECT", last_, response);
  return response;
}

uint32_t SessionHarness::add_message(std::string_view message, const std::string& mailbox,
                                     std::vector<std::string> flags, std::optional<int64_t> internal_date,
                                     bool binary, bool recent) {
  if (!session_.user_id) throw std::runtime_error("add_message before login");
  store().ensure_account(session_.user_id);
  auto res = store().append(session_.user_id, mailbox,
                            {mailstore::AppendItem{message, mailstore::flags_from_names(flags), internal_date, binary}});
  if (res.error != mailstore::StoreError::kNone || res.uids.size() != 1)
    throw std::runtime_error("add_message: the store refused the message");
  if (!recent) store().claim_recent(session_.user_id, res.mailbox_id, res.uids[0] + 1);
  return res.uids[0];
}

std::chrono::system_clock::time_point SessionHarness::now() const {
  return std::chrono::system_clock::time_point(std::chrono::seconds(shared_->now.load()));
}

void SessionHarness::advance(std::chrono::seconds by) { shared_->now += by.count(); }

std::vector<std::string> response_lines(std::string_view response) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < response.size()) {
    size_t eol = response.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = response.size();
    std::string line(response.substr(pos, eol - pos));
    pos = std::min(response.size(), eol + 2);
    // A line ending in {n} continues after its n literal bytes.
    while (!line.empty() && line.back() == '}') {
      const size_t open = line.rfind('{');
      if (open == std::string::npos) break;
      const std::string digits = line.substr(open + 1, line.size() - open - 2);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) break;
      const size_t n = std::stoul(digits);
      line += "\r\n";
      line += response.substr(pos, n);
      pos = std::min(response.size(), pos + n);
      eol = response.find("\r\n", pos);
      if (eol == std::string_view::npos) eol = response.size();
      line += response.substr(pos, eol - pos);
      pos = std::min(response.size(), eol + 2);
    }
    out.push_back(std::move(line));
  }
  return out;
}

std::string last_line(std::string_view response) {
  auto lines = response_lines(response);
  return lines.empty() ? std::string() : lines.back();
}

std::string corpus_message(const std::string& name) {
  std::ifstream in(std::string(POSTLINE_MIME_CORPUS) + "/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("no corpus message " + name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace postline::imap::testing
