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
    {"UNAUTHENTICATE", cmd_unauthenticate, kAuthOrSelected, false},
    {"ENABLE", cmd_enable, kAuthOrSelected, false},
    {"SELECT", cmd_select, kAuthOrSelected, false},
    {"EXAMINE", cmd_examine, kAuthOrSelected, false},
    {"CHECK", cmd_check, kSelectedState, false},
    {"CLOSE", cmd_close, kSelectedState, false},
    {"UNSELECT", cmd_unselect, kSelectedState, false},
    {"FETCH", cmd_fetch, kSelectedState, true},
    {"UID FETCH", cmd_fetch, kSelectedState, false},
    {"STORE", cmd_store, kSelectedState, true},
    {"UID STORE", cmd_store, kSelectedState, false},
    {"SEARCH", cmd_search, kSelectedState, true},
    {"UID SEARCH", cmd_search, kSelectedState, false},
    {"CANCELUPDATE", cmd_cancelupdate, kSelectedState, false},
    {"SORT", cmd_sort, kSelectedState, true},
    {"UID SORT", cmd_sort, kSelectedState, false},
    {"THREAD", cmd_thread, kSelectedState, true},
    {"UID THREAD", cmd_thread, kSelectedState, false},
    {"COPY", cmd_copy, kSelectedState, false},
    {"UID COPY", cmd_copy, kSelectedState, false},
    {"MOVE", cmd_move, kSelectedState, false},
    {"UID MOVE", cmd_move, kSelectedState, false},
    {"EXPUNGE", cmd_expunge, kSelectedState, false},
    {"UID EXPUNGE", cmd_expunge, kSelectedState, false},
    {"APPEND", cmd_append, kAuthOrSelected, false},
    {"REPLACE", cmd_replace, kSelectedState, false},
    {"UID REPLACE", cmd_replace, kSelectedState, false},
    {"CREATE", cmd_create, kAuthOrSelected, false},
    {"DELETE", cmd_delete, kAuthOrSelected, false},
    {"RENAME", cmd_rename, kAuthOrSelected, false},
    {"SUBSCRIBE", cmd_subscribe, kAuthOrSelected, false},
    {"UNSUBSCRIBE", cmd_unsubscribe, kAuthOrSelected, false},
    {"LIST", cmd_list, kAuthOrSelected, false},
    {"LSUB", cmd_list, kAuthOrSelected, false},
    {"NAMESPACE", cmd_namespace, kAuthOrSelected, false},
    {"STATUS", cmd_status, kAuthOrSelected, false},
    {"IDLE", cmd_idle, kAuthOrSelected, false},
    {"NOTIFY", cmd_notify, kAuthOrSelected, false},
    {"GETQUOTAROOT", cmd_getquotaroot, kAuthOrSelected, false},
    {"GETQUOTA", cmd_getquota, kAuthOrSelected, false},
    {"SETQUOTA", cmd_setquota, kAuthOrSelected, false},
    {"COMPRESS", cmd_compress, kAuthOrSelected, false},
    {"GETMETADATA", cmd_getmetadata, kAuthOrSelected, false},
    {"SETMETADATA", cmd_setmetadata, kAuthOrSelected, false},
    {"GENURLAUTH", cmd_genurlauth, kAuthOrSelected, false},
    {"RESETKEY", cmd_resetkey, kAuthOrSelected, false},
    {"URLFETCH", cmd_urlfetch, kAuthOrSelected, false},
};
}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace postline::imap
