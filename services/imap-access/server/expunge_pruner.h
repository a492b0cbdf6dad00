// Keeps the QRESYNC expunge history bounded: a background loop on the I/O
// context that, every `interval`, deletes expunged-UID rows older than
// `history` in bounded batches (MailStore::prune_expunged, one mailbox and at
// most `batch` rows per transaction, so no long locks). Any number of imapd
// instances may run it: a PostgreSQL advisory lock lets one prune at a time.
// Clients resyncing from before the pruned horizon still get a correct
// (superset) VANISHED answer; see docs/imap.md.
#pragma once

#include "common/mailstore/mail_store.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>

namespace postline::imap {

struct PruneOptions {
  std::chrono::seconds history{std::chrono::hours(24 * 30)};  // 0: keep forever (no loop)
  std::chrono::seconds interval{std::chrono::hours(1)};
  int64_t batch = 1000;
  int max_batches_per_round = 1000;  // then wait for the next round
};

// Starts the loop (first round at once). It lives as long as `io` runs; `store`
// and `threads` must outlive `io`. Exports postline_imapd_expunged_pruned_total.
void start_expunge_pruner(boost::asio::io_context& io, mailstore::MailStore& store, boost::asio::thread_pool& threads,
                          PruneOptions options, prometheus::Registry& registry);

}  // namespace postline::imap
