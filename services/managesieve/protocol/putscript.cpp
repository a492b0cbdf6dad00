// PUTSCRIPT, CHECKSCRIPT, HAVESPACE (RFC 5804 2.6, 2.12, 2.5): what an upload
// needs. Order of the checks: the name, the size (QUOTA/MAXSIZE), the number
// of scripts (QUOTA/MAXSCRIPTS), the user's total (QUOTA), then the script is
// compiled with common/sieve (every error line in the NO) and stored.
// Includes of personal scripts that do not exist (yet) are not an error
// (RFC 6609: they are looked up when the script runs) but a WARNINGS text.
#include "common/log/printable.h"
#include "common/mailstore/sieve_scripts.h"
#include "services/managesieve/protocol/script_name.h"
#include "services/managesieve/protocol/session.h"

#include <set>

namespace postline::managesieve {

namespace {

void find_includes(const std::vector<sieve::Command>& commands, std::vector<const sieve::Command*>& out) {
  for (const auto& c : commands) {
    if (c.name == "include") out.push_back(&c);
    find_includes(c.block, out);
  }
}

}  // namespace

std::string Session::error_lines(const std::vector<sieve::Error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "\r\n";
    out += e.text();
  }
  return out.empty() ? std::string("Script does not compile") : out;
}

sieve::ParseResult Session::compile(std::string_view script) const {
  sieve::CheckOptions options = settings_.sieve;
  options.limits.max_script_size = static_cast<size_t>(settings_.quotas.max_script_size);
  return sieve::compile(script, options);
}

std::string Session::warnings(const sieve::Script& script, mailstore::SieveScriptStore& store) const {
  std::vector<const sieve::Command*> includes;
  find_includes(script.commands, includes);
  if (includes.empty()) return {};
  std::set<std::string> names;
  for (const auto& info : store.list_scripts(user_id_)) names.insert(info.name);
  std::string out;
  const bool variables = script.required.count("variables") > 0;
  for (const sieve::Command* c : includes) {
    if (c->tags.count("global") || c->tags.count("optional") || c->positional.empty()) continue;
    const std::string& name = c->positional[0]->strings.at(0);
    if (variables && name.find("${") != std::string::npos) continue;
    if (names.count(name)) continue;
    if (!out.empty()) out += "\r\n";
    out += "line " + std::to_string(c->pos.line) + ": included script \"" + name + "\" does not exist";
  }
  return out;
}

std::optional<Session::Refusal> Session::quota_refusal(mailstore::SieveScriptStore& store, const std::string& name,
                                                       std::uint64_t size) const {
  const Quotas& q = settings_.quotas;
  if (size > q.max_script_size)
    return Refusal{"QUOTA/MAXSIZE", "Script larger than " + std::to_string(q.max_script_size) + " octets", "maxsize"};
  if (!q.max_scripts && !q.max_total_size) return std::nullopt;
  const auto scripts = store.list_scripts(user_id_);
  std::uint64_t total = size;
  bool exists = false;
  for (const auto& s : scripts) {
    if (s.name == name) exists = true;  // replaced: its size no longer counts
    else total += static_cast<std::uint64_t>(s.size);
  }
  if (!exists && q.max_scripts && scripts.size() >= q.max_scripts)
    return Refusal{"QUOTA/MAXSCRIPTS", "At most " + std::to_string(q.max_scripts) + " scripts", "maxscripts"};
  if (q.max_total_size && total > q.max_total_size)
    return Refusal{"QUOTA", "Scripts would take more than " + std::to_string(q.max_total_size) + " octets together",
                   "quota"};
  return std::nullopt;
}

void Session::cmd_havespace(const Command& cmd, mailstore::SieveScriptStore& store) {
  const HaveSpaceArgs args = parse_havespace(cmd);
  if (auto why = script_name_error(args.name)) {
    reply(Status::kNo, "", "Invalid script name: " + *why);
    return;
  }
  if (auto refusal = quota_refusal(store, args.name, args.size)) {
    reply(Status::kNo, refusal->code, refusal->text);
    return;
  }
  reply(Status::kOk, "", "Putscript would succeed");
}

void Session::cmd_putscript(const Command& cmd, mailstore::SieveScriptStore& store) {
  const PutScriptArgs args = parse_putscript(cmd);
  if (auto why = script_name_error(args.name)) {
    observer_->script_refused("name");
    observer_->info("PUTSCRIPT refused: " + *why + " (" + log::printable(args.name, 64) + ")");
    reply(Status::kNo, "", "Invalid script name: " + *why);
    return;
  }
  if (auto refusal = quota_refusal(store, args.name, args.script.size())) {
    observer_->script_refused(refusal->reason);
    observer_->info("PUTSCRIPT " + log::printable(args.name, 64) + " refused: " + refusal->code);
    reply(Status::kNo, refusal->code, refusal->text);
    return;
  }
  sieve::ParseResult compiled = compile(args.script);
  if (!compiled.script) {
    observer_->script_refused("syntax");
    observer_->info("PUTSCRIPT " + log::printable(args.name, 64) + " refused: " +
                    std::to_string(compiled.errors.size()) + " error(s), first: " +
                    log::printable(compiled.errors.empty() ? std::string() : compiled.errors[0].text()));
    reply(Status::kNo, "", error_lines(compiled.errors));
    return;
  }
  store.put_script(user_id_, args.name, args.script);
  observer_->script_stored();
  observer_->info("PUTSCRIPT " + log::printable(args.name, 64) + " stored (" + std::to_string(args.script.size()) +
                  " octets)");
  const std::string warn = warnings(*compiled.script, store);
  reply(Status::kOk, warn.empty() ? "" : "WARNINGS", warn.empty() ? std::string("Script stored") : warn);
}

void Session::cmd_checkscript(const Command& cmd, mailstore::SieveScriptStore& store) {
  const std::string script = parse_checkscript(cmd);
  if (script.size() > settings_.quotas.max_script_size) {
    reply(Status::kNo, "QUOTA/MAXSIZE",
          "Script larger than " + std::to_string(settings_.quotas.max_script_size) + " octets");
    return;
  }
  sieve::ParseResult compiled = compile(script);
  if (!compiled.script) {
    reply(Status::kNo, "", error_lines(compiled.errors));
    return;
  }
  const std::string warn = warnings(*compiled.script, store);
  reply(Status::kOk, warn.empty() ? "" : "WARNINGS", warn.empty() ? std::string("Script is valid") : warn);
}

}  // namespace postline::managesieve
