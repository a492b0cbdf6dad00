// The search language of `postline mailbox search|fetch|expunge` (doveadm's
// search query in spirit, IMAP SEARCH's keys in words), parsed into the
// mailstore's typed criteria (mailstore::SearchCriterion) before anything is
// asked of the store: a bad word, date, size or UID set is an error naming
// it, never a query that silently matches something else.
//
//   query  := term+                    all terms must match (AND)
//   term   := all | seen | unseen | answered | unanswered | flagged | unflagged
//           | deleted | undeleted | draft | undraft
//           | keyword WORD | unkeyword WORD
//           | from|to|cc|bcc|subject TEXT | header FIELD TEXT | body TEXT | text TEXT
//           | before|on|since DATE          (the arrival date, INTERNALDATE)
//           | sentbefore|senton|sentsince DATE  (the Date: header)
//           | larger|smaller SIZE           (bytes: 5000, 10K, 2MiB)
//           | older|younger AGE             (arrived more/less than AGE ago: 90, 30m, 12h, 7d, 2w)
//           | uid SET                       (1:5,7,10:*)
//           | modseq N                      (changed at MODSEQ N or later)
//           | not TERM | or TERM TERM
//   DATE   := YYYY-MM-DD | D-Mon-YYYY (IMAP's 1-Jan-2026), a UTC day
//
// Words are case-insensitive; TEXT matches as a case-insensitive substring
// (IMAP SEARCH semantics).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/mailstore/mail_store.h"

namespace postline::cli {

// Splits a --search string into words: whitespace separates, "double" or
// 'single' quotes keep spaces, a backslash escapes the next character inside
// double quotes. Throws CliError (code 2) on an unterminated quote.
std::vector<std::string> tokenize_query(const std::string& text);

// Parses words (each one token, as the shell passed them) into criteria.
// Throws CliError (code 2) naming the word that was wrong.
mailstore::SearchCriterion parse_query(const std::vector<std::string>& words);

// "1:5,7,10:*" -> inclusive ranges ("*" is the largest UID). Throws CliError.
std::vector<std::pair<mailstore::Uid, mailstore::Uid>> parse_uid_set(const std::string& text);

// "2026-01-31" or "31-Jan-2026" -> days since 1970-01-01. Throws CliError.
int64_t parse_query_date(const std::string& text);

}  // namespace postline::cli
