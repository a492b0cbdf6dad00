// Hostile input must produce a syntax error or a result, never a crash, a hang
// or unbounded memory: random and mutated commands through every parser.
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/mailbox_name.h"
#include "services/imap-access/protocol/reader.h"
#include "services/imap-access/protocol/receiver.h"
#include "services/imap-access/protocol/search_keys.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <gtest/gtest.h>

#include <random>

using namespace postline::imap;

namespace {

const char* kSeeds[] = {
    "a1 FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> BINARY[1.2] BODYSTRUCTURE)",
    "a2 UID SEARCH RETURN (MIN MAX) CHARSET UTF-8 OR (SUBJECT {3}\r\nabc FROM x) NOT SINCE 1-Jan-2020 UID 1:5,7",
    "a3 APPEND INBOX (\\Seen $x) \" 1-Jan-2020 00:00:00 +0000\" {5+}\r\nhello",
    "a4 LOGIN \"us\\\"er\" {4}\r\npass",
    "a5 STORE 1,2:4 +FLAGS.SILENT (\\Deleted)",
    "a6 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"&ZeVnLIqe-\") RETURN (STATUS (MESSAGES))",
};

// Runs one command text through what the server would apply to it.
void exercise(const std::string& text) {
  try {
    Reader r(text);
    r.tag();
    r.sp();
    std::string name = to_upper(r.atom());
    if (name == "UID") {
      r.sp();
      name = to_upper(r.atom());
    }
    if (name == "FETCH") {
      r.sp();
      SequenceSet::parse(r.sequence_set_text());
      r.sp();
      parse_fetch(r);
    } else if (name == "SEARCH") {
      parse_search(r);
    } else {
      while (!r.at_end()) {
        r.try_sp();
        if (r.peek() == '(') r.flag_list();
        else r.astring();
      }
    }
  } catch (const SyntaxError&) {
  }
  mutf7_decode(text);
  mutf7_encode(text);
  list_match(text.substr(0, 40), text.substr(0, 60));
}

TEST(Robustness, MutatedCommandsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string alphabet = " ()[]{}<>\"\\*%:,.+-~$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n\x01\xff";
  for (const char* seed : kSeeds) {
    for (int round = 0; round < 3000; ++round) {
      std::string s = seed;
      int edits = 1 + rng() % 6;
      for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t pos = rng() % s.size();
        switch (rng() % 3) {
          case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
          case 1: s.erase(pos, 1 + rng() % 4); break;
          default: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        }
      }
      exercise(s);
    }
  }
}

TEST(Robustness, RandomBytesThroughTheReceiver) {
  std::mt19937 rng(777);
  Receiver r({.max_line = 200, .max_literal = 300});
  size_t commands = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string chunk;
    int n = rng() % 64;
    for (int k = 0; k < n; ++k) {
      int pick = rng() % 10;
      chunk += pick == 0 ? '\n' : pick == 1 ? '{' : pick == 2 ? '}' : static_cast<char>(rng() % 256);
    }
    r.feed(chunk);
    for (auto e = r.next(); e.kind != Receiver::Kind::kNeedMore; e = r.next()) {
      if (e.kind == Receiver::Kind::kCommand) {
        ++commands;
        // A command is bounded by the line limit plus one literal per line.
        EXPECT_LE(e.text.size(), 200u + 300u * 200u);
        exercise(e.text);
      }
    }
    // Buffered data stays bounded by the limits, whatever arrives.
    EXPECT_LE(r.buffered(), 200u + 300u + 64u);
  }
  EXPECT_GT(commands, 0u);
}

}  // namespace
