// What is wrong with a db.url before anything connects with it (for
// `postline config check`). libpq parses it - the same parser every pool and
// LISTEN connection uses, multi-host URLs included - and the one rule libpq
// cannot know is added: a URL naming several servers must ask for the
// writable one, or libpq takes the first that answers, even a standby, and
// every write fails (docs/operations.md "High availability").
#pragma once

#include <optional>
#include <string>

namespace postline::db {

// nullopt when the URL is usable; otherwise why not, in words for an operator
// (never echoing the URL, which may hold a password).
std::optional<std::string> url_problem(const std::string& url);

// `url` with fallback_application_name set to `program` (this process's name
// when empty), so pg_stat_activity says which service holds a connection -
// also over a Unix socket, where no client port tells them apart. An
// application_name or fallback_application_name already in the URL wins.
// Works for URIs (postgresql://...) and keyword=value strings alike.
std::string with_program_name(const std::string& url, const std::string& program = "");

}  // namespace postline::db
