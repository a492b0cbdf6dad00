// What every Postline service does before its own wiring, in one place:
// command line (--config/--help), configuration (file + POSTLINE_* environment),
// logging, gRPC TLS between the services, and the build_info metric. A service's
// main.cpp then reads its own section and starts its servers.
#pragma once

#include "common/config/config.h"

#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <string>

namespace postline::service {

struct Startup {
  std::optional<int> exit_code;  // set: return it from main (0 after --help, 2 for bad configuration)
  config::Config config;
};

// `program` is the binary's name for messages ("postline-smtpd"), `log_name`
// the short name in log lines ("smtpd"). Problems are printed as
// "<program>: <why>" on stderr and give exit code 2, so operators and
// orchestrators see a configuration error the same way for every service.
Startup start(int argc, char** argv, const std::string& program, const std::string& log_name);

// A metrics registry holding <prefix>_build_info{version} 1.
std::shared_ptr<prometheus::Registry> make_registry(const std::string& prefix, const std::string& program,
                                                    const std::string& version);

}  // namespace postline::service
