// Unit tests of `postline import`'s parts that need no server: the mbox and
// Maildir readers, the folder mapping, and the writer (duplicates, resume
// state, quota) on the in-memory MailStore (the same conformance suite as
// PgMailStore).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/mailstore/memory/memory_mail_store.h"
#include "tools/postline/import_imap.h"
#include "tools/postline/import_maildir.h"
#include "tools/postline/import_mbox.h"
#include "tools/postline/import_writer.h"

namespace postline::cli::import {
namespace {

namespace fs = std::filesystem;
namespace ms = postline::mailstore;

std::vector<MboxMessage> read_mbox(const std::string& text, MboxFormat format = MboxFormat::kMboxrd,
                                   size_t max = 1 << 20) {
  std::istringstream in(text);
  MboxReader reader(in, format, max);
  std::vector<MboxMessage> out;
  MboxMessage m;
  while (reader.next(m)) out.push_back(m);
  return out;
}

TEST(Mbox, SplitsAtFromLinesAfterEmptyLinesAndUnquotes) {
  const std::string mbox =
      "From alice@example.com Thu Dec  3 15:16:36 2026\n"
      "Subject: one\n"
      "Status: RO\n"
      "X-Status: AF\n"
      "X-Keywords: $Label1, work\n"
      "\n"
      "body line\n"
      ">From the start of a line\n"
      ">>From twice quoted\n"
      "From inside a paragraph is not a separator\n"
      "\n"
      "From bob@example.com Fri Dec  4 01:02:03 +0100 2026\n"
      "Subject: two\n"
      "\n"
      "second\n"
      "\n";
  auto msgs = read_mbox(mbox);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].bytes,
            "Subject: one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1, work\n\nbody line\nFrom the start of a "
            "line\n>From twice quoted\nFrom inside a paragraph is not a separator\n");
  EXPECT_EQ(msgs[0].line, 1u);
  EXPECT_EQ(msgs[0].from_time, 1796310996);  // 2026-12-03 15:16:36 UTC
  EXPECT_EQ(msgs[0].flags, (std::vector<std::string>{"\\Seen", "\\Answered", "\\Flagged", "$Label1", "work"}));
  EXPECT_EQ(msgs[1].bytes, "Subject: two\n\nsecond\n");
  EXPECT_EQ(msgs[1].line, 12u);
  EXPECT_EQ(msgs[1].from_time, 1796310996 + 31527);  // 01:02:03 +0100 the next day = 00:02:03 UTC
  EXPECT_TRUE(msgs[1].flags.empty());
}

TEST(Mbox, MboxoUnquotesOnlyOneLevel) {
  auto msgs = read_mbox("From x Thu Dec  3 15:16:36 2026\n\n>From a\n>>From b\n", MboxFormat::kMboxo);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].bytes, "\nFrom a\n>>From b\n");
}

TEST(Mbox, CrlfFilesEmptyLinesAndErrors) {
  auto msgs = read_mbox("\r\nFrom x Thu Dec  3 15:16:36 2026\r\nA: b\r\n\r\nbody\r\n\r\nFrom y bad date\r\nC: d\r\n");
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].bytes, "A: b\r\n\r\nbody\r\n");
  EXPECT_EQ(msgs[1].bytes, "C: d\r\n");
  EXPECT_FALSE(msgs[1].from_time);
  EXPECT_THROW(read_mbox("Subject: not an mbox\n\nx\n"), std::runtime_error);
  EXPECT_TRUE(read_mbox("").empty());
  auto big = read_mbox("From x Thu Dec  3 15:16:36 2026\n" + std::string(100, 'a') + "\n\nFrom y Thu Dec  3 15:16:36 2026\nok\n",
                       MboxFormat::kMboxrd, 50);
  ASSERT_EQ(big.size(), 2u);
  EXPECT_TRUE(big[0].too_large);
  EXPECT_TRUE(big[0].bytes.empty());
  EXPECT_EQ(big[1].bytes, "ok\n");
}

