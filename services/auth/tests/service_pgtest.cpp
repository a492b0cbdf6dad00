// AuthService and AdminService over real gRPC (in-process server on a free
// port) and a real PostgreSQL: logins, SASL exchanges, admin credentials,
// throttling.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/db/migrations.h"
#include "services/auth/server/admin_service.h"
#include "services/auth/server/auth_service.h"
#include "services/auth/sql/migrations.h"
#include "tests/support/pg_test_db.h"

namespace postline::auth {
namespace {

using namespace std::chrono_literals;
namespace v1 = mail::v1;

class Platform {
 public:
  // `shared_url`: run against another Platform's database, as a second authd
  // replica would (its own pools, process state and verify cache).
  explicit Platform(std::string admin_token = "", ThrottlePolicy policy = {}, std::string shared_url = "",
                    std::chrono::seconds verify_cache_ttl = 1h)
      : url_(shared_url.empty() ? postline::testing::create_test_database("auth_svc") : shared_url),
        pool_(url_, 4),
        hasher_({1, 8u << 10}),
        metrics_(registry_),
        rpc_(registry_, "postline_authd", "server"),
        db_pool_(4),
        hash_pool_(2),
        accounts_(pool_, {}),
        throttle_(pool_, Throttle(policy)),
        ctx_{accounts_, throttle_, hasher_, db_pool_, hash_pool_, metrics_, rpc_, settings(admin_token, verify_cache_ttl)},
        auth_(ctx_),
        admin_(ctx_) {
    {
      pqxx::connection c(url_);
      db::migrate(c, sql::migrations());
    }
    int port = 0;
    server_ = grpcutil::start_server("127.0.0.1", 0, {&auth_, &admin_}, &port);
    auto channel = grpcutil::make_channel("127.0.0.1:" + std::to_string(port));
    auth_stub_ = v1::AuthService::NewStub(channel);
    admin_stub_ = v1::AdminService::NewStub(channel);
  }
  ~Platform() {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    db_pool_.join();
    hash_pool_.join();
  }

  static ServiceSettings settings(const std::string& token, std::chrono::seconds verify_cache_ttl) {
    ServiceSettings s;
    s.admin_token = token;
    s.verify_cache_ttl = verify_cache_ttl;
    return s;
  }

  const std::string& url() const { return url_; }

  // One series of a counter/gauge/histogram count in this instance's registry (0 if absent).
  double metric(const std::string& name, const std::string& label = "", const std::string& value = "") {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        bool match = label.empty();
        for (const auto& l : m.label)
          if (l.name == label && l.value == value) match = true;
        if (!match) continue;
        if (family.type == prometheus::MetricType::Counter) return m.counter.value;
        if (family.type == prometheus::MetricType::Gauge) return m.gauge.value;
        if (family.type == prometheus::MetricType::Histogram) return static_cast<double>(m.histogram.sample_count);
      }
    }
    return 0;
  }

