// Typed command arguments: one table of valid commands (with the fields they
// must give) and one of invalid ones per parser, then properties over all of
// them: every prefix and every extension by trailing bytes either fails with
// SyntaxError or parses completely, never anything else; literals arrive
// through the Receiver as on a connection; the parsers cover the command table.
#include "services/imap-access/protocol/command_args.h"

#include "services/imap-access/protocol/receiver.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

namespace postline::imap {
namespace {

using namespace std::string_literals;

// Parses a whole command ("tag NAME args") the way the connection does.
CommandArgs parse(const std::string& command) {
  Reader r(command);
  CommandHead head = parse_command_head(r);
  CommandArgs args = parse_command_args(head.name, r);
  EXPECT_TRUE(r.at_end()) << "left over: " << r.rest();
  return args;
}

template <typename T>
T parse_as(const std::string& command) {
  CommandArgs args = parse(command);
  if (!std::holds_alternative<T>(args)) {
    ADD_FAILURE() << "parsed into the wrong type: " << command;
    return T{};
  }
  return std::get<T>(std::move(args));
}

// "1:3,*" with '*' shown as such (UINT32_MAX stands in for it).
std::string text(const SequenceSet& set) {
  std::string out;
  for (auto [lo, hi] : set.resolve(UINT32_MAX)) {
    auto num = [](uint32_t n) { return n == UINT32_MAX ? std::string("*") : std::to_string(n); };
    if (!out.empty()) out += ',';
    out += num(lo);
    if (hi != lo) out += ":" + num(hi);
  }
  return out;
}

std::string repeat(const std::string& item, size_t n, const std::string& sep = " ") {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? sep : "") + item;
  return out;
}

std::string numbered(const std::string& prefix, size_t n, const std::string& suffix = "") {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? " " : "") + prefix + std::to_string(i) + suffix;
  return out;
}

template <typename T>
struct Valid {
  std::string in;
  std::function<void(const T&)> check;
};

template <typename T>
void run_valid(const std::vector<Valid<T>>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    try {
      T args = parse_as<T>(c.in);
      if (c.check) c.check(args);
    } catch (const SyntaxError& e) {
      ADD_FAILURE() << "rejected: " << e.what();
    }
  }
}

void run_invalid(const std::vector<std::string>& cases) {
  for (const auto& in : cases) EXPECT_THROW(parse(in), SyntaxError) << in;
}

const std::string k1024(1024, 'm');
const std::string k1025(1025, 'm');

TEST(CommandArgs, NoArgs) {
  for (const char* name :
       {"CAPABILITY", "NOOP", "LOGOUT", "CHECK", "UNSELECT", "CLOSE", "EXPUNGE", "IDLE", "STARTTLS", "NAMESPACE"}) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    run_valid<NoArgs>({{std::string("a ") + name, nullptr}, {"a " + lower, nullptr}});
    run_invalid({std::string("a ") + name + " ", std::string("a ") + name + " x", std::string("a ") + name + " ()",
                 std::string("a ") + name + "\r"});
  }
}

TEST(CommandArgs, Compress) {
  run_valid<CompressArgs>({
      {"a COMPRESS DEFLATE", [](const CompressArgs& a) { EXPECT_EQ(a.mechanism, CompressMechanism::kDeflate); }},
      {"a compress deflate", nullptr},
      {"a COMPRESS Deflate", nullptr},
  });
  run_invalid({"a COMPRESS", "a COMPRESS ", "a COMPRESS GZIP", "a COMPRESS DEFLATE ", "a COMPRESS DEFLATE X",
               "a COMPRESS \"DEFLATE\"", "a COMPRESS (DEFLATE)", "a COMPRESS  DEFLATE", "a COMPRESS DEFLATE64"});
}

TEST(CommandArgs, Id) {
  run_valid<IdArgs>({
      {"a ID NIL", [](const IdArgs& a) { EXPECT_FALSE(a.params); }},
      {"a id nil", [](const IdArgs& a) { EXPECT_FALSE(a.params); }},
      {"a ID ()", [](const IdArgs& a) { EXPECT_TRUE(a.params && a.params->empty()); }},
      {"a ID (\"name\" \"mutt\" \"version\" NIL)",
       [](const IdArgs& a) {
         ASSERT_TRUE(a.params);
         ASSERT_EQ(a.params->size(), 2u);
         EXPECT_EQ((*a.params)[0].first, "name");
         EXPECT_EQ((*a.params)[0].second, "mutt");
         EXPECT_EQ((*a.params)[1].first, "version");
         EXPECT_EQ((*a.params)[1].second, std::nullopt);
       }},
      {"a ID ({4}\r\nname {3+}\r\nx y)", [](const IdArgs& a) { EXPECT_EQ((*a.params)[0].second, "x y"); }},
      {"a ID (" + numbered("\"f", 30, "\" \"v\"") + ")", [](const IdArgs& a) { EXPECT_EQ(a.params->size(), 30u); }},
      {"a ID (\"" + std::string(30, 'f') + "\" \"" + std::string(1024, 'v') + "\")", nullptr},
  });
  run_invalid({
      "a ID",
      "a ID ",
      "a ID \"x\"",
      "a ID x",
      "a ID (",
      "a ID ( )",
      "a ID (\"name\")",
      "a ID (\"name\" )",
      "a ID (\"name\" \"x\" )",
      "a ID (\"name\" \"x\") x",
      "a ID (\"name\" \"x\"",
      "a ID (name \"x\")",  // a field is a string, not an atom
      "a ID (NIL \"x\")",   // nor NIL
      "a ID (\"a\" \"b\"\"c\" \"d\")",
      "a ID (" + numbered("\"f", 31, "\" \"v\"") + ")",
      "a ID (\"" + std::string(31, 'f') + "\" \"v\")",
      "a ID (\"f\" \"" + std::string(1025, 'v') + "\")",
      "a ID ({5}\r\nna)",
      "a ID (\"f\" \"a\0b\")"s,
  });
}

