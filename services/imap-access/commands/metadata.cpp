// GETMETADATA and SETMETADATA (RFC 5464 METADATA and METADATA-SERVER), in the
// authenticated and selected states.
//
// Mailbox "" is the server annotations (METADATA-SERVER); any other name is
// that mailbox's. Both /private and /shared entries are stored per user: with
// no mailbox sharing in Postline there is nobody else to share /shared
// entries with, so a user's /shared entries are visible to that user only
// (docs/imap.md). NOPRIVATE is therefore never answered. No unsolicited
// METADATA responses are sent outside NOTIFY (RFC 5464 4.4.2 asks for them
// only for changes made by others to shared mailboxes); with NOTIFY
// MailboxMetadataChange / ServerMetadataChange (RFC 5465 5.9, 5.10) the
// connection pushes `* METADATA mailbox entry ...` for changes of any session
// of the user, as it does LIST for MailboxName.
//
// Answers: a mailbox that does not exist is NO [NONEXISTENT] (RFC 5464 names
// no code; not TRYCREATE, creating the mailbox is not what the client needs);
// a value over mailstore::kMaxMetadataValueOctets is NO [METADATA MAXSIZE n];
// more than mailstore::kMaxMetadataEntries entries on the mailbox (or the
// server) is NO [METADATA TOOMANY]; GETMETADATA MAXSIZE leaves longer values
// out and says OK [METADATA LONGENTRIES n] with the longest one left out.
// Entry-name and syntax errors are BAD (the parser, protocol/command_args.h).
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/encoder.h"

namespace postline::imap {

namespace {

// The store's name for the wire name: "" stays "" (the server).
std::string store_name(const SessionState& s, const std::string& wire) {
  return wire.empty() ? wire : from_wire(s, wire);
}

std::string wire_name(const SessionState& s, const std::string& name) {
  return name.empty() ? "\"\"" : to_wire(s, name);
}

// A value as RFC 5464 5 `value` (nstring / literal8): NUL can travel only in
// a literal8 (a {n} literal is CHAR8, RFC 9051 4.3), anything else as a
// quoted string or a literal, whatever the client used to set it.
void append_value(std::string& out, const std::string& value) {
  if (value.find('\0') != std::string::npos) append_literal(out, value, true);
  else append_string(out, value);
}

}  // namespace

std::string notify_metadata_line(const SessionState& s, const std::string& name,
                                 const std::vector<std::string>& entries) {
  std::string line = "* METADATA " + wire_name(s, name);
  for (const auto& e : entries) line += " " + astring(e);
  return line + "\r\n";
}

asio::awaitable<Result> cmd_getmetadata(Context& ctx) {
  const GetMetadataArgs args = parse_getmetadata_args(ctx.args);
  const std::string name = store_name(ctx.session, args.mailbox);
  const int64_t user_id = ctx.session.user_id;
  const std::vector<std::string> entries = args.entries;
  const mailstore::MetadataDepth depth = args.depth;
  const std::optional<size_t> maxsize = args.maxsize;
  auto query = [=](mailstore::MailStore& st) { return st.get_metadata(user_id, name, entries, depth, maxsize); };
  mailstore::MetadataResult r = co_await ctx.store(std::move(query));
  if (r.error == mailstore::MetadataError::kNoSuchMailbox) co_return Result::no("No such mailbox", "NONEXISTENT");
  if (!r.entries.empty()) {
    // One response with every entry (RFC 5464 4.4.1 allows one or several).
    std::string line = "* METADATA " + wire_name(ctx.session, name) + " (";
    for (size_t i = 0; i < r.entries.size(); ++i) {
      if (i) line += ' ';
      line += astring(r.entries[i].entry);
      line += ' ';
      append_value(line, r.entries[i].value);
    }
    line += ")\r\n";
    ctx.send(std::move(line));
  }
  if (r.longest_omitted > 0)
    co_return Result::ok("GETMETADATA completed", "METADATA LONGENTRIES " + std::to_string(r.longest_omitted));
  co_return Result::ok("GETMETADATA completed");
}

asio::awaitable<Result> cmd_setmetadata(Context& ctx) {
  SetMetadataArgs args = parse_setmetadata_args(ctx.args);
  const std::string name = store_name(ctx.session, args.mailbox);
  const int64_t user_id = ctx.session.user_id;
  auto call = [=, updates = std::move(args.updates)](mailstore::MailStore& st) {
    return st.set_metadata(user_id, name, updates);
  };
  const mailstore::MetadataError err = co_await ctx.store(std::move(call));
  switch (err) {
    case mailstore::MetadataError::kNone: co_return Result::ok("SETMETADATA completed");
    case mailstore::MetadataError::kNoSuchMailbox: co_return Result::no("No such mailbox", "NONEXISTENT");
    case mailstore::MetadataError::kTooLarge:
      co_return Result::no("Metadata value too long",
                           "METADATA MAXSIZE " + std::to_string(mailstore::kMaxMetadataValueOctets));
    case mailstore::MetadataError::kTooMany:
      co_return Result::no("Too many metadata entries (at most " + std::to_string(mailstore::kMaxMetadataEntries) +
                               ")",
                           "METADATA TOOMANY");
  }
  co_return Result::no("SETMETADATA failed");
}

}  // namespace postline::imap