  // Text of one value from the database, for assertions about stored state.
  std::string sql(const std::string& query, const std::string& param) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    auto r = tx.exec_params(query, param);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }
  void sql_exec(const std::string& statement, const std::string& param) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec_params(statement, param);
  }

  grpc::Status set_password(const std::string& email, const std::string& password) {
    v1::SetPasswordRequest req;
    req.set_email(email);
    req.set_password(password);
    v1::SetPasswordResponse resp;
    return admin(&v1::AdminService::Stub::SetPassword, req, &resp);
  }

  grpc::Status set_disabled(const std::string& email, bool disabled) {
    v1::UpdateUserRequest req;
    req.set_email(email);
    req.set_disabled(disabled);
    v1::UpdateUserResponse resp;
    return admin(&v1::AdminService::Stub::UpdateUser, req, &resp);
  }

  template <typename Req, typename Resp, typename Method>
  grpc::Status admin(Method m, const Req& req, Resp* resp, const std::string& token = "") {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + 20s);
    if (!token.empty()) c.AddMetadata("authorization", "Bearer " + token);
    return ((*admin_stub_).*m)(&c, req, resp);
  }

  void add_user(const std::string& email, const std::string& password, const std::string& token = "") {
    v1::AddDomainRequest d;
    d.set_name(email.substr(email.find('@') + 1));
    v1::AddDomainResponse dr;
    (void)admin(&v1::AdminService::Stub::AddDomain, d, &dr, token);
    v1::AddUserRequest u;
    u.set_email(email);
    u.set_password(password);
    v1::AddUserResponse ur;
    auto s = admin(&v1::AdminService::Stub::AddUser, u, &ur, token);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::AuthenticateResponse login(const std::string& user, const std::string& password,
                                 const std::string& ip = "192.0.2.10", std::chrono::seconds deadline = 20s) {
    v1::AuthenticateRequest req;
    req.set_username(user);
    req.set_password(password);
    req.set_protocol(v1::PROTOCOL_IMAP);
    req.set_mechanism("PLAIN");
    req.set_remote_ip(ip);
    v1::AuthenticateResponse resp;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + deadline);
    auto s = auth_stub_->Authenticate(&c, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::SaslStepResponse sasl_start(const std::string& mech, std::optional<std::string> ir) {
    v1::SaslStartRequest req;
    req.set_mechanism(mech);
    req.set_protocol(v1::PROTOCOL_SMTP);
    req.set_remote_ip("192.0.2.20");
    if (ir) {
      req.set_has_initial_response(true);
      req.set_initial_response(*ir);
    }
    v1::SaslStepResponse resp;
    grpc::ClientContext c;
    auto s = auth_stub_->SaslStart(&c, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  grpc::Status sasl_step(const std::string& id, const std::string& data, v1::SaslStepResponse* resp) {
    v1::SaslStepRequest req;
    req.set_conversation_id(id);
    req.set_response(data);
    grpc::ClientContext c;
    return auth_stub_->SaslStep(&c, req, resp);
  }

  v1::ResolveRecipientResponse resolve(const std::string& address) {
    v1::ResolveRecipientRequest req;
    req.set_address(address);
    v1::ResolveRecipientResponse resp;
    grpc::ClientContext c;
    EXPECT_TRUE(auth_stub_->ResolveRecipient(&c, req, &resp).ok());
    return resp;
  }

  prometheus::Registry registry_;
  AccountStore& accounts() { return accounts_; }

 private:
  std::string url_;
  db::Pool pool_;
  PasswordHasher hasher_;
  AuthMetrics metrics_;
  grpcutil::RpcMetrics rpc_;
  asio::thread_pool db_pool_, hash_pool_;
  AccountStore accounts_;
  ThrottleStore throttle_;
  ServiceContext ctx_;
  AuthServiceImpl auth_;
  AdminServiceImpl admin_;
  std::unique_ptr<grpc::Server> server_;

 public:
  std::unique_ptr<v1::AuthService::Stub> auth_stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_stub_;
};

// --- a SCRAM-SHA-256 client, the way a mail client computes it ------------
std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string scram_client_final(const std::string& password, const std::string& client_first_bare,
                               const std::string& server_first) {
  std::string nonce, salt_b64;
  int iterations = 0;
  for (size_t start = 0; start < server_first.size();) {
    size_t end = server_first.find(',', start);
    if (end == std::string::npos) end = server_first.size();
    const std::string part = server_first.substr(start, end - start);
    if (part.rfind("r=", 0) == 0) nonce = part.substr(2);
    if (part.rfind("s=", 0) == 0) salt_b64 = part.substr(2);
    if (part.rfind("i=", 0) == 0) iterations = std::stoi(part.substr(2));
    start = end + 1;
  }
  const std::string salt = *scram::base64_decode(salt_b64);
  unsigned char salted[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                    EVP_sha256(), 32, salted);
  const std::string client_key = hmac(std::string(reinterpret_cast<char*>(salted), 32), "Client Key");
  unsigned char stored[32];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), stored);
  const std::string without_proof = "c=biws,r=" + nonce;
  const std::string auth_message = client_first_bare + "," + server_first + "," + without_proof;
  const std::string signature = hmac(std::string(reinterpret_cast<char*>(stored), 32), auth_message);
  std::string proof(32, '\0');
  for (int i = 0; i < 32; ++i) proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
  return without_proof + ",p=" + scram::base64_encode(proof);
}

// --------------------------------------------------------------------------

TEST(AuthService, PasswordLogins) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  auto ok = p.login("Anna@Example.com", "s3cret");
  EXPECT_EQ(ok.result(), v1::AUTH_RESULT_OK);
  EXPECT_GT(ok.user_id(), 0);
  EXPECT_EQ(ok.email(), "anna@example.com");
  auto wrong = p.login("anna@example.com", "nope");
  auto unknown = p.login("nobody@example.com", "nope");
  auto garbage = p.login("not an address", "nope");
  // Identical answers: nothing tells an unknown user from a wrong password.
  EXPECT_EQ(wrong.SerializeAsString(), unknown.SerializeAsString());
  EXPECT_EQ(wrong.SerializeAsString(), garbage.SerializeAsString());
  EXPECT_EQ(wrong.result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
}

TEST(AuthService, DisabledAccountsCannotLogInOrReceive) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  v1::UpdateUserRequest req;
  req.set_email("anna@example.com");
  req.set_disabled(true);
  v1::UpdateUserResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::UpdateUser, req, &resp).ok());
  EXPECT_TRUE(resp.user().disabled());
  EXPECT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_DISABLED);
  // A wrong password still reads as wrong: "disabled" is only for the owner.
  EXPECT_EQ(p.login("anna@example.com", "nope").result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  EXPECT_EQ(p.resolve("anna@example.com").kind(), v1::RECIPIENT_KIND_UNKNOWN);
}

