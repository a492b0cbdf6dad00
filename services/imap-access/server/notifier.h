// Cross-session and cross-instance change notification: the mailstore's
// change feed (MailStore::start_change_feed: every commit of every instance)
// dispatched on the I/O thread to the sessions that watch that (user,
// mailbox). When the feed reports a reconnect, every watcher is woken so
// sessions resync from their MODSEQ. Writers notify after their commit, so a
// writer that dies in between loses its notification: every check_interval
// the notifier also compares the watched mailboxes' HIGHESTMODSEQ with what
// it has heard and wakes the watchers of any that moved.
#pragma once

#include "common/mailstore/mail_store.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace postline::imap {

class Notifier {
 public:
  Notifier(boost::asio::io_context& io, mailstore::MailStore& store, boost::asio::thread_pool& threads,
           std::chrono::seconds check_interval = std::chrono::seconds(10));
  ~Notifier();
  void start();
  void stop();

  // Called on the I/O thread only.
  using Callback = std::function<void()>;
  // `modseq`: what the watcher already reflects (its view's HIGHESTMODSEQ).
  uint64_t watch(int64_t user_id, int64_t mailbox_id, int64_t modseq, Callback cb);
  void unwatch(uint64_t id);
  // Every change of one user (NOTIFY sessions). After a lost LISTEN
  // connection the callback gets a kMessages event with mailbox_id 0:
  // "anything may have changed".
  using UserCallback = std::function<void(const mailstore::ChangeEvent&)>;
  uint64_t watch_user(int64_t user_id, UserCallback cb);
  void unwatch_user(uint64_t id);
  // Every logged-in session: called when the account moved to another shard
  // (a kMoved event, `postline account move`); the session ends with BYE.
  // The event's name is the shard the account left.
  uint64_t watch_account(int64_t user_id, UserCallback cb);
  void unwatch_account(uint64_t id);

 private:
  void dispatch(const mailstore::ChangeEvent& e);
  void dispatch_all();
  void check_soon();
  void check_done(const std::vector<std::pair<mailstore::WatchedMailbox, mailstore::Modseq>>& current);

  boost::asio::io_context& io_;
  mailstore::MailStore& store_;
  boost::asio::thread_pool& threads_;
  const std::chrono::seconds check_interval_;
  boost::asio::steady_timer check_timer_;
  std::shared_ptr<std::atomic<bool>> stopped_ = std::make_shared<std::atomic<bool>>(false);
  uint64_t next_id_ = 1;
  // Highest MODSEQ heard of (events, watchers' views, checks) per watched mailbox.
  std::map<std::pair<int64_t, int64_t>, int64_t> known_;
  std::multimap<std::pair<int64_t, int64_t>, std::pair<uint64_t, Callback>> watchers_;
  std::multimap<int64_t, std::pair<uint64_t, UserCallback>> user_watchers_;
  std::multimap<int64_t, std::pair<uint64_t, UserCallback>> account_watchers_;
};

}  // namespace postline::imap
