// GoogleTest of the portal's sans-I/O code: form and cookie parsing, session
// tokens (MAC, expiry, revocation), and Portal::handle's rules against a
// scripted Backend (the e2e test, tests/e2e/test_web_portal.py, runs them
// against the real services in a browser).
#include "services/web/portal/http_input.h"
#include "services/web/portal/listing.h"
#include "services/web/portal/message_text.h"
#include "services/web/portal/portal.h"
#include "services/web/portal/quota_input.h"
#include "services/web/portal/session.h"
#include "services/web/portal/sieve_filters.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace postline::web;
using namespace postline::web::portal;

namespace {

constexpr int64_t kNow = 1'800'000'000;

TEST(PortalForm, ParsesDecodesAndKeepsFirst) {
  std::string why;
  auto f = parse_form("username=anna%40example.org&password=a+b%26c&username=second&empty=", &why);
  ASSERT_TRUE(f) << why;
  EXPECT_EQ(f->at("username"), "anna@example.org");
  EXPECT_EQ(f->at("password"), "a b&c");
  EXPECT_EQ(f->at("empty"), "");
}

TEST(PortalForm, RefusesWithReasons) {
  std::string why;
  EXPECT_FALSE(parse_form("a=%zz", &why));
  EXPECT_EQ(why, "form field 'a': malformed %-escape");
  EXPECT_FALSE(parse_form("a=%00", &why));
  EXPECT_FALSE(parse_form("bad name=1", &why));
  EXPECT_EQ(why, "malformed form field name");
  std::string many;
  for (size_t i = 0; i <= kMaxFormFields; ++i) many += "f" + std::to_string(i) + "=1&";
  EXPECT_FALSE(parse_form(many, &why));
  EXPECT_EQ(why, "too many form fields (at most 64)");
  EXPECT_FALSE(parse_form("p=" + std::string(4097, 'x'), &why));
  EXPECT_EQ(why, "form field 'p': longer than 4096 octets");
}

TEST(PortalCookie, FindsByExactName) {
  EXPECT_EQ(find_cookie("a=1; __Host-postline-session=tok; b=2", kSessionCookie), "tok");
  EXPECT_EQ(find_cookie("x__Host-postline-session=evil", kSessionCookie), std::nullopt);
  EXPECT_EQ(find_cookie("__Host-postline-session=\"q\"", kSessionCookie), "q");
  EXPECT_EQ(find_cookie("novalue; __Host-postline-session=t", kSessionCookie), "t");
  EXPECT_EQ(find_cookie(std::string(5000, 'a'), kSessionCookie), std::nullopt);
}

SessionCodec codec(SessionTimes t = {}) { return SessionCodec(std::string(32, 's'), t); }

TEST(PortalSession, RoundTripAndForgery) {
  auto c = codec();
  Session s = c.start(42, "anna@example.org", true, kNow);
  const std::string token = c.encode(s);
  auto back = c.decode(token, kNow + 5);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user_id, 42);
  EXPECT_EQ(back->email, "anna@example.org");
  EXPECT_TRUE(back->admin);
  // Another key, a changed field, a changed MAC: refused.
  EXPECT_FALSE(SessionCodec(std::string(32, 't'), {}).decode(token, kNow));
  std::string other = token;
  other.replace(other.find(to_hex("anna")), 8, to_hex("bert"));
  EXPECT_FALSE(c.decode(other, kNow));
  std::string mac = token;
  mac.back() = mac.back() == '0' ? '1' : '0';
  EXPECT_FALSE(c.decode(mac, kNow));
  EXPECT_FALSE(c.decode("", kNow));
  EXPECT_FALSE(c.decode(std::string(2000, 'a'), kNow));
  // Two sign-ins: two different tokens and CSRF tokens.
  Session s2 = c.start(42, "anna@example.org", true, kNow);
  EXPECT_NE(c.encode(s2), token);
  EXPECT_NE(c.csrf_token(s2), c.csrf_token(s));
  EXPECT_TRUE(c.csrf_ok(s, c.csrf_token(s)));
  EXPECT_FALSE(c.csrf_ok(s, c.csrf_token(s2)));
  EXPECT_FALSE(c.csrf_ok(s, ""));
}

TEST(PortalSession, IdleAbsoluteAndRevocation) {
  SessionTimes t;
  t.idle = std::chrono::seconds(100);
  t.absolute = std::chrono::seconds(1000);
  t.refresh = std::chrono::seconds(10);
  auto c = codec(t);
  Session s = c.start(1, "a@b.c", false, kNow);
  EXPECT_TRUE(c.decode(c.encode(s), kNow + 99));
  EXPECT_FALSE(c.decode(c.encode(s), kNow + 100));  // idle
  EXPECT_FALSE(c.needs_refresh(s, kNow + 9));
  EXPECT_TRUE(c.needs_refresh(s, kNow + 10));
  s.seen_unix = kNow + 950;  // refreshed all along
  EXPECT_TRUE(c.decode(c.encode(s), kNow + 999));
  EXPECT_FALSE(c.decode(c.encode(s), kNow + 1000));  // absolute
  EXPECT_FALSE(c.decode(c.encode(c.start(1, "a@b.c", false, kNow + 500)), kNow));  // from the future
  Session r = c.start(1, "a@b.c", false, kNow);
  EXPECT_TRUE(c.decode(c.encode(r), kNow));
  c.revoke(r);
  EXPECT_FALSE(c.decode(c.encode(r), kNow));
  EXPECT_NE(c.set_cookie(r).find("; Path=/; Secure; HttpOnly; SameSite=Strict"), std::string::npos);
  EXPECT_NE(SessionCodec::clear_cookie().find("Max-Age=0"), std::string::npos);
}

TEST(PortalListing, PageCursorIsOneQueueId) {
  std::string why;
  auto c = parse_page_cursor("/sent?after=0ABCDEF123456789XY", &why);
  ASSERT_TRUE(c) << why;
  EXPECT_EQ(c->after, "0ABCDEF123456789XY");
  EXPECT_EQ(c->before, "");
  c = parse_page_cursor("/sent", &why);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->after.empty() && c->before.empty());
  EXPECT_FALSE(parse_page_cursor("/sent?after=AAAAAA&before=BBBBBB", &why));
  EXPECT_EQ(why, "after and before exclude each other");
  EXPECT_FALSE(parse_page_cursor("/sent?before=x%27%20OR%201", &why));
  EXPECT_EQ(why, "before: not a queue id");
  EXPECT_FALSE(parse_page_cursor("/sent?after=short", &why));
  EXPECT_FALSE(parse_page_cursor("/sent?after=" + std::string(65, 'A'), &why));
  EXPECT_TRUE(valid_queue_id(std::string(64, 'A')));
  EXPECT_FALSE(valid_queue_id("ABCDEF/"));
}

TEST(PortalListing, QueueFilterIsCheckedAndComesBackAsAQuery) {
  std::string why;
  QueueFilter f;
  ASSERT_TRUE(parse_queue_filter("/admin/queue?sender=%3C%3E&message_id=%3Ca%40b%3E&older=2h&state=held&domain=x.test",
                                 f, &why)) << why;
  EXPECT_EQ(f.sender, "<>");
  EXPECT_EQ(f.message_id, "<a@b>");
  EXPECT_EQ(f.older_than_seconds, 7200);
  EXPECT_EQ(f.state, "held");
  EXPECT_EQ(queue_filter_query(f), "sender=%3C%3E&domain=x.test&message_id=%3Ca%40b%3E&older=2h&state=held");
  QueueFilter back;
  ASSERT_TRUE(parse_queue_filter("/admin/queue?" + queue_filter_query(f), back, &why));
  EXPECT_EQ(back.message_id, f.message_id);
  EXPECT_EQ(back.older_than_seconds, 7200);
  EXPECT_EQ(queue_filter_query(QueueFilter{}), "");
  for (const char* s : kQueueStates) EXPECT_TRUE(parse_queue_filter(std::string("/q?state=") + s, f, &why)) << s;

  EXPECT_FALSE(parse_queue_filter("/q?state=lost", f, &why));
  EXPECT_EQ(why, "state: one of queued, deferred, delivering, held, delivered, bounced, expired, any");
  EXPECT_FALSE(parse_queue_filter("/q?older=soon", f, &why));
  EXPECT_NE(why.find("older than: "), std::string::npos) << why;
  EXPECT_EQ(f.older, "soon") << "kept as typed, for the form";
  EXPECT_FALSE(parse_queue_filter("/q?older=0", f, &why));
  EXPECT_EQ(why, "older than: give a duration longer than 0, such as 30m, 2h or 3d");
  EXPECT_FALSE(parse_queue_filter("/q?recipient=a%0Db", f, &why));
  EXPECT_EQ(why, "recipient: at most 512 characters, no control characters");
  EXPECT_FALSE(parse_queue_filter("/q?message_id=" + std::string(513, 'm'), f, &why));
  EXPECT_TRUE(parse_queue_filter("/q?message_id=" + std::string(512, 'm'), f, &why));
}