TEST(AuthService, AppPasswordsLogInAndAreListed) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  v1::AddAppPasswordRequest req;
  req.set_email("anna@example.com");
  req.set_label("phone");
  v1::AddAppPasswordResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddAppPassword, req, &resp).ok());
  EXPECT_EQ(resp.password().size(), 24u);
  EXPECT_EQ(p.login("anna@example.com", resp.password()).result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  v1::ListAppPasswordsRequest lreq;
  lreq.set_email("anna@example.com");
  v1::ListAppPasswordsResponse lresp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::ListAppPasswords, lreq, &lresp).ok());
  ASSERT_EQ(lresp.app_passwords_size(), 1);
  EXPECT_FALSE(lresp.app_passwords(0).last_used_at().empty());
  // Revoked: no longer works.
  v1::RemoveAppPasswordRequest rreq;
  rreq.set_email("anna@example.com");
  rreq.set_label("phone");
  v1::RemoveAppPasswordResponse rresp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::RemoveAppPassword, rreq, &rresp).ok());
  EXPECT_EQ(p.login("anna@example.com", resp.password()).result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
}

TEST(AuthService, SaslPlainWithAndWithoutInitialResponse) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  auto done = p.sasl_start("plain", std::string("\0anna@example.com\0s3cret", 24));
  EXPECT_EQ(done.state(), v1::SASL_STATE_SUCCESS);
  EXPECT_EQ(done.email(), "anna@example.com");
  auto cont = p.sasl_start("PLAIN", std::nullopt);
  ASSERT_EQ(cont.state(), v1::SASL_STATE_CONTINUE);
  EXPECT_TRUE(cont.challenge().empty());
  v1::SaslStepResponse fin;
  ASSERT_TRUE(p.sasl_step(cont.conversation_id(), std::string("\0anna@example.com\0wrong", 23), &fin).ok());
  EXPECT_EQ(fin.state(), v1::SASL_STATE_FAILURE);
  EXPECT_EQ(fin.result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  // The conversation is over.
  v1::SaslStepResponse again;
  EXPECT_EQ(p.sasl_step(cont.conversation_id(), "x", &again).error_code(), grpc::NOT_FOUND);
}

TEST(AuthService, SaslLogin) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  auto first = p.sasl_start("LOGIN", std::nullopt);
  ASSERT_EQ(first.state(), v1::SASL_STATE_CONTINUE);
  EXPECT_EQ(first.challenge(), "Username:");
  v1::SaslStepResponse second;
  ASSERT_TRUE(p.sasl_step(first.conversation_id(), "anna@example.com", &second).ok());
  ASSERT_EQ(second.state(), v1::SASL_STATE_CONTINUE);
  EXPECT_EQ(second.challenge(), "Password:");
  v1::SaslStepResponse third;
  ASSERT_TRUE(p.sasl_step(second.conversation_id(), "s3cret", &third).ok());
  EXPECT_EQ(third.state(), v1::SASL_STATE_SUCCESS);
  EXPECT_GT(third.user_id(), 0);
}

TEST(AuthService, SaslScramSha256) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  for (const std::string password : {"s3cret", "wrong"}) {
    const std::string bare = "n=anna@example.com,r=fyko+d2lbbFgONRv9qkxdawL";
    auto first = p.sasl_start("SCRAM-SHA-256", "n,," + bare);
    ASSERT_EQ(first.state(), v1::SASL_STATE_CONTINUE);
    ASSERT_EQ(first.challenge().rfind("r=fyko+d2lbbFgONRv9qkxdawL", 0), 0u) << first.challenge();
    v1::SaslStepResponse fin;
    ASSERT_TRUE(
        p.sasl_step(first.conversation_id(), scram_client_final(password, bare, first.challenge()), &fin).ok());
    if (password == "s3cret") {
      EXPECT_EQ(fin.state(), v1::SASL_STATE_SUCCESS);
      EXPECT_EQ(fin.challenge().rfind("v=", 0), 0u);  // server signature for the client to check
    } else {
      EXPECT_EQ(fin.state(), v1::SASL_STATE_FAILURE);
      EXPECT_EQ(fin.result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
    }
  }
}

TEST(AuthService, ScramForUnknownUsersLooksTheSame) {
  Platform p;
  const std::string bare = "n=ghost@example.com,r=abcdefgh";
  auto a = p.sasl_start("SCRAM-SHA-256", "n,," + bare);
  auto b = p.sasl_start("SCRAM-SHA-256", "n,," + bare);
  ASSERT_EQ(a.state(), v1::SASL_STATE_CONTINUE);
  // The same salt both times, as for a real account.
  auto salt = [](const std::string& s) { return s.substr(s.find(",s="), s.find(",i=") - s.find(",s=")); };
  EXPECT_EQ(salt(a.challenge()), salt(b.challenge()));
  v1::SaslStepResponse fin;
  ASSERT_TRUE(p.sasl_step(a.conversation_id(), scram_client_final("x", bare, a.challenge()), &fin).ok());
  EXPECT_EQ(fin.state(), v1::SASL_STATE_FAILURE);
}

