// Cross-session and cross-instance change notification: one LISTEN connection
// per imapd on channel "postline_mailbox_changes" (sent by every mailstore
// commit). Notifications are dispatched on the I/O thread to the sessions that
// watch that (user, mailbox). When the LISTEN connection is lost and comes
// back, every watcher is woken so sessions resync from their MODSEQ: nothing
// is missed even though NOTIFYs sent meanwhile are gone.
#pragma once

#include "common/mailstore/accounts.h"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>

namespace postline::imap {

class Notifier {
 public:
  Notifier(boost::asio::io_context& io, std::string db_url);
  ~Notifier();
  void start();
  void stop();

  // Called on the I/O thread only.
  using Callback = std::function<void()>;
  uint64_t watch(int64_t user_id, int64_t mailbox_id, Callback cb);
  void unwatch(uint64_t id);
  // Every change of one user (NOTIFY sessions). After a lost LISTEN
  // connection the callback gets a kMessages event with mailbox_id 0:
  // "anything may have changed".
  using UserCallback = std::function<void(const mailstore::ChangeEvent&)>;
  uint64_t watch_user(int64_t user_id, UserCallback cb);
  void unwatch_user(uint64_t id);

 private:
  void run();
  void dispatch(const mailstore::ChangeEvent& e);
  void dispatch_all();

  boost::asio::io_context& io_;
  std::string url_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  uint64_t next_id_ = 1;
  std::multimap<std::pair<int64_t, int64_t>, std::pair<uint64_t, Callback>> watchers_;
  std::multimap<int64_t, std::pair<uint64_t, UserCallback>> user_watchers_;
};

}  // namespace postline::imap