TEST(Mbox, FromLineDates) {
  EXPECT_EQ(parse_from_line_time("From a@b Thu Jan  1 00:00:00 1970"), 0);
  EXPECT_EQ(parse_from_line_time("From a@b Thu Jan 1 00:01 1970"), 60);
  EXPECT_EQ(parse_from_line_time("From a@b Thu Jan  1 01:00:00 1970 +0100"), 0);
  EXPECT_EQ(parse_from_line_time("From MAILER-DAEMON Thu Jan  1 00:00:00 UTC 1970"), 0);
  EXPECT_FALSE(parse_from_line_time("From a@b"));
  EXPECT_FALSE(parse_from_line_time("From a@b Thu Foo  1 00:00:00 1970"));
  EXPECT_FALSE(parse_from_line_time("From a@b Thu Jan  1 25:00:00 1970"));
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/postline-import-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

void write_file(const fs::path& p, const std::string& content, int64_t mtime = 0) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  if (mtime) {
    utimbuf t{static_cast<time_t>(mtime), static_cast<time_t>(mtime)};
    utime(p.c_str(), &t);
  }
}

TEST(Maildir, FoldersFlagsKeywordsAndOrder) {
  TempDir d;
  const auto root = d.path;
  fs::create_directories(root / "tmp");
  write_file(root / "cur" / "1700000002.M2.host:2,SRa", "B", 1700000002);
  write_file(root / "cur" / "1700000001.M1.host:2,FTPDb", "A", 1700000001);
  write_file(root / "new" / "1700000003.M3.host", "C", 1700000003);
  write_file(root / "tmp" / "1700000004.M4.host", "in progress");
  write_file(root / "dovecot-keywords", "0 $Label1\n1 work\n");
  write_file(root / ".Lists.Entw&APw-rfe" / "cur" / "1.M.h:2,", "D");
  write_file(root / ".Sent" / "new" / "2.M.h", "E");
  fs::create_directories(root / ".NotAMaildir");
  auto folders = maildir_folders(root);
  ASSERT_EQ(folders.size(), 3u);
  EXPECT_EQ(folders[0].name, "INBOX");
  EXPECT_EQ(folders[1].name, "Lists/Entwürfe");
  EXPECT_EQ(folders[2].name, "Sent");
  auto files = maildir_files(folders[0]);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path.filename(), "1700000001.M1.host:2,FTPDb");
  EXPECT_EQ(files[0].flags, (std::vector<std::string>{"\\Flagged", "\\Deleted", "$Forwarded", "\\Draft", "work"}));
  EXPECT_EQ(files[0].mtime, 1700000001);
  EXPECT_EQ(files[1].flags, (std::vector<std::string>{"\\Seen", "\\Answered", "$Label1"}));
  EXPECT_TRUE(files[2].flags.empty());
  // dovecot-uidlist decides the order when present.
  write_file(root / "dovecot-uidlist", "3 V1 N4\n1 :1700000003.M3.host\n2 G1 :1700000002.M2.host\n");
  files = maildir_files(folders[0]);
  EXPECT_EQ(files[0].path.filename(), "1700000003.M3.host");
  EXPECT_EQ(files[1].path.filename(), "1700000002.M2.host:2,SRa");
  EXPECT_EQ(files[2].path.filename(), "1700000001.M1.host:2,FTPDb");
  EXPECT_THROW(maildir_folders(root / "cur"), std::runtime_error);
  EXPECT_THROW(maildir_folders(root / "nothing"), std::runtime_error);
}

imapclient::ListEntry entry(std::string name, std::vector<std::string> attrs = {}, std::optional<char> delim = '.') {
  return imapclient::ListEntry{std::move(attrs), delim, std::move(name)};
}

