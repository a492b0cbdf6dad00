#include "services/delivery-queue/delivery/dkim_signer.h"

#include "common/config/config.h"

#include <gtest/gtest.h>

using namespace postline::queue;

TEST(DkimSigner, FindsTheFromDomain) {
  EXPECT_EQ(DkimSigner::from_domain("Subject: x\r\nFrom: Alice <alice@Example.ORG>\r\n\r\nbody"), "example.org");
  EXPECT_EQ(DkimSigner::from_domain("from: bob@example.net (Bob)\r\n\r\n"), "example.net");
  EXPECT_EQ(DkimSigner::from_domain("From: \"A\"\r\n <a@folded.test>\r\n\r\n"), "folded.test");
  EXPECT_EQ(DkimSigner::from_domain("Subject: x\r\n\r\nFrom: body@not.header\r\n"), "");
}

TEST(DkimSigner, MalformedKeyEntriesNameTheKey) {
  try {
    DkimSigner s({"example.org-without-selector"});
    FAIL();
  } catch (const postline::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("queue.dkim_keys"), std::string::npos);
  }
  EXPECT_THROW(DkimSigner({"example.org:sel:/nonexistent/key.pem"}), postline::config::ConfigError);
  EXPECT_TRUE(DkimSigner({}).empty());
}
