// libFuzzer entry point for what postline_sieve reads from a message (sieve_fuzz covers
// scripts): any bytes as the message, run through fixed scripts that use every part of the
// Message a hostile sender controls — header decoding, addresses with every address part,
// RFC 5322 dates in every date part and zone, body parts with each transform, vacation's
// RFC 3834 checks, editheader and apply_header_edits. Invariants: no run fails (the
// scripts are within every limit, so an error would be a bug), the edited bytes parse back
// to the header run() worked on, and describe() renders.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/sieve/memory.h"
#include "common/sieve/sieve.h"

using namespace postline::sieve;

namespace {

const char* kScript = R"SIEVE(
require ["fileinto", "envelope", "variables", "vacation", "imap4flags", "subaddress", "copy",
         "relational", "comparator-i;ascii-numeric", "body", "date", "index", "editheader",
         "duplicate", "mailbox", "spamtest"];
if address :all :matches ["from", "to", "cc", "bcc", "reply-to", "sender"] "*@*" { set "a" "${1}/${2}"; }
if address :localpart :contains "to" "a" { addflag "$l"; }
if address :domain :is "cc" "example.com" { addflag "$d"; }
if address :detail :matches "to" "*" { addflag "$x"; }
if address :user :count "ge" :comparator "i;ascii-numeric" "to" "2" { addflag "$u"; }
if header :matches "subject" "*?*" { set "s" "${1}"; }
if header :index 2 :last :contains "received" "by" { addflag "$r"; }
if date :zone "+0530" :matches "date" "std11" "*" { set "d" "${1}"; }
if date :originalzone :value "ge" "date" "iso8601" "2000" { addflag "$new"; }
if date :index 1 :last :zone "-1200" :is "received" "julian" "1" { addflag "$j"; }
if date :matches "date" "weekday" "?" { set "w" "${1}"; }
if body :raw :contains "x" { addflag "$raw"; }
if body :text :matches "*a*b*" { addflag "$text"; }
if body :content "multipart" :contains "pre" { addflag "$multi"; }
if body :content ["text/html", "application"] :value "gt" "a" { addflag "$other"; }
if duplicate :header "message-id" { addflag "$dup"; }
if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { addflag "$spam"; }
addheader "X-Sieve" "${s} ${d} ${w}";
deleteheader :index 1 "received";
deleteheader :matches "subject" "*";
fileinto :copy "box/${a}";
vacation :days 1 :subject "re: ${s}" "away";
)SIEVE";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::unique_ptr<Script> script = [] {
    ParseResult r = compile(kScript);
    if (!r.script) std::abort();  // the fixed script must compile
    return std::move(r.script);
  }();
  std::string raw(reinterpret_cast<const char*>(data), size);
  MemoryMessage message(raw);
  RunContext ctx;
  ctx.now = 1796320000;
  ctx.envelope.from = "sender@example.com";
  ctx.envelope.to = "bob+tag@example.net";
  ctx.spam_score = 6;
  RunResult r = run(*script, message, ctx);
  if (!r.ok) {  // within every limit: an error here is a bug
    std::fprintf(stderr, "run failed: %s\n", r.error ? r.error->text().c_str() : "?");
    std::abort();
  }
  (void)describe(r);
  std::string edited_raw = apply_header_edits(raw, r.header_edits);
  // Nothing but the edits changes: the body is the same bytes.
  postline::mime::ParsedMessage before = postline::mime::parse(raw), after = postline::mime::parse(edited_raw);
  if (raw.substr(before.root.body_start) != edited_raw.substr(after.root.body_start) && !before.root.fields.empty())
    std::abort();
  // When the parser kept every field (no limit hit), the bytes parse back to the header
  // run() worked on.
  if (before.truncated || after.truncated) return 0;
  MemoryMessage edited(edited_raw);
  if (edited.header_fields().size() != r.edited_header.size()) std::abort();
  for (std::size_t i = 0; i < r.edited_header.size(); ++i)
    if (edited.header_fields()[i].name != r.edited_header[i].name) std::abort();
  return 0;
}
