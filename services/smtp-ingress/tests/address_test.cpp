#include "services/smtp-ingress/protocol/address.h"

#include <gtest/gtest.h>

using namespace postline::smtp;

TEST(Address, Placeholder) { EXPECT_EQ(parse_path("<a@b.c>", false).error, PathError::kNone); }
