// DATA (RFC 5321 §4.1.1.4) and the end of a message, shared with BDAT: the
// checks that can only be made on the whole message (size, header size, bare
// line endings), our trace headers, and the hand-over to the queue. 250 is
// only sent from on_enqueued(), i.e. after queued has committed.
#include "services/smtp-ingress/protocol/session.h"
#include "common/log/printable.h"

#include <fmt/format.h>

namespace postline::smtp {

namespace {
// Our Received: (and on submission Date:/Message-ID:) plus, on the MX, the
// Authentication-Results and X-Spam-Status fields: what typically goes above
// a message, so the buffer it is received into has room for them.
constexpr size_t kHeaderHeadroom = 2048;
}  // namespace

void Session::cmd_data(std::string_view args) {
  if (!args.empty()) return error_reply(501, "5.5.4", "Syntax: DATA");
  if (!tx_.active) return error_reply(503, "5.5.1", "Need MAIL command");
  if (tx_.recipients.empty()) return error_reply(554, "5.5.1", "No valid recipients");
  // Room for our trace fields (and the antispam verdict's) above the
  // message, so they are put in front of it in place (finish_message).
  data_reader_.reset(config_.max_message_size, tx_.declared_size, kHeaderHeadroom);
  mode_ = Mode::kData;
  raw_reply(354, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

bool Session::process_data() {
  size_t used = 0;
  const bool ended = take_data(in_, &used);
  in_.erase(0, used);
  return ended;
}

bool Session::take_data(std::string_view input, size_t* used) {
  *used = data_reader_.feed(input);
  // Hold a share of smtp.max_inflight_data for what is stored; when the
  // server is full, stop storing and refuse the message with 452 at its end.
  if (!data_over_budget_ && !data_lease_.cover(data_reader_.stored() * config_.data_cost_factor)) {
    data_over_budget_ = true;
    data_reader_.discard();
    data_lease_.reset();
  }
  if (!data_reader_.done()) return false;
  mode_ = Mode::kCommand;
  const bool bare = data_reader_.bare_newline();
  const bool too_big = data_reader_.too_big();
  if (data_over_budget_ && !too_big && !bare) {
    observer_->on_limit("inflight_data");
    observer_->on_message_rejected("inflight_data");
    log(2, "message refused: smtp.max_inflight_data reached (all sessions' buffered messages)");
    reset_transaction();
    reply(452, "4.3.1", "Insufficient system storage, try again later");
    return true;
  }
  finish_message(data_reader_.take_message(), bare, too_big);
  return true;
}

namespace {
// Length of the header section including its terminating empty line.
size_t header_length(const std::string& message) {
  if (message.rfind("\r\n", 0) == 0) return 2;
  size_t end = message.find("\r\n\r\n");
  return end == std::string::npos ? message.size() : end + 4;
}

// RFC 5321 4.5.3.1.6 / RFC 5322 2.1.1: at most 998 octets a line, CRLF not
// counted. The 1-based number of the first longer line, or 0.
constexpr size_t kMaxTextLine = 998;
size_t first_long_line(std::string_view message) {
  size_t start = 0, number = 1;
  while (start < message.size()) {
    size_t eol = message.find('\n', start);
    size_t end = eol == std::string_view::npos ? message.size() : eol;
    size_t len = end - start;
    if (eol != std::string_view::npos && len > 0 && message[end - 1] == '\r') --len;
    if (len > kMaxTextLine) return number;
    if (eol == std::string_view::npos) break;
    start = eol + 1;
    ++number;
  }
  return 0;
}
}  // namespace

void Session::finish_message(std::string message, bool bare_newline, bool too_big) {
  if (too_big) {
    observer_->on_limit("message_size");
    observer_->on_message_rejected("size");
    log(1, "message refused: larger than smtp.max_message_size");
    reset_transaction();
    return error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
  }
  if (bare_newline) {
    // A lone CR or LF is how SMTP smuggling hides a second message inside the
    // first; refusing the whole message is the only answer that cannot be
    // interpreted differently by a downstream server.
    observer_->on_message_rejected("bare_newline");
    log(2, "message refused: bare CR or LF in DATA (possible SMTP smuggling)");
    reset_transaction();
    return error_reply(550, "5.6.11", "Bare CR or LF in message data not allowed");
  }
  if (header_length(message) > config_.max_header_size) {
    observer_->on_limit("header_size");
    observer_->on_message_rejected("header_size");
    log(1, "message refused: header larger than smtp.max_header_size");
    reset_transaction();
    return error_reply(552, "5.3.4", "Message header too large");
  }
  // Submission: what our users send is what we sign and relay, so it must fit
  // the 998-octet line limit; the author's client gets the reason now instead
  // of a conversion later (docs/queue.md, "What goes on the wire"). The MX
  // keeps accepting what other MTAs send. (BODY=BINARYMIME, which has no
  // lines, is not offered.)
  if (submission()) {
    if (const size_t line = first_long_line(message)) {
      observer_->on_message_rejected("line_length");
      log(1, fmt::format("message refused: line {} is longer than 998 octets", line));
      reset_transaction();
      return error_reply(550, "5.6.0",
                         fmt::format("Line {} of the message is longer than 998 octets (RFC 5322 2.1.1); "
                                     "encode it (quoted-printable or base64) or break it",
                                     line));
    }
  }
  const std::string queue_id = tx_.queue_id.empty() ? config_.new_queue_id() : tx_.queue_id;
  EnqueueEvent ev;
  ev.queue_id = queue_id;
  ev.envelope.mail_from = tx_.mail_from;
  ev.envelope.recipients = tx_.recipients;
  ev.envelope.helo = helo_;
  ev.envelope.client_ip = config_.remote_ip;
  ev.envelope.authenticated_user = auth_user_;
  ev.envelope.dsn_ret = tx_.dsn_ret;
  ev.envelope.dsn_envid = tx_.dsn_envid;
  ev.envelope.smtputf8 = tx_.smtputf8;
  ev.envelope.requiretls = tx_.requiretls;
  ev.envelope.body_type = tx_.body_type;
  // The message stays in the buffer it was received into; our fields go in
  // front of it (in place when the buffer has room, see cmd_data).
  const std::string headers = build_headers(queue_id, message);
  ev.added_header_bytes = headers.size();
  ev.data = std::move(message);
  ev.data.insert(0, headers);
  tx_.size = ev.data.size();
  pending_ = Pending::kEnqueue;
  emit(std::move(ev));
}

void Session::on_enqueued(const EnqueueOutcome& o) {
  if (pending_ != Pending::kEnqueue) return;
  pending_ = Pending::kNone;
  event_pending_ = false;
  if (o.refusal.code) {
    observer_->on_message_rejected(o.refusal.reason);
    log(1, fmt::format("message from <{}> refused by policy: {} {} {}", tx_.mail_from, o.refusal.code,
                       o.refusal.enhanced, o.refusal.text));
    if (o.refusal.code >= 500) error_reply(o.refusal.code, o.refusal.enhanced, o.refusal.text);
    else reply(o.refusal.code, o.refusal.enhanced, o.refusal.text);
  } else if (o.committed) {
    ++messages_;
    observer_->on_message_accepted(o.queue_id, 0);
    log(1, fmt::format("[q:{}] [c:{}]{} message queued as {} from=<{}> size={} nrcpt={}", o.queue_id,
                       client_address(),
                       auth_user_.empty() ? "" : " [u:" + log::tag_value(auth_user_) + "]", o.queue_id,
                       tx_.mail_from, tx_.size, tx_.recipients.size()));
    reply(250, "2.0.0", "Ok: queued as " + o.queue_id);
  } else {
    // Our fault, never the sender's: 4xx so the client retries (DESIGN.md).
    observer_->on_message_rejected("queue_unavailable");
    log(2, "message not queued: queue unavailable, answered 451");
    reply(451, "4.3.0", "Requested action aborted: local error in processing, try again later");
  }
  reset_transaction();
  process();
}

}  // namespace postline::smtp
