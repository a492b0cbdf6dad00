#include "common/service/tls_reloader.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <csignal>

namespace postline::service {

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.inode = st.st_ino;
  s.device = st.st_dev;
  s.size = static_cast<unsigned long long>(st.st_size);
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return s;
}

struct TlsReloader::Impl : std::enable_shared_from_this<TlsReloader::Impl> {
  boost::asio::io_context& io;
  std::shared_ptr<net::TlsContext> tls;
  std::string key_file;
  std::chrono::seconds interval;
  std::function<void()> also;
  boost::asio::signal_set hup;
  boost::asio::steady_timer timer;
  std::vector<FileStamp> applied;   // the files as last loaded (or given up on)
  std::vector<FileStamp> failed;    // the files as they were when a reload last failed
  prometheus::Counter *file_ok, *file_error, *signal_ok, *signal_error;
  bool stopped = false;

  Impl(boost::asio::io_context& io_, std::shared_ptr<net::TlsContext> tls_, std::string key, std::chrono::seconds iv,
       prometheus::Registry& registry, std::function<void()> also_)
      : io(io_), tls(std::move(tls_)), key_file(std::move(key)), interval(iv), also(std::move(also_)),
        hup(io_, SIGHUP), timer(io_) {
    auto& family = prometheus::BuildCounter()
                       .Name("postline_tls_reloads_total")
                       .Help("TLS certificate reloads by trigger (file: the files changed; signal: SIGHUP) and outcome")
                       .Register(registry);
    file_ok = &family.Add({{"trigger", "file"}, {"outcome", "ok"}});
    file_error = &family.Add({{"trigger", "file"}, {"outcome", "error"}});
    signal_ok = &family.Add({{"trigger", "signal"}, {"outcome", "ok"}});
    signal_error = &family.Add({{"trigger", "signal"}, {"outcome", "error"}});
    applied = stamps();
  }

  std::vector<FileStamp> stamps() const {
    if (!tls) return {};
    return {stamp_of(tls->cert_file()), stamp_of(key_file)};
  }

  void reload() {
    tls->reload();
    if (also) also();
  }

  void on_signal() {
    if (!tls) return;  // no TLS configured: SIGHUP is taken (it must not kill) and does nothing
    const auto now = stamps();
    try {
      reload();
      applied = now;
      failed.clear();
      signal_ok->Increment();
      spdlog::info("SIGHUP: TLS certificate reloaded");
    } catch (const std::exception& e) {
      signal_error->Increment();
      spdlog::error("SIGHUP: TLS reload failed, keeping the old certificate: {}", e.what());
    }
  }

  // A change is reloaded at once. The certificate and the key are two files
  // replaced one after the other, so a check between the two renames sees a
  // pair that does not match: that first failure is kept quiet and tried again
  // at the next check; only a failure of the same files twice is an error.
  void check() {
    if (!tls) return;
    const auto now = stamps();
    if (now == applied) return;
    try {
      reload();
      applied = now;
      failed.clear();
      file_ok->Increment();
      spdlog::info("TLS certificate reloaded: {} changed", tls->cert_file());
    } catch (const std::exception& e) {
      if (failed != now) {
        failed = now;
        spdlog::debug("TLS files changed but do not load yet (trying again at the next check): {}", e.what());
        return;
      }
      applied = now;  // reported once; tried again when the files change again
      file_error->Increment();
      spdlog::error("TLS reload after {} changed failed, keeping the old certificate: {}", tls->cert_file(), e.what());
    }
  }

  void wait_signal() {
    hup.async_wait([self = shared_from_this()](boost::system::error_code ec, int) {
      if (ec || self->stopped) return;
      self->on_signal();
      self->wait_signal();
    });
  }

  void wait_timer() {
    timer.expires_after(interval);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->check();
      self->wait_timer();
    });
  }
};

TlsReloader::TlsReloader(boost::asio::io_context& io, std::shared_ptr<net::TlsContext> tls, std::string key_file,
                         std::chrono::seconds interval, prometheus::Registry& registry, std::function<void()> also)
    : impl_(std::make_shared<Impl>(io, std::move(tls), std::move(key_file), interval, registry, std::move(also))) {}

TlsReloader::~TlsReloader() {
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->hup.cancel(ec);
  impl_->timer.cancel();
}

void TlsReloader::start() {
  impl_->wait_signal();
  if (impl_->tls && impl_->interval.count() > 0) impl_->wait_timer();
}

void TlsReloader::check_now() { impl_->check(); }

}  // namespace postline::service
