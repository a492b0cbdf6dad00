// Antispam against a real PostgreSQL: the greylisting state machine (new,
// early, passed, whitelisted, expiry) and rate-limit counters, plus DNSBL
// through FakeDnsLookup and failing open when the database is gone. Time is
// simulated by moving the rows' timestamps back.
#include "services/smtp-ingress/server/antispam.h"
#include "services/smtp-ingress/sql/migrations.h"
#include "tests/support/pg_test_db.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

namespace postline::smtp {
namespace {

namespace asio = boost::asio;

class AntispamPg : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = testing::create_test_database("smtp_antispam");
    pqxx::connection conn(url_);
    db::migrate(conn, sql::migrations());
    pool_ = std::make_shared<db::Pool>(url_, 2);
  }

  std::unique_ptr<Antispam> make(AntispamOptions o, mailauth::FakeDnsLookup dns = {}) {
    return std::make_unique<Antispam>(std::move(o), std::make_unique<mailauth::FakeDnsLookup>(std::move(dns)), pool_,
                                      registry_);
  }

  PolicyRefusal rcpt(Antispam& a, const std::string& ip, const std::string& from, const std::string& to,
                     const std::string& user = "") {
    asio::io_context io;
    ResolveRecipientEvent ev{to, true, from, "helo.test"};
    // As the server does: the pre-lookup checks, then (recipient known) greylisting.
    auto both = [&]() -> asio::awaitable<PolicyRefusal> {
      PolicyRefusal r = co_await a.check_recipient(ListenerKind::kMx, ip, ev, user);
      if (r.code) co_return r;
      r = co_await a.check_greylist(ListenerKind::kMx, ip, ev, user);
      co_return r;
    };
    auto fut = asio::co_spawn(io, both(), asio::use_future);
    io.run();
    return fut.get();
  }

  void age(const std::string& column, int seconds) {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec("UPDATE smtp_greylist SET " + column + " = " + column + " - make_interval(secs => " +
            std::to_string(seconds) + ")");
    tx.commit();
  }

  std::string url_;
  std::shared_ptr<db::Pool> pool_;
  prometheus::Registry registry_;
};

TEST_F(AntispamPg, GreylistNewEarlyPassedWhitelisted) {
  AntispamOptions o;
  o.enabled = false;
  o.greylist = true;
  o.greylist_delay = std::chrono::seconds(300);
  auto a = make(o);
  auto r = rcpt(*a, "192.0.2.10", "Sender@Remote.test", "alice@example.test");
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.enhanced, "4.7.1");
  EXPECT_EQ(rcpt(*a, "192.0.2.10", "sender@remote.test", "alice@example.test").code, 451);  // too early
  // Another address of the same /24 is the same triplet (sender pools).
  age("first_seen", 301);
  EXPECT_EQ(rcpt(*a, "192.0.2.77", "sender@remote.test", "alice@example.test").code, 0);
  // Whitelisted: passes at once from now on.
  EXPECT_EQ(rcpt(*a, "192.0.2.10", "sender@remote.test", "alice@example.test").code, 0);
  // A different recipient is a new triplet.
  EXPECT_EQ(rcpt(*a, "192.0.2.10", "sender@remote.test", "bob@example.test").code, 451);
  // Another network is too.
  EXPECT_EQ(rcpt(*a, "198.51.100.1", "sender@remote.test", "alice@example.test").code, 451);
}

TEST_F(AntispamPg, GreylistExpiry) {
  AntispamOptions o;
  o.enabled = false;
  o.greylist = true;
  o.greylist_delay = std::chrono::seconds(60);
  o.greylist_retry_window = std::chrono::seconds(3600);
  o.greylist_whitelist_ttl = std::chrono::seconds(86400);
  auto a = make(o);
  EXPECT_EQ(rcpt(*a, "192.0.2.1", "s@r.test", "a@x.test").code, 451);
  // Retry after more than the retry window: starts over.
  age("first_seen", 7200);
  age("last_seen", 7200);
  EXPECT_EQ(rcpt(*a, "192.0.2.1", "s@r.test", "a@x.test").code, 451);
  age("first_seen", 61);
  EXPECT_EQ(rcpt(*a, "192.0.2.1", "s@r.test", "a@x.test").code, 0);
  // A whitelisted triplet unused for longer than the TTL is greylisted again.
  age("last_seen", 86401);
  EXPECT_EQ(rcpt(*a, "192.0.2.1", "s@r.test", "a@x.test").code, 451);
}