TEST(CommandArgs, Enable) {
  run_valid<EnableArgs>({
      {"a ENABLE CONDSTORE",
       [](const EnableArgs& a) { EXPECT_EQ(a.capabilities, std::vector<std::string>{"CONDSTORE"}); }},
      {"a enable condstore qresync utf8=accept X-UNKNOWN",
       [](const EnableArgs& a) {
         EXPECT_EQ(a.capabilities, (std::vector<std::string>{"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "X-UNKNOWN"}));
       }},
      {"a ENABLE " + numbered("C", 32), [](const EnableArgs& a) { EXPECT_EQ(a.capabilities.size(), 32u); }},
  });
  run_invalid({"a ENABLE", "a ENABLE ", "a ENABLE A  B", "a ENABLE A ", "a ENABLE \"CONDSTORE\"", "a ENABLE (A)",
               "a ENABLE {9}\r\nCONDSTORE", "a ENABLE " + numbered("C", 33)});
}

TEST(CommandArgs, Login) {
  run_valid<LoginArgs>({
      {"a LOGIN user pass",
       [](const LoginArgs& a) {
         EXPECT_EQ(a.userid, "user");
         EXPECT_EQ(a.password, "pass");
       }},
      {"a login \"us\\\"er\" {4}\r\np ss",
       [](const LoginArgs& a) {
         EXPECT_EQ(a.userid, "us\"er");
         EXPECT_EQ(a.password, "p ss");
       }},
      {"a LOGIN {4+}\r\nuser \"\"", [](const LoginArgs& a) { EXPECT_EQ(a.password, ""); }},
      // NIL is an atom here, so a valid astring.
      {"a LOGIN NIL pa]ss",
       [](const LoginArgs& a) {
         EXPECT_EQ(a.userid, "NIL");
         EXPECT_EQ(a.password, "pa]ss");
       }},
      {"a LOGIN u \"" + std::string(1024, 'p') + "\"", nullptr},
  });
  run_invalid({
      "a LOGIN",
      "a LOGIN user",
      "a LOGIN user ",
      "a LOGIN user pass x",
      "a LOGIN user pass ",
      "a LOGIN (user) pass",
      "a LOGIN user \"pass",
      "a LOGIN user {10}\r\nabc",
      "a LOGIN user {3}",
      "a LOGIN user {3}x\r\nabc",
      "a LOGIN user {99999999999999999999}\r\n",
      "a LOGIN u \"" + std::string(1025, 'p') + "\"",
      "a LOGIN u {3}\r\na\0b"s,
  });
}

TEST(CommandArgs, Authenticate) {
  run_valid<AuthenticateArgs>({
      {"a AUTHENTICATE PLAIN",
       [](const AuthenticateArgs& a) {
         EXPECT_EQ(a.mechanism, "PLAIN");
         EXPECT_FALSE(a.initial_response);
       }},
      {"a authenticate plain =",
       [](const AuthenticateArgs& a) {
         EXPECT_EQ(a.mechanism, "PLAIN");
         EXPECT_EQ(a.initial_response, "");
       }},
      {"a AUTHENTICATE PLAIN AHVzZXIAcGFzcw==",
       [](const AuthenticateArgs& a) { EXPECT_EQ(a.initial_response, std::string("\0user\0pass", 10)); }},
      {"a AUTHENTICATE SCRAM-SHA-256 biws",
       [](const AuthenticateArgs& a) {
         EXPECT_EQ(a.mechanism, "SCRAM-SHA-256");
         EXPECT_EQ(a.initial_response, "n,,");
       }},
  });
  run_invalid({"a AUTHENTICATE", "a AUTHENTICATE ", "a AUTHENTICATE PLAIN ", "a AUTHENTICATE PLAIN *",
               "a AUTHENTICATE PLAIN abc", "a AUTHENTICATE PLAIN ab=c",
               "a AUTHENTICATE PLAIN a===", "a AUTHENTICATE PLAIN AAAA x", "a AUTHENTICATE \"PLAIN\"",
               "a AUTHENTICATE PLAIN \"AAAA\"", "a AUTHENTICATE PLAIN {4}\r\nAAAA", "a AUTHENTICATE PLAIN ===="});
}

TEST(CommandArgs, SelectAndExamine) {
  run_valid<SelectArgs>({
      {"a SELECT INBOX",
       [](const SelectArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_FALSE(a.condstore);
         EXPECT_FALSE(a.qresync);
       }},
      {"a examine \"Sent Items\"", [](const SelectArgs& a) { EXPECT_EQ(a.mailbox, "Sent Items"); }},
      {"a SELECT &ZeVnLIqe- (CONDSTORE)",
       [](const SelectArgs& a) {
         EXPECT_EQ(a.mailbox, "&ZeVnLIqe-");  // the wire form: decoding is the handler's
         EXPECT_TRUE(a.condstore);
       }},
      {"a SELECT {5}\r\ninbox (condstore)",
       [](const SelectArgs& a) {
         EXPECT_EQ(a.mailbox, "inbox");
         EXPECT_TRUE(a.condstore);
       }},
      {"a SELECT INBOX (QRESYNC (67890007 20050715194045000))",
       [](const SelectArgs& a) {
         ASSERT_TRUE(a.qresync);
         EXPECT_FALSE(a.condstore);
         EXPECT_EQ(a.qresync->uidvalidity, 67890007u);
         EXPECT_EQ(a.qresync->modseq, 20050715194045000u);
         EXPECT_FALSE(a.qresync->known_uids);
         EXPECT_FALSE(a.qresync->seq_match);
       }},
      {"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
       [](const SelectArgs& a) {
         ASSERT_TRUE(a.qresync && a.qresync->known_uids);
         EXPECT_EQ(text(*a.qresync->known_uids), "41,43:211,214:541");
         EXPECT_FALSE(a.qresync->seq_match);
       }},
      // RFC 7162 3.2.5.2's example.
      {"a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:10 41:50)))",
       [](const SelectArgs& a) {
         ASSERT_TRUE(a.qresync && a.qresync->seq_match);
         EXPECT_EQ(text(*a.qresync->known_uids), "41:211,214:541");
         EXPECT_EQ(text(a.qresync->seq_match->msns), "1:10");
         EXPECT_EQ(text(a.qresync->seq_match->uids), "41:50");
       }},
      // '*' in known-uids, as clients (and tests/e2e/test_imap_sync.py) send it.
      {"a SELECT INBOX (QRESYNC (1 2 1:*))",
       [](const SelectArgs& a) {
         ASSERT_TRUE(a.qresync && a.qresync->known_uids);
         EXPECT_EQ(text(*a.qresync->known_uids), "1:*");
       }},
      {"a SELECT INBOX (qresync (1 0 (1,3 5,9)))",
       [](const SelectArgs& a) {
         ASSERT_TRUE(a.qresync && a.qresync->seq_match);
         EXPECT_EQ(a.qresync->modseq, 0u);
         EXPECT_FALSE(a.qresync->known_uids);
         EXPECT_EQ(text(a.qresync->seq_match->uids), "5,9");
       }},
      {"a SELECT INBOX (CONDSTORE QRESYNC (4294967295 9223372036854775807))",
       [](const SelectArgs& a) {
         EXPECT_TRUE(a.condstore);
         ASSERT_TRUE(a.qresync);
         EXPECT_EQ(a.qresync->uidvalidity, 4294967295u);
         EXPECT_EQ(a.qresync->modseq, 9223372036854775807u);
       }},
      {"a SELECT \"" + k1024 + "\"", nullptr},
  });
  run_invalid({
      "a SELECT INBOX (QRESYNC (1 2 $))",  // "$" is a selected mailbox's, not SELECT's
      "a SELECT",
      "a SELECT ",
      "a SELECT INBOX ",
      "a SELECT (INBOX)",
      // The issue's case: a good parameter, then garbage. Nothing may be set.
      "a SELECT INBOX (CONDSTORE) x",
      "a SELECT INBOX (CONDSTORE",
      "a SELECT INBOX (CONDSTORE )",
      "a SELECT INBOX ()",
      "a SELECT INBOX (FOO)",
      "a SELECT INBOX CONDSTORE",
      "a SELECT INBOX (CONDSTORE CONDSTORE)",
      "a SELECT INBOX (QRESYNC)",
      "a SELECT INBOX (QRESYNC ())",
      "a SELECT INBOX (QRESYNC (1))",
      "a SELECT INBOX (QRESYNC (0 1))",
      "a SELECT INBOX (QRESYNC (4294967296 1))",
      "a SELECT INBOX (QRESYNC (1 9223372036854775808))",
      "a SELECT INBOX (QRESYNC (1 18446744073709551615))",
      "a SELECT INBOX (QRESYNC (1 99999999999999999999))",
      "a SELECT INBOX (QRESYNC (1 2 ))",
      "a SELECT INBOX (QRESYNC (1 2 0))",
      "a SELECT INBOX (QRESYNC (1 2 1:5 (1:* 1:5)))",
      "a SELECT INBOX (QRESYNC (1 2 1:5 (1:3 1:5)))",  // sets of different sizes
      "a SELECT INBOX (QRESYNC (1 2 1:5 (1:3)))",
      "a SELECT INBOX (QRESYNC (1 2 1:5 (1:3 4:6))",
      "a SELECT INBOX (QRESYNC (1 2 1:5 ))",
      "a SELECT INBOX (QRESYNC (1 2 1:5 x))",
      "a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))",
      "a SELECT INBOX (QRESYNC (1 2)) x",
      "a SELECT \"" + k1025 + "\"",
      "a SELECT \"a\0b\""s,
  });
}

TEST(CommandArgs, MailboxCommands) {
  for (const char* name : {"CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT"}) {
    const std::string cmd = std::string("a ") + name + " ";
    run_valid<MailboxArgs>({
        {cmd + "foo", [](const MailboxArgs& a) { EXPECT_EQ(a.mailbox, "foo"); }},
        {cmd + "\"a b\"", [](const MailboxArgs& a) { EXPECT_EQ(a.mailbox, "a b"); }},
        {cmd + "{3}\r\na]b", [](const MailboxArgs& a) { EXPECT_EQ(a.mailbox, "a]b"); }},
        {cmd + "\"\"", [](const MailboxArgs& a) { EXPECT_EQ(a.mailbox, ""); }},
        {cmd + k1024, nullptr},
    });
    run_invalid({std::string("a ") + name, cmd, cmd + "foo ", cmd + "foo bar", cmd + "(foo)", cmd + "\"foo",
                 cmd + k1025, cmd + "{3}\r\na\0b"s});
  }
  run_invalid({"a CREATE foo (USE (\\Sent))"});
}

TEST(CommandArgs, Rename) {
  run_valid<RenameArgs>({
      {"a RENAME a b",
       [](const RenameArgs& a) {
         EXPECT_EQ(a.from, "a");
         EXPECT_EQ(a.to, "b");
       }},
      {"a rename \"a b\" {1}\r\nc", [](const RenameArgs& a) { EXPECT_EQ(a.to, "c"); }},
  });
  run_invalid({"a RENAME", "a RENAME a", "a RENAME a ", "a RENAME a b c", "a RENAME a  b", "a RENAME a " + k1025});
}

TEST(CommandArgs, List) {
  run_valid<ListArgs>({
      {"a LIST \"\" *",
       [](const ListArgs& a) {
         EXPECT_EQ(a.reference, "");
         EXPECT_EQ(a.patterns, std::vector<std::string>{"*"});
         EXPECT_FALSE(a.extended);
         EXPECT_FALSE(a.has_return);
       }},
      {"a list ~/Mail/ %/x*",
       [](const ListArgs& a) {
         EXPECT_EQ(a.reference, "~/Mail/");
         EXPECT_EQ(a.patterns, std::vector<std::string>{"%/x*"});
       }},
      {"a LIST \"\" \"\"", [](const ListArgs& a) { EXPECT_EQ(a.patterns, std::vector<std::string>{""}); }},
      {"a LIST () \"\" *",
       [](const ListArgs& a) {
         EXPECT_TRUE(a.extended);
         EXPECT_FALSE(a.select_subscribed || a.select_remote || a.select_recursivematch || a.select_special_use);
       }},
      {"a LIST (SUBSCRIBED) \"\" *",
       [](const ListArgs& a) {
         EXPECT_TRUE(a.select_subscribed);
         EXPECT_FALSE(a.return_subscribed);  // implied, but that is the handler's rule
       }},
      {"a LIST (subscribed recursivematch remote) \"\" *",
       [](const ListArgs& a) { EXPECT_TRUE(a.select_subscribed && a.select_recursivematch && a.select_remote); }},
      {"a LIST (SPECIAL-USE RECURSIVEMATCH) \"\" *", [](const ListArgs& a) { EXPECT_TRUE(a.select_special_use); }},
      {"a LIST (REMOTE) \"\" *", [](const ListArgs& a) { EXPECT_TRUE(a.select_remote); }},
      {"a LIST \"\" (\"INBOX\" Sent* {1}\r\n%)",
       [](const ListArgs& a) {
         EXPECT_TRUE(a.extended);
         EXPECT_EQ(a.patterns, (std::vector<std::string>{"INBOX", "Sent*", "%"}));
       }},
      {"a LIST \"\" * RETURN ()",
       [](const ListArgs& a) {
         EXPECT_TRUE(a.extended && a.has_return);
         EXPECT_FALSE(a.return_children || a.return_status);
       }},
      {"a LIST \"\" * return (children SUBSCRIBED special-use STATUS (messages UNSEEN))",
       [](const ListArgs& a) {
         EXPECT_TRUE(a.return_children && a.return_subscribed && a.return_special_use);
         ASSERT_TRUE(a.return_status);
         EXPECT_TRUE(a.return_status->messages && a.return_status->unseen);
         EXPECT_FALSE(a.return_status->uidnext);
       }},
      {"a LIST (SUBSCRIBED) \"\" (\"INBOX\" \"&ZeVnLIqe-\") RETURN (STATUS (MESSAGES))", nullptr},
      {"a LIST \"\" (" + repeat("x", 64) + ")", [](const ListArgs& a) { EXPECT_EQ(a.patterns.size(), 64u); }},
      {"a LIST \"" + k1024 + "\" \"" + k1024 + "\"", nullptr},
  });
  run_invalid({
      "a LIST",
      "a LIST \"\"",
      "a LIST \"\" ",
      "a LIST \"\" * ",
      "a LIST \"\"  *",
      "a LIST (RECURSIVEMATCH) \"\" *",  // RFC 5258 3: nothing to modify
      "a LIST (REMOTE RECURSIVEMATCH) \"\" *",
      "a LIST (FOO) \"\" *",
      "a LIST (SUBSCRIBED \"\" *",
      "a LIST (SUBSCRIBED)\"\" *",
      "a LIST ( SUBSCRIBED) \"\" *",
      "a LIST (SUBSCRIBED) *",
      "a LIST \"\" ()",
      "a LIST \"\" (*",
      "a LIST \"\" (* )",
      "a LIST \"\" (" + repeat("x", 65) + ")",
      "a LIST \"\" * RETURN",
      "a LIST \"\" * RETURN ",
      "a LIST \"\" * RETURN CHILDREN",
      "a LIST \"\" * RETURN (FOO)",
      "a LIST \"\" * RETURN (STATUS)",
      "a LIST \"\" * RETURN (STATUS ())",
      "a LIST \"\" * RETURN (STATUS (FOO))",
      "a LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UIDNEXT))",
      "a LIST \"\" * RETURN (CHILDREN",
      "a LIST \"\" * RETURN (CHILDREN) x",
      "a LIST \"\" * FOO (CHILDREN)",
      "a LIST \"\" * (CHILDREN)",
      "a LIST (" + repeat("REMOTE", 33) + ") \"\" *",
      "a LIST \"\" * RETURN (" + repeat("CHILDREN", 33) + ")",
      "a LIST \"" + k1025 + "\" *",
      "a LIST \"\" \"" + k1025 + "\"",
      "a LIST \"\" (x \"" + k1025 + "\")",
  });
}

TEST(CommandArgs, Lsub) {
  run_valid<ListArgs>({{"a LSUB \"\" *",
                        [](const ListArgs& a) {
                          EXPECT_EQ(a.patterns, std::vector<std::string>{"*"});
                          EXPECT_FALSE(a.extended);
                        }},
                       {"a lsub Lists/ %", [](const ListArgs& a) { EXPECT_EQ(a.reference, "Lists/"); }}});
  run_invalid({"a LSUB", "a LSUB \"\"", "a LSUB \"\" (a b)", "a LSUB (SUBSCRIBED) \"\" *", "a LSUB \"\" * RETURN ()",
               "a LSUB \"\" * x"});
}

TEST(CommandArgs, Status) {
  run_valid<StatusArgs>({
      {"a STATUS INBOX (MESSAGES)",
       [](const StatusArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_TRUE(a.items.messages);
         EXPECT_FALSE(a.items.unseen);
       }},
      {"a status x (messages uidnext uidvalidity unseen deleted size recent highestmodseq appendlimit mailboxid "
       "deleted-storage)",
       [](const StatusArgs& a) {
         const auto& i = a.items;
         EXPECT_TRUE(i.messages && i.uidnext && i.uidvalidity && i.unseen && i.deleted && i.size && i.recent &&
                     i.highestmodseq && i.appendlimit && i.mailboxid && i.deleted_storage);
       }},
      {"a STATUS INBOX (MESSAGES MESSAGES)", nullptr},
      {"a STATUS INBOX (" + repeat("SIZE", 32) + ")", nullptr},
  });
  run_invalid({"a STATUS", "a STATUS INBOX", "a STATUS INBOX ", "a STATUS INBOX ()", "a STATUS INBOX MESSAGES",
               "a STATUS INBOX (MESSAGES", "a STATUS INBOX (FOO)", "a STATUS INBOX (MESSAGES  UNSEEN)",
               "a STATUS INBOX (MESSAGES )", "a STATUS INBOX (MESSAGES) x", "a STATUS INBOX (\"MESSAGES\")",
               "a STATUS INBOX (NIL)", "a STATUS INBOX (" + repeat("SIZE", 33) + ")"});
}

TEST(CommandArgs, Append) {
  run_valid<AppendArgs>({
      {"a APPEND INBOX {5}\r\nhello",
       [](const AppendArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_EQ(a.messages.at(0).message, "hello");
         EXPECT_TRUE(a.messages.at(0).flags.empty());
         EXPECT_FALSE(a.messages.at(0).internal_date);
         EXPECT_FALSE(a.messages.at(0).literal8);
         EXPECT_FALSE(a.messages.at(0).utf8);
       }},
      {"a APPEND INBOX ~{5}\r\nh\0\r\no"s,
       [](const AppendArgs& a) {
         EXPECT_TRUE(a.messages.at(0).literal8);
         EXPECT_EQ(a.messages.at(0).message, std::string("h\0\r\no", 5));
       }},
      {"a append Drafts (\\Seen $Label1 \\draft) \" 1-Jan-2020 00:00:00 +0000\" {5+}\r\nhello",
       [](const AppendArgs& a) {
         EXPECT_EQ(a.mailbox, "Drafts");
         EXPECT_EQ(a.messages.at(0).flags, (std::vector<std::string>{"\\Seen", "$Label1", "\\Draft"}));
         EXPECT_EQ(a.messages.at(0).internal_date, 1577836800);
       }},
      {"a APPEND INBOX \"01-Jan-2020 01:00:00 +0100\" ~{1+}\r\nx",
       [](const AppendArgs& a) {
         EXPECT_EQ(a.messages.at(0).internal_date, 1577836800);
         EXPECT_TRUE(a.messages.at(0).literal8);
       }},
      {"a APPEND INBOX () {0}\r\n", [](const AppendArgs& a) { EXPECT_EQ(a.messages.at(0).message, ""); }},
      {"a APPEND INBOX \"29-Feb-2000 00:00:00 +0000\" {1}\r\nx",  // a leap day
       [](const AppendArgs& a) { EXPECT_EQ(a.messages.at(0).internal_date, 951782400); }},
      {"a APPEND INBOX \"31-Dec-2020 23:59:59 +0000\" {1}\r\nx", nullptr},
      {"a APPEND {5}\r\nINBOX {1}\r\nx", [](const AppendArgs& a) { EXPECT_EQ(a.mailbox, "INBOX"); }},
      {"a APPEND INBOX UTF8 (~{3}\r\nabc)",
       [](const AppendArgs& a) {
         EXPECT_TRUE(a.messages.at(0).utf8 && a.messages.at(0).literal8);
         EXPECT_EQ(a.messages.at(0).message, "abc");
       }},
      {"a APPEND INBOX (\\Seen) utf8 (~{3+}\r\nabc)", [](const AppendArgs& a) { EXPECT_TRUE(a.messages.at(0).utf8); }},
      {"a APPEND INBOX (" + numbered("k", 256) + ") {1}\r\nx",
       [](const AppendArgs& a) { EXPECT_EQ(a.messages.at(0).flags.size(), 256u); }},
      {"a APPEND INBOX (" + std::string(100, 'k') + ") {1}\r\nx", nullptr},
      // MULTIAPPEND (RFC 3502): each message with its own flags and date.
      {"a APPEND INBOX {5}\r\nhello (\\Seen) \"01-Jan-2020 01:00:00 +0100\" ~{1+}\r\nx UTF8 (~{2}\r\nyz)",
       [](const AppendArgs& a) {
         ASSERT_EQ(a.messages.size(), 3u);
         EXPECT_EQ(a.messages[0].message, "hello");
         EXPECT_TRUE(a.messages[0].flags.empty());
         EXPECT_EQ(a.messages[1].flags, std::vector<std::string>{"\\Seen"});
         EXPECT_EQ(a.messages[1].internal_date, 1577836800);
         EXPECT_TRUE(a.messages[1].literal8);
         EXPECT_TRUE(a.messages[2].utf8);
         EXPECT_EQ(a.messages[2].message, "yz");
       }},
      // CATENATE (RFC 4469 5's example, and literal8 text, with MULTIAPPEND).
      {"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" "
       "TEXT {42}\r\n\r\n--------------030308070208000400050907\r\n "
       "URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME\")",
       [](const AppendArgs& a) {
         ASSERT_EQ(a.messages.size(), 1u);
         const auto& parts = a.messages[0].catenate;
         ASSERT_EQ(parts.size(), 3u);
         EXPECT_TRUE(parts[0].is_url);
         EXPECT_EQ(parts[0].text, "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER");
         EXPECT_FALSE(parts[1].is_url);
         EXPECT_EQ(parts[1].text, "\r\n--------------030308070208000400050907\r\n");
         EXPECT_TRUE(parts[2].is_url);
         EXPECT_TRUE(a.messages[0].message.empty());
       }},
      {"a APPEND INBOX catenate (text ~{2}\r\nx\0) {1}\r\ny"s,
       [](const AppendArgs& a) {
         ASSERT_EQ(a.messages.size(), 2u);
         EXPECT_TRUE(a.messages[0].catenate.at(0).literal8);
         EXPECT_EQ(a.messages[0].catenate.at(0).text, std::string("x\0", 2));
         EXPECT_EQ(a.messages[1].message, "y");
       }},
      {"a APPEND INBOX" + [] {
         std::string s;
         for (int i = 0; i < 1000; ++i) s += " {1}\r\nx";
         return s;
       }(),
       [](const AppendArgs& a) { EXPECT_EQ(a.messages.size(), 1000u); }},
  });
  run_invalid({
      "a APPEND",
      "a APPEND INBOX",
      "a APPEND INBOX ",
      "a APPEND INBOX {5}\r\nhel",
      "a APPEND INBOX {5}\r\nhello ",
      "a APPEND INBOX {5}\r\nhello x",
      "a APPEND INBOX {5}\r\nhello  {1}\r\nx",
      "a APPEND INBOX {5}\r\nhello (){1}\r\nx",  // no SP after the flag list of the second
      "a APPEND INBOX CATENATE ()",
      "a APPEND INBOX CATENATE (TEXT \"quoted\")",  // TEXT takes a literal
      "a APPEND INBOX CATENATE (FILE {1}\r\nx)",
      "a APPEND INBOX CATENATE (URL)",
      "a APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\"",
      "a APPEND INBOX CATENATE (URL {4097}\r\n" + std::string(4097, 'u') + ")",
      "a APPEND INBOX CATENATE (" + repeat("TEXT {1}\r\nx", 101) + ")",
      "a APPEND INBOX" + [] {
        std::string s;
        for (int i = 0; i < 1001; ++i) s += " {1}\r\nx";
        return s;
      }(),
      "a APPEND INBOX {5}",
      "a APPEND INBOX (\\Recent) {1}\r\nx",
      "a APPEND INBOX (\\*) {1}\r\nx",
      "a APPEND INBOX (\\Foo) {1}\r\nx",
      "a APPEND INBOX (\\Seen {1}\r\nx",
      "a APPEND INBOX (\\Seen){1}\r\nx",
      "a APPEND INBOX (\"\\Seen\") {1}\r\nx",
      "a APPEND INBOX (" + numbered("k", 257) + ") {1}\r\nx",
      "a APPEND INBOX (" + std::string(101, 'k') + ") {1}\r\nx",
      "a APPEND INBOX \"bad date\" {1}\r\nx",
      "a APPEND INBOX \"32-Jan-2020 00:00:00 +0000\" {1}\r\nx",
      "a APPEND INBOX \"31-Apr-2020 00:00:00 +0000\" {1}\r\nx",
      "a APPEND INBOX \"29-Feb-2021 00:00:00 +0000\" {1}\r\nx",
      "a APPEND INBOX \"30-Feb-2000 00:00:00 +0000\" {1}\r\nx",
      "a APPEND INBOX \"01-Jan-2020 00:00:00 +0000\"{1}\r\nx",
      "a APPEND INBOX \"01-Jan-2020 00:00:00 +0000\"",
      "a APPEND INBOX \"hello\"",  // the message must be a literal
      "a APPEND INBOX hello",
      "a APPEND INBOX NIL",
      "a APPEND INBOX UTF8 ({3}\r\nabc)",  // RFC 6855: literal8 only
      "a APPEND INBOX UTF8 (~{3}\r\nabc",
      "a APPEND INBOX UTF8 ~{3}\r\nabc",
      "a APPEND INBOX UTF8",
      "a APPEND INBOX FOO {1}\r\nx",
      "a APPEND INBOX ~5",
      "a APPEND INBOX ~{5}\r\nab",
      "a APPEND INBOX ~ {1}\r\nx",
      "a APPEND INBOX {1}x\r\nx",
      "a APPEND INBOX {18446744073709551616}\r\nx",
      "a APPEND " + k1025 + " {1}\r\nx",
  });
}

TEST(CommandArgs, Replace) {
  run_valid<ReplaceArgs>({
      {"a REPLACE 4 Drafts (\\Seen \\Draft) {5}\r\nhello",
       [](const ReplaceArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_EQ(text(a.target), "4");
         EXPECT_EQ(a.mailbox, "Drafts");
         EXPECT_EQ(a.message.flags, (std::vector<std::string>{"\\Seen", "\\Draft"}));
         EXPECT_EQ(a.message.message, "hello");
       }},
      {"a UID REPLACE * INBOX \"01-Jan-2020 00:00:00 +0000\" ~{1+}\r\nx",
       [](const ReplaceArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(text(a.target), "*");
         EXPECT_EQ(a.message.internal_date, 1577836800);
         EXPECT_TRUE(a.message.literal8);
       }},
  });
  run_invalid({"a REPLACE", "a REPLACE 1", "a REPLACE 1 Drafts", "a REPLACE 1:2 Drafts {1}\r\nx",
               "a REPLACE 1,2 Drafts {1}\r\nx", "a REPLACE 0 Drafts {1}\r\nx", "a REPLACE $ Drafts {1}\r\nx",
               "a REPLACE 1 Drafts {1}\r\nx {1}\r\ny", "a REPLACE 1 Drafts (\\Recent) {1}\r\nx",
               "a UID REPLACE x Drafts {1}\r\nx"});
}

TEST(CommandArgs, CopyAndMove) {
  run_valid<CopyArgs>({
      {"a COPY 1:3,5 Trash",
       [](const CopyArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_EQ(text(a.set), "1:3,5");
         EXPECT_EQ(a.mailbox, "Trash");
       }},
      {"a UID MOVE 1:* \"Deleted Items\"",
       [](const CopyArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(text(a.set), "1:*");
         EXPECT_EQ(a.mailbox, "Deleted Items");
       }},
      {"a uid copy 4294967295 x", [](const CopyArgs& a) { EXPECT_TRUE(a.uid); }},
      {"a move 5:2 x", [](const CopyArgs& a) { EXPECT_EQ(text(a.set), "2:5"); }},
      // SEARCHRES (RFC 5182): "$", alone or among the items.
      {"a COPY $ Trash",
       [](const CopyArgs& a) {
         EXPECT_TRUE(a.set.saved());
         EXPECT_EQ(text(a.set), "");
       }},
      {"a UID MOVE 1:2,$ Trash",
       [](const CopyArgs& a) {
         EXPECT_TRUE(a.set.saved());
         EXPECT_EQ(text(a.set), "1:2");
       }},
  });
  for (const char* cmd : {"COPY", "MOVE", "UID COPY", "UID MOVE"}) {
    const std::string c = std::string("a ") + cmd;
    run_invalid({c, c + " ", c + " 1", c + " 1 ", c + " Trash", c + " 0 Trash", c + " 1:0 Trash",
                 c + " 4294967296 Trash", c + " 1:2 Trash x", c + " $:3 Trash", c + " $$ Trash", c + " 1,,2 Trash", c + " 1: Trash",
                 c + " (1) Trash", c + " 1 " + k1025});
  }
}

TEST(CommandArgs, Fetch) {
  run_valid<FetchArgs>({
      {"a FETCH 1:* (FLAGS UID)",
       [](const FetchArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_EQ(text(a.set), "1:*");
         ASSERT_EQ(a.request.items.size(), 2u);
         EXPECT_EQ(a.request.items[0].kind, FetchItem::kFlags);
       }},
      {"a UID FETCH 1:* FLAGS (CHANGEDSINCE 12 VANISHED)",
       [](const FetchArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(a.request.changed_since, 12);
         EXPECT_TRUE(a.request.vanished);
       }},
      {"a fetch 1 all", [](const FetchArgs& a) { EXPECT_EQ(a.request.items.size(), 4u); }},
      {"a FETCH 1 (body.peek[header.fields (From)]<0.10>)", nullptr},
      {"a FETCH 1 FLAGS (CHANGEDSINCE 0)", [](const FetchArgs& a) { EXPECT_EQ(a.request.changed_since, 0); }},
      {"a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775807)",
       [](const FetchArgs& a) { EXPECT_EQ(a.request.changed_since, INT64_MAX); }},
  });
  run_invalid({"a FETCH", "a FETCH 1", "a FETCH 1 ", "a FETCH 1 FLAGS x", "a FETCH 1 FLAGS ", "a FETCH 0 FLAGS",
               "a FETCH 1 ()", "a FETCH 1 (FLAGS", "a FETCH FLAGS",
               "a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)",
               "a FETCH 1 FLAGS (CHANGEDSINCE 9999999999999999999)",
               "a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)",  // RFC 7162 3.2.6: UID FETCH only
               "a UID FETCH 1 FLAGS (VANISHED)",             // and only with CHANGEDSINCE
               "a UID FETCH 1 FLAGS (CHANGEDSINCE)", "a UID FETCH 1 FLAGS ()"});
}

TEST(CommandArgs, Store) {
  run_valid<StoreArgs>({
      {"a STORE 1 FLAGS (\\Seen)",
       [](const StoreArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_EQ(a.mode, StoreMode::kReplace);
         EXPECT_FALSE(a.silent);
         EXPECT_FALSE(a.unchanged_since);
         EXPECT_EQ(a.flags, std::vector<std::string>{"\\Seen"});
       }},
      {"a STORE 1:3 +FLAGS.SILENT (\\Deleted)",
       [](const StoreArgs& a) {
         EXPECT_EQ(a.mode, StoreMode::kAdd);
         EXPECT_TRUE(a.silent);
       }},
      {"a uid store 1 -flags \\seen $x \\ANSWERED",
       [](const StoreArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(a.mode, StoreMode::kRemove);
         EXPECT_EQ(a.flags, (std::vector<std::string>{"\\Seen", "$x", "\\Answered"}));
       }},
      {"a STORE 1 FLAGS ()", [](const StoreArgs& a) { EXPECT_TRUE(a.flags.empty()); }},
      {"a STORE 1 (UNCHANGEDSINCE 0) FLAGS (\\Seen)", [](const StoreArgs& a) { EXPECT_EQ(a.unchanged_since, 0u); }},
      {"a STORE 1 (unchangedsince 9223372036854775807) +flags.silent \\Flagged",
       [](const StoreArgs& a) {
         EXPECT_EQ(a.unchanged_since, 9223372036854775807u);
         EXPECT_TRUE(a.silent);
       }},
      {"a STORE 1 FLAGS (" + numbered("k", 256) + ")", nullptr},
      {"a STORE 1 FLAGS " + numbered("k", 256), nullptr},
  });
  run_invalid({
      "a STORE",
      "a STORE 1",
      "a STORE 1 FLAGS",
      "a STORE 1 FLAGS ",
      "a STORE 1 FLAGS \\Seen ",
      "a STORE 1 FLAGS (\\Seen) x",
      "a STORE 1 FLAGS (\\Seen",
      "a STORE 1 +FLAGS (\\Recent)",
      "a STORE 1 +FLAGS \\recent",
      "a STORE 1 FLAGS \\*",
      "a STORE 1 FLAGS (\\Foo)",
      "a STORE 1 FLAGS (\\)",
      "a STORE 1 FLAGS (\"x\")",
      "a STORE 1 FLAGS.LOUD (\\Seen)",
      "a STORE 1 *FLAGS (\\Seen)",
      "a STORE 1 + (\\Seen)",
      "a STORE 1 FLAG (\\Seen)",
      "a STORE 0 FLAGS (\\Seen)",
      "a STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS ()",
      "a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS ()",
      "a STORE 1 (UNCHANGEDSINCE) FLAGS ()",
      "a STORE 1 (FOO 1) FLAGS ()",
      "a STORE 1 () FLAGS ()",
      "a STORE 1 (UNCHANGEDSINCE 1)FLAGS ()",
      "a STORE 1 (UNCHANGEDSINCE 1) ",
      "a STORE 1 FLAGS (" + numbered("k", 257) + ")",
      "a STORE 1 FLAGS " + numbered("k", 257),
      "a STORE 1 FLAGS " + std::string(101, 'k'),
  });
}

TEST(CommandArgs, Search) {
  run_valid<SearchArgs>({
      {"a SEARCH ALL", [](const SearchArgs& a) { EXPECT_FALSE(a.uid); }},
      {"a uid search return (min) unseen",
       [](const SearchArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_TRUE(a.request.ret_min);
       }},
      {"a SEARCH MODSEQ 9223372036854775807 LARGER 9223372036854775807", nullptr},
      {"a SEARCH OR (SUBJECT {3}\r\nabc) NOT 1:5", nullptr},
  });
  run_invalid({"a SEARCH", "a SEARCH ", "a SEARCH FOO", "a SEARCH ALL )", "a SEARCH ALL ", "a SEARCH (ALL",
               "a SEARCH MODSEQ 9223372036854775808", "a SEARCH NOT (LARGER 9999999999999999999)",
               "a SEARCH " + repeat("(", 40) + "ALL" + repeat(")", 40)});
}

TEST(CommandArgs, Sort) {
  using K = mailstore::SortKey;
  run_valid<SortArgs>({
      {"a SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
       [](const SortArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_FALSE(a.esort);
         EXPECT_EQ(a.criteria, (std::vector<mailstore::SortCriterion>{{K::kSubject, false}, {K::kDate, true}}));
         EXPECT_EQ(a.charset, "UTF-8");
         ASSERT_EQ(a.key.kind, SearchKey::kAnd);
         ASSERT_EQ(a.key.children.size(), 1u);
         EXPECT_EQ(a.key.children[0].kind, SearchKey::kAll);
       }},
      {"a uid sort (arrival cc from size to displayfrom displayto) us-ascii since 1-Feb-1994 unseen",
       [](const SortArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(a.criteria.size(), 7u);
         EXPECT_EQ(a.criteria[5].key, K::kDisplayFrom);
         EXPECT_EQ(a.charset, "US-ASCII");
         EXPECT_EQ(a.key.children.size(), 2u);
       }},
      {"a SORT (DATE) \"koi8-r\" TEXT {3}\r\nabc",
       [](const SortArgs& a) {
         EXPECT_EQ(a.charset, "KOI8-R");  // the handler refuses it with BADCHARSET
         EXPECT_EQ(a.key.children[0].text, "abc");
       }},
      {"a SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL",
       [](const SortArgs& a) {
         EXPECT_TRUE(a.esort);
         EXPECT_TRUE(a.ret_min && a.ret_max && a.ret_count && a.ret_all);
       }},
      {"a SORT RETURN () (DATE) UTF-8 ALL", [](const SortArgs& a) { EXPECT_TRUE(a.esort && a.ret_all && !a.ret_min); }},
      {"a SORT RETURN (SAVE) (DATE) UTF-8 ALL", [](const SortArgs& a) { EXPECT_TRUE(a.ret_save && !a.ret_all); }},
      {"a SORT (" + repeat("DATE", kMaxSortCriteria) + ") UTF-8 ALL", nullptr},
      // CONTEXT=SORT (RFC 5267 4): CONTEXT, UPDATE, PARTIAL (RFC 9394 negative ranges too).
      {"a SORT RETURN (CONTEXT UPDATE PARTIAL 10:1) (DATE) UTF-8 ALL",
       [](const SortArgs& a) {
         EXPECT_TRUE(a.ctx.context && a.ctx.update && !a.ret_all);
         ASSERT_TRUE(a.ctx.partial);
         EXPECT_EQ(a.ctx.partial->first, 1);
         EXPECT_EQ(a.ctx.partial->last, 10);
       }},
      {"a SORT RETURN (UPDATE) (DATE) UTF-8 ALL", [](const SortArgs& a) { EXPECT_TRUE(a.ctx.update && a.ret_all); }},
      {"a SORT RETURN (PARTIAL -10:-1) (DATE) UTF-8 ALL",
       [](const SortArgs& a) {
         ASSERT_TRUE(a.ctx.partial);
         EXPECT_EQ(a.ctx.partial->first, -1);
         EXPECT_EQ(a.ctx.partial->last, -10);
       }},
  });
  run_invalid({"a SORT", "a SORT ", "a SORT ()", "a SORT (DATE)", "a SORT (DATE) UTF-8", "a SORT (DATE) UTF-8 ",
               "a SORT (DATE)UTF-8 ALL", "a SORT DATE UTF-8 ALL", "a SORT (FOO) UTF-8 ALL", "a SORT (REVERSE) UTF-8 ALL",
               "a SORT (REVERSE REVERSE DATE) UTF-8 ALL", "a SORT (DATE  SUBJECT) UTF-8 ALL",
               "a SORT (DATE) \"\" ALL", "a SORT (DATE) UTF-8 FOO", "a SORT RETURN (PARTIAL 1:10 ALL) (DATE) UTF-8 ALL",
               "a SORT RETURN (PARTIAL -1:2) (DATE) UTF-8 ALL", "a SORT RETURN (UPDATE UPDATE) (DATE) UTF-8 ALL",
"a SORT RETURN (MIN (DATE) UTF-8 ALL",
               "a SORT RETURN (DATE) UTF-8 ALL", "a SORT RETURN(MIN) (DATE) UTF-8 ALL",
               "a SORT (" + repeat("DATE", kMaxSortCriteria + 1) + ") UTF-8 ALL",
               "a SORT (DATE) UTF-8 " + repeat("(", 40) + "ALL" + repeat(")", 40),
               "a SORT (DATE) " + std::string(65, 'C') + " ALL"});
}

TEST(CommandArgs, CancelUpdate) {
  run_valid<CancelUpdateArgs>({
      {"a CANCELUPDATE \"x\"", [](const CancelUpdateArgs& a) { EXPECT_EQ(a.tags, (std::vector<std::string>{"x"})); }},
      {"a cancelupdate \"x\" \"y z\"",
       [](const CancelUpdateArgs& a) { EXPECT_EQ(a.tags, (std::vector<std::string>{"x", "y z"})); }},
  });
  run_invalid({"a CANCELUPDATE", "a CANCELUPDATE ", "a CANCELUPDATE x", "a CANCELUPDATE {1}\r\nx",
               "a CANCELUPDATE \"x\" ", "a CANCELUPDATE \"x\"  \"y\"", "a CANCELUPDATE (\"x\")",
               "a CANCELUPDATE " + repeat("\"t\"", kMaxCancelUpdateTags + 1)});
}

TEST(CommandArgs, Thread) {
  run_valid<ThreadArgs>({
      {"a THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
       [](const ThreadArgs& a) {
         EXPECT_FALSE(a.uid);
         EXPECT_EQ(a.algorithm, mailstore::ThreadAlgorithm::kOrderedSubject);
         EXPECT_EQ(a.key.children[0].kind, SearchKey::kSince);
       }},
      {"a UID THREAD references US-ASCII TEXT \"gewp\"",
       [](const ThreadArgs& a) {
         EXPECT_TRUE(a.uid);
         EXPECT_EQ(a.algorithm, mailstore::ThreadAlgorithm::kReferences);
         EXPECT_EQ(a.charset, "US-ASCII");
       }},
  });
  run_invalid({"a THREAD", "a THREAD ", "a THREAD REFERENCES", "a THREAD REFERENCES UTF-8",
               "a THREAD REFERENCES UTF-8 ", "a THREAD FOO UTF-8 ALL", "a THREAD (REFERENCES) UTF-8 ALL",
               "a THREAD REFS UTF-8 ALL", "a THREAD REFERENCES UTF-8 ALL x"});
}

TEST(CommandArgs, UidExpunge) {
  run_valid<UidExpungeArgs>({{"a UID EXPUNGE 1:3,7", [](const UidExpungeArgs& a) { EXPECT_EQ(text(a.set), "1:3,7"); }},
                             {"a uid expunge *", nullptr}});
  run_invalid(
      {"a UID EXPUNGE", "a UID EXPUNGE ", "a UID EXPUNGE 1 2", "a UID EXPUNGE 0", "a UID EXPUNGE x", "a EXPUNGE 1"});
}

TEST(CommandArgs, Quota) {
  run_valid<QuotaRootArgs>(
      {{"a GETQUOTA \"\"", [](const QuotaRootArgs& a) { EXPECT_EQ(a.root, ""); }},
       {"a getquota user/x@example.com", [](const QuotaRootArgs& a) { EXPECT_EQ(a.root, "user/x@example.com"); }}});
  run_invalid({"a GETQUOTA", "a GETQUOTA ", "a GETQUOTA a b", "a GETQUOTA " + k1025});
  run_valid<SetQuotaArgs>({
      {"a SETQUOTA \"\" (STORAGE 512)",
       [](const SetQuotaArgs& a) {
         EXPECT_EQ(a.root, "");
         EXPECT_EQ(a.storage_kib, 512u);
         EXPECT_FALSE(a.messages);
       }},
      {"a SETQUOTA \"\" ()", [](const SetQuotaArgs& a) { EXPECT_FALSE(a.storage_kib || a.messages); }},
      {"a setquota user/x (storage 1 message 2)",
       [](const SetQuotaArgs& a) {
         EXPECT_EQ(a.storage_kib, 1u);
         EXPECT_EQ(a.messages, 2u);
       }},
      {"a SETQUOTA \"\" (MAILBOX 3 STORAGE 0 annotation-storage 4)",
       [](const SetQuotaArgs& a) {
         EXPECT_EQ(a.unsupported, (std::vector<std::string>{"MAILBOX", "ANNOTATION-STORAGE"}));
         EXPECT_EQ(a.storage_kib, 0u);
       }},
      {"a SETQUOTA \"\" (STORAGE 1099511627776)", nullptr},
  });
  run_invalid({"a SETQUOTA", "a SETQUOTA \"\"", "a SETQUOTA \"\" ", "a SETQUOTA \"\" (STORAGE)",
               "a SETQUOTA \"\" (STORAGE 1 STORAGE 2)", "a SETQUOTA \"\" (MAILBOX 1 MAILBOX 2)",
               "a SETQUOTA \"\" (STORAGE 1099511627777)", "a SETQUOTA \"\" (STORAGE 9223372036854775808)",
               "a SETQUOTA \"\" (STORAGE -1)", "a SETQUOTA \"\" (STORAGE 1 )", "a SETQUOTA \"\" ( )",
               "a SETQUOTA \"\" STORAGE 1", "a SETQUOTA \"\" (STORAGE 1", "a SETQUOTA \"\" (STORAGE 1) x",
               "a SETQUOTA \"\" (\"STORAGE\" 1)", "a SETQUOTA \"\" (" + numbered("R", 17, " 1") + ")"});
}

TEST(CommandArgs, GetMetadata) {
  using D = mailstore::MetadataDepth;
  run_valid<GetMetadataArgs>({
      {"a GETMETADATA \"\" /private/comment",
       [](const GetMetadataArgs& a) {
         EXPECT_EQ(a.mailbox, "");
         EXPECT_EQ(a.entries, (std::vector<std::string>{"/private/comment"}));
         EXPECT_FALSE(a.maxsize);
         EXPECT_EQ(a.depth, D::kZero);
       }},
      {"a getmetadata (MAXSIZE 1024) INBOX (/shared/comment \"/private/comment\")",
       [](const GetMetadataArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_EQ(a.maxsize, 1024u);
         EXPECT_EQ(a.entries, (std::vector<std::string>{"/shared/comment", "/private/comment"}));
       }},
      {"a GETMETADATA (DEPTH infinity MAXSIZE 0) \"\" (/private /shared)",
       [](const GetMetadataArgs& a) {
         EXPECT_EQ(a.depth, D::kInfinity);
         EXPECT_EQ(a.maxsize, 0u);
         EXPECT_EQ(a.entries.size(), 2u);
       }},
      {"a GETMETADATA (depth 1) {5}\r\nINBOX /Shared/Vendor/x-y.z_1", [](const GetMetadataArgs& a) {
         EXPECT_EQ(a.depth, D::kOne);
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_EQ(a.entries, (std::vector<std::string>{"/Shared/Vendor/x-y.z_1"}));  // case kept: the store folds it
       }},
      {"a GETMETADATA INBOX \"/private/with space\"", nullptr},
      {"a GETMETADATA INBOX (" + numbered("/private/e", kMaxMetadataEntriesPerCommand) + ")", nullptr},
      {"a GETMETADATA INBOX /private/" + std::string(kMaxMetadataEntryOctets - 9, 'x'), nullptr},
  });
  run_invalid({
      "a GETMETADATA", "a GETMETADATA INBOX", "a GETMETADATA INBOX ", "a GETMETADATA INBOX ()",
      "a GETMETADATA () INBOX /private/x",                  // empty option list
      "a GETMETADATA INBOX (MAXSIZE 10) /private/x",        // options after the mailbox (errata 2785)
      "a GETMETADATA (FOO 1) INBOX /private/x", "a GETMETADATA (MAXSIZE) INBOX /private/x",
      "a GETMETADATA (MAXSIZE -1) INBOX /private/x", "a GETMETADATA (MAXSIZE 4294967296) INBOX /private/x",
      "a GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /private/x", "a GETMETADATA (DEPTH 2) INBOX /private/x",
      "a GETMETADATA (DEPTH 0 DEPTH 1) INBOX /private/x", "a GETMETADATA (DEPTH 1 INBOX /private/x",
      // RFC 5464 3.2 entry names
      "a GETMETADATA INBOX comment", "a GETMETADATA INBOX /public/comment", "a GETMETADATA INBOX /privatex",
      "a GETMETADATA INBOX /private/", "a GETMETADATA INBOX /private//x", "a GETMETADATA INBOX \"/private/*\"",
      "a GETMETADATA INBOX \"/shared/%\"", "a GETMETADATA INBOX \"/private/\x01\"",
      "a GETMETADATA INBOX {11}\r\n/private/\xc3\xa9", "a GETMETADATA INBOX {10}\r\n/private/\0"s,
      "a GETMETADATA INBOX \"/private/\x7f\"", "a GETMETADATA INBOX NIL",
      "a GETMETADATA INBOX /private/" + std::string(kMaxMetadataEntryOctets - 8, 'x'),
      "a GETMETADATA INBOX (" + numbered("/private/e", kMaxMetadataEntriesPerCommand + 1) + ")",
      "a GETMETADATA INBOX (/private/a", "a GETMETADATA INBOX (/private/a )", "a GETMETADATA INBOX /private/a x",
      "a GETMETADATA " + k1025 + " /private/a",
  });
}

TEST(CommandArgs, SetMetadata) {
  run_valid<SetMetadataArgs>({
      {"a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)",
       [](const SetMetadataArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         ASSERT_EQ(a.updates.size(), 1u);
         EXPECT_EQ(a.updates[0].entry, "/private/comment");
         EXPECT_EQ(a.updates[0].value, "My new comment across\r\ntwo lines.");
       }},
      {"a setmetadata \"\" (/shared/comment NIL /private/x \"\" /private/y nil)",
       [](const SetMetadataArgs& a) {
         EXPECT_EQ(a.mailbox, "");
         ASSERT_EQ(a.updates.size(), 3u);
         EXPECT_FALSE(a.updates[0].value);
         EXPECT_EQ(a.updates[1].value, "");
         EXPECT_FALSE(a.updates[2].value);
       }},
      {"a SETMETADATA INBOX (/private/blob ~{4}\r\n\0\xff\r\n)"s,
       [](const SetMetadataArgs& a) {
         ASSERT_EQ(a.updates.size(), 1u);
         EXPECT_EQ(a.updates[0].value, std::string("\0\xff\r\n", 4));
       }},
      {"a SETMETADATA INBOX (/private/a \"x\" /private/a \"y\")",  // repeats are the store's business
       [](const SetMetadataArgs& a) { EXPECT_EQ(a.updates.size(), 2u); }},
      {"a SETMETADATA INBOX (" + numbered("/private/e", kMaxMetadataEntriesPerCommand, " \"v\"") + ")", nullptr},
  });
  run_invalid({
      "a SETMETADATA", "a SETMETADATA INBOX", "a SETMETADATA INBOX ()", "a SETMETADATA INBOX /private/a \"x\"",
      "a SETMETADATA INBOX (/private/a)", "a SETMETADATA INBOX (/private/a \"x\" /private/b)",
      "a SETMETADATA INBOX (/private/a \"x\") x", "a SETMETADATA INBOX (/private/a \"x\"",
      "a SETMETADATA INBOX (/private/a (x))", "a SETMETADATA INBOX (/private \"x\")",  // the prefix itself
      "a SETMETADATA INBOX (/shared \"x\")", "a SETMETADATA INBOX (/private/a/ \"x\")",
      "a SETMETADATA INBOX (\"/private/*\" \"x\")", "a SETMETADATA INBOX (/other/a \"x\")",
      "a SETMETADATA INBOX (/private/a ~\"x\")", "a SETMETADATA INBOX (/private/a atom)",
      "a SETMETADATA INBOX (/private/a {1}\r\n\0)"s,  // NUL needs a literal8
      "a SETMETADATA INBOX (" + numbered("/private/e", kMaxMetadataEntriesPerCommand + 1, " \"v\"") + ")",
  });
}

TEST(CommandArgs, Notify) {
  using O = NotifyParse::Outcome;
  run_valid<NotifyArgs>({
      {"a NOTIFY NONE", [](const NotifyArgs& a) { EXPECT_EQ(a.outcome, O::kNone); }},
      {"a notify set (selected (MessageNew MessageExpunge))",
       [](const NotifyArgs& a) {
         EXPECT_EQ(a.outcome, O::kSet);
         ASSERT_EQ(a.spec.groups.size(), 1u);
       }},
      {"a NOTIFY SET (mailboxes (INBOX {3}\r\nx y) (MessageNew MessageExpunge))",
       [](const NotifyArgs& a) {
         ASSERT_EQ(a.spec.groups.size(), 1u);
         EXPECT_EQ(a.spec.groups[0].mailboxes, (std::vector<std::string>{"INBOX", "x y"}));
       }},
  });
  // An event we do not implement: NO [BADEVENT], but only for a command that
  // parses to its end; a syntax error after the event is still BAD.
  run_valid<NotifyArgs>({
      {"a NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange)) (subscribed (MailboxName))",
       [](const NotifyArgs& a) {
         EXPECT_EQ(a.outcome, O::kBadEvent);
         EXPECT_EQ(a.bad_event, "ANNOTATIONCHANGE is not supported");
       }},
      {"a NOTIFY SET (personal (ServerMetadataChange Bar)) (inboxes (Foo))",
       [](const NotifyArgs& a) {
         EXPECT_EQ(a.outcome, O::kBadEvent);
         EXPECT_EQ(a.bad_event, "unknown event BAR");  // the first reason
       }},
  });
  run_invalid({"a NOTIFY SET (personal (AnnotationChange)) x", "a NOTIFY SET (personal (AnnotationChange)",
               "a NOTIFY SET (personal (AnnotationChange)) (personal (MessageNew))",
               "a NOTIFY SET (personal (AnnotationChange))",  // RFC 5465 5: needs MessageNew and MessageExpunge
               "a NOTIFY", "a NOTIFY ", "a NOTIFY SET", "a NOTIFY NONE x", "a NOTIFY SET (FOO (MessageNew))",
               "a NOTIFY SET (personal (MessageNew))", "a NOTIFY SET (mailboxes " + k1025 + " (MailboxName))",
               "a NOTIFY SET (mailboxes (" + numbered("m", 1001) + ") (MailboxName))"});
}

TEST(CommandArgs, UnknownNamesAreSyntaxErrors) {
  Reader r("");
  EXPECT_THROW(parse_command_args("XYZZY", r), SyntaxError);
  EXPECT_THROW(parse_command_args("uid fetch", r), SyntaxError);  // names come upper-cased
  EXPECT_THROW(parse("a UID NOOP"), SyntaxError);
  EXPECT_THROW(parse("a UID"), SyntaxError);
}

// RFC 9051 9: number64 is 63-bit. The Reader refuses more, so parse_fetch
// and parse_search (used on their own too) cannot wrap a value into a
// negative int64 (CHANGEDSINCE, MODSEQ, LARGER, partial offsets).
TEST(CommandArgs, Number64Is63Bit) {
  auto number = [](const std::string& s) {
    Reader r(s);
    return r.number64();
  };
  EXPECT_EQ(number("9223372036854775807"), 9223372036854775807u);
  EXPECT_EQ(number("0009223372036854775807"), 9223372036854775807u);  // leading zeros are digits too
  EXPECT_EQ(number("0"), 0u);
  for (const char* big : {"9223372036854775808", "18446744073709551615", "18446744073709551616",
                          "99999999999999999999"})
    EXPECT_THROW(number(big), SyntaxError) << big;
  auto fetch = [](const std::string& s) {
    Reader r(s);
    return parse_fetch(r);
  };
  EXPECT_EQ(fetch("FLAGS (CHANGEDSINCE 9223372036854775807)").changed_since, INT64_MAX);
  EXPECT_THROW(fetch("FLAGS (CHANGEDSINCE 9223372036854775808)"), SyntaxError);
  EXPECT_THROW(fetch("BODY[]<9223372036854775808>"), SyntaxError);
  auto search = [](const std::string& s) {
    Reader r(s);
    return parse_search(r);
  };
  EXPECT_EQ(search(" MODSEQ 9223372036854775807").key.children.at(0).number, INT64_MAX);
  EXPECT_THROW(search(" MODSEQ 9223372036854775808"), SyntaxError);
  EXPECT_THROW(search(" LARGER 9223372036854775808"), SyntaxError);
  EXPECT_THROW(search(" SMALLER 18446744073709551615"), SyntaxError);
}

TEST(CommandArgs, Base64) {
  EXPECT_EQ(decode_sasl_base64(""), "");
  EXPECT_EQ(decode_sasl_base64("Zg=="), "f");
  EXPECT_EQ(decode_sasl_base64("Zm8="), "fo");
  EXPECT_EQ(decode_sasl_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_sasl_base64("Zm9vYg=="), "foob");
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "Z=g="})
    EXPECT_FALSE(decode_sasl_base64(bad)) << bad;
}

// Every valid command of the tables above, for the properties below.
std::vector<std::string> samples() {
  return {
      "a CAPABILITY",
      "a ID (\"name\" \"mutt\" \"version\" NIL)",
      "a ENABLE CONDSTORE QRESYNC",
      "a LOGIN {4+}\r\nuser \"pa ss\"",
      "a AUTHENTICATE PLAIN AHVzZXIAcGFzcw==",
      "a SELECT INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 41:211,214:541 (1:10 41:50)))",
      "a EXAMINE {5}\r\nINBOX",
      "a CREATE \"a b\"",
      "a RENAME a {1}\r\nb",
      "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" %) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))",
      "a LSUB \"\" *",
      "a STATUS INBOX (MESSAGES HIGHESTMODSEQ)",
      "a APPEND INBOX (\\Seen $x) \" 1-Jan-2020 00:00:00 +0000\" ~{5}\r\nhello",
      "a APPEND INBOX UTF8 (~{3}\r\nabc)",
      "a UID MOVE 1:*,7 Trash",
      "a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]) (CHANGEDSINCE 5 VANISHED)",
      "a STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Deleted)",
      "a UID STORE 1 FLAGS \\Seen $x",
      "a SEARCH RETURN (MIN) CHARSET UTF-8 OR SUBJECT {3}\r\nabc UID 1:5",
      "a SORT (REVERSE SUBJECT DISPLAYFROM) UTF-8 OR SUBJECT {3}\r\nabc UID 1:5",
      "a UID SORT RETURN (MIN COUNT) (ARRIVAL) US-ASCII ALL",
      "a THREAD REFERENCES UTF-8 SINCE 5-MAR-2000 NOT DELETED",
      "a UID EXPUNGE 1:3",
      "a GETQUOTA \"\"",
      "a SETQUOTA \"\" (STORAGE 512 MESSAGE 10)",
      "a NOTIFY SET STATUS (selected (MessageNew MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
  };
}