TEST(AuthService, ScramWithAnAppPassword) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  v1::AddAppPasswordRequest req;
  req.set_email("anna@example.com");
  req.set_label("laptop");
  v1::AddAppPasswordResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddAppPassword, req, &resp).ok());
  const std::string bare = "n=anna@example.com,r=nonce123";
  auto first = p.sasl_start("SCRAM-SHA-256", "n,," + bare);
  v1::SaslStepResponse fin;
  ASSERT_TRUE(p.sasl_step(first.conversation_id(), scram_client_final(resp.password(), bare, first.challenge()), &fin)
                  .ok());
  EXPECT_EQ(fin.state(), v1::SASL_STATE_SUCCESS);
}

TEST(AuthService, UnknownMechanismIsAnError) {
  Platform p;
  v1::SaslStartRequest req;
  req.set_mechanism("CRAM-MD5");
  v1::SaslStepResponse resp;
  grpc::ClientContext c;
  auto s = p.auth_stub_->SaslStart(&c, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("CRAM-MD5"), std::string::npos);
}

TEST(AuthService, ListMechanisms) {
  Platform p;
  v1::ListMechanismsRequest req;
  req.set_secure_transport(true);
  v1::ListMechanismsResponse resp;
  grpc::ClientContext c;
  ASSERT_TRUE(p.auth_stub_->ListMechanisms(&c, req, &resp).ok());
  EXPECT_EQ(resp.mechanisms_size(), 3);
}

TEST(AuthService, ResolveAliasesAndPlusAddresses) {
  Platform p;
  p.add_user("anna@example.com", "pw");
  v1::AddAliasRequest req;
  req.set_address("Team@Example.com");
  req.add_targets("anna@example.com");
  req.add_targets("carol@elsewhere.org");
  v1::AddAliasResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddAlias, req, &resp).ok());
  auto r = p.resolve("team@EXAMPLE.COM");
  EXPECT_EQ(r.kind(), v1::RECIPIENT_KIND_LOCAL);
  ASSERT_EQ(r.targets_size(), 2);
  auto plus = p.resolve("anna+news@example.com");
  EXPECT_EQ(plus.kind(), v1::RECIPIENT_KIND_LOCAL);
  EXPECT_EQ(p.resolve("x@elsewhere.org").kind(), v1::RECIPIENT_KIND_REMOTE);
  // Valid SMTP, but a local part we never create: unknown here, remote elsewhere.
  EXPECT_EQ(p.resolve("\"odd person\"@example.com").kind(), v1::RECIPIENT_KIND_UNKNOWN);
  auto odd_remote = p.resolve("\"odd person\"@Elsewhere.org");
  EXPECT_EQ(odd_remote.kind(), v1::RECIPIENT_KIND_REMOTE);
  ASSERT_EQ(odd_remote.targets_size(), 1);
  EXPECT_EQ(odd_remote.targets(0).address(), "\"odd person\"@elsewhere.org");
  v1::ResolveRecipientRequest bad;
  bad.set_address("no-at-sign");
  v1::ResolveRecipientResponse bad_resp;
  grpc::ClientContext c;
  EXPECT_EQ(p.auth_stub_->ResolveRecipient(&c, bad, &bad_resp).error_code(), grpc::INVALID_ARGUMENT);
}

TEST(AdminService, BearerTokenRequiredWhenConfigured) {
  const std::string token = "0123456789abcdef0123";
  Platform p(token);
  v1::ListDomainsResponse resp;
  auto none = p.admin(&v1::AdminService::Stub::ListDomains, v1::ListDomainsRequest(), &resp);
  EXPECT_EQ(none.error_code(), grpc::UNAUTHENTICATED);
  auto wrong = p.admin(&v1::AdminService::Stub::ListDomains, v1::ListDomainsRequest(), &resp, "nope");
  EXPECT_EQ(wrong.error_code(), grpc::UNAUTHENTICATED);
  EXPECT_TRUE(p.admin(&v1::AdminService::Stub::ListDomains, v1::ListDomainsRequest(), &resp, token).ok());
}

