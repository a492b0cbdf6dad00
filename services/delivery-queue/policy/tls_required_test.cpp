#include "services/delivery-queue/policy/tls_required.h"

#include <gtest/gtest.h>

using postline::queue::tls_required_no;

TEST(TlsRequired, FindsTheHeaderInTheHeaderBlockOnly) {
  EXPECT_TRUE(tls_required_no("From: a@b\r\nTLS-Required: No\r\n\r\nbody\r\n"));
  EXPECT_TRUE(tls_required_no("tls-required:no\n\nbody\n"));
  EXPECT_TRUE(tls_required_no("Subject: x\r\nTLS-Required:\r\n  No\r\n\r\n"));  // folded
  EXPECT_FALSE(tls_required_no("From: a@b\r\n\r\nTLS-Required: No\r\n"));       // in the body
  EXPECT_FALSE(tls_required_no("TLS-Required: Yes\r\n\r\n"));
  EXPECT_FALSE(tls_required_no("X-TLS-Required: No\r\n\r\n"));
  EXPECT_FALSE(tls_required_no("Subject: TLS-Required: No\r\n\r\n"));
  EXPECT_FALSE(tls_required_no(""));
}
