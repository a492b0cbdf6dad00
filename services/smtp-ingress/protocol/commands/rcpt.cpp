// RCPT TO (RFC 5321 §4.1.1.3) with the DSN parameters NOTIFY and ORCPT
// (RFC 3461 §4). Recipients are looked up in authd at RCPT time, so unknown
// local users are refused here (550 5.1.1) and never bounced later.
//
// Relay policy: unauthenticated sessions may only address local mailboxes.
// Sender-specified routing (source routes, '%', '!' or '@' inside the local
// part — the classic open-relay tricks) is refused before authd is asked, so
// no downstream component ever has to interpret it.
#include "services/smtp-ingress/protocol/commands/params.h"
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

namespace postline::smtp {

using detail::lower;
using detail::starts_with_ci;
using detail::upper;

namespace {

bool valid_notify(const std::string& v) {
  if (v == "NEVER") return true;
  bool s = false, f = false, d = false;
  size_t start = 0;
  for (;;) {
    size_t comma = v.find(',', start);
    std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool* seen = item == "SUCCESS" ? &s : item == "FAILURE" ? &f : item == "DELAY" ? &d : nullptr;
    if (!seen || *seen) return false;
    *seen = true;
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

// ORCPT=addr-type;xtext (RFC 3461 §4.2); "utf-8" addresses (RFC 6533) are
// UTF-8 text with \x{..} escapes instead of xtext.
bool valid_orcpt(const std::string& v) {
  if (v.size() > 500) return false;
  size_t semi = v.find(';');
  if (semi == std::string::npos || semi == 0 || semi + 1 >= v.size()) return false;
  const std::string type = upper(v.substr(0, semi));
  for (char ch : type)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-')) return false;
  const std::string addr = v.substr(semi + 1);
  if (type == "UTF-8") return valid_utf8(addr);
  return valid_xtext(addr);
}

}  // namespace

void Session::cmd_rcpt(std::string_view args) {
  if (!tx_.active) return error_reply(503, "5.5.1", "Need MAIL command");
  if (!starts_with_ci(args, "TO:")) return error_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  if (tx_.rcpt_accepted >= config_.max_recipients) {
    observer_->on_limit("recipients");
    log(1, fmt::format("recipient limit ({}) reached", config_.max_recipients));
    return reply(452, "4.5.3", "Too many recipients");
  }
  PathParse parsed = parse_path(args.substr(3), /*allow_null=*/false);
  switch (parsed.error) {
    case PathError::kNone: break;
    case PathError::kParamSyntax:
    case PathError::kDuplicateParam: return error_reply(501, "5.5.4", "Invalid parameters");
    case PathError::kBadUtf8: return error_reply(501, "5.6.7", "Invalid UTF-8 in address");
    case PathError::kTooLong: return error_reply(501, "5.1.3", "Recipient address too long");
    case PathError::kNoDomain: return error_reply(501, "5.1.3", "Recipient address must include a domain");
    default: return error_reply(501, "5.1.3", "Bad recipient address syntax");
  }
  const ParsedPath& path = parsed.path;
  if (!path.params.empty() && !esmtp_) return error_reply(555, "5.5.4", "Parameters need EHLO");
  RcptRequest req;
  for (const auto& p : path.params) {
    const std::string value = p.value.value_or("");
    if (p.keyword == "NOTIFY") {
      req.notify = upper(value);
      if (!valid_notify(req.notify)) return error_reply(501, "5.5.4", "Invalid NOTIFY parameter");
    } else if (p.keyword == "ORCPT") {
      if (!valid_orcpt(value)) return error_reply(501, "5.5.4", "Invalid ORCPT parameter");
      req.orcpt = value;
    } else {
      return error_reply(555, "5.5.4", "Unsupported parameter " + p.keyword);
    }
  }
  if (path.non_ascii && !tx_.smtputf8) return error_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
  if (path.source_route) {
    observer_->on_message_rejected("relay_denied");
    log(1, "source-routed recipient refused");
    return error_reply(550, "5.7.1", "Source routes are not accepted");
  }
  if (!authenticated()) {
    const std::string local = path.mailbox.unquoted_local();
    if (local.find_first_of("%!@") != std::string::npos) {
      observer_->on_message_rejected("relay_denied");
      log(1, fmt::format("sender-specified routing refused: {}", path.mailbox.text()));
      return error_reply(554, "5.7.1", "Relay access denied");
    }
  }
  req.address = path.postmaster ? "postmaster@" + config_.hostname : path.mailbox.text();
  if (!path.postmaster && path.mailbox.domain.front() == '[') {
    // We host domains by name, never an address literal: such a recipient is
    // remote by definition, so authd is not asked.
    if (!authenticated()) {
      observer_->on_message_rejected("relay_denied");
      log(1, fmt::format("relay attempt to address literal <{}> refused", req.address));
      return error_reply(554, "5.7.1", "Relay access denied");
    }
    tx_.recipients.push_back({req.address, false, 0, req.notify, req.orcpt});
    ++tx_.rcpt_accepted;
    return reply(250, "2.1.5", "Ok");
  }
  rcpt_ = std::move(req);
  pending_ = Pending::kRcpt;
  emit(ResolveRecipientEvent{rcpt_.address, true, tx_.mail_from, helo_, tx_.queue_id});
}

void Session::on_resolved(const Resolution& r) {
  if (pending_ == Pending::kSender) {
    pending_ = Pending::kNone;
    event_pending_ = false;
    sender_resolved(r);
    pending_tx_ = Transaction{};
    return process();
  }
  if (pending_ != Pending::kRcpt) return;
  pending_ = Pending::kNone;
  event_pending_ = false;
  // authd calling an address local without naming the mailbox (user_id) is an
  // inconsistency on its side; queued would refuse such a recipient, so this
  // is a temporary lookup failure, not an acceptance.
  bool inconsistent = r.available && r.kind == RecipientKind::kLocal && r.targets.empty();
  for (const auto& t : r.targets)
    if (t.kind == RecipientKind::kLocal && t.user_id <= 0) inconsistent = true;
  if (inconsistent) log(2, fmt::format("authd answered LOCAL without a user id for <{}>", rcpt_.address));
  if (r.refusal.code) {
    observer_->on_message_rejected(r.refusal.reason);
    log(1, fmt::format("recipient <{}> refused by policy: {} {} {}", rcpt_.address, r.refusal.code,
                       r.refusal.enhanced, r.refusal.text));
    // 4xx (greylisting, rate limits) are not the client's errors: no error budget.
    if (r.refusal.code >= 500) error_reply(r.refusal.code, r.refusal.enhanced, r.refusal.text);
    else reply(r.refusal.code, r.refusal.enhanced, r.refusal.text);
  } else if (!r.available || inconsistent) {
    log(2, fmt::format("recipient lookup for <{}> failed: authd unavailable", rcpt_.address));
    reply(451, "4.4.3", "Recipient lookup temporarily unavailable, try again later");
  } else if (r.kind == RecipientKind::kUnknown) {
    observer_->on_message_rejected("unknown_recipient");
    log(1, fmt::format("unknown recipient <{}>", rcpt_.address));
    error_reply(550, "5.1.1", "Recipient address rejected: user unknown");
  } else if (r.kind == RecipientKind::kRemote && !authenticated()) {
    observer_->on_message_rejected("relay_denied");
    log(1, fmt::format("relay attempt to <{}> refused", rcpt_.address));
    error_reply(554, "5.7.1", "Relay access denied");
  } else {
    std::vector<EnvelopeRecipient> add;
    if (r.targets.empty()) {  // REMOTE: the address itself
      add.push_back({rcpt_.address, false, 0, rcpt_.notify, rcpt_.orcpt});
    } else {
      for (const auto& t : r.targets) {
        if (t.kind == RecipientKind::kUnknown) continue;
        add.push_back({t.address.empty() ? rcpt_.address : t.address, t.kind == RecipientKind::kLocal, t.user_id,
                       rcpt_.notify, rcpt_.orcpt, t.quota_known && t.kind == RecipientKind::kLocal, t.quota_bytes,
                       t.quota_messages, t.shard, t.moving});
      }
    }
    if (add.empty()) {
      observer_->on_message_rejected("unknown_recipient");
      error_reply(550, "5.1.1", "Recipient address rejected: user unknown");
    } else {
      // The same mailbox reached twice (directly and through an alias) is
      // delivered once.
      for (auto& a : add) {
        bool dup = false;
        for (const auto& e : tx_.recipients)
          if (lower(e.address) == lower(a.address) && e.local == a.local) dup = true;
        if (!dup) tx_.recipients.push_back(std::move(a));
      }
      ++tx_.rcpt_accepted;
      reply(250, "2.1.5", "Ok");
    }
  }
  process();
}

}  // namespace postline::smtp
