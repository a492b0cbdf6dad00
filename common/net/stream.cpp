#include "common/net/stream.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace postline::net {

Stream::Stream(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    auto addr = remote.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    remote_ip_ = addr.to_string();
    remote_port_ = remote.port();
  }
  auto local = socket_.local_endpoint(ec);
  if (!ec) local_port_ = local.port();
  socket_.set_option(tcp::no_delay(true), ec);
}

Stream::~Stream() { close(); }

asio::awaitable<size_t> Stream::read_some(char* data, size_t size) {
  timer_.expires_after(idle_timeout_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the read finished first
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  });
  boost::system::error_code ec;
  size_t n = 0;
  if (tls_) {
    n = co_await tls_->async_read_some(asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
  } else {
    n = co_await socket_.async_read_some(asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
  }
  timer_.cancel();
  if (ec) co_return 0;
  bytes_read_ += n;
  co_return n;
}

asio::awaitable<bool> Stream::write_all(std::string_view bytes) {
  boost::system::error_code ec;
  size_t n = 0;
  if (tls_) {
    n = co_await asio::async_write(*tls_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  } else {
    n = co_await asio::async_write(socket_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  }
  bytes_written_ += n;
  co_return !ec;
}

asio::awaitable<bool> Stream::write_all(const std::vector<asio::const_buffer>& buffers) {
  boost::system::error_code ec;
  size_t n = 0;
  if (tls_) {
    n = co_await asio::async_write(*tls_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    n = co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }
  bytes_written_ += n;
  co_return !ec;
}

asio::awaitable<bool> Stream::start_tls(asio::ssl::context& ctx) {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, ctx);
  timer_.expires_after(std::chrono::seconds(30));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  });
  boost::system::error_code ec;
  co_await tls_->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  timer_.cancel();
  co_return !ec;
}

std::string Stream::remote_address() const {
  if (remote_ip_.empty()) return "unknown";
  if (remote_ip_.find(':') != std::string::npos) return "[" + remote_ip_ + "]:" + std::to_string(remote_port_);
  return remote_ip_ + ":" + std::to_string(remote_port_);
}

std::string Stream::tls_version() const {
  if (!tls_) return "";
  const char* v = SSL_get_version(tls_->native_handle());
  return v ? v : "";
}

std::string Stream::tls_cipher() const {
  if (!tls_) return "";
  const char* c = SSL_get_cipher_name(tls_->native_handle());
  return c ? c : "";
}

void Stream::interrupt() {
  interrupted_ = true;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void Stream::close() {
  boost::system::error_code ec;
  timer_.cancel();
  if (socket_.is_open()) {
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
}

}  // namespace postline::net
