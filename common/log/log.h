// Logging for every Postline process: spdlog to stderr, as text or JSON lines.
// Callers put tags for what a line is about at the front of the message:
// "[s:7f3a9c01] [q:6751A2C03F9E2B] [t:...] [c:192.0.2.1:51234] [u:alice@example.test] ..."
// (session, queue id, trace id, client, user; record.h has the exact rules).
// In text mode they stay in the line as written; in JSON mode they become the
// fields session, queue_id, trace_id, client and user. Peer strings in a tag go
// through tag_value(), elsewhere through printable().
// Never log secrets: passwords, AUTH payloads and message bodies stay out.
#pragma once

#include "common/log/printable.h"
#include "common/log/record.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace postline::log {

// level: trace|debug|info|warn|error; format: text|json. Throws std::invalid_argument
// on an unknown level or format (config validation names the key first).
void init(const std::string& service, const std::string& level, const std::string& format);

// The line format of init(), for a logger of one's own (tests).
std::unique_ptr<spdlog::formatter> make_formatter(const std::string& format);

// A short random id for a session or connection, e.g. "7f3a9c01".
std::string new_session_id();

// "listening mx on 127.0.0.1:2525", an info record (a JSON one in JSON mode).
void listening(std::string_view what, std::string_view address, unsigned port);
// "listening grpc on unix:/run/postline/queued.sock".
void listening_unix(std::string_view what, std::string_view path);

// A reason to exit after init(): "<program>: <why>" on stderr in text mode
// (what operators and tests read before init() too), a critical record in
// JSON mode so the stream stays JSON.
void fatal(std::string_view program, std::string_view why);

// The trace id travels between the services as this gRPC metadata key
// (smtpd -> authd at RCPT, queued -> authd at delivery).
inline constexpr const char* kTraceMetadata = "x-postline-trace";

}  // namespace postline::log
