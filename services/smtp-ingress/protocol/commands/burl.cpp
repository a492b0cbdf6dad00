// BURL (RFC 4468): message data from an IMAP URLAUTH URL (RFC 4467) instead
// of the client's own bytes. Submission listeners only, after AUTH (and only
// then advertised as "BURL imap"). The session does not fetch: it emits a
// FetchUrlEvent and the server asks queued (QueueService.FetchUrl), which
// verifies the URL for submit+<authenticated user> and reads it through the
// mailstore (docs/smtp.md "BURL").
//
// BURL and BDAT chunks mix in any order (RFC 4468 3.2): each appends to the
// message, the one with LAST ends it. The fetched bytes count against
// smtp.max_message_size (FetchUrl is told what is left) and
// smtp.max_inflight_data like BDAT's.
//
// Replies: BURL without LAST 250 2.5.0; with LAST, the queue's answer. A URL
// that does not verify (not URLAUTH, another user's access, a bad token,
// expired) 554 5.7.0; authorized but gone 554 5.6.6; too big 552 5.3.4;
// queued away 451 4.4.1. After a failed BURL the transaction is gone (the
// message would be missing a piece): later BURL/BDAT get 503 until MAIL.
#include "services/smtp-ingress/protocol/session.h"

#include "common/log/printable.h"

#include <fmt/format.h>

namespace postline::smtp {

std::string redact_url(std::string_view url) {
  std::string lower(url);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t ua = lower.find(";urlauth=");
  if (ua != std::string::npos) {
    const size_t last = url.rfind(':');
    if (last != std::string_view::npos && last > ua && url.find(':', ua) != last)
      return std::string(url.substr(0, last)) + ":<token>";
  }
  return std::string(url);  // escaped with the rest of the line by Session::log
}

void Session::cmd_burl(std::string_view args) {
  if (!submission()) return error_reply(502, "5.5.1", "BURL is not available here");
  if (!authenticated()) return error_reply(530, "5.7.0", "Authentication required");
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  const size_t sp = args.find(' ');
  const std::string_view url = args.substr(0, sp);
  const std::string_view rest = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  bool last = false;
  if (!rest.empty()) {
    if (rest.size() != 4 || (rest[0] | 0x20) != 'l' || (rest[1] | 0x20) != 'a' || (rest[2] | 0x20) != 's' ||
        (rest[3] | 0x20) != 't')
      return error_reply(501, "5.5.4", "Syntax: BURL absolute-URI [LAST]");
    last = true;
  }
  if (url.empty()) return error_reply(501, "5.5.4", "Syntax: BURL absolute-URI [LAST]");
  if (!tx_.active) return error_reply(503, "5.5.1", "Need MAIL command");
  if (tx_.recipients.empty()) {
    if (last) reset_transaction();
    return error_reply(554, "5.5.1", "No valid recipients");
  }
  if (tx_.bdat_failed) {
    if (last) reset_transaction();
    return error_reply(503, "5.5.1", "An earlier chunk of this message failed; RSET");
  }
  if (url.size() < 7 || !std::equal(url.begin(), url.begin() + 7, "imap://", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    observer_->on_burl("refused");
    log(1, fmt::format("BURL refused: not an IMAP URL: {}", redact_url(url)));
    reset_transaction();
    return error_reply(554, "5.7.0", "Only IMAP URLAUTH URLs of this server are supported");
  }
  tx_.bdat_started = true;  // BURL and BDAT mix; DATA no longer fits
  burl_last_ = last;
  burl_url_ = std::string(url);
  FetchUrlEvent ev;
  ev.url = std::string(url);
  ev.submit_user = auth_user_;
  ev.submit_user_id = auth_user_id_;
  ev.max_size = config_.max_message_size > tx_.data.size() ? config_.max_message_size - tx_.data.size() : 0;
  pending_ = Pending::kBurl;
  emit(std::move(ev));
}

void Session::on_url_fetched(const UrlFetched& f) {
  if (pending_ != Pending::kBurl) return;
  pending_ = Pending::kNone;
  event_pending_ = false;
  const std::string url = redact_url(burl_url_);
  burl_url_.clear();
  auto fail = [&](const char* result, int code, const char* enhanced, const char* text) {
    observer_->on_burl(result);
    log(code >= 500 ? 1 : 2, fmt::format("BURL {} failed ({}): {}", url, result, f.reason));
    reset_transaction();
    if (code >= 500) error_reply(code, enhanced, text);
    else reply(code, enhanced, text);
    process();
  };
  switch (f.status) {
    case UrlFetched::Status::kOk: break;
    case UrlFetched::Status::kNotAuthorized:
      return fail("not_authorized", 554, "5.7.0", "IMAP URL authorization failed");
    case UrlFetched::Status::kNotFound: return fail("not_found", 554, "5.6.6", "IMAP URL resolution failed");
    case UrlFetched::Status::kTooBig:
      observer_->on_limit("message_size");
      observer_->on_message_rejected("size");
      return fail("too_big", 552, "5.3.4", "Message size exceeds fixed maximum message size");
    case UrlFetched::Status::kUnavailable: return fail("unavailable", 451, "4.4.1", "IMAP server unavailable");
  }
  if (tx_.data.size() + f.data.size() > config_.max_message_size) {
    observer_->on_limit("message_size");
    observer_->on_message_rejected("size");
    return fail("too_big", 552, "5.3.4", "Message size exceeds fixed maximum message size");
  }
  tx_.data += f.data;
  if (!data_lease_.cover(tx_.data.size() * config_.data_cost_factor)) {
    observer_->on_limit("inflight_data");
    observer_->on_message_rejected("inflight_data");
    observer_->on_burl("no_storage");
    log(2, "message refused: smtp.max_inflight_data reached (BURL)");
    reset_transaction();
    reply(452, "4.3.1", "Insufficient system storage, try again later");
    process();
    return;
  }
  observer_->on_burl("ok");
  log(0, fmt::format("BURL {}: {} octets", url, f.data.size()));
  if (!burl_last_) {
    reply(250, "2.5.0", fmt::format("{} octets fetched, waiting for more BURL or BDAT", f.data.size()));
    process();
    return;
  }
  std::string message = std::move(tx_.data);
  tx_.data.clear();
  finish_message(std::move(message), /*bare_newline=*/false, /*too_big=*/false);
  process();
}

}  // namespace postline::smtp
