#include "tools/postline/parse_errors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postline::cli {
namespace {

// The shape main builds: fallthrough, a command family requiring a subcommand.
struct Cli {
  CLI::App app{"test"};
  bool json = false;
  std::string email, domain;
  Cli() {
    app.name("postline");
    app.require_subcommand(1);
    app.fallthrough();
    app.add_flag("--json", json);
    auto* user = app.add_subcommand("user", "accounts");
    user->require_subcommand(1);
    user->add_subcommand("add", "")->add_option("EMAIL", email)->required();
    user->add_subcommand("list", "")->add_option("DOMAIN", domain);
    app.add_subcommand("domain", "")->require_subcommand(1)->add_subcommand("list", "");
  }
  std::string error(std::vector<std::string> args) {
    std::vector<const char*> argv = {"postline"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return describe_parse_error(app, e);
    }
    return "(parsed)";
  }
};

TEST(ParseErrors, NameTheUnknownWord) {
  EXPECT_EQ(Cli().error({"import"}), "unknown command \"import\" for \"postline\" (expected one of: user, domain)");
  EXPECT_EQ(Cli().error({"user", "show"}), "unknown command \"show\" for \"user\" (expected one of: add, list)");
  EXPECT_EQ(Cli().error({"--json", "user", "show", "x"}),
            "unknown command \"show\" for \"user\" (expected one of: add, list)");
  EXPECT_EQ(Cli().error({"user", "list", "a", "b"}),
            "unexpected argument \"b\" for \"user list\" (see postline user list --help)");
  EXPECT_EQ(Cli().error({"domain", "list", "--frob"}),
            "unknown option \"--frob\" for \"domain list\" (see postline domain list --help)");
}

TEST(ParseErrors, MissingPieces) {
  EXPECT_EQ(Cli().error({"user"}), "\"user\" needs a command (one of: add, list)");
  EXPECT_EQ(Cli().error({}), "\"postline\" needs a command (one of: user, domain)");
  EXPECT_EQ(Cli().error({"user", "add"}), "user add: EMAIL is required");
  EXPECT_EQ(Cli().error({"user", "list"}), "(parsed)");
}

}  // namespace
}  // namespace postline::cli