SentMessage listed(const std::string& id) {
  SentMessage m;
  m.queue_id = id;
  return m;
}

TEST(PortalListing, PageOfCutsTheExtraOneAndLinksTheNeighbours) {
  auto ids = [](const std::vector<SentMessage>& v) {
    std::string out;
    for (const auto& m : v) out += m.queue_id + " ";
    return out;
  };
  std::vector<SentMessage> got{listed("AAAAA1"), listed("AAAAA2"), listed("AAAAA3")};
  auto links = page_of(got, {}, 2);  // the first page, more behind it
  EXPECT_EQ(ids(got), "AAAAA1 AAAAA2 ");
  EXPECT_FALSE(links.prev);
  EXPECT_TRUE(links.next);
  EXPECT_EQ(links.next_after, "AAAAA2");
  got = {listed("AAAAA3")};
  links = page_of(got, {"AAAAA2", ""}, 2);  // the last page
  EXPECT_TRUE(links.prev);
  EXPECT_EQ(links.prev_before, "AAAAA3");
  EXPECT_FALSE(links.next);
  got = {listed("AAAAA1"), listed("AAAAA2"), listed("AAAAA3")};
  links = page_of(got, {"", "AAAAA4"}, 2);  // before: the surplus is the far end
  EXPECT_EQ(ids(got), "AAAAA2 AAAAA3 ");
  EXPECT_TRUE(links.prev);
  EXPECT_EQ(links.prev_before, "AAAAA2");
  EXPECT_TRUE(links.next);
  EXPECT_EQ(links.next_after, "AAAAA3");
  got = {};
  links = page_of(got, {"AAAAA9", ""}, 2);  // nothing after: back to the first page
  EXPECT_TRUE(links.prev);
  EXPECT_EQ(links.prev_before, "");
  EXPECT_EQ(page_url("/sent", "", "before", ""), "/sent");
  EXPECT_EQ(page_url("/admin/queue", "state=any", "after", "AAAAA3"), "/admin/queue?state=any&after=AAAAA3");
  const std::string nav = pager_html({true, "AAAAA1", true, "AAAAA2"}, "/admin/queue", "sender=a%26b", "Earlier", "Later");
  EXPECT_NE(nav.find("<a rel=\"prev\" href=\"/admin/queue?sender=a%26b&amp;before=AAAAA1\">Earlier</a>"), std::string::npos)
      << nav;
  EXPECT_NE(nav.find("<a rel=\"next\" href=\"/admin/queue?sender=a%26b&amp;after=AAAAA2\">Later</a>"), std::string::npos);
  EXPECT_EQ(pager_html({}, "/sent", "", "a", "b"), "");
}

TEST(PortalMessageText, SplitsAtTheFirstEmptyLine) {
  auto t = message_text("Subject: hi\r\nTo: a@b\r\n\r\nline 1\r\n\r\nline 2\r\n");
  EXPECT_TRUE(t.has_body);
  EXPECT_FALSE(t.cut);
  EXPECT_EQ(t.header, "Subject: hi\nTo: a@b");
  EXPECT_EQ(t.body, "line 1\n\nline 2\n");
  t = message_text("A: 1\n\nbody");
  EXPECT_EQ(t.header, "A: 1");
  EXPECT_EQ(t.body, "body");
  t = message_text("A: 1\r\n\nbody");
  EXPECT_EQ(t.header, "A: 1");
  EXPECT_EQ(t.body, "body");
  t = message_text("\r\nonly a body");
  EXPECT_EQ(t.header, "");
  EXPECT_EQ(t.body, "only a body");
  t = message_text("A: 1\r\nB: 2\r\n");
  EXPECT_FALSE(t.has_body);
  EXPECT_EQ(t.header, "A: 1\nB: 2\n");
}

TEST(PortalMessageText, ControlCharactersShowAndBytesBecomeText) {
  // NUL, ESC, a lone CR and DEL as control pictures; TAB stays.
  EXPECT_EQ(display_text(std::string("a\0b\x1b[31m\rc\x7f\td", 13)),
            "a\xe2\x90\x80" "b\xe2\x90\x9b[31m\xe2\x90\x8d" "c\xe2\x90\xa1\td");
  EXPECT_EQ(display_text("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 as it is
  EXPECT_EQ(display_text("caf\xe9"), "caf\xc3\xa9");      // a stray byte as Windows-1252
  // Cut at the limit, never inside a character.
  const std::string raw = "A: 1\r\n\r\n" + std::string(10, 'x') + "\xc3\xa9\xc3\xa9";
  auto t = message_text(raw, raw.size() - 1);
  EXPECT_TRUE(t.cut);
  EXPECT_EQ(t.body, std::string(10, 'x') + "\xc3\xa9");
  t = message_text(raw, raw.size());
  EXPECT_FALSE(t.cut);
  EXPECT_EQ(message_text(std::string(kMessageViewLimit + 10, 'h')).header.size(), kMessageViewLimit);
}

TEST(PortalQuotaInput, MessageLimitIsDigitsOnlyAndBounded) {
  std::string why;
  EXPECT_EQ(parse_message_limit("", &why), 0) << "empty = unlimited";
  EXPECT_EQ(parse_message_limit("0", &why), 0);
  EXPECT_EQ(parse_message_limit("2", &why), 2);
  EXPECT_EQ(parse_message_limit("007", &why), 7);
  EXPECT_EQ(parse_message_limit("999999999999999", &why), kMaxMessageLimit);
  EXPECT_TRUE(why.empty());
  EXPECT_FALSE(parse_message_limit("1000000000000000", &why)) << "16 digits";
  EXPECT_EQ(why, "messages: at most 15 digits (empty or 0 = unlimited)");
  EXPECT_FALSE(parse_message_limit("99999999999999999999999", &why)) << "would not even fit 64 bits";
  for (const char* bad : {"-1", "+2", " 2", "2 ", "1e3", "10,000", "10.000", "10_000", "0x10", "unlimited", "2k",
                          "\xef\xbc\x92" /* fullwidth 2 */, "\xd9\xa2" /* Arabic-Indic 2 */, "2\n"}) {
    why.clear();
    EXPECT_FALSE(parse_message_limit(bad, &why)) << bad;
    EXPECT_EQ(why.rfind("messages: give a whole number of messages such as 10000, digits only", 0), 0u) << bad;
  }
  EXPECT_FALSE(parse_message_limit(std::string_view("2\0", 2), &why)) << "a NUL is not a digit";
  EXPECT_EQ(parse_message_limit("5", nullptr), 5);
  EXPECT_FALSE(parse_message_limit("x", nullptr)) << "no reason asked for: still refused";
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{10000}, kMaxMessageLimit})
    EXPECT_EQ(parse_message_limit(message_limit_text(n), &why), n);
  EXPECT_EQ(message_limit_text(0), "") << "unlimited shows as an empty field";
}

