// The command line every Postline service takes: [--config FILE] [--help].
// Everything else is configuration (the file and POSTLINE_* environment).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::config {

struct CommandLine {
  std::string config_file;         // empty: defaults + environment only
  std::optional<int> exit_code;    // set: print nothing more, exit with it (0 after --help, 2 on misuse)
};

// Accepts `--config FILE`, `--config=FILE`, `--help`/`-h`; prints usage to
// stdout for --help and "program: unknown argument" + usage to stderr otherwise.
CommandLine parse_command_line(int argc, const char* const* argv, std::string_view program);

}  // namespace postline::config
