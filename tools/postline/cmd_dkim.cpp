// postline dkim generate DOMAIN [--selector S] [--type rsa|ed25519] [--out DIR]
//
// Creates a DKIM key pair with common/mailauth and prints the DNS TXT record to
// publish and the queue.dkim_keys value that makes queued sign with it (the
// entries already configured plus the new one, so pasting it loses nothing).
// Offline: talks to no service. The private key is written with mode
// 0600 and never printed; an existing key file is never overwritten (a
// replaced key breaks every signature in flight until DNS catches up).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "common/mailauth/dkim_keygen.h"
#include "tools/postline/cli_context.h"
#include "tools/postline/output.h"

namespace postline::cli {

void register_dkim_commands(CLI::App& app, CliContext& ctx) {
  auto* dkim = app.add_subcommand("dkim", "DKIM keys for outbound signing (see docs/antispam.md)");
  dkim->require_subcommand(1);
  struct Args {
    std::string domain;
    std::string selector;
    std::string type = "rsa";
    std::string out = ".";
    std::string key_path;
  };
  auto args = std::make_shared<Args>();
  auto* gen = dkim->add_subcommand("generate", "create a key pair and print the TXT record to publish");
  gen->add_option("DOMAIN", args->domain, "signing domain (d=)")->required();
  gen->add_option("--selector", args->selector, "selector (s=); default: 'pl' + the current year and month");
  gen->add_option("--type", args->type, "rsa (2048 bits, default: every verifier supports it) or ed25519")
      ->check(CLI::IsMember({"rsa", "ed25519"}));
  gen->add_option("--out", args->out, "directory for <domain>.<selector>.pem (default: current directory)");
  gen->add_option("--key-path", args->key_path,
                  "where queued will read the key, if not where --out puts it (e.g. /etc/postline/dkim/<file> "
                  "in its container); used in the printed configuration");
  gen->callback([args, &ctx] {
    if (args->selector.empty()) {
      std::time_t t = std::time(nullptr);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[16];
      std::strftime(buf, sizeof buf, "pl%Y%m", &tm);
      args->selector = buf;
    }
    std::string error;
    auto key = mailauth::generate_dkim_key(args->domain, args->selector,
                                           args->type == "ed25519" ? mailauth::KeyType::kEd25519
                                                                   : mailauth::KeyType::kRsa,
                                           2048, &error);
    if (!key) throw CliError("dkim generate: " + error, 2);
    const std::filesystem::path path = std::filesystem::path(args->out) / (args->domain + "." + args->selector + ".pem");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw CliError("dkim generate: cannot create " + path.string() + ": " + std::strerror(errno));
    const std::string& pem = key->private_key_pem;
    bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
    ok = (::close(fd) == 0) && ok;
    if (!ok) throw CliError("dkim generate: cannot write " + path.string());
    const std::string key_path =
        !args->key_path.empty() ? args->key_path : std::filesystem::absolute(path).lexically_normal().string();
    const std::string entry = ascii_domain(args->domain) + ":" + args->selector + ":" + key_path;
    // The value to configure: what is configured already (other domains,
    // selectors still in rotation), then this key. A broken configuration must
    // not stop key generation, so it only loses the existing entries.
    std::vector<std::string> entries;
    try {
      const std::string same_selector = ascii_domain(args->domain) + ":" + args->selector + ":";
      for (const auto& e : ctx.config().list("queue", "dkim_keys"))
        if (e.rfind(same_selector, 0) != 0) entries.push_back(e);  // this key replaces its selector's old entry
    } catch (const std::exception&) {
    }
    entries.push_back(entry);
    std::string value;
    for (const auto& e : entries) value += (value.empty() ? "" : ",") + e;
    if (ctx.json) {
      std::cout << JsonObject()
                       .add("private_key_file", path.string())
                       .add("dns_name", key->dns_name)
                       .add("txt_record", key->txt_record)
                       .add("zone_line", key->zone_line)
                       .add("config_key", "queue.dkim_keys")
                       .add("config_entry", entry)
                       .add("config_value", value)
                       .add("environment", "POSTLINE_QUEUE_DKIM_KEYS=" + value)
                       .str()
                << "\n";
      return;
    }
    std::cout << "private key: " << path.string() << " (mode 0600; readable only by the user queued runs as)\n"
              << "publish this DNS TXT record:\n"
              << key->zone_line << "\n"
              << "then make queued sign with it, in its config file:\n"
              << "queue:\n"
              << "  dkim_keys: \"" << value << "\"\n"
              << "or in its environment:\n"
              << "POSTLINE_QUEUE_DKIM_KEYS=" << value << "\n"
              << "and restart queued (it loads its keys at start; `postline config check` loads them first).\n";
  });
}

}  // namespace postline::cli
