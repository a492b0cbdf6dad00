// postline dkim generate DOMAIN [--selector S] [--type rsa|ed25519] [--out DIR]
//
// Creates a DKIM key pair with common/mailauth and prints the DNS TXT record to
// publish. Offline: talks to no service. The private key is written with mode
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

namespace postline::cli {

void register_dkim_commands(CLI::App& app, CliContext& ctx) {
  auto* dkim = app.add_subcommand("dkim", "DKIM keys for outbound signing (see docs/antispam.md)");
  dkim->require_subcommand(1);
  struct Args {
    std::string domain;
    std::string selector;
    std::string type = "rsa";
    std::string out = ".";
  };
  auto args = std::make_shared<Args>();
  auto* gen = dkim->add_subcommand("generate", "create a key pair and print the TXT record to publish");
  gen->add_option("DOMAIN", args->domain, "signing domain (d=)")->required();
  gen->add_option("--selector", args->selector, "selector (s=); default: 'pl' + the current year and month");
  gen->add_option("--type", args->type, "rsa (2048 bits, default: every verifier supports it) or ed25519")
      ->check(CLI::IsMember({"rsa", "ed25519"}));
  gen->add_option("--out", args->out, "directory for <domain>.<selector>.pem (default: current directory)");
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
    if (ctx.json) {
      std::cout << "{\"private_key_file\":\"" << path.string() << "\",\"dns_name\":\"" << key->dns_name
                << "\",\"txt_record\":\"" << key->txt_record << "\"}\n";
      return;
    }
    std::cout << "private key: " << path.string() << " (mode 0600)\n"
              << "publish this DNS TXT record:\n"
              << key->zone_line << "\n";
  });
}

}  // namespace postline::cli
