// Test helpers: compile a script (failing the test on errors), run it on a message.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/sieve/memory.h"
#include "common/sieve/sieve.h"

namespace postline::sieve::testing {

inline const char* kPlain =
    "From: Alice Example <alice@example.com>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Cc: carol+work@example.org\r\n"
    "Subject: Hello there\r\n"
    "Date: Thu, 3 Dec 2026 17:48:46 +0100\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n"
    "Hi Bob, the meeting is at 10.\r\n";

inline std::unique_ptr<Script> compile_ok(const std::string& text, const CheckOptions& opts = {}) {
  ParseResult r = compile(text, opts);
  if (!r.script) {
    std::string all;
    for (const auto& e : r.errors) all += e.text() + "\n";
    ADD_FAILURE() << "script does not compile:\n" << all << text;
  }
  return std::move(r.script);
}

// The first error's text, or "" when the script compiles.
inline std::string compile_error(const std::string& text, const CheckOptions& opts = {}) {
  ParseResult r = compile(text, opts);
  return r.errors.empty() ? std::string() : r.errors[0].text();
}

inline RunContext default_context() {
  RunContext ctx;
  ctx.now = 1796320000;  // 2026-12-03 17:46:40 UTC
  ctx.envelope.from = "alice@example.com";
  ctx.envelope.to = "bob@example.net";
  ctx.user = "bob@example.net";
  return ctx;
}

inline RunResult run_on(const std::string& script, const std::string& message = kPlain,
                        const RunContext& ctx = default_context()) {
  auto s = compile_ok(script);
  if (!s) return {};
  MemoryMessage m(message);
  return run(*s, m, ctx);
}

// describe() of the run: "store INBOX\n", "redirect a@b\n", ...
inline std::string actions(const std::string& script, const std::string& message = kPlain,
                           const RunContext& ctx = default_context()) {
  return describe(run_on(script, message, ctx));
}

}  // namespace postline::sieve::testing
