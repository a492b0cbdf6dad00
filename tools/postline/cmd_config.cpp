// postline config show|check: the effective configuration (file given with
// --config, then POSTLINE_* environment, then defaults) as YAML. scripts/up
// saves `config show` as $POSTLINE_DATA_DIR/postline.yaml so more instances of
// any service can be started by hand from the very same settings.
//
// `check` validates every key and then loads what the services load at start
// with the services' own code: the TLS certificate and key (common/net), the
// gRPC mutual-TLS files (common/grpc), the DKIM keys (common/mailauth), db.url
// as libpq parses it (common/db: a multi-host URL must ask for read-write), the
// secret files (common/config), the password dictionary (authd's policy), the
// acme.* keys (common/config/acme_settings.h, as webd reads them). A
// file a service would refuse is reported here, naming its key, exit 2.
#include <iostream>

#include "common/config/acme_settings.h"
#include "common/config/config.h"
#include "common/mailstore/blob/blob_config.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/db/url_check.h"
#include "common/grpc/grpc.h"
#include "common/mailauth/dkim_keys.h"
#include "common/net/tls.h"
#include "services/auth/core/password_policy.h"
#include "tools/postline/cli_context.h"

namespace postline::cli {

namespace {

void check_files(const config::Config& cfg) {
  auto fail = [](const std::string& what) { throw CliError(what, 2); };
  if (auto why = db::url_problem(cfg.str("db", "url"))) fail("db.url " + *why);
  const std::string cert = cfg.str("tls", "cert_file"), key = cfg.str("tls", "key_file");
  if (cert.empty() != key.empty()) fail("tls.cert_file and tls.key_file: set both or neither");
  if (!cert.empty()) {
    try {
      net::TlsContext tls(cert, key);
    } catch (const std::exception& e) {
      fail(std::string("tls.cert_file/tls.key_file: ") + e.what());
    }
  }
  // webd's own certificate (it falls back to tls.* when web.* is empty), loaded as webd does.
  const std::string web_cert = cfg.str("web", "cert_file"), web_key = cfg.str("web", "key_file");
  if (web_cert.empty() != web_key.empty())
    fail("web.cert_file, web.key_file: set both or neither (neither = tls.cert_file, tls.key_file)");
  if (!web_cert.empty()) {
    try {
      net::TlsContext tls(web_cert, web_key, "web");
    } catch (const std::exception& e) {
      fail(std::string("web.cert_file/web.key_file: ") + e.what());
    }
  }
  // webd's ACME keys, read by the function webd reads them with.
  try {
    (void)config::acme_settings(cfg);
  } catch (const config::ConfigError& e) {
    fail(e.what());
  }
  for (const char* section : {"auth", "queue"}) {
    const std::string path = cfg.str(section, "grpc_socket");
    if (path.empty()) continue;
    if (auto why = grpcutil::unix_socket_problem(path); !why.empty())
      fail(std::string(section) + ".grpc_socket " + why);
  }
  try {
    const grpcutil::TlsFiles files = grpcutil::tls_files(cfg);
    grpcutil::configure_tls(files);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  try {
    (void)mailauth::load_dkim_keys(cfg.list("queue", "dkim_keys"));
  } catch (const std::exception& e) {
    fail(std::string("queue.dkim_keys: ") + e.what());
  }
  try {
    if (auto path = cfg.str("auth", "admin_token_file"); !path.empty())
      (void)config::read_secret_file("auth.admin_token_file", path, 16);
    if (auto path = cfg.str("web", "session_secret_file"); !path.empty())
      (void)config::read_secret_file("web.session_secret_file", path, 32);  // as postline-webd reads it
    if (!cfg.str("queue", "relayhost").empty() && !cfg.str("queue", "relayhost_username").empty())
      (void)config::read_secret_file("queue.relayhost_password_file", cfg.str("queue", "relayhost_password_file"));
  } catch (const config::ConfigError& e) {
    fail(e.what());
  }
  try {
    // mailstore.blob_backend s3: the endpoint parses, the credentials are there (no request is sent).
    (void)mailstore::blob_store_from_config(cfg, nullptr, config::Config::process_environment());
  } catch (const std::exception& e) {
    fail(e.what());
  }
  // Sharding: the shard list parses, and new accounts go to a shard it names.
  try {
    const auto shards = mailstore::pg::parse_shards(cfg.str("mailstore", "shards"), cfg.str("db", "url"));
    bool found = false;
    for (const auto& [name, url] : shards) found = found || name == cfg.str("auth", "default_shard");
    if (!found) fail("auth.default_shard: '" + cfg.str("auth", "default_shard") + "' is not among mailstore.shards");
  } catch (const std::invalid_argument& e) {
    fail(std::string("mailstore.shards: ") + e.what());
  }
  if (auto dict = cfg.str("auth", "password_dictionary"); !dict.empty() && !auth::dictionary_available(dict))
    fail("auth.password_dictionary: no cracklib dictionary at " + dict + " (install cracklib-runtime, or set \"\")");
}

}  // namespace

void register_config_commands(CLI::App& app, CliContext& ctx) {
  auto* config = app.add_subcommand("config", "show or check the effective configuration");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the effective configuration (file + environment + defaults) as YAML");
  show->callback([&ctx] {
    if (!ctx.json) {
      std::cout << ctx.config().to_yaml();
      return;
    }
    // One object per section, every value as its text (as the YAML has it).
    JsonObject all, section;
    std::string current;
    for (const auto& spec : config::schema()) {
      if (spec.section != current) {
        if (!current.empty()) all.add(current, section);
        current = spec.section;
        section = JsonObject();
      }
      section.add(spec.key, ctx.config().str(spec.section, spec.key));
    }
    if (!current.empty()) all.add(current, section);
    std::cout << all.str() << "\n";
  });
  auto* check = config->add_subcommand(
      "check", "validate the configuration and load its certificates, keys and secret files; exit 2 naming the first bad key");
  check->callback([&ctx] {
    check_files(ctx.config());
    print_outcome(ctx, JsonObject().add("ok", true), "configuration ok\n");
  });
}

}  // namespace postline::cli
