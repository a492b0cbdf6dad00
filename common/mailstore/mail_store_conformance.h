// What the MailStore conformance suite (mail_store_conformance_test.cpp)
// needs from an implementation besides the MailStore interface itself: a
// fresh store, and a few test hooks that reach below the interface (aging
// expunge history, counting stored bodies, holding the pruning lock).
//
// The suite is built twice from one source: mailstore_conformance_test
// (MemoryMailStore, label unit, no database) and mailstore_conformance_pgtest
// (PgMailStore on a fresh migrated database per test, ctest fixture postgres).
#pragma once

#include "common/mailstore/mail_store.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace postline::mailstore::conformance {

class Backend {
 public:
  virtual ~Backend() = default;
  // The store under test: empty, no account exists yet.
  virtual MailStore& store() = 0;
  // Makes every expunge record `by` older than it is (what prune_expunged's
  // max_age compares with).
  virtual void age_expunged(std::chrono::seconds by) = 0;
  // Distinct message bodies stored (bodies are content-addressed and shared).
  virtual int64_t stored_blobs() = 0;
  // Holds the pruning lock of another process until the returned object is
  // destroyed; null when the implementation has no such lock (one process).
  virtual std::shared_ptr<void> hold_prune_lock() { return nullptr; }
  // Whether change events arrive on another thread some time after the write
  // (PostgreSQL LISTEN/NOTIFY, message events coalesced per mailbox) rather
  // than before the write returns.
  virtual bool asynchronous_feed() const = 0;
  // Drops every stored SORT/THREAD key, as if all bodies had been stored
  // before the keys existed (PostgreSQL: rows older than migration 012).
  virtual void forget_sort_keys() = 0;
};

struct BackendFactory {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};

}  // namespace postline::mailstore::conformance
