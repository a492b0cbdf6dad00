#include "common/db/url_check.h"

#include <gtest/gtest.h>

namespace {

using postline::db::url_problem;

TEST(UrlCheck, AcceptsOneServerAndMultiHostUrlsThatAskForTheWritableOne) {
  EXPECT_EQ(url_problem("postgresql://postgres@127.0.0.1:55432/postline"), std::nullopt);
  EXPECT_EQ(url_problem("postgresql://postline:secret@db1:5432,db2:5432,db3/postline?target_session_attrs=read-write"
                        "&connect_timeout=5&keepalives_idle=10&tcp_user_timeout=15000"),
            std::nullopt);
  EXPECT_EQ(url_problem("postgresql://db1,db2/postline?target_session_attrs=primary"), std::nullopt);
  EXPECT_EQ(url_problem("host=db1,db2 dbname=postline target_session_attrs=read-write"), std::nullopt);
  EXPECT_EQ(url_problem("postgresql://postline-db-rw.postline.svc/postline?sslmode=require&target_session_attrs=read-write"),
            std::nullopt);
}

TEST(UrlCheck, SeveralServersWithoutReadWriteWouldLandOnAStandby) {
  auto why = url_problem("postgresql://db1:5432,db2:5432/postline");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("names 2 servers but not target_session_attrs=read-write"), std::string::npos) << *why;
  EXPECT_TRUE(url_problem("postgresql://db1,db2/postline?target_session_attrs=any"));
  why = url_problem("postgresql://db1/postline?target_session_attrs=prefer-standby");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("standby"), std::string::npos) << *why;
}

TEST(UrlCheck, NamesWhatIsWrongWithoutEchoingThePassword) {
  auto why = url_problem("postgresql://u:hunter2@db1/postline?no_such_option=1");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no_such_option"), std::string::npos) << *why;
  EXPECT_EQ(why->find("hunter2"), std::string::npos) << *why;
  why = url_problem("postgresql://db1/postline?target_session_attrs=writable");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("writable"), std::string::npos) << *why;
  EXPECT_TRUE(url_problem(""));
}

}  // namespace
