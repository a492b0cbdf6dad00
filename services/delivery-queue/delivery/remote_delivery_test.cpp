// The SMTP driver against tiny scripted servers on loopback: the full path
// from socket to per-recipient results, and the deadline on every wait.
#include "services/delivery-queue/delivery/remote_delivery.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

using namespace postline::queue;

namespace {

// One-connection server; `script` runs on the accepted socket.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int)> script) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, script] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        script(c);
        ::close(c);
      }
    });
  }
  ~FakeServer() {
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
};

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n') break;
  }
  return line;
}

void say(int fd, const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

RemoteConfig config(uint16_t port) {
  RemoteConfig c;
  c.hostname = "mx.example.org";
  c.port = port;
  c.connect_timeout = std::chrono::seconds(2);
  c.command_timeout = std::chrono::seconds(1);
  return c;
}

MessageData message() {
  MessageData m;
  m.queue_id = "Q1";
  m.mail_from = "alice@example.org";
  m.body = "Subject: t\r\n\r\nhello\r\n";
  return m;
}

ClaimedRecipient rcpt(const std::string& address) {
  ClaimedRecipient r;
  r.address = address;
  r.domain = "[127.0.0.1]";  // an address literal: no DNS involved
  return r;
}

}  // namespace

TEST(RemoteDelivery, DeliversToAnAddressLiteral) {
  std::string data;
  FakeServer server([&](int fd) {
    say(fd, "220 fake ESMTP\r\n");
    EXPECT_EQ(read_line(fd), "EHLO mx.example.org\r\n");
    say(fd, "250-fake\r\n250 SIZE 1000\r\n");
    EXPECT_EQ(read_line(fd).rfind("MAIL FROM:<alice@example.org> SIZE=", 0), 0u);
    say(fd, "250 ok\r\n");
    EXPECT_EQ(read_line(fd), "RCPT TO:<bob@[127.0.0.1]>\r\n");
    say(fd, "250 ok\r\n");
    EXPECT_EQ(read_line(fd), "RCPT TO:<eve@[127.0.0.1]>\r\n");
    say(fd, "550 5.1.1 no eve\r\n");
    EXPECT_EQ(read_line(fd), "DATA\r\n");
    say(fd, "354 go\r\n");
    for (std::string l; (l = read_line(fd)) != ".\r\n" && !l.empty();) data += l;
    say(fd, "250 2.0.0 queued\r\n");
    EXPECT_EQ(read_line(fd), "QUIT\r\n");
    say(fd, "221 bye\r\n");
  });
  SmtpRemoteDelivery d(config(server.port()), nullptr);
  auto a = rcpt("bob@[127.0.0.1]"), b = rcpt("eve@[127.0.0.1]");
  auto results = d.deliver(message(), {&a, &b});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(results[0].reply, "250 2.0.0 queued");
  EXPECT_EQ(results[1].outcome, Outcome::kPermanent);
  EXPECT_EQ(results[1].reply, "550 5.1.1 no eve");
  EXPECT_EQ(data, "Subject: t\r\n\r\nhello\r\n");
}

TEST(RemoteDelivery, SilentServerTimesOutAsTemporary) {
  FakeServer server([](int fd) {
    // Accepts, never greets; returns when the client gives up and closes.
    char buf[64];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  });
  SmtpRemoteDelivery d(config(server.port()), nullptr);
  auto a = rcpt("bob@[127.0.0.1]");
  const auto t0 = std::chrono::steady_clock::now();
  auto results = d.deliver(message(), {&a});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kTemporary);
  EXPECT_NE(results[0].reply.find("timeout"), std::string::npos) << results[0].reply;
}

TEST(RemoteDelivery, RefusedConnectionIsTemporary) {
  uint16_t port;
  {
    FakeServer closed([](int) {});
    port = closed.port();
    // connect once so the fake's accept returns and the listener goes away
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::close(fd);
  }
  SmtpRemoteDelivery d(config(port), nullptr);
  auto a = rcpt("bob@[127.0.0.1]");
  auto results = d.deliver(message(), {&a});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kTemporary);
}

TEST(RemoteDelivery, BadAddressLiteralBounces) {
  SmtpRemoteDelivery d(config(25), nullptr);
  auto a = rcpt("bob@[not-an-ip]");
  a.domain = "[not-an-ip]";
  auto results = d.deliver(message(), {&a});
  EXPECT_EQ(results[0].outcome, Outcome::kPermanent);
}

