// APPEND (RFC 9051 6.3.12) and MULTIAPPEND (RFC 3502) with UIDPLUS's
// APPENDUID (RFC 4315) and LITERAL+/literal8 message data. The size limit (APPENDLIMIT) is enforced by
// the Receiver before the bytes are buffered.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/mail_store.h"
#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

void report_expunged(Context& ctx, const std::vector<uint32_t>& uids);  // expunge.cpp

namespace {
// Why a CATENATE message could not be assembled.
struct CatenateFailure {
  std::string bad_url;  // the first URL that names nothing of this user's
  bool too_big = false;
  bool empty = false;
  bool failed() const { return !bad_url.empty() || too_big || empty; }
  Result result() const {
    // RFC 4469 5: the URL goes back inside the code, as an astring.
    if (!bad_url.empty()) return Result::no("Unusable CATENATE URL", "BADURL " + quoted_or_literal(bad_url));
    if (too_big) return Result::no("Catenated message too large", "TOOBIG");
    return Result::no("Empty message");
  }
};

// Builds m.message from its CATENATE parts (RFC 4469): TEXT literals as they
// are, URLs (RFC 5092) read from the user's own mailboxes on this thread (the
// database thread). `binary` becomes true when a TEXT part was a literal8.
CatenateFailure assemble_catenate(mailstore::MailStore& st, int64_t user_id, const std::string& username,
                                  uint64_t max_size, AppendMessage& m, bool& binary) {
  CatenateFailure failure;
  m.message.clear();
  for (const CatenatePart& part : m.catenate) {
    std::optional<std::string> bytes;
    if (!part.is_url) {
      bytes = part.text;
      binary = binary || part.literal8;
    } else if (auto url = parse_imap_url(part.text, username)) {
      auto mb = st.find_mailbox(user_id, url->mailbox);
      if (mb && (!url->uidvalidity || *url->uidvalidity == mb->uidvalidity))
        bytes = read_message_section(st, user_id, mb->mailbox_id, url->uid, url->section, url->partial_offset,
                                     url->partial_length);
    }
    if (!bytes) {
      failure.bad_url = part.text;
      return failure;
    }
    if (m.message.size() + bytes->size() > max_size) {
      failure.too_big = true;
      return failure;
    }
    m.message += *bytes;
  }
  failure.empty = m.message.empty();
  return failure;
}

// The answer to an APPEND the store has carried out (or refused).
asio::awaitable<Result> append_done(Context& ctx, const mailstore::AppendResult& res) {
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  // Appending to the selected mailbox: the client sees EXISTS before the tagged OK.
  if (ctx.session.selected && ctx.session.selected->mailbox_id == res.mailbox_id) co_await sync_selected(ctx, true);
  // RFC 4315: a MULTIAPPEND's APPENDUID carries the UIDs as a uid-set.
  co_return Result::ok("APPEND completed",
                       "APPENDUID " + std::to_string(res.uidvalidity) + " " + SequenceSet::format(res.uids));
}
}  // namespace

