#include <gtest/gtest.h>

#include "common/mime/mime.h"

namespace mime = postline::mime;

TEST(Mime, Placeholder) { EXPECT_EQ(mime::parse("").size, 0u); }
