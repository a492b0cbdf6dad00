// AUTHENTICATE's SASL relaying (SCRAM-SHA-256) and the LOGIN mechanism's
// prompts with a scripted fake authd, calling the handler directly. Logins
// that succeed (they bootstrap the account in the store) are in login_test.cpp,
// through the dispatcher and the in-memory store.
#include "services/imap-access/commands/registry.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <deque>

namespace postline::imap {
namespace {

struct FakeAuth final : Authenticator {
  std::deque<SaslReply> replies;  // answers to sasl_start, then each sasl_step
  std::vector<std::string> steps;  // responses passed to sasl_step
  std::optional<std::string> start_ir;
  std::string start_mechanism, start_ip, last_user, last_password, last_mechanism;
  AuthOutcome password_outcome;

  asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                            const std::string& mechanism, const std::string&) override {
    last_user = user;
    last_password = password;
    last_mechanism = mechanism;
    co_return password_outcome;
  }
  asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                        const std::string& remote_ip) override {
    start_mechanism = mechanism;
    start_ir = std::move(initial);
    start_ip = remote_ip;
    co_return next();
  }
  asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response) override {
    EXPECT_EQ(conversation_id, "conv-1");
    steps.push_back(response);
    co_return next();
  }
  SaslReply next() {
    if (replies.empty()) return {};
    SaslReply r = replies.front();
    replies.pop_front();
    return r;
  }
};

struct FakeObserver final : Observer {
  std::vector<std::string> outcomes;
  void login(const std::string& outcome) override { outcomes.push_back(outcome); }
};

Authenticator::SaslReply cont(std::string challenge) {
  Authenticator::SaslReply r;
  r.state = Authenticator::SaslReply::State::kContinue;
  r.challenge = std::move(challenge);
  r.conversation_id = "conv-1";
  return r;
}

Authenticator::SaslReply failure(AuthStatus status) {
  Authenticator::SaslReply r;
  r.state = Authenticator::SaslReply::State::kFailure;
  r.outcome.status = status;
  return r;
}

struct Exchange {
  Result result;
  std::vector<std::string> prompts;  // continuation requests sent, "+ " excluded
};

class AuthenticateTest : public ::testing::Test {
 protected:
  FakeAuth auth;
  FakeObserver observer;
  Services services;
  SessionState session;
  AuthenticateTest() {
    services.auth = &auth;
    services.observer = &observer;
    session.remote_ip = "192.0.2.7";
    session.tls = true;
  }
  Exchange run(const std::string& args, std::deque<std::string> client_lines) {
    Reader reader(args);
    Exchange out;
    Context ctx{session, services, "a1", "AUTHENTICATE", false, reader, [](std::string) {},
                []() -> asio::awaitable<void> { co_return; },
                [&](const std::string& prompt) -> asio::awaitable<std::optional<std::string>> {
                  out.prompts.push_back(prompt);
                  if (client_lines.empty()) co_return std::nullopt;
                  std::string line = client_lines.front();
                  client_lines.pop_front();
                  co_return line;
                }};
    asio::io_context io;
    auto fut = asio::co_spawn(io, cmd_authenticate(ctx), asio::use_future);
    io.run();
    out.result = fut.get();
    return out;
  }
};

TEST_F(AuthenticateTest, ScramRelaysChallengesInBase64) {
  auth.replies = {cont("r=abc,s=c2FsdA==,i=4096"), failure(AuthStatus::kInvalid)};
  // SASL-IR: "n,,n=u,r=abc" in base64.
  Exchange r = run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {"Yz1iaXdzLHI9YWJjLHA9eA=="});
  EXPECT_EQ(auth.start_mechanism, "SCRAM-SHA-256");
  ASSERT_TRUE(auth.start_ir);
  EXPECT_EQ(*auth.start_ir, "n,,n=u,r=abc");
  EXPECT_EQ(auth.start_ip, "192.0.2.7");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], "cj1hYmMscz1jMkZzZEE9PSxpPTQwOTY=");
  ASSERT_EQ(auth.steps.size(), 1u);
  EXPECT_EQ(auth.steps[0], "c=biws,r=abc,p=x");
  EXPECT_EQ(r.result.status, Status::kNo);
  EXPECT_EQ(r.result.code, "AUTHENTICATIONFAILED");
  EXPECT_EQ(observer.outcomes, std::vector<std::string>{"failure"});
}

TEST_F(AuthenticateTest, ScramWithoutInitialResponseStartsWithEmptyChallenge) {
  auth.replies = {cont(""), failure(AuthStatus::kThrottled)};
  Exchange r = run(" SCRAM-SHA-256", {"biwsbj11LHI9YWJj"});
  EXPECT_FALSE(auth.start_ir.has_value());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], "");
  EXPECT_EQ(r.result.status, Status::kNo);
  EXPECT_EQ(r.result.code, "UNAVAILABLE");
  EXPECT_EQ(observer.outcomes, std::vector<std::string>{"throttled"});
}

