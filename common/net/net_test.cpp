// Loopback tests of the listener, Stream and offload(): real sockets, no network.
#include "common/async/offload.h"
#include "common/net/listener.h"
#include "common/net/stream.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace asio = boost::asio;
using asio::ip::tcp;
using postline::net::ConnectionCounter;
using postline::net::Listener;
using postline::net::Stream;

TEST(ConnectionCounter, LimitsTotalAndPerIp) {
  ConnectionCounter c({.max_total = 3, .max_per_ip = 2});
  EXPECT_TRUE(c.try_add("10.0.0.1"));
  EXPECT_TRUE(c.try_add("10.0.0.1"));
  EXPECT_FALSE(c.try_add("10.0.0.1"));
  EXPECT_TRUE(c.try_add("10.0.0.2"));
  EXPECT_FALSE(c.try_add("10.0.0.3"));  // total reached
  c.remove("10.0.0.1");
  EXPECT_TRUE(c.try_add("10.0.0.3"));
  EXPECT_EQ(c.total(), 3u);
}

TEST(Offload, ReturnsValueAndRethrowsOnCoroutineExecutor) {
  asio::io_context io;
  asio::thread_pool pool(2);
  int value = 0;
  bool caught = false;
  std::thread::id io_thread;
  std::thread::id resumed_on;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        io_thread = std::this_thread::get_id();
        value = co_await postline::async::offload(pool, [] { return 42; });
        resumed_on = std::this_thread::get_id();
        try {
          co_await postline::async::offload(pool, []() -> int { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error&) {
          caught = true;
        }
        co_await postline::async::offload(pool, [] {});
      },
      asio::detached);
  io.run();
  EXPECT_EQ(value, 42);
  EXPECT_TRUE(caught);
  EXPECT_EQ(resumed_on, io_thread);
  pool.join();
}

TEST(Listener, EchoesAndReportsOverLimit) {
  asio::io_context io;
  auto counter = std::make_shared<ConnectionCounter>(postline::net::ConnectionLimits{.max_total = 1, .max_per_ip = 1});
  std::atomic<int> rejected{0};
  Listener listener(
      io, "test",
      [&](tcp::socket socket, bool over_limit) -> asio::awaitable<void> {
        Stream stream(std::move(socket));
        if (over_limit) {
          ++rejected;
          co_await stream.write_all("busy\n");
          co_return;
        }
        char buf[64];
        for (;;) {
          size_t n = co_await stream.read_some(buf, sizeof buf);
          if (n == 0) break;
          if (!co_await stream.write_all(std::string_view(buf, n))) break;
        }
      },
      counter);
  listener.start("127.0.0.1", 0);
  std::thread runner([&] { io.run(); });

  asio::io_context client_io;
  tcp::socket first(client_io);
  first.connect({asio::ip::make_address("127.0.0.1"), listener.port()});
  asio::write(first, asio::buffer(std::string("hello")));
  char reply[5];
  asio::read(first, asio::buffer(reply));
  EXPECT_EQ(std::string(reply, 5), "hello");

  tcp::socket second(client_io);
  second.connect({asio::ip::make_address("127.0.0.1"), listener.port()});
  char busy[5];
  asio::read(second, asio::buffer(busy));
  EXPECT_EQ(std::string(busy, 5), "busy\n");
  EXPECT_EQ(rejected.load(), 1);

  first.close();
  second.close();
  asio::post(io, [&] { listener.stop(); });
  // Stop the io_context once the echo session has seen EOF and the counter drained.
  while (counter->total() != 0) std::this_thread::yield();
  io.stop();
  runner.join();
}

TEST(Stream, IdleTimeoutEndsRead) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server_side = acceptor.accept();
  bool timed_out = false;
  size_t got = 99;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Stream stream(std::move(server_side));
        stream.set_idle_timeout(std::chrono::milliseconds(50));
        char buf[8];
        got = co_await stream.read_some(buf, sizeof buf);
        timed_out = stream.timed_out();
      },
      asio::detached);
  io.run();
  EXPECT_EQ(got, 0u);
  EXPECT_TRUE(timed_out);
}
