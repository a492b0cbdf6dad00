// LISTSCRIPTS, GETSCRIPT, SETACTIVE, DELETESCRIPT, RENAMESCRIPT (RFC 5804
// 2.7-2.11). A name that is not a valid script name cannot exist: NONEXISTENT
// without asking the store. SETACTIVE compiles the script again (the
// administrator may have narrowed the extensions since it was stored).
#include "common/log/printable.h"
#include "common/mailstore/sieve_scripts.h"
#include "services/managesieve/protocol/script_name.h"
#include "services/managesieve/protocol/session.h"

namespace postline::managesieve {

namespace {

const mailstore::SieveScriptInfo* find_script(const std::vector<mailstore::SieveScriptInfo>& scripts,
                                              const std::string& name) {
  for (const auto& s : scripts)
    if (s.name == name) return &s;
  return nullptr;
}

constexpr const char* kNoSuchScript = "There is no script by that name";

}  // namespace

void Session::cmd_listscripts(const Command& cmd, mailstore::SieveScriptStore& store) {
  parse_no_args(cmd);
  const auto scripts = store.list_scripts(user_id_);
  for (const auto& s : scripts) output_ += string_arg(s.name) + (s.active ? " ACTIVE\r\n" : "\r\n");
  reply(Status::kOk, "", "Listscripts completed");
}

void Session::cmd_getscript(const Command& cmd, mailstore::SieveScriptStore& store) {
  const std::string name = parse_script_name(cmd);
  std::optional<std::string> text;
  if (!script_name_error(name)) text = store.get_script(user_id_, name);
  if (!text) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  // Always a literal: scripts are multi-line.
  output_ += "{" + std::to_string(text->size()) + "}\r\n";
  output_ += *text;
  output_ += "\r\n";
  reply(Status::kOk, "", "Getscript completed");
}

void Session::cmd_setactive(const Command& cmd, mailstore::SieveScriptStore& store) {
  const std::string name = parse_script_name(cmd);
  if (name.empty()) {
    // RFC 5804 2.8: the empty name deactivates the active script.
    store.set_active_script(user_id_, "");
    observer_->info("SETACTIVE: no script active");
    reply(Status::kOk, "", "No script is active now");
    return;
  }
  std::optional<std::string> text;
  if (!script_name_error(name)) text = store.get_script(user_id_, name);
  if (!text) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  sieve::ParseResult compiled = compile(*text);
  if (!compiled.script) {
    observer_->info("SETACTIVE " + log::printable(name, 64) + " refused: the script no longer compiles");
    reply(Status::kNo, "", error_lines(compiled.errors));
    return;
  }
  if (!store.set_active_script(user_id_, name)) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);  // deleted meanwhile by another session
    return;
  }
  observer_->info("SETACTIVE " + log::printable(name, 64));
  reply(Status::kOk, "", "Script activated");
}

void Session::cmd_deletescript(const Command& cmd, mailstore::SieveScriptStore& store) {
  const std::string name = parse_script_name(cmd);
  const auto scripts = script_name_error(name) ? std::vector<mailstore::SieveScriptInfo>{} : store.list_scripts(user_id_);
  const auto* script = find_script(scripts, name);
  if (!script) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  if (script->active) {
    // RFC 5804 2.10: the active script cannot be deleted.
    reply(Status::kNo, "ACTIVE", "The script is active: deactivate it first");
    return;
  }
  if (!store.delete_script(user_id_, name)) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  observer_->info("DELETESCRIPT " + log::printable(name, 64));
  reply(Status::kOk, "", "Script deleted");
}

void Session::cmd_renamescript(const Command& cmd, mailstore::SieveScriptStore& store) {
  const RenameScriptArgs args = parse_renamescript(cmd);
  if (script_name_error(args.from)) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  if (auto why = script_name_error(args.to)) {
    reply(Status::kNo, "", "Invalid script name: " + *why);
    return;
  }
  const auto scripts = store.list_scripts(user_id_);
  if (!find_script(scripts, args.from)) {
    reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  if (find_script(scripts, args.to)) {
    reply(Status::kNo, "ALREADYEXISTS", "A script by the new name exists");
    return;
  }
  if (!store.rename_script(user_id_, args.from, args.to)) {
    // Another session changed the scripts meanwhile: say which way.
    const auto now = store.list_scripts(user_id_);
    if (find_script(now, args.to)) reply(Status::kNo, "ALREADYEXISTS", "A script by the new name exists");
    else reply(Status::kNo, "NONEXISTENT", kNoSuchScript);
    return;
  }
  observer_->info("RENAMESCRIPT " + log::printable(args.from, 64) + " to " + log::printable(args.to, 64));
  reply(Status::kOk, "", "Script renamed");
}

}  // namespace postline::managesieve
