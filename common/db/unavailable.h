// Thrown when no database connection can be had (database down, pool
// exhausted past the timeout). Callers turn it into a temporary failure (SMTP
// 4xx, IMAP NO [UNAVAILABLE]). Its own header, so code that only needs to
// catch it (imapd, behind the mailstore interface) sees no database library.
#pragma once

#include <stdexcept>

namespace postline::db {

class Unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace postline::db
