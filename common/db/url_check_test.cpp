#include "common/db/url_check.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>

namespace {

using postline::db::url_problem;
using postline::db::with_program_name;

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

TEST(UrlCheck, ConnectionsCarryTheProgramNameUnlessTheUrlNamesOne) {
  auto fallback = [](const std::string& conninfo) -> std::string {
    char* error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(conninfo.c_str(), &error),
                                                                          &PQconninfoFree);
    if (error) PQfreemem(error);
    if (!options) return "(unparsable)";
    for (PQconninfoOption* o = options.get(); o->keyword; ++o)
      if (std::string(o->keyword) == "fallback_application_name") return o->val ? o->val : "";
    return "";
  };
  EXPECT_EQ(fallback(with_program_name("postgresql://db1/postline", "postline-queued")), "postline-queued");
  EXPECT_EQ(fallback(with_program_name("postgresql://db1/postline?sslmode=require", "postline-authd")),
            "postline-authd");
  EXPECT_EQ(fallback(with_program_name("postgresql://postgres@/postline?host=/run/postgresql&port=5432", "x-y")),
            "x-y");
  EXPECT_EQ(fallback(with_program_name("host=/run/postgresql dbname=postline", "postline-imapd")), "postline-imapd");
  EXPECT_EQ(fallback(with_program_name("", "postline-cli")), "postline-cli");
  EXPECT_EQ(fallback(with_program_name("postgresql://db1/postline")), "db_url_check_test");  // this process
  // The operator's own name stays.
  EXPECT_EQ(with_program_name("postgresql://db1/postline?application_name=mine", "postline-queued"),
            "postgresql://db1/postline?application_name=mine");
}

}  // namespace
