#include "services/imap-access/server/notifier.h"


#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace postline::imap {

Notifier::Notifier(boost::asio::io_context& io, mailstore::MailStore& store, boost::asio::thread_pool& threads,
                   std::chrono::seconds check_interval)
    : io_(io), store_(store), threads_(threads), check_interval_(check_interval), check_timer_(io) {}

Notifier::~Notifier() { stop(); }

uint64_t Notifier::watch(int64_t user_id, int64_t mailbox_id, int64_t modseq, Callback cb) {
  uint64_t id = next_id_++;
  watchers_.emplace(std::make_pair(user_id, mailbox_id), std::make_pair(id, std::move(cb)));
  auto& known = known_[{user_id, mailbox_id}];
  known = std::max(known, modseq);
  return id;
}

void Notifier::unwatch(uint64_t id) {
  for (auto it = watchers_.begin(); it != watchers_.end(); ++it)
    if (it->second.first == id) {
      const auto key = it->first;
      watchers_.erase(it);
      if (!watchers_.count(key)) known_.erase(key);
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

uint64_t Notifier::watch_account(int64_t user_id, UserCallback cb) {
  const uint64_t id = next_id_++;
  account_watchers_.emplace(user_id, std::make_pair(id, std::move(cb)));
  return id;
}

void Notifier::unwatch_account(uint64_t id) {
  for (auto it = account_watchers_.begin(); it != account_watchers_.end(); ++it)
    if (it->second.first == id) {
      account_watchers_.erase(it);
      return;
    }
}

void Notifier::dispatch(const mailstore::ChangeEvent& e) {
  if (e.kind == mailstore::ChangeKind::kMoved) {
    std::vector<UserCallback> moved;
    auto [lo, hi] = account_watchers_.equal_range(e.user_id);
    for (auto it = lo; it != hi; ++it) moved.push_back(it->second.second);
    for (auto& cb : moved) cb(e);
    return;
  }
  if (auto it = known_.find({e.user_id, e.mailbox_id}); it != known_.end()) it->second = std::max(it->second, e.modseq);
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

void Notifier::start() {
  // The feed calls back on the store's thread: hand each event to the I/O thread.
  auto stopped = stopped_;
  store_.start_change_feed([this, stopped](const mailstore::ChangeEvent& e) {
    if (*stopped) return;
    boost::asio::post(io_, [this, stopped, e] {
      if (*stopped) return;
      if (e.user_id == 0 && e.mailbox_id == 0) dispatch_all();
      else dispatch(e);
    });
  });
  if (check_interval_.count() > 0) check_soon();
}

void Notifier::stop() {
  if (stopped_->exchange(true)) return;
  check_timer_.cancel();
  store_.stop_change_feed();
}

void Notifier::check_soon() {
  check_timer_.expires_after(check_interval_);
  check_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || *stopped_) return;
    std::vector<mailstore::WatchedMailbox> watched;
    for (const auto& [key, w] : watchers_)
      if (watched.empty() || watched.back().user_id != key.first || watched.back().mailbox_id != key.second)
        watched.push_back({key.first, key.second});
    if (watched.empty()) {
      check_soon();
      return;
    }
    auto stopped = stopped_;
    boost::asio::post(threads_, [this, stopped, watched = std::move(watched)] {
      std::vector<std::pair<mailstore::WatchedMailbox, mailstore::Modseq>> current;
      try {
        current = store_.highest_modseqs(watched);
      } catch (const std::exception& e) {
        spdlog::debug("watched mailbox check failed: {}", e.what());
      }
      if (*stopped) return;
      boost::asio::post(io_, [this, stopped, current = std::move(current)] {
        if (*stopped) return;
        check_done(current);
        check_soon();
      });
    });
  });
}

void Notifier::check_done(const std::vector<std::pair<mailstore::WatchedMailbox, mailstore::Modseq>>& current) {
  for (const auto& [mb, modseq] : current) {
    auto it = known_.find({mb.user_id, mb.mailbox_id});
    if (it == known_.end() || modseq <= it->second) continue;
    // A change nobody told us about (its writer died before notifying).
    spdlog::info("mailbox {}:{} changed without a notification; waking its sessions", mb.user_id, mb.mailbox_id);
    dispatch(mailstore::ChangeEvent{mb.user_id, mb.mailbox_id, modseq});
  }
}

}  // namespace postline::imap
