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

void Notifier::dispatch(int64_t user_id, int64_t mailbox_id) {
  auto [lo, hi] = watchers_.equal_range({user_id, mailbox_id});
  std::vector<Callback> cbs;
  for (auto it = lo; it != hi; ++it) cbs.push_back(it->second.second);
  for (auto& cb : cbs) cb();
}

void Notifier::dispatch_all() {
  std::vector<Callback> cbs;
  for (auto& [key, w] : watchers_) cbs.push_back(w.second);
  for (auto& cb : cbs) cb();
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
        // "<user_id>:<mailbox_id>:<modseq>"
        int64_t user = 0, mailbox = 0;
        if (std::sscanf(payload.c_str(), "%ld:%ld", &user, &mailbox) != 2) return;
        boost::asio::post(io_, [this, user, mailbox] { dispatch(user, mailbox); });
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