asio::awaitable<Result> cmd_append(Context& ctx) {
  // Flags come checked (no \Recent, no unknown \flags); each message is its
  // literal's bytes. MULTIAPPEND (RFC 3502): several messages, one transaction.
  AppendArgs args = parse_append_args(ctx.args);
  const std::string name = from_wire(ctx.session, args.mailbox);
  bool catenate = false;
  for (const AppendMessage& m : args.messages) {
    // RFC 6855 3.4: APPEND ... UTF8 (~{n}...) once UTF8=ACCEPT is enabled.
    if (m.utf8 && !ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
    catenate = catenate || !m.catenate.empty();
    // RFC 3502 6.3.11: one message that cannot be appended fails them all.
    if (m.message.empty() && m.catenate.empty()) co_return Result::no("Empty message");
  }

  co_await refresh_limits(ctx);
  const int64_t user_id = ctx.session.user_id;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  if (catenate) {
    // CATENATE (RFC 4469): the URLs are read and the messages assembled on the
    // database thread, then appended like any other (all or none).
    struct Outcome {
      mailstore::AppendResult appended;
      CatenateFailure failure;
    };
    const std::string username = ctx.session.username;
    const uint64_t max_size = ctx.services.settings.max_literal;
    auto op = [user_id, quota, name, username, max_size,
               messages = std::move(args.messages)](mailstore::MailStore& st) mutable {
      Outcome out;
      std::vector<mailstore::AppendItem> items;
      for (AppendMessage& m : messages) {
        bool binary = m.literal8 && !m.utf8;
        if (!m.catenate.empty()) {
          out.failure = assemble_catenate(st, user_id, username, max_size, m, binary);
          if (out.failure.failed()) return out;
        }
        items.push_back(
            mailstore::AppendItem{m.message, mailstore::flags_from_names(m.flags), m.internal_date, binary});
      }
      out.appended = st.append(user_id, name, items, quota);
      return out;
    };
    Outcome res = co_await ctx.store(std::move(op));
    if (res.failure.failed()) co_return res.failure.result();
    co_return co_await append_done(ctx, res.appended);
  }
  auto op = [user_id, quota, name, messages = std::move(args.messages)](mailstore::MailStore& st) {
    std::vector<mailstore::AppendItem> items;
    items.reserve(messages.size());
    for (const AppendMessage& m : messages) {
      // literal8 (~{n}): the bytes are stored exactly as sent (RFC 3516 4.4).
      // The UTF8 form's literal8 is there for 8-bit headers (RFC 6855), not
      // for binary content: it is canonicalised like a plain literal.
      const bool binary = m.literal8 && !m.utf8;
      items.push_back(mailstore::AppendItem{m.message, mailstore::flags_from_names(m.flags), m.internal_date, binary});
    }
    return st.append(user_id, name, items, quota);
  };
  mailstore::AppendResult res = co_await ctx.store(std::move(op));
  co_return co_await append_done(ctx, res);
}

// REPLACE / UID REPLACE (RFC 8508): APPEND of the new message and the expunge
// of the old one (whatever its flags) in one store transaction, so a draft
// being saved again is never there twice or not at all.
asio::awaitable<Result> cmd_replace(Context& ctx) {
  ReplaceArgs args = parse_replace_args(ctx.args, ctx.uid);
  const std::string dest = from_wire(ctx.session, args.mailbox);
  auto& sel = *ctx.session.selected;
  if (args.message.utf8 && !ctx.session.utf8_accept) co_return Result::bad("UTF8 APPEND needs ENABLE UTF8=ACCEPT");
  std::vector<Selected> targets;
  if (auto bad = select_messages(sel, args.target, ctx.uid, targets)) co_return Result::bad(*bad);
  // The expunge needs a read-write mailbox; nothing is appended without it.
  if (sel.read_only) co_return Result::no("Mailbox is read-only", "READ-ONLY");
  if (targets.empty()) co_return Result::no("No such message");
  if (args.message.message.empty() && args.message.catenate.empty()) co_return Result::no("Empty message");

  co_await refresh_limits(ctx);
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;
  const uint32_t uid = targets.front().uid;
  const mailstore::Quota quota{ctx.session.quota_bytes, ctx.session.quota_messages};
  const std::string username = ctx.session.username;
  const uint64_t max_size = ctx.services.settings.max_literal;
  struct Outcome {
    mailstore::ReplaceResult replaced;
    CatenateFailure failure;  // REPLACE takes CATENATE data too (RFC 8508 3.2)
  };
  auto op = [user_id, mailbox_id, uid, quota, dest, username, max_size,
             m = std::move(args.message)](mailstore::MailStore& st) mutable {
    Outcome out;
    bool binary = m.literal8 && !m.utf8;  // as APPEND
    if (!m.catenate.empty()) {
      out.failure = assemble_catenate(st, user_id, username, max_size, m, binary);
      if (out.failure.failed()) return out;
    }
    out.replaced = st.replace(
        user_id, mailbox_id, uid, dest,
        mailstore::AppendItem{m.message, mailstore::flags_from_names(m.flags), m.internal_date, binary}, quota);
    return out;
  };
  Outcome outcome = co_await ctx.store(std::move(op));
  if (outcome.failure.failed()) co_return outcome.failure.result();
  mailstore::ReplaceResult& res = outcome.replaced;
  if (res.error == mailstore::StoreError::kNoSuchMailbox) co_return Result::no("No such mailbox", "TRYCREATE");
  if (res.error == mailstore::StoreError::kOverQuota) co_return Result::no("Quota exceeded", "OVERQUOTA");
  // RFC 8508 3.3: APPENDUID in an untagged OK, then the expunge (and, into
  // the selected mailbox, the new EXISTS) before the tagged OK.
  ctx.send(untagged("OK [APPENDUID " + std::to_string(res.appended.uidvalidity) + " " +
                    SequenceSet::format(res.appended.uids) + "] Replacement message ready"));
  report_expunged(ctx, res.expunged);
  if (res.appended.mailbox_id == sel.mailbox_id) co_await sync_selected(ctx, true);
  co_return Result::ok(ctx.uid ? "UID REPLACE completed" : "REPLACE completed");
}

}  // namespace postline::imap