TEST(AdminService, ErrorsNameTheProblem) {
  Platform p;
  v1::AddUserRequest req;
  req.set_email("anna@nowhere.example");
  req.set_password("pw");
  v1::AddUserResponse resp;
  auto s = p.admin(&v1::AdminService::Stub::AddUser, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_NE(s.error_message().find("nowhere.example"), std::string::npos);
  req.set_email("not-an-address");
  s = p.admin(&v1::AdminService::Stub::AddUser, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("email"), std::string::npos);
  v1::AddDomainRequest d;
  d.set_name("example.com");
  v1::AddDomainResponse dr;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddDomain, d, &dr).ok());
  EXPECT_EQ(p.admin(&v1::AdminService::Stub::AddDomain, d, &dr).error_code(), grpc::ALREADY_EXISTS);
  req.set_email("anna@example.com");
  req.set_password("");
  EXPECT_EQ(p.admin(&v1::AdminService::Stub::AddUser, req, &resp).error_code(), grpc::INVALID_ARGUMENT);
}

// GetUser: one account by address, with the id the mailstore keys it by
// (what `postline mailbox …` and `quota show` ask for).
TEST(AdminService, GetUserFindsOneAccountByAddress) {
  Platform p;
  p.add_user("anna@example.com", "pw");
  p.add_user("bob@example.com", "pw");
  const int64_t anna_id = p.login("anna@example.com", "pw").user_id();
  v1::GetUserRequest req;
  req.set_email("Anna@EXAMPLE.com");  // canonicalised like every other call
  v1::GetUserResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::GetUser, req, &resp).ok());
  EXPECT_EQ(resp.user().id(), anna_id);
  EXPECT_EQ(resp.user().email(), "anna@example.com");
  req.set_email("carol@example.com");
  auto s = p.admin(&v1::AdminService::Stub::GetUser, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_NE(s.error_message().find("no such user carol@example.com"), std::string::npos) << s.error_message();
  req.set_email("not-an-address");
  EXPECT_EQ(p.admin(&v1::AdminService::Stub::GetUser, req, &resp).error_code(), grpc::INVALID_ARGUMENT);
}

TEST(AuthService, ThrottlingBlocksTheIpButNotTheOwnerElsewhere) {
  ThrottlePolicy policy;
  policy.ip_delay_after = 2;
  policy.ip_block_after = 5;
  policy.base_delay = 10ms;
  policy.max_delay = 20ms;
  policy.account_delay_after = 3;
  policy.account_max_delay = 20ms;
  Platform p("", policy);
  p.add_user("anna@example.com", "s3cret");
  std::vector<v1::AuthResult> results;
  for (int i = 0; i < 7; ++i) results.push_back(p.login("anna@example.com", "wrong", "203.0.113.5").result());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(results[i], v1::AUTH_RESULT_INVALID_CREDENTIALS) << i;
  EXPECT_EQ(results[5], v1::AUTH_RESULT_THROTTLED);
  EXPECT_EQ(results[6], v1::AUTH_RESULT_THROTTLED);
  // Even the right password is refused from the blocked IP...
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "203.0.113.5").result(), v1::AUTH_RESULT_THROTTLED);
  // ...but the owner elsewhere gets in (slowed at most), and that resets the account.
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "198.51.100.1").result(), v1::AUTH_RESULT_OK);
  v1::ListThrottlesResponse list;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::ListThrottles, v1::ListThrottlesRequest(), &list).ok());
  ASSERT_EQ(list.entries_size(), 1);
  EXPECT_EQ(list.entries(0).key(), "203.0.113.5");
  EXPECT_FALSE(list.entries(0).blocked_until().empty());
  v1::UnblockRequest un;
  un.set_key("203.0.113.5");
  v1::UnblockResponse unr;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::Unblock, un, &unr).ok());
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "203.0.113.5").result(), v1::AUTH_RESULT_OK);
}

TEST(AuthService, OutdatedHashIsUpgradedAtLogin) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  // Made with other (older) parameters than the service's {1, 8 KiB}.
  PasswordHasher old_params({1, 16u << 10});
  auto rec = p.accounts().login_record("anna@example.com");
  ASSERT_TRUE(rec);
  p.accounts().upgrade_hash(rec->id, rec->password_hash, old_params.hash("s3cret"));
  ASSERT_NE(p.accounts().login_record("anna@example.com")->password_hash.find("m=16,"), std::string::npos);
  EXPECT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  const auto upgraded = p.accounts().login_record("anna@example.com")->password_hash;
  EXPECT_NE(upgraded.find("m=8,t=1"), std::string::npos) << upgraded;
  EXPECT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
}

