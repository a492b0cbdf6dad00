// postline-sieve-eval: runs one Sieve script against one message and prints the actions,
// one per line, in describe()'s normalised form (the differential tier compares this with
// Pigeonhole's sieve-test). Exit status: 0 ran, 1 the script does not compile (the errors
// are printed as "error line N: ..."), 2 usage or file errors.
//
//   postline-sieve-eval [--from ADDR] [--to ADDR] [--auth ID] [--now EPOCH] [--zone +HHMM]
//                       [--spam-score S [--spam-max M]] [--mailbox NAME]...
//                       [--include-dir DIR] [--before SCRIPT]... [--header] SCRIPT MESSAGE
//
// --mailbox names an existing mailbox (without any, every mailbox exists);
// --include-dir holds personal scripts as NAME.sieve and global ones in DIR/global/;
// --before runs scripts ahead of SCRIPT as one delivery (an administrator's sieve_before);
// --header also prints the header after editheader changes ("header NAME: VALUE").
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/sieve/internal.h"
#include "common/sieve/memory.h"
#include "common/sieve/sieve.h"

using namespace postline::sieve;

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class DirScripts : public ScriptLoader {
 public:
  explicit DirScripts(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> load(Location where, std::string_view name) const override {
    std::string path = dir_ + (where == Location::kGlobal ? "/global/" : "/") + std::string(name) + ".sieve";
    return read_file(path);
  }

 private:
  std::string dir_;
};

int usage(const std::string& why) {
  std::cerr << "postline-sieve-eval: " << why << "\n"
            << "usage: postline-sieve-eval [--from A] [--to A] [--auth ID] [--now EPOCH] [--zone +HHMM] "
               "[--spam-score S] [--spam-max M] [--mailbox NAME]... [--include-dir DIR] [--header] SCRIPT MESSAGE\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  RunContext ctx;
  ctx.now = 0;
  MemoryMailboxes boxes;
  std::optional<DirScripts> loader;
  bool print_header = false;
  std::optional<double> spam_score;
  double spam_max = 10;
  std::vector<std::string> files;
  std::vector<std::string> before;  // scripts run before the main one (run()'s sequence)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    try {
      if (a == "--from") { auto v = value(); if (!v) return usage("--from needs a value"); ctx.envelope.from = *v; }
      else if (a == "--to") { auto v = value(); if (!v) return usage("--to needs a value"); ctx.envelope.to = *v; }
      else if (a == "--auth") { auto v = value(); if (!v) return usage("--auth needs a value"); ctx.envelope.auth = *v; }
      else if (a == "--now") { auto v = value(); if (!v) return usage("--now needs a value"); ctx.now = std::stoll(*v); }
      else if (a == "--zone") {
        auto v = value();
        auto z = v ? detail::parse_zone(*v) : std::nullopt;
        if (!z) return usage("--zone needs +HHMM or -HHMM");
        ctx.zone_minutes = *z;
      }
      else if (a == "--spam-score") {
        // A raw score on the scale [0, --spam-max] (default 10), mapped as the queue does.
        auto v = value();
        if (!v) return usage("--spam-score needs a value");
        spam_score = std::stod(*v);
      }
      else if (a == "--spam-max") { auto v = value(); if (!v) return usage("--spam-max needs a value"); spam_max = std::stod(*v); }
      else if (a == "--mailbox") { auto v = value(); if (!v) return usage("--mailbox needs a value"); boxes.names.insert(*v); }
      else if (a == "--include-dir") { auto v = value(); if (!v) return usage("--include-dir needs a value"); loader.emplace(*v); }
      else if (a == "--before") { auto v = value(); if (!v) return usage("--before needs a file"); before.push_back(*v); }
      else if (a == "--header") print_header = true;
      else if (!a.empty() && a[0] == '-') return usage("unknown option " + a);
      else files.push_back(a);
    } catch (const std::exception&) {
      return usage("bad number for " + a);
    }
  }
  if (files.size() != 2) return usage("need SCRIPT and MESSAGE");
  auto script_text = read_file(files[0]);
  if (!script_text) return usage("cannot read " + files[0]);
  auto raw = read_file(files[1]);
  if (!raw) return usage("cannot read " + files[1]);
  if (spam_score) {
    ctx.spam_score = spamtest_value(*spam_score, spam_max);
    ctx.spam_percent = spamtest_percent(*spam_score, spam_max);
  }
  if (!boxes.names.empty()) ctx.mailboxes = &boxes;
  if (loader) ctx.loader = &*loader;
  ctx.user = ctx.envelope.to;

  std::vector<std::unique_ptr<Script>> scripts;
  std::vector<std::string> texts;
  for (const auto& b : before) {
    auto t = read_file(b);
    if (!t) return usage("cannot read " + b);
    texts.push_back(*t);
  }
  texts.push_back(*script_text);
  for (const auto& t : texts) {
    ParseResult compiled = compile(t);
    if (!compiled.script) {
      for (const auto& e : compiled.errors) std::cout << "error " << e.text() << "\n";
      return 1;
    }
    scripts.push_back(std::move(compiled.script));
  }
  std::vector<const Script*> sequence;
  for (const auto& s : scripts) sequence.push_back(s.get());
  MemoryMessage message(*raw);
  RunResult result = run(sequence, message, ctx);
  std::cout << describe(result);
  for (const auto& n : result.notes) std::cerr << "note: " << n << "\n";
  if (print_header)
    for (const auto& f : result.edited_header) std::cout << "header " << f.name << ":" << f.value << "\n";
  return 0;
}
