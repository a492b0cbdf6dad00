// A user's Sieve scripts (issue 19, docs/sieve.md): what ManageSieve (RFC 5804)
// and `postline sieve ...` manage and what queued runs at local delivery. The
// mailstore owns the tables (sql/017_sieve_scripts.sql); nobody else has SQL
// for them.
//
// Semantics shared by every implementation (sieve_scripts_conformance_test.cpp):
// - names are compared octet for octet; the caller validates them (RFC 5804
//   1.6); an empty name is refused with std::invalid_argument;
// - scripts are stored byte for byte; `size` is their length in octets;
// - at most one script per user is active; put_script and rename_script keep
//   the flag (renaming the active script keeps it active), delete_script
//   removes the script even when it is the active one (RFC 5804's "NO
//   (ACTIVE)" for DELETESCRIPT is the protocol's rule to apply first), which
//   then leaves the user with no active script;
// - list_scripts is in name order (octets).
// Database failures surface as exceptions (db::Unavailable, db::pq::Error).
#pragma once

#include "common/mailstore/mail_store.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace postline::mailstore {

struct SieveScriptInfo {
  std::string name;
  bool active = false;
  std::int64_t size = 0;
};

class SieveScriptStore {
 public:
  virtual ~SieveScriptStore() = default;
  virtual std::vector<SieveScriptInfo> list_scripts(UserId user) = 0;
  virtual std::optional<std::string> get_script(UserId user, const std::string& name) = 0;
  virtual void put_script(UserId user, const std::string& name, const std::string& text) = 0;  // create or replace; keeps active flag
  virtual bool delete_script(UserId user, const std::string& name) = 0;  // false: no such script
  virtual bool rename_script(UserId user, const std::string& from, const std::string& to) = 0;  // false: from missing or to exists
  virtual bool set_active_script(UserId user, const std::string& name) = 0;  // "" deactivates all; false: no such script
  virtual std::optional<std::pair<std::string, std::string>> active_script(UserId user) = 0;  // name, text
  virtual std::int64_t scripts_total_size(UserId user) = 0;
};

// In process memory, thread-safe (unit tests; the CLI's and ManageSieve's tests).
std::unique_ptr<SieveScriptStore> make_memory_sieve_script_store();

}  // namespace postline::mailstore