TEST_F(AntispamPg, AuthenticatedSessionsAreNotGreylistedOrListed) {
  AntispamOptions o;
  o.enabled = false;
  o.greylist = true;
  o.dnsbl.push_back({"bl.test", {}});
  mailauth::FakeDnsLookup dns;
  dns.add_a("10.2.0.192.bl.test", "127.0.0.2");
  auto a = make(o, std::move(dns));
  EXPECT_EQ(rcpt(*a, "192.0.2.10", "s@r.test", "a@x.test", "user@example.test").code, 0);
  auto r = rcpt(*a, "192.0.2.10", "s@r.test", "a@x.test");
  EXPECT_EQ(r.code, 554);  // DNSBL before greylisting
  EXPECT_NE(r.text.find("bl.test"), std::string::npos);
}

TEST_F(AntispamPg, RecipientRateLimitPerIp) {
  AntispamOptions o;
  o.enabled = false;
  o.rate_ip_recipients = 2;
  auto a = make(o);
  EXPECT_EQ(rcpt(*a, "192.0.2.5", "s@r.test", "a@x.test").code, 0);
  EXPECT_EQ(rcpt(*a, "192.0.2.5", "s@r.test", "b@x.test").code, 0);
  auto r = rcpt(*a, "192.0.2.5", "s@r.test", "c@x.test");
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.reason, "rate_limit");
  EXPECT_EQ(rcpt(*a, "192.0.2.6", "s@r.test", "c@x.test").code, 0);  // another client
}

TEST_F(AntispamPg, SenderMessageRateLimitAndMailboxHeaderStripped) {
  AntispamOptions o;
  o.rate_sender_messages = 1;
  o.authserv_id = "mx.example.test";
  auto a = make(o);
  auto send = [&](ListenerKind kind, const std::string& user) {
    EnqueueEvent ev;
    ev.queue_id = "Q";
    ev.envelope.client_ip = "192.0.2.9";
    ev.envelope.authenticated_user = user;
    ev.data =
        "Received: ours\r\nX-Postline-Mailbox: Junk\r\nAuthentication-Results: mx.example.test; spf=pass\r\n"
        "Authentication-Results: other.example; spf=fail\r\nSubject: s\r\n\r\nbody\r\n";
    ev.added_header_bytes = std::string("Received: ours\r\n").size();
    asio::io_context io;
    auto fut = asio::co_spawn(io, a->check_message(kind, ev), asio::use_future);
    io.run();
    return std::make_pair(fut.get(), ev.data);
  };
  auto [r1, data1] = send(ListenerKind::kSubmission, "carol@example.test");
  EXPECT_EQ(r1.code, 0);
  // Nobody but smtpd may choose the mailbox, on any listener.
  // Nor fake our verdict; other hosts' results stay.
  EXPECT_EQ(data1, "Received: ours\r\nAuthentication-Results: other.example; spf=fail\r\nSubject: s\r\n\r\nbody\r\n");
  auto [r2, data2] = send(ListenerKind::kSubmission, "Carol@example.test");
  EXPECT_EQ(r2.code, 451);
  EXPECT_EQ(r2.enhanced, "4.7.1");
  EXPECT_EQ(send(ListenerKind::kSubmission, "dave@example.test").first.code, 0);
}

TEST_F(AntispamPg, DatabaseDownFailsOpen) {
  AntispamOptions o;
  o.enabled = false;
  o.greylist = true;
  o.rate_ip_recipients = 1;
  auto dead = std::make_shared<db::Pool>("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1", 1);
  Antispam a(o, std::make_unique<mailauth::FakeDnsLookup>(), dead, registry_);
  EXPECT_EQ(rcpt(a, "192.0.2.5", "s@r.test", "a@x.test").code, 0);
  EXPECT_EQ(rcpt(a, "192.0.2.5", "s@r.test", "b@x.test").code, 0);
}

}  // namespace
}  // namespace postline::smtp
