#include "services/imap-access/commands/registry.h"

#include <array>

namespace postline::imap {

namespace {
const CommandSpec kCommands[] = {
    {"CAPABILITY", cmd_capability, kAnyState, false},
    {"NOOP", cmd_noop, kAnyState, false},
    {"LOGOUT", cmd_logout, kAnyState, false},
    {"ID", cmd_id, kAnyState, false},
    {"STARTTLS", cmd_starttls, kNotAuth, false},
    {"LOGIN", cmd_login, kNotAuth, false},
    {"AUTHENTICATE", cmd_authenticate, kNotAuth, false},
    {"ENABLE", cmd_enable, kAuthOrSelected, false},
    {"SELECT", cmd_select, kAuthOrSelected, false},
    {"EXAMINE", cmd_examine, kAuthOrSelected, false},
    {"CHECK", cmd_check, kSelectedState, false},
    {"CLOSE", cmd_close, kSelectedState, false},
    {"UNSELECT", cmd_unselect, kSelectedState, false},
    {"FETCH", cmd_fetch, kSelectedState, true},
    {"UID FETCH", cmd_fetch, kSelectedState, false},
};
}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace postline::imap