TEST(AuthService, DelayLongerThanTheDeadlineAnswersThrottledAtOnce) {
  ThrottlePolicy policy;
  policy.ip_delay_after = 1;
  policy.base_delay = 30s;
  policy.max_delay = 30s;
  Platform p("", policy);
  p.add_user("anna@example.com", "s3cret");
  EXPECT_EQ(p.login("anna@example.com", "wrong", "203.0.113.9").result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "203.0.113.9", 5s).result(), v1::AUTH_RESULT_THROTTLED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

// --- QUOTA: message limits, the admin flag, GetQuota/SetQuota -------------

TEST(AuthService, LimitsAndAdminFlagComeWithEveryLoginAndResolution) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  v1::UpdateUserRequest u;
  u.set_email("anna@example.com");
  u.set_quota_bytes(2 << 20);
  u.set_quota_messages(100);
  u.set_admin(true);
  v1::UpdateUserResponse ur;
  auto s = p.admin(&v1::AdminService::Stub::UpdateUser, u, &ur);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ur.user().quota_messages(), 100);
  EXPECT_TRUE(ur.user().admin());

  auto login = p.login("anna@example.com", "s3cret");
  ASSERT_EQ(login.result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(login.quota_bytes(), 2 << 20);
  EXPECT_EQ(login.quota_messages(), 100);
  EXPECT_TRUE(login.admin());

  const std::string bare = "n=anna@example.com,r=abcdefghijklmnop";
  auto first = p.sasl_start("SCRAM-SHA-256", "n,," + bare);
  ASSERT_EQ(first.state(), v1::SASL_STATE_CONTINUE);
  v1::SaslStepResponse fin;
  ASSERT_TRUE(p.sasl_step(first.conversation_id(), scram_client_final("s3cret", bare, first.challenge()), &fin).ok());
  ASSERT_EQ(fin.state(), v1::SASL_STATE_SUCCESS);
  EXPECT_EQ(fin.quota_bytes(), 2 << 20);
  EXPECT_EQ(fin.quota_messages(), 100);
  EXPECT_TRUE(fin.admin());

  auto res = p.resolve("anna@example.com");
  ASSERT_EQ(res.targets_size(), 1);
  EXPECT_EQ(res.targets(0).quota_bytes(), 2 << 20);
  EXPECT_EQ(res.targets(0).quota_messages(), 100);

  v1::ListUsersRequest l;
  v1::ListUsersResponse lr;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::ListUsers, l, &lr).ok());
  ASSERT_EQ(lr.users_size(), 1);
  EXPECT_EQ(lr.users(0).quota_messages(), 100);
  EXPECT_TRUE(lr.users(0).admin());

  // AddUser carries them too; negative limits are refused.
  v1::AddUserRequest a;
  a.set_email("bob@example.com");
  a.set_password("pw");
  a.set_quota_messages(5);
  v1::AddUserResponse ar;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddUser, a, &ar).ok());
  EXPECT_EQ(ar.user().quota_messages(), 5);
  EXPECT_FALSE(ar.user().admin());
  u.Clear();
  u.set_email("bob@example.com");
  u.set_quota_messages(-1);
  EXPECT_EQ(p.admin(&v1::AdminService::Stub::UpdateUser, u, &ur).error_code(), grpc::INVALID_ARGUMENT);
}