TEST(PlanFolders, DelimitersSpecialUseInboxAndPatterns) {
  std::vector<imapclient::ListEntry> list = {
      entry("INBOX"),
      entry("INBOX.Receipts"),
      entry("Sent Messages", {"\\HasChildren", "\\Sent"}),
      entry("Sent Messages.2019", {"\\HasNoChildren"}),
      entry("Deleted", {"\\Trash"}),
      entry("Entw&APw-rfe", {"\\Drafts"}),
      entry("Old Sent", {"\\Sent"}),  // the second \Sent keeps its name
      entry("Projects", {"\\Noselect"}),
      entry("Projects.a/b"),
      entry("Spam.2020"),
      entry("bad&", {}),
  };
  std::map<std::string, std::string> ours = {{"\\Sent", "Sent"}, {"\\Trash", "Trash"}, {"\\Drafts", "Drafts"},
                                             {"\\Junk", "Junk"}, {"\\Archive", "Archive"}};
  std::vector<std::string> problems;
  auto plans = plan_folders(list, ours, {}, {"Spam*"}, problems);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& p : plans) got.emplace_back(p.display, p.destination);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"INBOX", "INBOX"},
                     {"INBOX.Receipts", "INBOX/Receipts"},
                     {"Sent Messages", "Sent"},
                     {"Sent Messages.2019", "Sent/2019"},
                     {"Deleted", "Trash"},
                     {"Entwürfe", "Drafts"},
                     {"Old Sent", "Old Sent"},
                     {"Projects.a/b", "Projects/a_b"},
                     {"bad&", "bad&"},  // not modified UTF-7: kept as sent
                 }));
  EXPECT_EQ(plans[2].special_use, "\\Sent");
  EXPECT_TRUE(problems.empty());
  auto only = plan_folders(list, ours, {"INBOX*"}, {"*Receipts"}, problems);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].destination, "INBOX");
  // A flat namespace (NIL delimiter) and a name the store refuses.
  auto flat = plan_folders({entry("a.b", {}, std::nullopt), entry("x..y")}, ours, {}, {}, problems);
  ASSERT_EQ(flat.size(), 1u);
  EXPECT_EQ(flat[0].destination, "a.b");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("x..y"), std::string::npos);
}

TEST(PlanFolders, PersonalNamespacePrefixIsRemoved) {
  // Courier and Cyrus: everything lives under "INBOX.".
  std::vector<imapclient::ListEntry> list = {entry("INBOX"), entry("INBOX.Sent", {"\\Sent"}),
                                             entry("INBOX.Projects"), entry("INBOX.Projects.2026")};
  std::vector<std::string> problems;
  auto plans = plan_folders(list, {{"\\Sent", "Sent"}}, {}, {}, problems, "INBOX.");
  std::vector<std::string> dest;
  for (const auto& p : plans) dest.push_back(p.destination);
  EXPECT_EQ(dest, (std::vector<std::string>{"INBOX", "Sent", "Projects", "Projects/2026"}));
  EXPECT_EQ(plans[2].display, "Projects");
  // Patterns may name folders with or without the prefix.
  EXPECT_EQ(plan_folders(list, {}, {"INBOX.Projects*"}, {}, problems, "INBOX.").size(), 2u);
  EXPECT_EQ(plan_folders(list, {}, {"Projects*"}, {"*2026"}, problems, "INBOX.").size(), 1u);
}

TEST(UidSet, Ranges) {
  EXPECT_EQ(uid_set({1, 2, 3, 5, 7, 8}), "1:3,5,7:8");
  EXPECT_EQ(uid_set({42}), "42");
}

TEST(State, FormatParseAndFlags) {
  FolderState s{3857529045, 4242};
  const auto text = format_state(s, "imap://u@h/INBOX x");
  EXPECT_EQ(text, "uidvalidity=3857529045 last_uid=4242 source=imap://u@h/INBOX x");
  EXPECT_EQ(parse_state(text), s);
  EXPECT_FALSE(parse_state("uidvalidity=1"));
  EXPECT_FALSE(parse_state("uidvalidity=x last_uid=1"));
  EXPECT_EQ(state_entry("Mail.Example", "u", "INBOX"), state_entry("mail.example", "u", "INBOX"));
  EXPECT_NE(state_entry("mail.example", "u", "INBOX"), state_entry("mail.example", "u", "Sent"));
  EXPECT_EQ(state_entry("h", "u", "f").rfind("/private/vendor/postline/import/", 0), 0u);
  auto f = flags_from_source({"\\Seen", "\\Recent", "\\Unknown", "$Forwarded", "bad]", "with space", "\\Answered"});
  EXPECT_EQ(f.system, ms::kSeen | ms::kAnswered);
  EXPECT_EQ(f.keywords, (std::vector<std::string>{"$Forwarded"}));
}

class WriterTest : public ::testing::Test {
 protected:
  ms::MemoryMailStore store;
  const ms::UserId user = 7;
  void SetUp() override { store.ensure_account(user); }
  size_t count(const std::string& mailbox) {
    auto o = store.open(user, mailbox);
    return o.index ? o.index->entries.size() : 0;
  }
};

