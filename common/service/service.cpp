#include "common/service/service.h"

#include "common/config/command_line.h"
#include "common/grpc/grpc.h"
#include "common/log/log.h"

#include <prometheus/gauge.h>

#include <iostream>

namespace postline::service {

Startup start(int argc, char** argv, const std::string& program, const std::string& log_name) {
  Startup s;
  const auto command_line = config::parse_command_line(argc, argv, program);
  if (command_line.exit_code) {
    s.exit_code = command_line.exit_code;
    return s;
  }
  try {
    s.config = config::Config::load(command_line.config_file, config::Config::process_environment());
    log::init(log_name, s.config.str("log", "level"), s.config.str("log", "format"));
    grpcutil::route_grpc_logs_to_spdlog();
    grpcutil::configure_tls(s.config);
  } catch (const std::exception& e) {  // ConfigError, log level/format, grpc.tls_* files
    log::fatal(program, e.what());  // plain text unless init() chose JSON
    s.exit_code = 2;
  }
  return s;
}

std::shared_ptr<prometheus::Registry> make_registry(const std::string& prefix, const std::string& program,
                                                    const std::string& version) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name(prefix + "_build_info")
      .Help("build version of " + program)
      .Register(*registry)
      .Add({{"version", version}})
      .Set(1);
  return registry;
}

}  // namespace postline::service
