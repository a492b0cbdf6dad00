// Authentication-Results rendering and removal of forged copies of our header.
#include <gtest/gtest.h>

#include "common/mailauth/auth_results.h"

namespace postline::mailauth {
namespace {

TEST(AuthResults, RendersAllMethods) {
  DkimVerifyResult dkim;
  DkimSignatureResult s;
  s.result = AuthResult::kPass;
  s.domain = "example.com";
  s.selector = "sel";
  s.identity = "@example.com";
  s.algorithm = "ed25519-sha256";
  s.b_prefix = "abc/+def=ghijk";
  dkim.signatures.push_back(s);
  SpfVerdict spf;
  spf.result = SpfResult::kPass;
  DmarcVerdict dm;
  dm.result = DmarcResult::kPass;
  dm.from_domain = "example.com";
  dm.record = DmarcRecord{};
  dm.record->p = DmarcPolicy::kReject;

  auto entries = auth_results_entries(dkim);
  entries.push_back(auth_results_entry(spf, "alice@example.com", "mx.example.com"));
  entries.push_back(auth_results_entry(dm));
  std::string h = render_authentication_results("mx.postline.example", entries);
  EXPECT_EQ(h.rfind("Authentication-Results: mx.postline.example;\r\n\tdkim=pass", 0), 0u) << h;
  EXPECT_NE(h.find("header.d=example.com"), std::string::npos);
  EXPECT_NE(h.find("header.i=@example.com"), std::string::npos);
  EXPECT_NE(h.find("header.b=\"abc/+def\""), std::string::npos) << h;  // '/' needs quoting
  EXPECT_NE(h.find(";\r\n\tspf=pass"), std::string::npos);
  EXPECT_NE(h.find("smtp.mailfrom=alice@example.com"), std::string::npos);
  EXPECT_NE(h.find(";\r\n\tdmarc=pass (p=reject dis=none)"), std::string::npos) << h;
  EXPECT_NE(h.find("header.from=example.com\r\n"), std::string::npos);
  EXPECT_EQ(h.substr(h.size() - 2), "\r\n");
  EXPECT_EQ(authserv_id_of(h.substr(h.find(':') + 1)), "mx.postline.example");
}

TEST(AuthResults, NoneAndInjection) {
  EXPECT_EQ(render_authentication_results("mx.example", {}), "Authentication-Results: mx.example; none\r\n");
  AuthResultsEntry e{"spf", "fail", "bad\r\nX-Injected: yes", {{"smtp.mailfrom", "a\r\nb@x.example"}}, "c(d)"};
  std::string h = render_authentication_results("mx.example", {e});
  EXPECT_EQ(h.find("\r\nX-Injected"), std::string::npos) << h;
  EXPECT_NE(h.find("reason=\"badX-Injected: yes\""), std::string::npos) << h;
  EXPECT_NE(h.find("(c\\(d\\))"), std::string::npos) << h;
  // Every line after the first is a continuation.
  size_t pos = 0;
  while ((pos = h.find("\r\n", pos)) != std::string::npos && pos + 2 < h.size()) {
    EXPECT_TRUE(h[pos + 2] == '\t' || h[pos + 2] == ' ') << h;
    pos += 2;
  }
}

TEST(AuthResults, RemovesOnlyOurOwn) {
  const std::string msg =
      "Received: from x\r\n"
      "Authentication-Results: mx.postline.example; spf=pass smtp.mailfrom=forged@bank.example\r\n"
      "Authentication-Results: (comment) MX.Postline.Example;\r\n"
      "\tdkim=pass header.d=bank.example\r\n"
      "authentication-results : \"mx.postline.example\" 1; none\r\n"
      "Authentication-Results: mx.postline.example.evil.example; dkim=pass\r\n"
      "Authentication-Results: other.example; dkim=fail\r\n"
      "Subject: hi\r\n"
      "\r\n"
      "Authentication-Results: mx.postline.example; body text stays\r\n";
  size_t removed = 0;
  std::string out = remove_own_authentication_results(msg, "mx.postline.example", &removed);
  EXPECT_EQ(removed, 3u);
  EXPECT_EQ(out,
            "Received: from x\r\n"
            "Authentication-Results: mx.postline.example.evil.example; dkim=pass\r\n"
            "Authentication-Results: other.example; dkim=fail\r\n"
            "Subject: hi\r\n"
            "\r\n"
            "Authentication-Results: mx.postline.example; body text stays\r\n");
  // LF-only messages keep their line ends.
  std::string lf = "Authentication-Results: mx.postline.example; none\nSubject: x\n\nbody\n";
  EXPECT_EQ(remove_own_authentication_results(lf, "mx.postline.example"), "Subject: x\n\nbody\n");
  EXPECT_EQ(remove_own_authentication_results("", "mx"), "");
}

}  // namespace
}  // namespace postline::mailauth