TEST_F(WriterTest, CreatesSubscribedMailboxesAndKeepsFlagsDatesBytes) {
  MailboxWriter w(store, user, "Archive/2019", {});
  IncomingMessage m{"Subject: a\r\n\r\nx\r\n", ms::flags_from_names({"\\Seen", "$Label1"}), 1000000000, true};
  EXPECT_TRUE(w.add(m));
  w.flush();
  EXPECT_TRUE(w.created());
  auto list = store.list(user);
  EXPECT_NE(std::find(list.subscriptions.begin(), list.subscriptions.end(), "Archive/2019"), list.subscriptions.end());
  auto o = store.open(user, "Archive/2019");
  ASSERT_EQ(o.index->entries.size(), 1u);
  auto data = store.read_messages(user, o.index->info.mailbox_id, {o.index->entries[0].uid},
                                  ms::kFieldFlags | ms::kFieldInternalDate | ms::kFieldBlob);
  EXPECT_EQ(data[0].internaldate, 1000000000);
  EXPECT_EQ(data[0].flags, ms::flags_from_names({"\\Seen", "$Label1"}));
  auto bodies = store.read_bodies(user, {data[0].blob});
  EXPECT_EQ(*bodies[0], "Subject: a\r\n\r\nx\r\n");
}

TEST_F(WriterTest, DuplicatesOfStoredMessagesAreSkippedOneForOne) {
  {
    MailboxWriter w(store, user, "INBOX", {});
    EXPECT_TRUE(w.add({"A: 1\n\nsame\n", {}, {}, false}));
    EXPECT_TRUE(w.add({"A: 1\n\nsame\n", {}, {}, false}));  // the source really has two
    EXPECT_TRUE(w.add({"A: 2\n\nother\n", {}, {}, false}));
    w.flush();
  }
  EXPECT_EQ(count("INBOX"), 3u);
  // A second run: the same three are skipped, a third copy and a new one are not.
  MailboxWriter again(store, user, "INBOX", {});
  EXPECT_FALSE(again.add({"A: 1\n\nsame\n", {}, {}, false}));
  EXPECT_FALSE(again.add({"A: 1\r\n\r\nsame\r\n", {}, {}, true}));  // the same stored bytes
  EXPECT_FALSE(again.add({"A: 2\n\nother\n", {}, {}, false}));
  EXPECT_TRUE(again.add({"A: 1\n\nsame\n", {}, {}, false}));
  EXPECT_TRUE(again.add({"A: 3\n\nnew\n", {}, {}, false}));
  again.flush();
  EXPECT_EQ(count("INBOX"), 5u);
}

TEST_F(WriterTest, QuotaStopsWithNothingAppended) {
  MailboxWriter w(store, user, "INBOX", ms::Quota{0, 2});
  for (int i = 0; i < 3; ++i) w.add({"N: " + std::to_string(i) + "\n\nx\n", {}, {}, false});
  try {
    w.flush();
    FAIL() << "no QuotaExceeded";
  } catch (const QuotaExceeded& e) {
    EXPECT_NE(std::string(e.what()).find("--ignore-quota"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count("INBOX"), 0u);
  MailboxWriter ignoring(store, user, "INBOX", {});
  for (int i = 0; i < 3; ++i) ignoring.add({"N: " + std::to_string(i) + "\n\nx\n", {}, {}, false});
  ignoring.flush();
  EXPECT_EQ(count("INBOX"), 3u);
}

TEST_F(WriterTest, StateLivesInMailboxMetadata) {
  const auto e = state_entry("mail.example", "u", "INBOX");
  EXPECT_FALSE(load_state(store, user, "INBOX", e));
  save_state(store, user, "INBOX", e, {11, 5}, "imap://u@mail.example/INBOX");
  EXPECT_EQ(load_state(store, user, "INBOX", e), (FolderState{11, 5}));
  save_state(store, user, "INBOX", e, {11, 9}, "imap://u@mail.example/INBOX");
  EXPECT_EQ(load_state(store, user, "INBOX", e), (FolderState{11, 9}));
  // Gone with the mailbox: a recreated one is imported afresh.
  store.create_mailbox(user, "Tmp");
  save_state(store, user, "Tmp", e, {1, 1}, "x");
  store.delete_mailbox(user, "Tmp");
  store.create_mailbox(user, "Tmp");
  EXPECT_FALSE(load_state(store, user, "Tmp", e));
}

}  // namespace
}  // namespace postline::cli::import