// Whatever the input, a parser ends in SyntaxError or a complete parse.
void parses_or_rejects(const std::string& command) {
  try {
    Reader r(command);
    CommandHead head = parse_command_head(r);
    parse_command_args(head.name, r);
    EXPECT_TRUE(r.at_end()) << command;
  } catch (const SyntaxError&) {
  }
}

TEST(CommandArgs, SamplesParse) {
  for (const auto& s : samples()) EXPECT_NO_THROW(parse(s)) << s;
}

TEST(CommandArgs, EveryPrefixAndExtensionFailsCleanly) {
  for (const auto& s : samples()) {
    for (size_t n = 0; n <= s.size(); ++n) parses_or_rejects(s.substr(0, n));
    for (const std::string& tail : {" "s, "x"s, " x"s, ")"s, " ("s, "\r"s, "\0"s, " {3}\r\nabc"s, "*"s}) {
      const std::string extended = s + tail;
      parses_or_rejects(extended);
    }
    // A trailing SP or an extra atom is never valid after a complete command.
    EXPECT_THROW(parse(s + " "), SyntaxError) << s;
    EXPECT_THROW(parse(s + " )"), SyntaxError) << s;
  }
}

// Literals reach the parsers as the Receiver assembles them, split anywhere.
TEST(CommandArgs, ThroughTheReceiver) {
  const std::string wire = "a APPEND INBOX (\\Seen) ~{7}\r\nx\r\n\0y\r\n\r\n"s +
                           "b LOGIN {4}\r\nuser {4+}\r\npass\r\n" + "c SELECT INBOX (CONDSTORE) x\r\n";
  for (size_t split = 0; split <= wire.size(); ++split) {
    Receiver rx;
    std::vector<std::string> commands;
    for (std::string_view part : {std::string_view(wire).substr(0, split), std::string_view(wire).substr(split)}) {
      rx.feed(part);
      for (;;) {
        auto e = rx.next();
        if (e.kind == Receiver::Kind::kNeedMore) break;
        if (e.kind == Receiver::Kind::kCommand) {
          commands.push_back(e.text);
          rx.command_done();
        }
      }
    }
    ASSERT_EQ(commands.size(), 3u) << split;
    auto append = parse_as<AppendArgs>(commands[0]);
    EXPECT_TRUE(append.messages.at(0).literal8);
    EXPECT_EQ(append.messages.at(0).message, std::string("x\r\n\0y\r\n", 7));
    EXPECT_EQ(append.messages.at(0).flags, std::vector<std::string>{"\\Seen"});
    auto login = parse_as<LoginArgs>(commands[1]);
    EXPECT_EQ(login.userid, "user");
    EXPECT_EQ(login.password, "pass");
    EXPECT_THROW(parse(commands[2]), SyntaxError);
  }
}

