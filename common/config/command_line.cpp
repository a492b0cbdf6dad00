#include "common/config/command_line.h"

#include <cstdio>

namespace postline::config {

CommandLine parse_command_line(int argc, const char* const* argv, std::string_view program) {
  CommandLine out;
  const std::string name(program);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      out.config_file = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      out.config_file = arg.substr(9);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: %s [--config FILE]\n", name.c_str());
      out.exit_code = 0;
      return out;
    } else {
      std::fprintf(stderr, "%s: unknown argument: %s\nusage: %s [--config FILE]\n", name.c_str(), arg.c_str(),
                   name.c_str());
      out.exit_code = 2;
      return out;
    }
  }
  return out;
}

}  // namespace postline::config
