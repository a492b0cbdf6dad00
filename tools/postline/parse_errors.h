// Turns CLI11's parse errors into messages that name the word that was wrong
// and the command it was given to. CLI11 alone answers `postline user show`
// with "A subcommand is required" (it checks for a missing subcommand before
// looking at the leftover words); an operator needs "show" named and the
// commands that do exist.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace postline::cli {

// "postline", "user", "domain list": the commands the user reached.
std::string command_path(const CLI::App& app);

// The message for a failed parse of `app` (after app.parse threw `e`), without
// the "postline: " prefix, e.g. `unknown command "show" for "user" (expected one
// of: add, list, remove)`.
std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& e);

}  // namespace postline::cli
