// Change notification over PostgreSQL LISTEN/NOTIFY, kept out of the writers'
// transactions.
//
// PostgreSQL serialises every committing transaction that has sent a NOTIFY
// on one cluster-wide lock, held through the commit's WAL flush: with
// pg_notify inside each delivery or STORE, all writers of the cluster commit
// one after another (issue 14 measured 36-65 % of active backends waiting on
// it). So writers commit first and then hand their events to a
// NotificationSender, whose thread sends them in batches on its own
// connection (synchronous_commit off: a notification needs no WAL flush),
// coalescing message events per mailbox. Listeners read them as before.
//
// What this gives up: a writer that dies between its commit and the send
// loses that notification. Readers never depend on one alone: sessions
// resynchronise by MODSEQ, and imapd checks the HIGHESTMODSEQ of watched
// mailboxes now and then (MailStore::highest_modseqs).
#pragma once

#include "common/mailstore/mail_store.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace postline::mailstore::pg {

class NotificationSender {
 public:
  explicit NotificationSender(std::string url);
  ~NotificationSender();  // sends what is pending (for a bounded time), then stops
  void post(ChangeEvent e);
  void post(std::vector<ChangeEvent> events);

 private:
  void run();
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  static constexpr size_t kMaxPending = 100000;
  std::deque<ChangeEvent> pending_;
  uint64_t dropped_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// One LISTEN connection; calls back on its own thread. After a reconnect it
// first delivers ChangeEvent{0, 0, 0}: anything may have changed meanwhile.
class ChangeListener {
 public:
  ChangeListener(std::string url, ChangeCallback callback);
  ~ChangeListener();

 private:
  void run();
  std::string url_;
  ChangeCallback callback_;
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // eventfd: ends the poll at once on stop
  std::thread thread_;
};

}  // namespace postline::mailstore::pg