TEST(AuthService, OnlyAdminsSetQuotasAndReadOthers) {
  Platform p;
  p.add_user("root@example.com", "pw");
  p.add_user("anna@example.com", "pw");
  v1::UpdateUserRequest u;
  u.set_email("root@example.com");
  u.set_admin(true);
  v1::UpdateUserResponse ur;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::UpdateUser, u, &ur).ok());
  const int64_t root_id = ur.user().id();
  const int64_t anna_id = p.login("anna@example.com", "pw").user_id();

  auto get = [&](int64_t actor, const std::string& address, v1::QuotaResponse* resp) {
    v1::GetQuotaRequest req;
    req.set_acting_user_id(actor);
    req.set_address(address);
    grpc::ClientContext c;
    return p.auth_stub_->GetQuota(&c, req, resp);
  };
  auto set = [&](int64_t actor, const std::string& address, int64_t bytes, int64_t messages, v1::QuotaResponse* resp) {
    v1::SetQuotaRequest req;
    req.set_acting_user_id(actor);
    req.set_address(address);
    req.set_quota_bytes(bytes);
    req.set_quota_messages(messages);
    grpc::ClientContext c;
    return p.auth_stub_->SetQuota(&c, req, resp);
  };

  v1::QuotaResponse q;
  // Everyone reads their own root; nobody else's unless admin.
  ASSERT_TRUE(get(anna_id, "", &q).ok());
  EXPECT_EQ(q.user_id(), anna_id);
  ASSERT_TRUE(get(anna_id, "ANNA@example.com", &q).ok());
  EXPECT_EQ(get(anna_id, "root@example.com", &q).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(get(anna_id, "nobody@example.com", &q).error_code(), grpc::PERMISSION_DENIED);  // no probing
  // Non-admins set nothing, not even their own.
  EXPECT_EQ(set(anna_id, "", 1024, 1, &q).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(set(anna_id, "anna@example.com", 1024, 1, &q).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(set(999999, "anna@example.com", 1024, 1, &q).error_code(), grpc::PERMISSION_DENIED);

  ASSERT_TRUE(set(root_id, "anna@example.com", 512 * 1024, 1000, &q).ok());
  EXPECT_EQ(q.user_id(), anna_id);
  EXPECT_EQ(q.quota_bytes(), 512 * 1024);
  EXPECT_EQ(q.quota_messages(), 1000);
  ASSERT_TRUE(get(root_id, "anna@example.com", &q).ok());
  EXPECT_EQ(q.quota_messages(), 1000);
  EXPECT_EQ(p.login("anna@example.com", "pw").quota_messages(), 1000);
  EXPECT_EQ(get(root_id, "nobody@example.com", &q).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(set(root_id, "nobody@example.com", 1, 1, &q).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(set(root_id, "anna@example.com", -1, 1, &q).error_code(), grpc::INVALID_ARGUMENT);
  // Both zero: unlimited again.
  ASSERT_TRUE(set(root_id, "anna@example.com", 0, 0, &q).ok());
  EXPECT_EQ(p.login("anna@example.com", "pw").quota_bytes(), 0);

  // A disabled admin is no admin.
  u.set_disabled(true);
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::UpdateUser, u, &ur).ok());
  EXPECT_EQ(set(root_id, "anna@example.com", 1, 1, &q).error_code(), grpc::PERMISSION_DENIED);
}

// --- the verified-credential cache and login bookkeeping ------------------

double hits(Platform& p) { return p.metric("postline_authd_verify_cache_lookups_total", "result", "hit"); }
double misses(Platform& p) { return p.metric("postline_authd_verify_cache_lookups_total", "result", "miss"); }
double hashes(Platform& p) { return p.metric("postline_authd_hash_duration_seconds"); }

TEST(VerifyCache, SecondLoginSkipsArgon2) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  const double hashed = hashes(p);  // AddUser hashed through the admin path, not the histogram
  ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(misses(p), 1);
  EXPECT_EQ(hashes(p), hashed + 1);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(hits(p), 3);
  EXPECT_EQ(hashes(p), hashed + 1);  // argon2id ran once
  EXPECT_EQ(p.metric("postline_authd_verify_cache_entries"), 1);
  // SASL PLAIN goes through the same pipeline.
  auto done = p.sasl_start("PLAIN", std::string("\0anna@example.com\0s3cret", 24));
  EXPECT_EQ(done.state(), v1::SASL_STATE_SUCCESS);
  EXPECT_EQ(hits(p), 4);
}

TEST(VerifyCache, FailuresAreNeverRememberedAndStillCount) {
  ThrottlePolicy policy;
  policy.account_delay_after = 100;  // counting only; no delays in this test
  policy.ip_delay_after = 100;
  Platform p("", policy);
  p.add_user("anna@example.com", "s3cret");
  ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  const double hashed = hashes(p);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(p.login("anna@example.com", "wrong", "203.0.113.7").result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  EXPECT_EQ(hits(p), 0);
  EXPECT_EQ(hashes(p), hashed + 3);  // every wrong guess paid for argon2id
  v1::ListThrottlesResponse list;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::ListThrottles, v1::ListThrottlesRequest(), &list).ok());
  int account_failures = 0;
  for (const auto& e : list.entries())
    if (e.scope() == "account") account_failures = e.failures();
  EXPECT_EQ(account_failures, 3);
  // The owner's entry survived the wrong guesses; the success clears the account counter.
  EXPECT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(hits(p), 1);
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::ListThrottles, v1::ListThrottlesRequest(), &list).ok());
  for (const auto& e : list.entries()) EXPECT_NE(e.scope(), "account") << e.key();
}

