#include "services/imap-access/server/notifier.h"

#include "common/mailstore/accounts.h"

#include <boost/asio/post.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace postline::imap {

Notifier::Notifier(boost::asio::io_context& io, std::string db_url) : io_(io), url_(std::move(db_url)) {}

Notifier::~Notifier() { stop(); }

void Notifier::start() { thread_ = std::thread([this] { run(); }); }

void Notifier::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

uint64_t Notifier::watch(int64_t user_id, int64_t mailbox_id, Callback cb) {
  uint64_t id = next_id_++;
  watchers_.emplace(std::make_pair(user_id, mailbox_id), std::make_pair(id, std::move(cb)));
  return id;
}

void Notifier::unwatch(uint64_t id) {
  for (auto it = watchers_.begin(); it != watchers_.end(); ++it)
    if (it->second.first == id) {
      watchers_.erase(it);
      return;
    }
}

uint64_t Notifier::watch_user(int64_t user_id, UserCallback cb) {
  uint64_t id = next_id_++;
  user_watchers_.emplace(user_id, std::make_pair(id, std::move(cb)));
  return id;
}

void Notifier::unwatch_user(uint64_t id) {
  for (auto it = user_watchers_.begin(); it != user_watchers_.end(); ++it)
    if (it->second.first == id) {
      user_watchers_.erase(it);
      return;
    }
}

void Notifier::dispatch(const mailstore::ChangeEvent& e) {
  // Copies first: a callback may unwatch.
  std::vector<Callback> cbs;
  if (e.kind == mailstore::ChangeKind::kMessages || e.kind == mailstore::ChangeKind::kDeleted ||
      e.kind == mailstore::ChangeKind::kRenamed) {
    auto [lo, hi] = watchers_.equal_range({e.user_id, e.mailbox_id});
    for (auto it = lo; it != hi; ++it) cbs.push_back(it->second.second);
  }
  std::vector<UserCallback> ucbs;
  auto [ulo, uhi] = user_watchers_.equal_range(e.user_id);
  for (auto it = ulo; it != uhi; ++it) ucbs.push_back(it->second.second);
  for (auto& cb : cbs) cb();
  for (auto& cb : ucbs) cb(e);
}

void Notifier::dispatch_all() {
  std::vector<Callback> cbs;
  for (auto& [key, w] : watchers_) cbs.push_back(w.second);
  std::vector<std::pair<int64_t, UserCallback>> ucbs;
  for (auto& [user, w] : user_watchers_) ucbs.emplace_back(user, w.second);
  for (auto& cb : cbs) cb();
  for (auto& [user, cb] : ucbs) cb(mailstore::ChangeEvent{user, 0, 0});
}

namespace {
struct Receiver : pqxx::notification_receiver {
  std::function<void(const std::string&)> on;
  Receiver(pqxx::connection_base& c, std::function<void(const std::string&)> f)
      : pqxx::notification_receiver(c, mailstore::kChangeChannel), on(std::move(f)) {}
  void operator()(const std::string& payload, int) override { on(payload); }
};
}  // namespace

void Notifier::run() {
  bool first = true;
  while (!stop_) {
    try {
      pqxx::connection conn(url_);
      Receiver receiver(conn, [this](const std::string& payload) {
        // "<user_id>:<mailbox_id>:<modseq>[:<kind>...]" (mailstore::encode_change)
        auto event = mailstore::parse_change(payload);
        if (!event) {
          spdlog::warn("unparsable change notification ignored ({} bytes)", payload.size());
          return;
        }
        boost::asio::post(io_, [this, e = std::move(*event)] { dispatch(e); });
      });
      // Not the first connection: NOTIFYs may have been missed while we were
      // away, so every watching session resyncs from its MODSEQ.
      if (!first) {
        spdlog::info("change notification connection re-established; resyncing sessions");
        boost::asio::post(io_, [this] { dispatch_all(); });
      }
      first = false;
      // await_notification blocks on the socket (no polling); the timeout only
      // lets us notice stop().
      while (!stop_) conn.await_notification(1, 0);
    } catch (const std::exception& e) {
      if (stop_) break;
      spdlog::warn("change notification connection lost: {}; retrying", e.what());
      first = false;
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace postline::imap
