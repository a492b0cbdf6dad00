// postline config show|check: the effective configuration (file given with
// --config, then POSTLINE_* environment, then defaults) as YAML. scripts/up
// saves `config show` as $POSTLINE_DATA_DIR/postline.yaml so more instances of
// any service can be started by hand from the very same settings.
#include <iostream>

#include "tools/postline/cli_context.h"

namespace postline::cli {

void register_config_commands(CLI::App& app, CliContext& ctx) {
  auto* config = app.add_subcommand("config", "show or check the effective configuration");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the effective configuration (file + environment + defaults) as YAML");
  show->callback([&ctx] { std::cout << ctx.config().to_yaml(); });
  auto* check = config->add_subcommand("check", "validate the configuration; exit 2 naming the first bad key");
  check->callback([&ctx] {
    (void)ctx.config();
    std::cout << "configuration ok\n";
  });
}

}  // namespace postline::cli
