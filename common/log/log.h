// Logging for every Postline process: spdlog to stderr, as text or JSON lines.
// Callers put the session id / queue id into the message ("[s:ab12] ...").
// Never log secrets: passwords, AUTH payloads and message bodies stay out.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace postline::log {

// level: trace|debug|info|warn|error; format: text|json. Throws std::invalid_argument
// on an unknown level or format (config validation names the key first).
void init(const std::string& service, const std::string& level, const std::string& format);

// A short random id for a session or connection, e.g. "7f3a9c01".
std::string new_session_id();

}  // namespace postline::log