TEST(PortalQuotaInput, SizeIsTheConfigurationSyntaxAndComesBackExactly) {
  std::string why;
  EXPECT_EQ(parse_quota_size("", &why), 0);
  EXPECT_EQ(parse_quota_size("0", &why), 0);
  EXPECT_EQ(parse_quota_size("2GiB", &why), 2LL << 30);
  EXPECT_EQ(parse_quota_size("500MiB", &why), 500LL << 20);
  EXPECT_EQ(parse_quota_size("1048577", &why), 1048577);
  for (const char* bad : {"lots", "1TB", "-1", "2 GiB", "GiB", "9999999999999999"}) {
    why.clear();
    EXPECT_FALSE(parse_quota_size(bad, &why)) << bad;
    EXPECT_EQ(why.rfind("quota: give a size", 0), 0u) << bad;
  }
  EXPECT_FALSE(parse_quota_size("999999999999999GiB", &why)) << "over INT64_MAX";
  EXPECT_EQ(quota_size_text(0), "");
  EXPECT_EQ(quota_size_text(2LL << 30), "2GiB");
  EXPECT_EQ(quota_size_text(1536LL << 20), "1536MiB");
  EXPECT_EQ(quota_size_text(12 * 1024), "12KiB");
  EXPECT_EQ(quota_size_text(1000), "1000");
  for (int64_t n : std::vector<int64_t>{1, 1023, 1024, 1025, int64_t{5} << 30, (int64_t{5} << 30) + 1024,
                                        999'999'999'999'999, int64_t{999'999'999'999} << 20,
                                        int64_t{8'589'934'591} << 30})
    EXPECT_EQ(parse_quota_size(quota_size_text(n), &why), n) << n;
}

// A scripted backend: one account per password, messages per submitter.
struct FakeBackend : Backend {
  std::map<std::string, std::string> passwords{{"anna@example.org", "right"}, {"bert@example.org", "bert-pw"}};
  std::vector<SentMessage> messages;
  std::vector<std::string> calls;
  bool queue_down = false;
  std::set<std::string> admins{"anna@example.org"};
  LoginResult authenticate(const std::string& u, const std::string& p, const std::string& ip) override {
    calls.push_back("auth " + u + " " + ip);
    LoginResult r;
    if (p == "throttle") return {LoginOutcome::kThrottled};
    auto it = passwords.find(u);
    if (it == passwords.end() || it->second != p) return {LoginOutcome::kInvalid};
    r.outcome = LoginOutcome::kOk;
    r.user_id = u[0] == 'a' ? 1 : 2;
    r.email = u;
    r.admin = admins.count(u) > 0;
    return r;
  }
  // Like queued: a listing in order, a page after/before a queue id, at most `limit`.
  static std::vector<SentMessage> page_of_list(const std::vector<SentMessage>& all, int limit, const PageCursor& p) {
    size_t from = 0, to = all.size();
    auto at = [&](const std::string& id) {
      for (size_t i = 0; i < all.size(); ++i)
        if (all[i].queue_id == id) return i;
      throw PageGone("no message " + id);
    };
    if (!p.after.empty()) from = at(p.after) + 1;
    if (!p.before.empty()) to = at(p.before);
    if (!p.before.empty()) from = to > static_cast<size_t>(limit) ? to - limit : 0;
    else to = std::min(to, from + limit);
    return {all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(to)};
  }
  std::vector<PageCursor> pages_asked;
  std::vector<SentMessage> sent_messages(const std::string& email, int limit, const PageCursor& p) override {
    if (queue_down) throw Unavailable("down");
    pages_asked.push_back(p);
    std::vector<SentMessage> mine;
    for (const auto& m : messages)
      if (m.submitter == email) mine.push_back(m);
    return page_of_list(mine, limit, p);
  }
  std::optional<SentMessage> message(const std::string& id) override {
    for (const auto& m : messages)
      if (m.queue_id == id) return m;
    return std::nullopt;
  }
  std::vector<AppPasswordInfo> app_passwords(const std::string&) override { return {{"ph<o>ne", "2026-01-01", ""}}; }
  std::string add_app_password(const std::string& e, const std::string& l) override {
    calls.push_back("add " + e + " " + l);
    return "secret-value";
  }
  void remove_app_password(const std::string& e, const std::string& l) override { calls.push_back("rm " + e + " " + l); }
  void set_password(const std::string& e, const std::string& p) override {
    if (p.size() < 8) throw Refused("password is shorter than 8 characters");
    passwords[e] = p;
  }
  QuotaInfo quota_info{1024 * 1024, 0, 512 * 1024, 3};
  QuotaInfo quota(int64_t, const std::string&) override { return quota_info; }
  // Sieve scripts per user id: name -> text, and the active name.
  std::map<int64_t, std::map<std::string, std::string>> scripts;
  std::map<int64_t, std::string> active;
  bool scripts_down = false;
  FilterScripts filter_scripts(int64_t u, const std::string& name) override {
    if (scripts_down) throw Unavailable("down");
    FilterScripts out;
    if (auto it = active.find(u); it != active.end()) out.active = std::make_pair(it->second, scripts[u][it->second]);
    if (auto it = scripts[u].find(name); it != scripts[u].end()) out.named = it->second;
    return out;
  }
  void save_active_sieve_script(int64_t u, const std::string& name, const std::string& text) override {
    if (scripts_down) throw Unavailable("down");
    scripts[u][name] = text;
    active[u] = name;
  }
  std::vector<UserInfo> user_list;
  bool is_admin(const std::string& e) override { return admins.count(e) > 0; }
  std::vector<DomainInfo> domain_list{{"example.org", 2, 0, ""}, {"other.example", 1, 1, "all@other.example"}};
  std::vector<DomainInfo> domains() override { return domain_list; }
  void add_domain(const std::string& n) override { calls.push_back("domain " + n); }
  std::optional<DomainRemoval> domain_removal(const std::string& n) override {
    if (n == "example.org") return DomainRemoval{"example.org", {"anna@example.org", "bert@example.org"}, {}, "", {}};
    if (n == "other.example")
      return DomainRemoval{"other.example", other_users, {"info@other.example"}, "all@other.example",
                           {"x@example.org -> z@other.example"}};
    return std::nullopt;
  }
  std::vector<std::string> other_users{"<zed>@other.example"};
  void remove_domain(const std::string& n, bool force) override {
    calls.push_back("rmdomain " + n + (force ? " force" : ""));
  }
  void set_catch_all(const std::string& d, const std::string& t) override {
    if (!t.empty() && t.find('@') == std::string::npos) throw Refused("target: not an address");
    calls.push_back("catchall " + d + " " + t);
  }
  std::optional<UserRemoval> user_removal(const std::string& e) override {
    if (e == "anna@example.org" || e == "ANNA@example.org") return UserRemoval{"anna@example.org", 1, {}, {}};
    if (e == "new@example.org") return UserRemoval{"new@example.org", 7, {"ph<o>ne"}, {"info@example.org"}};
    return std::nullopt;
  }
  void remove_user(const std::string& e) override { calls.push_back("rmuser " + e); }
  std::vector<UserInfo> users() override { return user_list; }
  void add_user(const NewUser& u) override {
    if (u.password.size() < 8) throw Refused("password is shorter than 8 characters");
    calls.push_back("user " + u.email + " " + std::to_string(u.quota_bytes) + (u.admin ? " admin" : "") +
                    (u.quota_messages ? " messages=" + std::to_string(u.quota_messages) : ""));
    user_list.push_back({u.email, false, u.admin, u.quota_bytes, "", u.quota_messages});
  }
  // "quota EMAIL BYTES MESSAGES", "-" for what does not change.
  void set_quota(const std::string& e, const QuotaChange& q) override {
    auto part = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
    calls.push_back("quota " + e + " " + part(q.bytes) + " " + part(q.messages));
  }
  void set_disabled(const std::string& e, bool d) override { calls.push_back(std::string(d ? "disable " : "enable ") + e); }
  void remove_alias(const std::string& a, const std::string& t) override { calls.push_back("unalias " + a + " " + t); }
  std::vector<AliasInfo> aliases() override { return {{"info@example.org", {"anna@example.org"}}}; }
  void add_alias(const std::string& a, const std::string& t) override { calls.push_back("alias " + a + " " + t); }
  std::vector<ServiceHealth> health() override {
    return {{"authd", "a:1", true, "gRPC health", ""},
            {"queued", "q:2", false, "<down>", ""},
            {"smtpd", "http://s:3/readyz", true, "HTTP 200", "ready"},
            {"imapd", "http://i:4/readyz", false, "HTTP 503: db", "not ready"},
            {"imapd-2", "http://i:5/readyz", false, "Connection refused", "unreachable"}};
  }
  DomainDns dns(const std::string& d, bool check) override {
    calls.push_back(std::string(check ? "dns check " : "dns ") + d);
    if (d != "example.org") throw Refused("'" + d + "' is not a hosted <domain>");
    DomainDns out{"example.org", "mail.example.org", "example.org. MX 10 mail.example.org.\n<zone>", "", "", {}};
    DnsRecordView mx{"mx", "example.org", "MX", "10 mail.example.org.", "", true, "", false, {}, ""};
    DnsRecordView spf{"spf", "example.org", "TXT", "v=spf1 mx -all", "", true, "", false, {}, ""};
    if (check) {
      out.resolver = "127.0.0.1:53";
      mx.verdict = "ok";
      spf.verdict = "wrong";
      spf.fails = true;
      spf.found = {"v=spf1 <all>"};
    }
    out.records = {mx, spf};
    return out;
  }
  QueueFilter last_filter;
  std::vector<SentMessage> queue(int limit, const QueueFilter& f, const PageCursor& p) override {
    last_filter = f;
    if (f.state == "bounced") throw Refused("queued says no");
    return page_of_list(messages, limit, p);
  }
  std::string stored_body = "Subject: <b>hi</b>\r\nX-Ctl: a\x01" "b\r\n\r\n<script>alert(1)</script>\r\n";
  std::string last_viewer;
  std::optional<QueuedContent> read_message(const std::string& id, size_t max, const std::string& viewer) override {
    last_viewer = viewer;
    for (const auto& m : messages)
      if (m.queue_id == id) {
        QueuedContent c{m, true, stored_body.substr(0, max), stored_body.size() > max};
        return c;
      }
    return std::nullopt;
  }
  int64_t queue_action(QueueAction a, const std::string& id) override {
    calls.push_back("queue " + std::to_string(static_cast<int>(a)) + " " + id);
    return id == "AAA1" ? 1 : 0;
  }
};

struct PortalFixture : ::testing::Test {
  FakeBackend backend;
  SessionCodec sessions = codec();
  ClientSettings settings{{{"imap.example.org", 993, Security::kImplicitTls}},
                          {{"smtp.example.org", 465, Security::kImplicitTls}}};
  Portal portal{backend, sessions, settings};
  std::string host = "mail.example.org";
  std::string origin = "https://mail.example.org";

  Response get(const std::string& target, const std::string& cookie = "") {
    Request r;
    r.method = "GET";
    r.target = target;
    r.host = host;
    r.cookie = cookie;
    r.client_ip = "192.0.2.7";
    r.now_unix = kNow;
    return portal.handle(r);
  }
  Response post(const std::string& target, const std::string& body, const std::string& cookie = "",
                std::string_view from = "self") {
    Request r;
    r.method = "POST";
    r.target = target;
    r.host = host;
    r.cookie = cookie;
    r.origin = from == "self" ? std::string_view(origin) : from;
    r.content_type = "application/x-www-form-urlencoded";
    r.body = body;
    r.client_ip = "192.0.2.7";
    r.now_unix = kNow;
    return portal.handle(r);
  }
  static std::string header(const Answer& a, const std::string& name) {
    for (const auto& [k, v] : a.headers)
      if (k == name) return v;
    return "";
  }
  std::string sign_in(const std::string& user = "anna@example.org", const std::string& pw = "right") {
    auto r = post("/login", "username=" + user + "&password=" + pw);
    EXPECT_EQ(r.answer.status, 303u);
    const std::string set = header(r.answer, "Set-Cookie");
    return set.substr(0, set.find(';'));
  }
  std::string csrf(const std::string& cookie) {
    auto token = find_cookie(cookie, kSessionCookie);
    return sessions.csrf_token(*sessions.decode(*token, kNow));
  }
};

TEST_F(PortalFixture, SignInPassesTheClientAddressAndSetsASecureCookie) {
  auto r = post("/login", "username=anna%40example.org&password=right");
  EXPECT_EQ(r.answer.status, 303u);
  EXPECT_EQ(header(r.answer, "Location"), "/sent");
  EXPECT_EQ(r.login, LoginOutcome::kOk);
  EXPECT_EQ(backend.calls.at(0), "auth anna@example.org 192.0.2.7");
  const std::string cookie = header(r.answer, "Set-Cookie");
  EXPECT_EQ(cookie.rfind("__Host-postline-session=v1.1.", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("Secure; HttpOnly; SameSite=Strict"), std::string::npos);
}

TEST_F(PortalFixture, WrongPasswordAndThrottle) {
  auto r = post("/login", "username=anna%40example.org&password=wrong");
  EXPECT_EQ(r.answer.status, 401u);
  EXPECT_EQ(r.login, LoginOutcome::kInvalid);
  EXPECT_NE(r.answer.body.find("Wrong address or password"), std::string::npos);
  EXPECT_EQ(header(r.answer, "Set-Cookie"), "");
  r = post("/login", "username=anna%40example.org&password=throttle");
  EXPECT_EQ(r.answer.status, 429u);
  EXPECT_EQ(header(r.answer, "Retry-After"), "60");
}

TEST_F(PortalFixture, PostsNeedOriginAndCsrf) {
  auto cross = post("/login", "username=a&password=b", "", "https://evil.example");
  EXPECT_EQ(cross.answer.status, 403u);
  EXPECT_EQ(cross.route, "login");
  EXPECT_EQ(post("/app-passwords", "label=x", "", "https://evil.example").route, "app_passwords");
  EXPECT_EQ(post("/login", "username=a&password=b", "", "").answer.status, 403u);  // no Origin, no Referer
  EXPECT_TRUE(backend.calls.empty()) << "authd was not even asked";
  const std::string cookie = sign_in();
  EXPECT_EQ(post("/app-passwords", "label=x", cookie).answer.status, 403u);
  EXPECT_EQ(post("/app-passwords", "label=x&csrf=00", cookie).answer.status, 403u);
  EXPECT_EQ(post("/app-passwords", "label=x&csrf=" + csrf(cookie), cookie, "https://evil.example").answer.status, 403u);
  auto ok = post("/app-passwords", "label=x&csrf=" + csrf(cookie), cookie);
  EXPECT_EQ(ok.answer.status, 200u);
  EXPECT_NE(ok.answer.body.find("secret-value"), std::string::npos);
  EXPECT_EQ(backend.calls.back(), "add anna@example.org x");
  EXPECT_EQ(get("/logout", cookie).answer.status, 405u);
  // A non-form body is not read as one.
  Request r;
  r.method = "POST";
  r.target = "/logout";
  r.host = host;
  r.origin = origin;
  r.cookie = cookie;
  r.content_type = "application/json";
  r.now_unix = kNow;
  EXPECT_EQ(portal.handle(r).answer.status, 415u);
}

TEST_F(PortalFixture, RefererStandsInForAMissingOrigin) {
  Request r;
  r.method = "POST";
  r.target = "/login";
  r.host = host;
  r.referer = "https://mail.example.org/login";
  r.content_type = "application/x-www-form-urlencoded";
  r.body = "username=anna%40example.org&password=right";
  r.now_unix = kNow;
  EXPECT_EQ(portal.handle(r).answer.status, 303u);
  r.referer = "https://mail.example.org.evil.example/login";
  EXPECT_EQ(portal.handle(r).answer.status, 403u);
}

TEST_F(PortalFixture, PrivatePagesNeedASessionAndAreNotCached) {
  EXPECT_EQ(get("/sent").answer.status, 303u);
  EXPECT_EQ(header(get("/sent").answer, "Location"), "/login");
  EXPECT_EQ(get("/sent.json").answer.status, 401u);
  EXPECT_EQ(get("/sent.json", "__Host-postline-session=v1.forged").answer.status, 401u);
  auto r = get("/sent", sign_in());
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(header(r.answer, "Cache-Control"), "no-store");
  const std::string csp = header(r.answer, "Content-Security-Policy");
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(r.answer.body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_NE(r.answer.body.find("<script src=\"/assets/sent.js\" defer></script>"), std::string::npos);
}

SentMessage message(const std::string& id, const std::string& submitter) {
  SentMessage m;
  m.queue_id = id;
  m.submitter = submitter;
  m.mail_from = submitter;
  m.created_unix = kNow - 60;
  m.message_id = "<script>alert(1)</script>@x";
  m.subject = "Hi <img src=x onerror=alert(2)> & \"bye\"";
  SentRecipient r;
  r.address = "rita@remote.example";
  r.state = RecipientState::kDeferred;
  r.next_attempt_unix = kNow + 300;
  r.attempts.push_back({kNow - 30, "mx.remote.example", "451 4.7.1 <b>greylisted</b>", RecipientState::kDeferred, true});
  m.recipients.push_back(r);
  return m;
}

TEST_F(PortalFixture, SentMailShowsOnlyOwnMessagesEscaped) {
  backend.messages = {message("AAA1", "anna@example.org"), message("BBB2", "bert@example.org")};
  const std::string anna = sign_in();
  auto page = get("/sent", anna).answer.body;
  EXPECT_NE(page.find("AAA1"), std::string::npos);
  EXPECT_EQ(page.find("BBB2"), std::string::npos);
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;@x"), std::string::npos);
  EXPECT_NE(page.find("&lt;b&gt;greylisted&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(page.find("<span class=\"subject\">Hi &lt;img src=x onerror=alert(2)&gt; &amp; &quot;bye&quot;</span>"),
            std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_NE(page.find("deferred until <time>2027-01-15 08:05:00 UTC</time>"), std::string::npos) << page;
  EXPECT_NE(page.find("data-recipient=\"rita@remote.example\" data-state=\"deferred\""), std::string::npos);
  auto json = get("/sent.json", anna).answer;
  EXPECT_EQ(json.content_type, "application/json");
  EXPECT_NE(json.body.find("\"queue_id\":\"AAA1\""), std::string::npos);
  EXPECT_EQ(json.body.find("BBB2"), std::string::npos);
  EXPECT_EQ(json.body.find('<'), std::string::npos) << "escaped as \\u003c";
  EXPECT_NE(json.body.find("\"reply\":\"451 4.7.1 \\u003cb\\u003egreylisted"), std::string::npos);
  // Another user's id is the same 404 as an unknown one.
  EXPECT_EQ(get("/sent/AAA1", anna).answer.status, 200u);
  EXPECT_EQ(get("/sent/BBB2", anna).answer.status, 404u);
  EXPECT_EQ(get("/sent/NOPE", anna).answer.status, 404u);
  backend.queue_down = true;
  EXPECT_EQ(get("/sent.json", anna).answer.status, 503u);
  EXPECT_EQ(get("/sent", anna).answer.status, 503u);
}

TEST_F(PortalFixture, PasswordChangeChecksTheCurrentOneAndShowsThePolicy) {
  const std::string cookie = sign_in();
  const std::string token = csrf(cookie);
  auto r = post("/password", "csrf=" + token + "&current=right&new=short&confirm=short", cookie);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("password is shorter than 8 characters"), std::string::npos);
  r = post("/password", "csrf=" + token + "&current=bad&new=longenough&confirm=longenough", cookie);
  EXPECT_EQ(r.answer.status, 403u);
  EXPECT_EQ(r.login, LoginOutcome::kInvalid);
  r = post("/password", "csrf=" + token + "&current=right&new=longenough&confirm=other", cookie);
  EXPECT_EQ(r.answer.status, 400u);
  r = post("/password", "csrf=" + token + "&current=right&new=longenough&confirm=longenough", cookie);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(backend.passwords["anna@example.org"], "longenough");
}

TEST_F(PortalFixture, AppPasswordsQuotaSetupAndLogout) {
  const std::string cookie = sign_in();
  auto list = get("/app-passwords", cookie).answer.body;
  EXPECT_NE(list.find("ph&lt;o&gt;ne"), std::string::npos);
  auto rm = post("/app-passwords/revoke", "label=phone&csrf=" + csrf(cookie), cookie);
  EXPECT_EQ(rm.answer.status, 303u);
  EXPECT_EQ(backend.calls.back(), "rm anna@example.org phone");
  auto quota = get("/quota", cookie).answer.body;
  EXPECT_NE(quota.find("512.0 KiB"), std::string::npos);
  EXPECT_NE(quota.find("value=\"50\""), std::string::npos);
  EXPECT_NE(quota.find("unlimited"), std::string::npos);
  auto setup = get("/setup", cookie).answer.body;
  EXPECT_NE(setup.find("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40example.org"),
            std::string::npos);
  EXPECT_NE(setup.find("/apple/mobileconfig?email=anna%40example.org"), std::string::npos);
  EXPECT_NE(setup.find("<code>imap.example.org</code> port <code>993</code>, SSL/TLS"), std::string::npos);
  auto out = post("/logout", "csrf=" + csrf(cookie), cookie);
  EXPECT_EQ(out.answer.status, 303u);
  EXPECT_NE(header(out.answer, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(get("/sent.json", cookie).answer.status, 401u) << "revoked on this process";
}

TEST_F(PortalFixture, AssetsAndRoutes) {
  auto css = get("/assets/portal.css").answer;
  EXPECT_EQ(css.status, 200u);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_NE(css.body.find("@media"), std::string::npos);
  auto js = get("/assets/sent.js").answer;
  EXPECT_NE(js.body.find("textContent"), std::string::npos);
  EXPECT_EQ(js.body.find("innerHTML ="), std::string::npos);
  EXPECT_EQ(get("/assets/nope.js").answer.status, 404u);
  EXPECT_TRUE(Portal::handles("/sent/ABC"));
  EXPECT_TRUE(Portal::handles("/"));
  EXPECT_FALSE(Portal::handles("/mail/config-v1.1.xml"));
  EXPECT_FALSE(Portal::handles("/autodiscover/autodiscover.xml"));
  EXPECT_EQ(get("/").answer.status, 303u);
  EXPECT_EQ(get("/").route, "home");
  EXPECT_EQ(get("/assets/portal.css").route, "assets");
  EXPECT_EQ(get("/admin/users").route, "admin");
  EXPECT_EQ(get("/sent/X").route, "message");
  EXPECT_EQ(get("/nope").route, "other");
}

TEST_F(PortalFixture, AdministrationIsForAdminsAskedOfAuthdEachTime) {
  const std::string bert = sign_in("bert@example.org", "bert-pw");
  EXPECT_EQ(get("/admin/users", bert).answer.status, 404u);
  EXPECT_EQ(get("/sent", bert).answer.body.find("/admin"), std::string::npos) << "no link for non-admins";
  EXPECT_EQ(post("/admin/users", "email=x%40example.org&password=longenough&csrf=" + csrf(bert), bert).answer.status,
            404u);
  EXPECT_TRUE(backend.user_list.empty());

  backend.admins.insert("bert@example.org");  // made admin after sign-in: counts now (the token says no)
  EXPECT_EQ(get("/admin/users", bert).answer.status, 200u);
  backend.admins.clear();  // and taken away: counts now too
  EXPECT_EQ(get("/admin/users", bert).answer.status, 404u);
  backend.admins.insert("anna@example.org");

  const std::string anna = sign_in();
  EXPECT_NE(get("/sent", anna).answer.body.find("href=\"/admin\""), std::string::npos);
  EXPECT_EQ(header(get("/admin", anna).answer, "Location"), "/admin/users");
  // CSRF applies here as everywhere.
  EXPECT_EQ(post("/admin/users", "email=x%40example.org&password=longenough", anna).answer.status, 403u);
  auto r = post("/admin/users", "email=new%40example.org&password=longenough&quota=2GiB&admin=on&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "user new@example.org 2147483648 admin");
  EXPECT_NE(r.answer.body.find("data-user=\"new@example.org\""), std::string::npos);
  r = post("/admin/users", "email=x%40example.org&password=short&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("password is shorter than 8 characters"), std::string::npos);
  r = post("/admin/users", "email=x%40example.org&password=longenough&quota=lots&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("quota: give a size"), std::string::npos);
  EXPECT_NE(r.answer.body.find("action=\"/admin/users/quota\""), std::string::npos);
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&quota=500MiB&csrf=" + csrf(anna), anna).answer.status,
            200u);
  EXPECT_EQ(backend.calls.back(), "quota new@example.org 524288000 -") << "no messages field: not changed";
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&quota=1TB&csrf=" + csrf(anna), anna).answer.status, 400u);
  EXPECT_EQ(get("/admin/users/quota", anna).answer.status, 405u);
  EXPECT_EQ(post("/admin/users/state", "email=new%40example.org&state=disabled&csrf=" + csrf(anna), anna).answer.status,
            200u);
  EXPECT_EQ(backend.calls.back(), "disable new@example.org");
  auto self = post("/admin/users/state", "email=anna%40example.org&state=disabled&csrf=" + csrf(anna), anna);
  EXPECT_EQ(self.answer.status, 400u) << "not the account in use";
  EXPECT_EQ(backend.calls.back(), "disable new@example.org");
  EXPECT_EQ(post("/admin/aliases/remove", "address=info%40example.org&target=anna%40example.org&csrf=" + csrf(anna), anna)
                .answer.status,
            200u);
  EXPECT_EQ(backend.calls.back(), "unalias info@example.org anna@example.org");
  EXPECT_EQ(post("/admin/domains", "name=new.example&csrf=" + csrf(anna), anna).answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "domain new.example");
  EXPECT_EQ(post("/admin/aliases", "address=a%40example.org&target=b%40example.org&csrf=" + csrf(anna), anna).answer.status,
            200u);
  EXPECT_EQ(backend.calls.back(), "alias a@example.org b@example.org");
  backend.messages = {message("AAA1", "bert@example.org")};
  auto q = get("/admin/queue", anna).answer.body;
  EXPECT_NE(q.find("AAA1"), std::string::npos);
  EXPECT_NE(q.find("value=\"hold\""), std::string::npos);
  q = get("/admin/queue?sender=%3C%3E&domain=broken.example&recipient=a%22b", anna).answer.body;
  EXPECT_EQ(backend.last_filter.sender, "<>");
  EXPECT_EQ(backend.last_filter.domain, "broken.example");
  EXPECT_NE(q.find("value=\"a&quot;b\""), std::string::npos) << "the filter comes back escaped";
  EXPECT_EQ(post("/admin/queue", "queue_id=AAA1&action=hold&csrf=" + csrf(anna), anna).answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "queue 1 AAA1");
  EXPECT_EQ(post("/admin/queue", "queue_id=GONE&action=delete&csrf=" + csrf(anna), anna).answer.status, 400u);
  EXPECT_EQ(post("/admin/queue", "queue_id=AAA1&action=explode&csrf=" + csrf(anna), anna).answer.status, 400u);
  auto health = get("/admin/health", anna).answer.body;
  EXPECT_NE(health.find("data-service=\"authd\" data-ok=\"true\""), std::string::npos);
  EXPECT_NE(health.find("data-service=\"queued\" data-ok=\"false\""), std::string::npos);
  EXPECT_NE(health.find("&lt;down&gt;"), std::string::npos);
  EXPECT_NE(health.find("data-service=\"smtpd\" data-ok=\"true\" data-state=\"ready\""), std::string::npos);
  EXPECT_NE(health.find("data-service=\"imapd\" data-ok=\"false\" data-state=\"not ready\""), std::string::npos);
  EXPECT_NE(health.find("data-service=\"imapd-2\" data-ok=\"false\" data-state=\"unreachable\""), std::string::npos);
  EXPECT_NE(health.find("data-service=\"queued\" data-ok=\"false\" data-state=\"down\""), std::string::npos);
  EXPECT_EQ(get("/admin/health", bert).answer.status, 404u);
}

TEST_F(PortalFixture, AdministratorSetsTheMessageLimitWithTheStorageQuota) {
  backend.user_list = {{"new@example.org", false, false, 2LL << 30, "", 2},
                       {"o'n&<co>@example.org", false, false, 0, "", 0}};
  const std::string anna = sign_in();
  auto page = get("/admin/users", anna).answer.body;
  // The table: the message limit next to the storage quota, and the form filled with both.
  EXPECT_NE(page.find("<th scope=\"col\">Storage quota</th><th scope=\"col\">Message limit</th>"), std::string::npos);
  EXPECT_NE(page.find("<td data-label=\"Storage quota\">2 GiB</td><td data-label=\"Message limit\">2</td>"),
            std::string::npos) << page;
  EXPECT_NE(page.find("name=\"quota\" aria-label=\"Storage quota of new@example.org\" placeholder=\"2GiB\" "
                      "size=\"7\" value=\"2GiB\">"), std::string::npos);
  EXPECT_NE(page.find("name=\"messages\" inputmode=\"numeric\" aria-label=\"Message limit of new@example.org\" "
                      "placeholder=\"messages\" size=\"7\" value=\"2\">"), std::string::npos);
  EXPECT_NE(page.find("<td data-label=\"Message limit\">unlimited</td>"), std::string::npos);
  EXPECT_EQ(page.find("<co>"), std::string::npos) << "addresses escaped in the new attributes too";
  EXPECT_NE(page.find("aria-label=\"Message limit of o&apos;n&amp;&lt;co&gt;@example.org\""), std::string::npos);
  EXPECT_NE(page.find("<input id=\"messages\" name=\"messages\" inputmode=\"numeric\">"), std::string::npos)
      << "the add-user form takes one too";

  // Both fields.
  auto r = post("/admin/users/quota", "email=new%40example.org&quota=2GiB&messages=2&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "quota new@example.org 2147483648 2");
  EXPECT_NE(r.answer.body.find("Quota of new@example.org set: storage 2 GiB, messages 2."), std::string::npos);
  // Empty = unlimited (0), for both.
  r = post("/admin/users/quota", "email=new%40example.org&quota=&messages=&csrf=" + csrf(anna), anna);
  EXPECT_EQ(backend.calls.back(), "quota new@example.org 0 0");
  EXPECT_NE(r.answer.body.find("set: storage unlimited, messages unlimited."), std::string::npos);
  r = post("/admin/users/quota", "email=new%40example.org&quota=1536MiB&messages=0&csrf=" + csrf(anna), anna);
  EXPECT_NE(r.answer.body.find("set: storage 1536 MiB, messages unlimited."), std::string::npos);
  // Only the messages field: the storage quota is not touched.
  r = post("/admin/users/quota", "email=new%40example.org&messages=10000&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "quota new@example.org - 10000");
  EXPECT_NE(r.answer.body.find("Quota of new@example.org set: messages 10000."), std::string::npos);

  // Refused, naming the field, and authd is not asked.
  const size_t calls = backend.calls.size();
  for (const char* bad : {"-1", "%2B2", "2%20", "1e3", "10%2C000", "two", "%EF%BC%92", "1000000000000000"}) {
    r = post("/admin/users/quota", "email=new%40example.org&quota=2GiB&messages=" + std::string(bad) + "&csrf=" +
                                       csrf(anna), anna);
    EXPECT_EQ(r.answer.status, 400u) << bad;
    EXPECT_NE(r.answer.body.find("<p class=\"error\" role=\"alert\">messages: "), std::string::npos) << bad;
  }
  r = post("/admin/users/quota", "email=new%40example.org&quota=lots&messages=2&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("quota: give a size"), std::string::npos);
  r = post("/admin/users/quota", "email=new%40example.org&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 400u) << "neither field";
  EXPECT_NE(r.answer.body.find("Give quota (a size such as 2GiB), messages (a number such as 10000), or both."),
            std::string::npos);
  // CSRF and Origin as for every form.
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&messages=2", anna).answer.status, 403u);
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&messages=2&csrf=00", anna).answer.status, 403u);
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&messages=2&csrf=" + csrf(anna), anna,
                 "https://evil.example").answer.status, 403u);
  EXPECT_EQ(backend.calls.size(), calls);
  // Not for non-administrators.
  const std::string bert = sign_in("bert@example.org", "bert-pw");
  EXPECT_EQ(post("/admin/users/quota", "email=new%40example.org&messages=2&csrf=" + csrf(bert), bert).answer.status,
            404u);
  EXPECT_EQ(backend.calls.size(), calls + 1) << "only bert's sign-in";

  // Adding a user with a message limit; without one it is unlimited.
  r = post("/admin/users", "email=m%40example.org&password=longenough&quota=1GiB&messages=500&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "user m@example.org 1073741824 messages=500");
  EXPECT_NE(r.answer.body.find("<td data-label=\"Storage quota\">1 GiB</td><td data-label=\"Message limit\">500</td>"),
            std::string::npos);
  r = post("/admin/users", "email=n%40example.org&password=longenough&messages=&csrf=" + csrf(anna), anna);
  EXPECT_EQ(backend.calls.back(), "user n@example.org 0");
  r = post("/admin/users", "email=o%40example.org&password=longenough&messages=5%20&csrf=" + csrf(anna), anna);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("messages: give a whole number of messages such as 10000, digits only"),
            std::string::npos);
  EXPECT_EQ(backend.calls.back(), "user n@example.org 0") << "not added";
}

TEST_F(PortalFixture, QuotaPageShowsMessagesAgainstTheLimit) {
  backend.quota_info = {0, 2, 4096, 2};
  const std::string cookie = sign_in();
  auto body = get("/quota", cookie).answer.body;
  EXPECT_NE(body.find("<tr><th scope=\"row\">Messages</th><td data-label=\"Used\">2</td><td data-label=\"Limit\">2</td><td><meter min=\"0\" max=\"100\" "
                      "value=\"100\">100%</meter> 100%</td></tr>"), std::string::npos) << body;
  EXPECT_NE(body.find("<tr><th scope=\"row\">Storage</th><td data-label=\"Used\">4.0 KiB</td><td data-label=\"Limit\">unlimited</td><td></td></tr>"),
            std::string::npos) << body;
  backend.quota_info = {0, 10000, std::nullopt, std::nullopt};  // the mailstore not reachable
  body = get("/quota", cookie).answer.body;
  EXPECT_NE(body.find("<tr><th scope=\"row\">Messages</th><td data-label=\"Used\">not known</td><td data-label=\"Limit\">10000</td><td></td></tr>"),
            std::string::npos) << body;
}

TEST_F(PortalFixture, DnsPageShowsTheZoneAndOnCheckEachVerdictEscaped) {
  const std::string anna = sign_in();
  auto list = get("/admin/dns", anna).answer;
  EXPECT_EQ(list.status, 200u);
  EXPECT_NE(list.body.find("href=\"/admin/dns?domain=example.org\""), std::string::npos);
  EXPECT_NE(get("/admin/domains", anna).answer.body.find("/admin/dns?domain=example.org"), std::string::npos);

  auto records = get("/admin/dns?domain=example.org", anna).answer;
  EXPECT_EQ(records.status, 200u);
  EXPECT_EQ(backend.calls.back(), "dns example.org") << "no DNS asked until \"check now\"";
  EXPECT_NE(records.body.find("&lt;zone&gt;"), std::string::npos) << "zone text escaped";
  EXPECT_EQ(records.body.find("data-verdict"), std::string::npos);
  EXPECT_NE(records.body.find("name=\"check\" value=\"1\""), std::string::npos) << "the check-now form";

  auto checked = get("/admin/dns?domain=example.org&check=1", anna).answer;
  EXPECT_EQ(backend.calls.back(), "dns check example.org");
  EXPECT_NE(checked.body.find("data-record=\"mx\" data-name=\"example.org\" data-verdict=\"ok\""), std::string::npos);
  EXPECT_NE(checked.body.find("data-record=\"spf\" data-name=\"example.org\" data-verdict=\"wrong\""), std::string::npos);
  EXPECT_NE(checked.body.find("found: <code>v=spf1 &lt;all&gt;</code>"), std::string::npos);
  EXPECT_NE(checked.body.find("127.0.0.1:53"), std::string::npos);

  auto refused = get("/admin/dns?domain=other.example", anna).answer;
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("hosted &lt;domain&gt;"), std::string::npos);
  EXPECT_EQ(post("/admin/dns", "csrf=" + csrf(anna), anna).answer.status, 405u);
  const std::string bert = sign_in("bert@example.org", "bert-pw");
  EXPECT_EQ(get("/admin/dns?domain=example.org", bert).answer.status, 404u);
}

}  // namespace

namespace {

// Queue ids as queued makes them (time-ordered), newest last.
std::string qid(int i) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "Q%05d", i);
  return buf;
}

}  // namespace

TEST_F(PortalFixture, SentMailPagesWithNewerAndOlderLinks) {
  for (int i = 120; i >= 1; --i) backend.messages.push_back(message(qid(i), "anna@example.org"));  // newest first
  const std::string anna = sign_in();
  auto first = get("/sent", anna).answer;
  EXPECT_EQ(first.status, 200u);
  EXPECT_NE(first.body.find("data-queue-id=\"Q00120\""), std::string::npos);
  EXPECT_NE(first.body.find("data-queue-id=\"Q00071\""), std::string::npos);
  EXPECT_EQ(first.body.find("data-queue-id=\"Q00070\""), std::string::npos) << "50 a page";
  EXPECT_EQ(backend.pages_asked.size(), 1u);
  EXPECT_NE(first.body.find("<a rel=\"next\" href=\"/sent?after=Q00071\">Older messages</a>"), std::string::npos);
  EXPECT_EQ(first.body.find("rel=\"prev\""), std::string::npos);
  EXPECT_NE(first.body.find("data-source=\"/sent.json\""), std::string::npos);

  auto second = get("/sent?after=Q00071", anna).answer;
  EXPECT_NE(second.body.find("data-queue-id=\"Q00070\""), std::string::npos);
  EXPECT_NE(second.body.find("data-queue-id=\"Q00021\""), std::string::npos);
  EXPECT_EQ(second.body.find("data-queue-id=\"Q00071\""), std::string::npos);
  EXPECT_NE(second.body.find("<a rel=\"prev\" href=\"/sent?before=Q00070\">Newer messages</a>"), std::string::npos);
  EXPECT_NE(second.body.find("<a rel=\"next\" href=\"/sent?after=Q00021\">Older messages</a>"), std::string::npos);
  EXPECT_NE(second.body.find("data-source=\"/sent.json?after=Q00071\""), std::string::npos) << "polls its own page";

  auto last = get("/sent?after=Q00021", anna).answer;
  EXPECT_NE(last.body.find("data-queue-id=\"Q00001\""), std::string::npos);
  EXPECT_EQ(last.body.find("rel=\"next\""), std::string::npos);
  // Back from the last page: the same second page.
  auto back = get("/sent?before=Q00020", anna).answer;
  EXPECT_NE(back.body.find("data-queue-id=\"Q00070\""), std::string::npos);
  EXPECT_NE(back.body.find("data-queue-id=\"Q00021\""), std::string::npos);
  EXPECT_NE(back.body.find("<a rel=\"prev\" href=\"/sent?before=Q00070\">"), std::string::npos);
  // Back to the start: the full first page, without a newer link.
  auto start = get("/sent?before=Q00100", anna).answer;
  EXPECT_NE(start.body.find("data-queue-id=\"Q00120\""), std::string::npos);
  EXPECT_NE(start.body.find("data-queue-id=\"Q00071\""), std::string::npos);
  EXPECT_EQ(start.body.find("rel=\"prev\""), std::string::npos);

  // The JSON says the same, for the script.
  auto json = get("/sent.json?after=Q00071", anna).answer.body;
  EXPECT_EQ(json.rfind("{\"newer\":\"/sent?before=Q00070\",\"older\":\"/sent?after=Q00021\",\"messages\":[", 0), 0u)
      << json.substr(0, 120);
  EXPECT_EQ(get("/sent.json", anna).answer.body.rfind("{\"newer\":\"\",\"older\":\"/sent?after=Q00071\"", 0), 0u);

  // A cursor whose message left the queue: the first page, said so; a bad one: 400.
  auto gone = get("/sent?after=GONE99", anna).answer;
  EXPECT_EQ(gone.status, 200u);
  EXPECT_NE(gone.body.find("That page is gone"), std::string::npos);
  EXPECT_NE(gone.body.find("data-queue-id=\"Q00120\""), std::string::npos);
  EXPECT_EQ(get("/sent?after=%3Cscript%3E", anna).answer.status, 400u);
  EXPECT_EQ(get("/sent.json?after=A&before=B", anna).answer.status, 400u);
  // Only her messages, whatever the cursor.
  backend.messages.push_back(message("BERT01", "bert@example.org"));
  EXPECT_EQ(get("/sent?after=BERT01", anna).answer.body.find("data-queue-id=\"BERT01\""), std::string::npos);
}

TEST_F(PortalFixture, QueueFiltersPagesAndTheMessageView) {
  for (int i = 1; i <= 60; ++i) backend.messages.push_back(message(qid(i), "bert@example.org"));  // oldest first
  const std::string anna = sign_in();
  auto q = get("/admin/queue?message_id=%3Cm%40x%3E&older=90m&state=deferred", anna).answer;
  EXPECT_EQ(q.status, 200u);
  EXPECT_EQ(backend.last_filter.message_id, "<m@x>");
  EXPECT_EQ(backend.last_filter.older_than_seconds, 5400);
  EXPECT_EQ(backend.last_filter.state, "deferred");
  EXPECT_NE(q.body.find("<option value=\"deferred\" selected>deferred</option>"), std::string::npos);
  EXPECT_NE(q.body.find("name=\"message_id\" value=\"&lt;m@x&gt;\""), std::string::npos);
  EXPECT_EQ(q.body.find("data-queue-id=\"Q00051\""), std::string::npos) << "50 a page";
  EXPECT_NE(q.body.find("<a rel=\"next\" href=\"/admin/queue?message_id=%3Cm%40x%3E&amp;older=90m&amp;state=deferred"
                        "&amp;after=Q00050\">Later messages</a>"),
            std::string::npos)
      << "the filter stays on the page links";
  EXPECT_NE(q.body.find("<a href=\"/admin/queue/Q00001\">"), std::string::npos) << "each message opens";
  auto second = get("/admin/queue?state=deferred&after=Q00050", anna).answer;
  EXPECT_NE(second.body.find("data-queue-id=\"Q00060\""), std::string::npos);
  EXPECT_NE(second.body.find("rel=\"prev\""), std::string::npos);
  // The action buttons post back to this very list.
  EXPECT_NE(second.body.find("action=\"/admin/queue?state=deferred&amp;after=Q00050\""), std::string::npos);
  EXPECT_EQ(post("/admin/queue?state=deferred&after=Q00050", "queue_id=AAA1&action=retry&csrf=" + csrf(anna), anna)
                .answer.status,
            200u);
  EXPECT_EQ(backend.calls.back(), "queue 0 AAA1");

  // A filter that is not one: 400, named, and nothing listed.
  auto bad = get("/admin/queue?older=yesterday&recipient=keep%40me", anna).answer;
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("older than: "), std::string::npos);
  EXPECT_NE(bad.body.find("value=\"keep@me\""), std::string::npos);
  EXPECT_EQ(bad.body.find("data-queue-id"), std::string::npos);
  auto refused = get("/admin/queue?state=bounced", anna).answer;
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("queued says no"), std::string::npos);

  // One message: header and body as text, never markup; control characters shown.
  auto view = get("/admin/queue/Q00007", anna).answer;
  EXPECT_EQ(view.status, 200u);
  EXPECT_EQ(backend.last_viewer, "anna@example.org");
  EXPECT_EQ(view.body.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(view.body.find("<pre class=\"raw\" id=\"message-body\" tabindex=\"0\">&lt;script&gt;alert(1)&lt;/script&gt;\n</pre>"),
            std::string::npos)
      << view.body;
  EXPECT_NE(view.body.find("Subject: &lt;b&gt;hi&lt;/b&gt;\nX-Ctl: a\xe2\x90\x81" "b</pre>"), std::string::npos);
  EXPECT_EQ(view.body.find("id=\"cut\""), std::string::npos);
  EXPECT_NE(view.body.find("aria-label=\"delete Q00007\""), std::string::npos);
  backend.stored_body = "Subject: big\r\n\r\n" + std::string(kMessageViewLimit, 'b');
  view = get("/admin/queue/Q00007", anna).answer;
  EXPECT_NE(view.body.find("id=\"cut\">Only the first 256 KiB"), std::string::npos);
  EXPECT_EQ(get("/admin/queue/NOSUCH1", anna).answer.status, 404u);
  EXPECT_EQ(get("/admin/queue/..%2F..", anna).answer.status, 404u);
  EXPECT_EQ(post("/admin/queue/Q00007", "csrf=" + csrf(anna), anna).answer.status, 405u);
  const std::string bert = sign_in("bert@example.org", "bert-pw");
  EXPECT_EQ(get("/admin/queue/Q00007", bert).answer.status, 404u);
  EXPECT_EQ(backend.last_viewer, "anna@example.org") << "not even asked for a non-administrator";
}

TEST_F(PortalFixture, RemovingAUserTakesTwoStepsAndNeverTheSignedInOne) {
  backend.user_list = {{"anna@example.org", false, true, 0, ""}, {"new@example.org", false, false, 0, ""}};
  const std::string anna = sign_in();
  auto list = get("/admin/users", anna).answer.body;
  EXPECT_NE(list.find("aria-label=\"Remove new@example.org\""), std::string::npos);
  EXPECT_EQ(list.find("aria-label=\"Remove anna@example.org\""), std::string::npos) << "no button for oneself";
  EXPECT_EQ(list.find("aria-label=\"Disable anna@example.org\""), std::string::npos);
  // CSRF, and POST only.
  EXPECT_EQ(post("/admin/users/remove", "email=new%40example.org&confirm=yes", anna).answer.status, 403u);
  EXPECT_EQ(get("/admin/users/remove", anna).answer.status, 405u);
  // The first POST only asks.
  auto ask = post("/admin/users/remove", "email=new%40example.org&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(ask.status, 200u);
  EXPECT_NE(ask.body.find("Remove new@example.org?"), std::string::npos);
  EXPECT_NE(ask.body.find("1 app password: <code>ph&lt;o&gt;ne</code>"), std::string::npos);
  EXPECT_NE(ask.body.find("aliases that deliver to it: <code>info@example.org</code>"), std::string::npos);
  EXPECT_NE(ask.body.find("name=\"confirm\" value=\"yes\""), std::string::npos);
  EXPECT_NE(ask.body.find("<a href=\"/admin/users\">Cancel</a>"), std::string::npos);
  EXPECT_TRUE(backend.calls.empty() || backend.calls.back().rfind("rmuser", 0) != 0);
  auto done = post("/admin/users/remove", "email=new%40example.org&confirm=yes&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(done.status, 200u);
  EXPECT_EQ(backend.calls.back(), "rmuser new@example.org");
  EXPECT_NE(done.body.find("User new@example.org removed."), std::string::npos);
  // Never oneself, however the address is written.
  const size_t before = backend.calls.size();
  auto self = post("/admin/users/remove", "email=ANNA%40example.org&confirm=yes&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(self.status, 400u);
  EXPECT_NE(self.body.find("You cannot remove the account you are signed in with."), std::string::npos);
  EXPECT_EQ(backend.calls.size(), before);
  auto none = post("/admin/users/remove", "email=nobody%40example.org&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(none.status, 400u);
  EXPECT_NE(none.body.find("No such user nobody@example.org."), std::string::npos);
}

TEST_F(PortalFixture, RemovingADomainListsWhatGoesAndCatchAllsAreSetAndCleared) {
  const std::string anna = sign_in();
  auto list = get("/admin/domains", anna).answer.body;
  EXPECT_NE(list.find("<span class=\"catch-all\">all@other.example</span>"), std::string::npos);
  EXPECT_NE(list.find("aria-label=\"Clear the catch-all of other.example\""), std::string::npos);
  EXPECT_EQ(list.find("aria-label=\"Clear the catch-all of example.org\""), std::string::npos);
  EXPECT_NE(list.find("aria-label=\"Remove other.example\""), std::string::npos);
  EXPECT_EQ(list.find("aria-label=\"Remove example.org\""), std::string::npos) << "the admin's own domain";

  auto ask = post("/admin/domains/remove", "name=other.example&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(ask.status, 200u);
  EXPECT_NE(ask.body.find("1 user and their app passwords: <code>&lt;zed&gt;@other.example</code>"), std::string::npos)
      << ask.body;
  EXPECT_NE(ask.body.find("1 alias: <code>info@other.example</code>"), std::string::npos);
  EXPECT_NE(ask.body.find("its catch-all (to <code>all@other.example</code>)"), std::string::npos);
  EXPECT_NE(ask.body.find("<code>x@example.org -&gt; z@other.example</code>"), std::string::npos);
  const auto at = ask.body.find("name=\"plan\" value=\"");
  ASSERT_NE(at, std::string::npos);
  const std::string plan = ask.body.substr(at + 19, 32);
  EXPECT_EQ(ask.body.substr(at + 19 + 32, 1), "\"");
  // The domain changed between the two steps: asked again, nothing removed.
  backend.other_users.push_back("new@other.example");
  auto changed = post("/admin/domains/remove", "name=other.example&confirm=yes&plan=" + plan + "&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(changed.status, 200u);
  EXPECT_NE(changed.body.find("changed since the confirmation was shown"), std::string::npos);
  EXPECT_NE(changed.body.find("2 users"), std::string::npos);
  EXPECT_TRUE(backend.calls.empty() || backend.calls.back().rfind("rmdomain", 0) != 0);
  const auto at2 = changed.body.find("name=\"plan\" value=\"");
  const std::string plan2 = changed.body.substr(at2 + 19, 32);
  EXPECT_NE(plan2, plan);
  auto done = post("/admin/domains/remove", "name=other.example&confirm=yes&plan=" + plan2 + "&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(backend.calls.back(), "rmdomain other.example force");
  EXPECT_NE(done.body.find("Domain other.example removed, with 2 users, 1 alias, its catch-all."), std::string::npos);
  // Not the domain of the signed-in account, confirmed or not.
  const size_t before = backend.calls.size();
  auto own = post("/admin/domains/remove", "name=example.org&confirm=yes&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(own.status, 400u);
  EXPECT_NE(own.body.find("the account you are signed in with (anna@example.org) belongs to it"), std::string::npos);
  EXPECT_EQ(backend.calls.size(), before);
  EXPECT_EQ(post("/admin/domains/remove", "name=other.example&confirm=yes", anna).answer.status, 403u) << "CSRF";

  // Catch-all: set, refused with authd's words, cleared.
  auto set = post("/admin/domains/catch-all", "name=example.org&action=set&target=bob%40example.org&csrf=" + csrf(anna), anna);
  EXPECT_EQ(set.answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "catchall example.org bob@example.org");
  EXPECT_NE(set.answer.body.find("Mail to unknown addresses of example.org now goes to bob@example.org."), std::string::npos);
  EXPECT_EQ(post("/admin/domains/catch-all", "name=example.org&action=set&target=&csrf=" + csrf(anna), anna).answer.status,
            400u);
  auto refused = post("/admin/domains/catch-all", "name=example.org&action=set&target=bob&csrf=" + csrf(anna), anna).answer;
  EXPECT_EQ(refused.status, 400u);
  EXPECT_NE(refused.body.find("target: not an address"), std::string::npos);
  EXPECT_EQ(post("/admin/domains/catch-all", "name=other.example&action=clear&csrf=" + csrf(anna), anna).answer.status, 200u);
  EXPECT_EQ(backend.calls.back(), "catchall other.example ");
  EXPECT_EQ(post("/admin/domains/catch-all", "name=other.example&action=zap&csrf=" + csrf(anna), anna).answer.status, 400u);
  EXPECT_EQ(get("/admin/domains/catch-all", anna).answer.status, 405u);
  EXPECT_EQ(get("/admin/domains/nope", anna).answer.status, 404u);
}

TEST_F(PortalFixture, FiltersPageSavesTheActiveScriptAndShowsItAgain) {
  const std::string cookie = sign_in();
  const std::string token = csrf(cookie);
  auto r = get("/filters", cookie);
  EXPECT_EQ(r.answer.status, 200u);
  EXPECT_EQ(r.route, "filters");
  EXPECT_NE(r.answer.body.find("name=\"rule7_value\""), std::string::npos);
  EXPECT_NE(r.answer.body.find("aria-current=\"page\">Filters"), std::string::npos);
  const std::string rule = "&rule0_field=subject&rule0_match=contains&rule0_value=invoice&rule0_action=fileinto";
  // Refused with the reason, what was typed kept; nothing stored.
  r = post("/filters", "csrf=" + token + rule + "&rule0_folder=Bills%2A", cookie);
  EXPECT_EQ(r.answer.status, 400u);
  EXPECT_NE(r.answer.body.find("Rule 1: name the folder"), std::string::npos) << r.answer.body;
  EXPECT_NE(r.answer.body.find("value=\"Bills*\""), std::string::npos);
  EXPECT_TRUE(backend.scripts[1].empty());
  EXPECT_EQ(post("/filters", "csrf=bad" + rule + "&rule0_folder=Invoices", cookie).answer.status, 403u);
  r = post("/filters",
           "csrf=" + token + rule + "&rule0_folder=Invoices&vacation=on&vacation_days=3&vacation_subject=%3Cb%3EAway" +
               "&vacation_body=Back+soon",
           cookie);
  EXPECT_EQ(r.answer.status, 200u) << r.answer.body;
  EXPECT_EQ(backend.active[1], kPortalScriptName);
  const std::string script = backend.scripts[1][kPortalScriptName];
  EXPECT_NE(script.find("fileinto :create \"Invoices\";"), std::string::npos) << script;
  EXPECT_NE(script.find("vacation :days 3 :subject \"<b>Away\" \"Back soon\";"), std::string::npos) << script;
  r = get("/filters", cookie);
  EXPECT_NE(r.answer.body.find("value=\"invoice\""), std::string::npos);
  EXPECT_NE(r.answer.body.find("value=\"&lt;b&gt;Away\""), std::string::npos);  // escaped, never markup
  EXPECT_NE(r.answer.body.find("id=\"vacation\" name=\"vacation\" type=\"checkbox\" value=\"on\" checked"),
            std::string::npos);
  // Another script active (a Sieve client's): said, escaped; the portal's settings still shown.
  backend.scripts[1]["<mine>"] = "keep;";
  backend.active[1] = "<mine>";
  r = get("/filters", cookie);
  EXPECT_NE(r.answer.body.find("the script <strong>&lt;mine&gt;</strong>"), std::string::npos) << r.answer.body;
  EXPECT_NE(r.answer.body.find("value=\"invoice\""), std::string::npos);
  // Each user sees only their own.
  const std::string bert = sign_in("bert@example.org", "bert-pw");
  r = get("/filters", bert);
  EXPECT_EQ(r.answer.body.find("invoice"), std::string::npos);
  backend.scripts_down = true;
  EXPECT_EQ(get("/filters", cookie).answer.status, 503u);
}
