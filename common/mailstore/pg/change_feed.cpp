#include "common/mailstore/pg/change_feed.h"

#include "common/db/pq.h"
#include "common/mailstore/accounts.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>

namespace postline::mailstore::pg {

namespace {

const db::pq::Statement kNotify{
    "ms_notify", "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS u(p)"};

// Message events of one mailbox collapse into one (the highest MODSEQ, at the
// first one's place); named events are kept as they are, in order.
std::vector<std::string> coalesce(std::deque<ChangeEvent>& events) {
  std::vector<ChangeEvent> kept;
  std::map<std::pair<UserId, MailboxId>, size_t> message_event;
  for (auto& e : events) {
    if (e.kind == ChangeKind::kMessages) {
      auto [it, fresh] = message_event.emplace(std::make_pair(e.user_id, e.mailbox_id), kept.size());
      if (!fresh) {
        kept[it->second].modseq = std::max(kept[it->second].modseq, e.modseq);
        continue;
      }
    }
    kept.push_back(std::move(e));
  }
  events.clear();
  std::vector<std::string> out;
  out.reserve(kept.size());
  for (const auto& e : kept) out.push_back(encode_change(e));
  return out;
}

}  // namespace

NotificationSender::NotificationSender(std::string url) : url_(std::move(url)), thread_([this] { run(); }) {}

NotificationSender::~NotificationSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void NotificationSender::post(ChangeEvent e) {
  std::vector<ChangeEvent> one;
  one.push_back(std::move(e));
  post(std::move(one));
}

void NotificationSender::post(std::vector<ChangeEvent> events) {
  if (events.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& e : events) pending_.push_back(std::move(e));
    // Notifications that cannot be sent (their connection is down while
    // writes still commit) must not grow without bound: the oldest go, and
    // readers catch up by MODSEQ (highest_modseqs, resync on reconnect).
    if (pending_.size() > kMaxPending) {
      const size_t drop = pending_.size() - kMaxPending;
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(drop));
      if (dropped_++ % 1000 == 0) spdlog::warn("change notifications dropped: {} pending is the limit", kMaxPending);
    }
  }
  cv_.notify_one();
}

void NotificationSender::run() {
  std::unique_ptr<db::pq::Connection> conn;
  int failures = 0;
  for (;;) {
    std::deque<ChangeEvent> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      batch.swap(pending_);
    }
    std::vector<std::string> payloads = coalesce(batch);
    try {
      if (!conn || !conn->healthy())
        conn = std::make_unique<db::pq::Connection>(
            url_, std::vector<std::pair<std::string, std::string>>{{"synchronous_commit", "off"}});
      conn->exec(kNotify, db::pq::Params().text(kChangeChannel).text_array(payloads));
      failures = 0;
    } catch (const std::exception& e) {
      conn.reset();
      // Listeners resynchronise when their own connection comes back and check
      // watched mailboxes now and then, so a lost batch delays pushes, it loses
      // no data. Do not spin while the database is down.
      if (failures++ == 0) spdlog::warn("change notifications not sent ({} events): {}", payloads.size(), e.what());
      std::unique_lock lock(mu_);
      if (stop_) return;
      cv_.wait_for(lock, std::chrono::milliseconds(std::min(100 * failures, 2000)), [&] { return stop_; });
    }
  }
}

ChangeListener::ChangeListener(std::string url, ChangeCallback callback)
    : url_(std::move(url)), callback_(std::move(callback)), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // Return once LISTEN is in place (or after a bounded wait when the database
  // is down), so a change committed right after start is not missed.
  struct Ready {
    std::mutex m;
    std::condition_variable cv;
    bool ready = false;
  };
  auto state = std::make_shared<Ready>();  // outlives this constructor if the wait times out
  auto callback_ready = [state] {
    std::lock_guard lock(state->m);
    state->ready = true;
    state->cv.notify_all();
  };
  thread_ = std::thread([this, callback_ready]() mutable {
    bool first = true;
    while (!stop_) {
      try {
        db::pq::Connection conn(url_);
        conn.run((std::string("LISTEN ") + kChangeChannel).c_str());
        if (first) {
          callback_ready();
        } else {
          spdlog::info("change notification connection re-established; resyncing sessions");
          callback_(ChangeEvent{0, 0, 0});
        }
        first = false;
        while (!stop_) {
          pollfd fds[2] = {{conn.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
          if (::poll(fds, 2, 1000) < 0 && errno != EINTR) throw std::runtime_error("poll failed");
          if (stop_) break;
          if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          for (auto& [channel, payload] : conn.notifications()) {
            auto event = parse_change(payload);
            if (!event) {
              spdlog::warn("unparsable change notification ignored ({} bytes)", payload.size());
              continue;
            }
            callback_(*event);
          }
        }
      } catch (const std::exception& e) {
        if (stop_) break;
        if (first) callback_ready();  // do not hold start-up while the database is away
        spdlog::warn("change notification connection lost: {}; retrying", e.what());
        first = false;
        pollfd wake{wake_fd_, POLLIN, 0};
        ::poll(&wake, 1, 1000);
      }
    }
  });
  std::unique_lock lock(state->m);
  state->cv.wait_for(lock, std::chrono::seconds(5), [&] { return state->ready; });
}

ChangeListener::~ChangeListener() {
  stop_ = true;
  uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

}  // namespace postline::mailstore::pg