TEST(VerifyCache, PasswordChangeOnAnotherReplicaEndsTheCachedPassword) {
  Platform a;
  a.add_user("anna@example.com", "old-secret");
  Platform b("", {}, a.url());  // a second authd on the same database
  ASSERT_EQ(a.login("anna@example.com", "old-secret").result(), v1::AUTH_RESULT_OK);
  ASSERT_EQ(a.login("anna@example.com", "old-secret").result(), v1::AUTH_RESULT_OK);
  ASSERT_EQ(hits(a), 1);  // cached in a
  ASSERT_TRUE(b.set_password("anna@example.com", "new-secret").ok());
  // a never heard of the change; the stored hash it reads is new, so its entry misses.
  EXPECT_EQ(a.login("anna@example.com", "old-secret").result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  EXPECT_EQ(hits(a), 1);
  EXPECT_EQ(a.login("anna@example.com", "new-secret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(a.login("anna@example.com", "new-secret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(hits(a), 2);
  EXPECT_EQ(a.login("anna@example.com", "old-secret").result(), v1::AUTH_RESULT_INVALID_CREDENTIALS);
  // Setting the same password again makes a new salt, so a new hash: another miss, then OK.
  ASSERT_TRUE(b.set_password("anna@example.com", "new-secret").ok());
  const double before = misses(a);
  EXPECT_EQ(a.login("anna@example.com", "new-secret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(misses(a), before + 1);
}

TEST(VerifyCache, DisabledUserIsRefusedEvenWithACachedEntry) {
  Platform a;
  a.add_user("anna@example.com", "s3cret");
  Platform b("", {}, a.url());
  ASSERT_EQ(a.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  ASSERT_TRUE(b.set_disabled("anna@example.com", true).ok());
  EXPECT_EQ(a.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_DISABLED);
  EXPECT_EQ(hits(a), 1);  // the entry was there and matched; the row said no
  ASSERT_TRUE(b.set_disabled("anna@example.com", false).ok());
  EXPECT_EQ(a.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
}

TEST(VerifyCache, ABlockedIpIsRefusedEvenWithACachedEntry) {
  ThrottlePolicy policy;
  policy.ip_delay_after = 100;
  policy.ip_block_after = 2;
  Platform p("", policy);
  p.add_user("anna@example.com", "s3cret");
  ASSERT_EQ(p.login("anna@example.com", "s3cret", "203.0.113.8").result(), v1::AUTH_RESULT_OK);
  for (int i = 0; i < 2; ++i) p.login("bob@example.com", "guess", "203.0.113.8");
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "203.0.113.8").result(), v1::AUTH_RESULT_THROTTLED);
  EXPECT_EQ(p.login("anna@example.com", "s3cret", "198.51.100.2").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(hits(p), 1);
}

TEST(VerifyCache, ZeroTtlTurnsItOff) {
  Platform p("", {}, "", 0s);
  p.add_user("anna@example.com", "s3cret");
  const double hashed = hashes(p);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(hashes(p), hashed + 3);
  EXPECT_EQ(hits(p) + misses(p), 0);
}

TEST(LoginBookkeeping, ARepeatedLoginWritesNothing) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  const std::string row_version = "SELECT xmin::text FROM auth_users WHERE email = $1";
  const std::string last_login = "SELECT last_login_at::text FROM auth_users WHERE email = $1";
  ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  const std::string first = p.sql(last_login, "anna@example.com");
  ASSERT_FALSE(first.empty());  // the first login is recorded
  const std::string version = p.sql(row_version, "anna@example.com");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  // No new row version: the row was not rewritten, and no throttle row appeared.
  EXPECT_EQ(p.sql(row_version, "anna@example.com"), version);
  EXPECT_EQ(p.sql(last_login, "anna@example.com"), first);
  EXPECT_EQ(p.sql("SELECT count(*)::text FROM auth_login_throttle WHERE key = $1", "anna@example.com"), "0");
  // Once the stored time is older than the resolution, the next login records it again.
  p.sql_exec("UPDATE auth_users SET last_login_at = now() - interval '10 minutes' WHERE email = $1",
             "anna@example.com");
  const std::string recent = "SELECT (last_login_at > now() - interval '1 minute')::text FROM auth_users WHERE email = $1";
  ASSERT_EQ(p.sql(recent, "anna@example.com"), "false");
  ASSERT_EQ(p.login("anna@example.com", "s3cret").result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(p.sql(recent, "anna@example.com"), "true");
}

TEST(LoginBookkeeping, AppPasswordLastUsedFollowsTheSameRule) {
  Platform p;
  p.add_user("anna@example.com", "s3cret");
  v1::AddAppPasswordRequest req;
  req.set_email("anna@example.com");
  req.set_label("phone");
  v1::AddAppPasswordResponse resp;
  ASSERT_TRUE(p.admin(&v1::AdminService::Stub::AddAppPassword, req, &resp).ok());
  const std::string version = "SELECT xmin::text FROM auth_app_passwords WHERE label = $1";
  const std::string used = "SELECT last_used_at::text FROM auth_app_passwords WHERE label = $1";
  ASSERT_EQ(p.login("anna@example.com", resp.password()).result(), v1::AUTH_RESULT_OK);
  ASSERT_FALSE(p.sql(used, "phone").empty());
  const std::string v = p.sql(version, "phone");
  ASSERT_EQ(p.login("anna@example.com", resp.password()).result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(p.sql(version, "phone"), v);
  p.sql_exec("UPDATE auth_app_passwords SET last_used_at = now() - interval '1 hour' WHERE label = $1", "phone");
  const std::string recent =
      "SELECT (last_used_at > now() - interval '1 minute')::text FROM auth_app_passwords WHERE label = $1";
  ASSERT_EQ(p.sql(recent, "phone"), "false");
  ASSERT_EQ(p.login("anna@example.com", resp.password()).result(), v1::AUTH_RESULT_OK);
  EXPECT_EQ(p.sql(recent, "phone"), "true");
}

}  // namespace
}  // namespace postline::auth