TEST_F(AuthenticateTest, EmptyInitialResponseIsEquals) {
  auth.replies = {failure(AuthStatus::kInvalid)};
  run(" SCRAM-SHA-256 =", {});
  ASSERT_TRUE(auth.start_ir);
  EXPECT_EQ(*auth.start_ir, "");
}

TEST_F(AuthenticateTest, ClientCancelIsBad) {
  auth.replies = {cont("r=abc")};
  Exchange r = run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {"*"});
  EXPECT_EQ(r.result.status, Status::kBad);
  EXPECT_TRUE(auth.steps.empty());
  EXPECT_TRUE(observer.outcomes.empty());
  // "*" is not a valid initial response (RFC 4959 grammar): a syntax error, tagged BAD by the dispatcher.
  EXPECT_THROW(run(" SCRAM-SHA-256 *", {}), SyntaxError);
}

TEST_F(AuthenticateTest, InvalidBase64IsBad) {
  auth.replies = {cont("r=abc")};
  EXPECT_EQ(run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {"not base64!"}).result.status, Status::kBad);
  // In the initial response it is a syntax error (protocol/command_args.h),
  // found before authd is asked anything; the dispatcher answers BAD.
  auth.replies = {cont("r=abc")};
  EXPECT_THROW(run(" SCRAM-SHA-256 abc", {}), SyntaxError);
  EXPECT_THROW(run(" LOGIN dXNlcg", {}), SyntaxError);
  EXPECT_EQ(auth.replies.size(), 1u);
}

TEST_F(AuthenticateTest, AuthdUnreachableIsUnavailable) {
  auth.replies = {failure(AuthStatus::kUnavailable)};
  Exchange r = run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {});
  EXPECT_EQ(r.result.status, Status::kNo);
  EXPECT_EQ(r.result.code, "UNAVAILABLE");
  EXPECT_EQ(observer.outcomes, std::vector<std::string>{"unavailable"});
}

TEST_F(AuthenticateTest, NonEmptyAnswerToServerFinalIsBad) {
  Authenticator::SaslReply ok;
  ok.state = Authenticator::SaslReply::State::kSuccess;
  ok.challenge = "v=xyz";
  ok.outcome.status = AuthStatus::kOk;
  auth.replies = {cont("r=abc"), ok};
  Exchange r = run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {"eA==", "eA=="});
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1], "dj14eXo=");  // the server-final message as a continuation
  EXPECT_EQ(r.result.status, Status::kBad);
  EXPECT_EQ(session.state, State::kNotAuthenticated);
}

TEST_F(AuthenticateTest, LoginMechanismAsksUsernameThenPassword) {
  auth.password_outcome.status = AuthStatus::kInvalid;
  Exchange r = run(" LOGIN", {"dXNlcg==", "cHc="});
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[0], "VXNlcm5hbWU6");
  EXPECT_EQ(r.prompts[1], "UGFzc3dvcmQ6");
  EXPECT_EQ(auth.last_user, "user");
  EXPECT_EQ(auth.last_password, "pw");
  EXPECT_EQ(auth.last_mechanism, "LOGIN");
  EXPECT_EQ(r.result.code, "AUTHENTICATIONFAILED");
}

TEST_F(AuthenticateTest, LoginMechanismInitialResponseIsTheUser) {
  auth.password_outcome.status = AuthStatus::kThrottled;
  Exchange r = run(" LOGIN dXNlcg==", {"cHc="});
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], "UGFzc3dvcmQ6");
  EXPECT_EQ(auth.last_user, "user");
  EXPECT_EQ(r.result.code, "UNAVAILABLE");
}

TEST_F(AuthenticateTest, CapabilitiesFollowTheTlsRule) {
  Settings settings;
  SessionState s;
  settings.allow_plaintext_auth = false;
  s.tls = false;
  std::string caps = capabilities(s, settings);
  EXPECT_EQ(caps.find("AUTH="), std::string::npos);
  EXPECT_NE(caps.find("LOGINDISABLED"), std::string::npos);
  s.tls = true;
  caps = capabilities(s, settings);
  EXPECT_NE(caps.find(" AUTH=PLAIN"), std::string::npos);
  EXPECT_NE(caps.find(" AUTH=LOGIN"), std::string::npos);
  EXPECT_NE(caps.find(" AUTH=SCRAM-SHA-256"), std::string::npos);
  // And the mechanisms themselves are refused before TLS.
  session.tls = false;
  services.settings.allow_plaintext_auth = false;
  EXPECT_EQ(run(" SCRAM-SHA-256 biwsbj11LHI9YWJj", {}).result.code, "PRIVACYREQUIRED");
  EXPECT_EQ(run(" LOGIN", {}).result.code, "PRIVACYREQUIRED");
}

}  // namespace
}  // namespace postline::imap
