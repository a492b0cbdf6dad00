// A server-side connection that starts as plain TCP and may become TLS
// (STARTTLS, or at once for implicit-TLS ports). Protocol servers read and
// write through it without caring which it is.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Stream {
 public:
  explicit Stream(tcp::socket socket);
  ~Stream();

  // Reads some bytes; returns 0 at end of stream, on a reset, or after the idle
  // deadline fired (then timed_out() is true). Never throws for peer behaviour.
  asio::awaitable<size_t> read_some(char* data, size_t size);
  // Writes everything; returns false if the peer is gone.
  asio::awaitable<bool> write_all(std::string_view bytes);
  // The same for several buffers in order, with gathering writes (writev).
  asio::awaitable<bool> write_all(const std::vector<asio::const_buffer>& buffers);
  // Server-side TLS handshake on this connection; false (and logged by the
  // caller) if the handshake fails. Bytes already buffered by the caller before
  // the handshake must be discarded by the caller (STARTTLS injection).
  asio::awaitable<bool> start_tls(asio::ssl::context& ctx);

  // Every read_some after this must complete within `timeout`, else the
  // connection is closed and timed_out() becomes true.
  void set_idle_timeout(std::chrono::steady_clock::duration timeout) { idle_timeout_ = timeout; }
  bool timed_out() const { return timed_out_; }

  bool is_tls() const { return tls_ != nullptr; }
  std::string tls_version() const;  // "TLSv1.3" or ""
  std::string tls_cipher() const;   // "TLS_AES_256_GCM_SHA384" or ""
  std::string remote_ip() const { return remote_ip_; }
  // "192.0.2.1:51234" or "[2001:db8::1]:51234", for logs ("unknown" when the
  // peer had gone before the connection was set up).
  std::string remote_address() const;
  // Application bytes read and written so far (after TLS; logged at disconnect).
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }
  uint16_t local_port() const { return local_port_; }
  void close();
  // Ends a pending read_some (it returns 0 and interrupted() becomes true)
  // without closing the connection, so the caller can still write a last
  // reply: how a server says "421 shutting down" to a client that is idle in
  // a read.
  void interrupt();
  bool interrupted() const { return interrupted_; }

 private:
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::duration idle_timeout_ = std::chrono::minutes(5);
  bool timed_out_ = false;
  bool interrupted_ = false;
  std::string remote_ip_;
  uint16_t remote_port_ = 0;
  uint16_t local_port_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace postline::net