// The command table and the parsers name the same commands. Read from the
// source (the commands library needs a database to link).
TEST(CommandArgs, CoversTheCommandTable) {
  std::ifstream in(POSTLINE_REGISTRY_CPP);
  if (!in) GTEST_SKIP() << "no " << POSTLINE_REGISTRY_CPP;
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  std::set<std::string> table;
  const std::regex entry(R"re(\{\s*"([A-Z ]+)"\s*,\s*cmd_)re");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), entry); it != std::sregex_iterator(); ++it)
    table.insert((*it)[1].str());
  if (table.empty()) GTEST_SKIP() << "the command table's layout changed; nothing to compare";
  std::set<std::string> parsed;
  for (auto name : command_args_names()) parsed.insert(std::string(name));
  EXPECT_EQ(table, parsed);
}

TEST(CommandArgs, Urlauth) {
  run_valid<GenUrlauthArgs>({
      {"a GENURLAUTH \"imap://joe@h/INBOX/;uid=20;urlauth=anonymous\" INTERNAL",
       [](const GenUrlauthArgs& a) {
         ASSERT_EQ(a.items.size(), 1u);
         EXPECT_EQ(a.items[0].rump, "imap://joe@h/INBOX/;uid=20;urlauth=anonymous");
         EXPECT_EQ(a.items[0].mechanism, "INTERNAL");
       }},
      {"a GENURLAUTH u1 internal {2}\r\nu2 x-mech.1",
       [](const GenUrlauthArgs& a) {
         ASSERT_EQ(a.items.size(), 2u);
         EXPECT_EQ(a.items[0].mechanism, "INTERNAL");
         EXPECT_EQ(a.items[1].rump, "u2");
         EXPECT_EQ(a.items[1].mechanism, "X-MECH.1");
       }},
  });
  run_valid<ResetKeyArgs>({
      {"a RESETKEY", [](const ResetKeyArgs& a) { EXPECT_FALSE(a.mailbox.has_value()); }},
      {"a RESETKEY INBOX",
       [](const ResetKeyArgs& a) {
         EXPECT_EQ(a.mailbox, "INBOX");
         EXPECT_TRUE(a.mechanisms.empty());
       }},
      {"a RESETKEY \"Drafts\" internal OTHER",
       [](const ResetKeyArgs& a) { EXPECT_EQ(a.mechanisms, (std::vector<std::string>{"INTERNAL", "OTHER"})); }},
  });
  run_valid<UrlFetchArgs>({
      {"a URLFETCH \"imap://joe@h/INBOX/;uid=20;urlauth=anonymous:internal:00\" other",
       [](const UrlFetchArgs& a) { EXPECT_EQ(a.urls.size(), 2u); }},
  });
  run_invalid({"a GENURLAUTH", "a GENURLAUTH url", "a GENURLAUTH url INTERNAL url2", "a GENURLAUTH url INTER_NAL",
               "a GENURLAUTH \"\" INTERNAL", "a RESETKEY INBOX in(ternal", "a RESETKEY ", "a URLFETCH",
               "a URLFETCH \"\"", "a URLFETCH " + repeat("u", kMaxUrlsPerCommand + 1),
               "a GENURLAUTH " + repeat("u INTERNAL", kMaxUrlsPerCommand + 1)});
}

}  // namespace
}  // namespace postline::imap
