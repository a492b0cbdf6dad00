#include "services/imap-access/server/expunge_pruner.h"

#include "common/async/offload.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

namespace postline::imap {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> prune_loop(mailstore::MailStore* store, asio::thread_pool* threads, PruneOptions options,
                                 prometheus::Counter* pruned) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    int64_t deleted = 0;
    for (int i = 0; i < options.max_batches_per_round; ++i) {
      const auto history = options.history;
      const int64_t batch = options.batch;
      // Named, not a temporary inside co_await (GCC 12 coroutine bug).
      auto work = [store, history, batch]() { return store->prune_expunged(history, batch); };
      mailstore::PruneResult r;
      try {
        r = co_await async::offload(*threads, std::move(work));
      } catch (const std::exception& e) {
        // Database down or a conflict: try again next round, nothing is lost.
        spdlog::warn("expunge history pruning failed, retrying in {}s: {}", options.interval.count(), e.what());
        break;
      }
      deleted += r.deleted;
      pruned->Increment(static_cast<double>(r.deleted));
      if (!r.locked || !r.more) break;  // another instance is at it, or nothing old is left
    }
    if (deleted > 0) spdlog::info("pruned {} expunge history row(s) older than {}s", deleted, options.history.count());
    timer.expires_after(options.interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

}  // namespace

void start_expunge_pruner(asio::io_context& io, mailstore::MailStore& store, asio::thread_pool& threads, PruneOptions options,
                          prometheus::Registry& registry) {
  if (options.history.count() <= 0) {
    spdlog::info("imap.expunged_history is 0: the QRESYNC expunge history is kept forever");
    return;
  }
  auto& counter = prometheus::BuildCounter()
                      .Name("postline_imapd_expunged_pruned_total")
                      .Help("expunged-UID history rows (QRESYNC) deleted because they were older than "
                            "imap.expunged_history")
                      .Register(registry)
                      .Add({});
  asio::co_spawn(io, prune_loop(&store, &threads, options, &counter), asio::detached);
}

}  // namespace postline::imap
