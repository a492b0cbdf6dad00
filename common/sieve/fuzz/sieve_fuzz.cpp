// libFuzzer entry point for postline_sieve's parser and checker (and a bounded run):
// any bytes must parse or fail with an error that names a line inside the script; a
// script that compiles must run against a fixed message without crashing, within the
// step limit, and an error run must still return exactly the implicit keep; header edits
// written into the message bytes must parse back to the header run() worked on.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/sieve/memory.h"
#include "common/sieve/sieve.h"

using namespace postline::sieve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_steps = 20000;
  CheckOptions opts;
  opts.limits = limits;
  ParseResult r = compile(text, opts);
  if (!r.script) {
    if (r.errors.empty()) std::abort();  // a failure must say why
    int lines = 1;
    for (char c : text) lines += c == '\n';
    for (const auto& e : r.errors)
      if (e.pos.line < 1 || e.pos.line > lines || e.message.empty()) std::abort();
    return 0;
  }
  static const std::string raw(
      "From: Alice <alice+tag@example.com>\r\nTo: bob@example.net, \"C\" <carol@example.org>\r\n"
      "Subject: =?utf-8?q?caf=C3=A9?= hello\r\nDate: Thu, 3 Dec 2026 17:48:46 +0100\r\n"
      "Message-ID: <1@example.com>\r\nList-Id: <l.example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nhello body\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n");
  static const MemoryMessage message(raw);
  RunContext ctx;
  ctx.limits = limits;
  ctx.now = 1796000000;
  ctx.envelope.from = "alice@example.com";
  ctx.envelope.to = "bob@example.net";
  ctx.spam_score = 5;
  MemoryScripts scripts;
  scripts.personal["self"] = std::string(text);
  ctx.loader = &scripts;
  RunResult res = run(*r.script, message, ctx);
  if (!res.ok) {
    if (!res.error || res.actions.size() != 1 || res.actions[0].kind != Action::Kind::kKeep) std::abort();
  }
  if (res.actions.size() > limits.max_actions + 1) std::abort();
  (void)describe(res);
  // editheader: the bytes apply_header_edits writes parse back to the header run() saw.
  if (!res.header_edits.empty()) {
    MemoryMessage edited(apply_header_edits(raw, res.header_edits));
    if (edited.header_fields().size() != res.edited_header.size()) std::abort();
    for (std::size_t i = 0; i < res.edited_header.size(); ++i)
      if (edited.header_fields()[i].name != res.edited_header[i].name) std::abort();
  }
  return 0;
}