namespace {

// Accepts `n` connections one after another; script(fd, index) runs on each.
class MultiServer {
 public:
  MultiServer(int n, std::function<void(int, int)> script) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, n, script] {
      for (int i = 0; i < n; ++i) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        script(c, i);
        ::close(c);
      }
    });
  }
  ~MultiServer() {
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
};

// Greeting + EHLO, then one transaction for one recipient (not pipelined).
void serve_transaction(int fd, const std::string& rcpt, std::string* data) {
  EXPECT_EQ(read_line(fd).rfind("MAIL FROM:<alice@example.org>", 0), 0u);
  say(fd, "250 ok\r\n");
  EXPECT_EQ(read_line(fd), "RCPT TO:<" + rcpt + ">\r\n");
  say(fd, "250 ok\r\n");
  EXPECT_EQ(read_line(fd), "DATA\r\n");
  say(fd, "354 go\r\n");
  for (std::string l; (l = read_line(fd)) != ".\r\n" && !l.empty();) *data += l;
  say(fd, "250 2.0.0 queued\r\n");
}

void greet(int fd) {
  say(fd, "220 fake ESMTP\r\n");
  EXPECT_EQ(read_line(fd), "EHLO mx.example.org\r\n");
  say(fd, "250 fake\r\n");
}

}  // namespace

TEST(RemoteSession, SeveralMessagesOverOneConnection) {
  std::string data;
  MultiServer server(1, [&](int fd, int) {
    greet(fd);
    serve_transaction(fd, "bob@[127.0.0.1]", &data);
    EXPECT_EQ(read_line(fd), "RSET\r\n");
    say(fd, "250 2.0.0 reset\r\n");
    serve_transaction(fd, "carol@[127.0.0.1]", &data);
    EXPECT_EQ(read_line(fd), "QUIT\r\n");  // when the session is closed
    say(fd, "221 bye\r\n");
  });
  SmtpRemoteDelivery d(config(server.port()), nullptr);
  auto session = d.open("[127.0.0.1]");
  auto a = rcpt("bob@[127.0.0.1]"), b = rcpt("carol@[127.0.0.1]");
  auto r1 = session->deliver(message(), {&a});
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].outcome, Outcome::kDelivered);
  EXPECT_TRUE(session->reusable());
  auto r2 = session->deliver(message(), {&b});
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].outcome, Outcome::kDelivered);
  const auto counts = session->take_counts();
  EXPECT_EQ(counts.opened, 1);
  EXPECT_EQ(counts.reused, 1);
  session.reset();  // QUIT
  EXPECT_EQ(data, "Subject: t\r\n\r\nhello\r\nSubject: t\r\n\r\nhello\r\n");
}

TEST(RemoteSession, AConnectionTheServerClosedIsReplacedAndTheMessageRetriedOnce) {
  std::string data;
  MultiServer server(2, [&](int fd, int i) {
    greet(fd);
    if (i == 0) {
      serve_transaction(fd, "bob@[127.0.0.1]", &data);
      return;  // hangs up while the client holds the session idle
    }
    serve_transaction(fd, "carol@[127.0.0.1]", &data);
    EXPECT_EQ(read_line(fd), "QUIT\r\n");
  });
  SmtpRemoteDelivery d(config(server.port()), nullptr);
  auto session = d.open("[127.0.0.1]");
  auto a = rcpt("bob@[127.0.0.1]"), b = rcpt("carol@[127.0.0.1]");
  ASSERT_EQ(session->deliver(message(), {&a})[0].outcome, Outcome::kDelivered);
  auto r2 = session->deliver(message(), {&b});
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].outcome, Outcome::kDelivered) << r2[0].reply;  // not deferred
  const auto counts = session->take_counts();
  EXPECT_EQ(counts.opened, 2);
  session.reset();
}

TEST(RemoteSession, TheMessageCapEndsTheConnection) {
  std::string data;
  MultiServer server(2, [&](int fd, int i) {
    greet(fd);
    serve_transaction(fd, i == 0 ? "bob@[127.0.0.1]" : "carol@[127.0.0.1]", &data);
    EXPECT_EQ(read_line(fd), "QUIT\r\n");  // at once: one message per connection
  });
  auto cfg = config(server.port());
  cfg.max_messages_per_connection = 1;
  SmtpRemoteDelivery d(cfg, nullptr);
  auto session = d.open("[127.0.0.1]");
  auto a = rcpt("bob@[127.0.0.1]"), b = rcpt("carol@[127.0.0.1]");
  EXPECT_EQ(session->deliver(message(), {&a})[0].outcome, Outcome::kDelivered);
  EXPECT_FALSE(session->reusable());
  EXPECT_EQ(session->deliver(message(), {&b})[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(session->take_counts().opened, 2);
}
