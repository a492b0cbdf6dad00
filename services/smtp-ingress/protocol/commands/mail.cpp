// MAIL FROM (RFC 5321 §4.1.1.2) with the SIZE (RFC 1870), BODY (RFC 6152),
// SMTPUTF8 (RFC 6531), RET/ENVID (RFC 3461), AUTH (RFC 4954 §5) and REQUIRETLS
// (RFC 8689) parameters.
// On submission the sender must be authenticated and must own the address.
#include "services/smtp-ingress/protocol/commands/params.h"
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

namespace postline::smtp {

using detail::lower;
using detail::starts_with_ci;
using detail::upper;

// The authenticated account may send as itself and as its plus-addresses
// without a lookup; any other sender address is resolved with authd and
// allowed when it delivers to this account (an alias the user is a member of).
bool Session::sender_allowed(std::string_view sender) const {
  if (sender.empty()) return true;  // null sender: MDNs and vacation replies from MUAs
  const std::string s = lower(sender);
  const std::string account = lower(auth_user_);
  if (s == account) return true;
  size_t at = s.rfind('@');
  size_t plus = s.find('+');
  if (at != std::string::npos && plus != std::string::npos && plus < at)
    return s.substr(0, plus) + s.substr(at) == account;
  return false;
}

void Session::cmd_mail(std::string_view args) {
  if (helo_.empty()) return error_reply(503, "5.5.1", "Send HELO/EHLO first");
  if (tx_.active) return error_reply(503, "5.5.1", "Nested MAIL command");
  if (submission() && !authenticated()) {
    if (starttls_offered()) return error_reply(530, "5.7.0", "Must issue a STARTTLS command first");
    return error_reply(530, "5.7.0", "Authentication required");
  }
  if (messages_ >= config_.max_messages) {
    observer_->on_limit("messages_per_session");
    log(1, fmt::format("message limit per session ({}) reached", config_.max_messages));
    return close_with(421, "4.7.0", config_.hostname + " Too many messages in this session, reconnect");
  }
  if (!starts_with_ci(args, "FROM:")) return error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  PathParse parsed = parse_path(args.substr(5), /*allow_null=*/true);
  switch (parsed.error) {
    case PathError::kNone: break;
    case PathError::kParamSyntax:
    case PathError::kDuplicateParam: return error_reply(501, "5.5.4", "Invalid parameters");
    case PathError::kBadUtf8: return error_reply(501, "5.6.7", "Invalid UTF-8 in address");
    case PathError::kTooLong: return error_reply(501, "5.1.7", "Sender address too long");
    default: return error_reply(501, "5.1.7", "Bad sender address syntax");
  }
  const ParsedPath& path = parsed.path;
  if (path.postmaster) return error_reply(501, "5.1.7", "Bad sender address syntax");
  if (!path.params.empty() && !esmtp_) return error_reply(555, "5.5.4", "Parameters need EHLO");

  Transaction tx;
  tx.queue_id = config_.new_queue_id();
  tx.mail_from = path.null_path ? std::string() : path.mailbox.text();  // a source route is ignored (§4.1.1.3)
  for (const auto& p : path.params) {
    const std::string value = p.value.value_or("");
    if (p.keyword == "SIZE") {
      if (!p.value || value.size() > 20 || value.find_first_not_of("0123456789") != std::string::npos)
        return error_reply(501, "5.5.4", "Invalid SIZE parameter");
      if (value.size() > 19 || std::stoull(value) > config_.max_message_size) {
        observer_->on_limit("message_size");
        observer_->on_message_rejected("size");
        return error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
      }
      tx.declared_size = std::stoull(value);
    } else if (p.keyword == "BODY") {
      const std::string body = upper(value);
      if (body != "7BIT" && body != "8BITMIME") return error_reply(555, "5.5.4", "Unsupported BODY type");
      tx.body_type = body;
    } else if (p.keyword == "SMTPUTF8") {
      if (p.value) return error_reply(501, "5.5.4", "SMTPUTF8 takes no value");
      tx.smtputf8 = true;
    } else if (p.keyword == "RET") {
      const std::string ret = upper(value);
      if (ret != "FULL" && ret != "HDRS") return error_reply(501, "5.5.4", "Invalid RET parameter");
      tx.dsn_ret = ret;
    } else if (p.keyword == "ENVID") {
      if (!p.value || value.size() > 100 || !valid_xtext(value))
        return error_reply(501, "5.5.4", "Invalid ENVID parameter");
      tx.dsn_envid = value;
    } else if (p.keyword == "REQUIRETLS") {
      // RFC 8689 4.1: offered only over TLS; the message is then delivered
      // only over authenticated TLS (queued), or bounced.
      if (p.value) return error_reply(501, "5.5.4", "REQUIRETLS takes no value");
      if (!tls_active_) return error_reply(530, "5.7.10", "REQUIRETLS needs a TLS session");
      tx.requiretls = true;
    } else if (p.keyword == "AUTH" && auth_offered()) {
      // RFC 4954 §5: we do not trust other servers' AUTH= claims; parse and drop.
      if (!p.value || !valid_xtext(value)) return error_reply(501, "5.5.4", "Invalid AUTH parameter");
    } else {
      return error_reply(555, "5.5.4", "Unsupported parameter " + p.keyword);
    }
  }
  if (path.non_ascii && !tx.smtputf8)
    return error_reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
  if (submission() && !sender_allowed(tx.mail_from)) {
    if (auth_user_id_ > 0 && !path.mailbox.domain.empty() && path.mailbox.domain.front() != '[') {
      pending_tx_ = std::move(tx);
      pending_ = Pending::kSender;
      ResolveRecipientEvent lookup{pending_tx_.mail_from};
      lookup.trace_id = pending_tx_.queue_id;
      return emit(std::move(lookup));
    }
    log(1, fmt::format("sender <{}> not owned by {}", tx.mail_from, auth_user_));
    observer_->on_message_rejected("sender_mismatch");
    return error_reply(553, "5.7.1", "Sender address rejected: not owned by you");
  }
  tx.active = true;
  tx_ = std::move(tx);
  reply(250, "2.1.0", "Ok");
}

void Session::sender_resolved(const Resolution& r) {
  if (!r.available) {
    log(2, fmt::format("sender lookup for <{}> failed: authd unavailable", pending_tx_.mail_from));
    return reply(451, "4.4.3", "Sender lookup temporarily unavailable, try again later");
  }
  bool owned = false;
  if (r.kind == RecipientKind::kLocal)
    for (const auto& t : r.targets) owned = owned || (t.kind == RecipientKind::kLocal && t.user_id == auth_user_id_);
  if (!owned) {
    log(1, fmt::format("sender <{}> not owned by {}", pending_tx_.mail_from, auth_user_));
    observer_->on_message_rejected("sender_mismatch");
    return error_reply(553, "5.7.1", "Sender address rejected: not owned by you");
  }
  tx_ = std::move(pending_tx_);
  tx_.active = true;
  reply(250, "2.1.0", "Ok");
}

}  // namespace postline::smtp
