// start_server's Unix socket (grpc.h): a peer on the same host reaches the
// server through unix:PATH as it does through the TCP port, a stale socket
// file left by a killed server does not stop the next one, and only the
// owner and group may connect.
#include "common/grpc/grpc.h"

#include "mail/v1/queue.grpc.pb.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace postline::grpcutil {
namespace {

class UnixSocketServer : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/postline-grpc-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/queued.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A synchronous server needs one synchronous service; its methods are
  // never called (the health service answers).
  mail::v1::QueueService::Service unimplemented_;
  std::string dir_, socket_;
};

TEST_F(UnixSocketServer, AnswersOnTheSocketAndOnTcp) {
  int port = 0;
  auto server = start_server("127.0.0.1", 0, {&unimplemented_}, &port, 0, socket_);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(std::filesystem::is_socket(socket_));
  EXPECT_TRUE(health_serving(make_channel("unix:" + socket_), std::chrono::seconds(5)));
  EXPECT_TRUE(health_serving(make_channel("127.0.0.1:" + std::to_string(port)), std::chrono::seconds(5)));
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  server->Shutdown();
}

TEST_F(UnixSocketServer, ReplacesASocketLeftByAKilledServer) {
  // What a SIGKILLed server leaves: a bound socket file nobody listens on.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket_.copy(addr.sun_path, socket_.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::is_socket(socket_));

  auto server = start_server("127.0.0.1", 0, {&unimplemented_}, nullptr, 0, socket_);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(health_serving(make_channel("unix:" + socket_), std::chrono::seconds(5)));
  server->Shutdown();
}

TEST_F(UnixSocketServer, LeavesAFileThatIsNotASocketAndFails) {
  { std::FILE* f = std::fopen(socket_.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  EXPECT_THROW(start_server("127.0.0.1", 0, {&unimplemented_}, nullptr, 0, socket_), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_regular_file(socket_));
}

TEST(UnixSocketPath, RelativeAndOverlongPathsAreRefusedBeforeAnythingBinds) {
  EXPECT_EQ(unix_socket_problem("/run/postline/queued.sock"), "");
  EXPECT_NE(unix_socket_problem("queued.sock"), "");
  EXPECT_NE(unix_socket_problem(""), "");
  EXPECT_NE(unix_socket_problem("/" + std::string(200, 'a')), "");
  EXPECT_THROW(start_server("127.0.0.1", 0, {}, nullptr, 0, "relative.sock"), std::invalid_argument);
}

}  // namespace
}  // namespace postline::grpcutil
