#include "tools/postline/parse_errors.h"

namespace postline::cli {
namespace {

// The subcommand chain the parse got to: main's app, then each chosen command.
const CLI::App* deepest(const CLI::App& app) {
  const CLI::App* at = &app;
  for (;;) {
    auto chosen = at->get_subcommands();
    if (chosen.empty()) return at;
    at = chosen.back();
  }
}

std::string path_of(const CLI::App* at) {
  std::string path;
  for (; at && at->get_parent(); at = at->get_parent()) path = at->get_name() + (path.empty() ? "" : " " + path);
  return path.empty() ? "postline" : path;
}

std::string choices(const CLI::App* at) {
  std::string out;
  for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + sub->get_name();
  return out;
}

bool has_commands(const CLI::App* at) { return !at->get_subcommands([](const CLI::App*) { return true; }).empty(); }

}  // namespace

std::string command_path(const CLI::App& app) { return path_of(deepest(app)); }

std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& e) {
  const CLI::App* at = deepest(app);
  const std::string path = path_of(at);
  // With fallthrough every leftover word ends up in the top-level app.
  std::vector<std::string> left = app.remaining(true);
  std::string word;
  for (const auto& w : left)
    if (w != "--") {
      word = w;
      break;
    }
  const bool is_option = !word.empty() && word[0] == '-';
  if (!word.empty()) {
    if (is_option) return "unknown option \"" + word + "\" for \"" + path + "\" (see postline " +
                          (at->get_parent() ? path + " " : "") + "--help)";
    if (has_commands(at))
      return "unknown command \"" + word + "\" for \"" + path + "\" (expected one of: " + choices(at) + ")";
    return "unexpected argument \"" + word + "\" for \"" + path + "\" (see postline " + path + " --help)";
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) && has_commands(at) && at->get_subcommands().empty() &&
      std::string(e.what()).find("subcommand") != std::string::npos)
    return "\"" + path + "\" needs a command (one of: " + choices(at) + ")";
  return path + ": " + e.what();
}

}  // namespace postline::cli
