#include "services/delivery-queue/protocol/smtp_client.h"

#include <algorithm>
#include <cctype>

namespace postline::queue::smtp {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; });
}

}  // namespace

std::string Reply::text() const {
  std::string out = std::to_string(code);
  for (size_t i = 0; i < lines.size(); ++i) {
    out += ' ';
    out += lines[i];
  }
  return out;
}

void ReplyParser::feed(std::string_view bytes) {
  if (failed()) return;
  buffer_.append(bytes);
}

std::optional<Reply> ReplyParser::next() {
  while (!failed()) {
    auto eol = buffer_.find('\n');
    if (eol == std::string::npos) {
      if (buffer_.size() > kMaxReplyLine) error_ = "reply line too long";
      return std::nullopt;
    }
    if (eol > kMaxReplyLine) {
      error_ = "reply line too long";
      return std::nullopt;
    }
    std::string line = buffer_.substr(0, eol);
    buffer_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // "ddd", "ddd text" or "ddd-text"
    if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
        !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2])) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-') || line[0] < '2' || line[0] > '5') {
      error_ = "malformed reply line";
      return std::nullopt;
    }
    const int code = std::stoi(line.substr(0, 3));
    if (!partial_.lines.empty() && partial_.code != code) {
      error_ = "reply code changed within a multi-line reply";
      return std::nullopt;
    }
    partial_.code = code;
    if (partial_.lines.size() >= kMaxReplyLines) {
      error_ = "too many reply lines";
      return std::nullopt;
    }
    partial_.lines.push_back(line.size() > 4 ? line.substr(4) : "");
    if (line.size() == 3 || line[3] == ' ') {
      Reply done = std::move(partial_);
      partial_ = Reply{};
      return done;
    }
  }
  return std::nullopt;
}

Client::Client(Options options, Envelope envelope, std::string_view message)
    : options_(std::move(options)), message_(message) {
  tls_ = options_.tls_already;
  set_envelope(std::move(envelope));
}

void Client::set_envelope(Envelope envelope) {
  envelope_ = std::move(envelope);
  rcpt_.assign(envelope_.recipients.size(), std::nullopt);
  // Non-ASCII addresses need SMTPUTF8 whatever the sender said.
  if (!is_ascii(envelope_.mail_from)) envelope_.smtputf8 = true;
  for (const auto& r : envelope_.recipients)
    if (!is_ascii(r.address)) envelope_.smtputf8 = true;
}

void Client::next_transaction(Envelope envelope, std::string_view message) {
  if (state_ != State::kIdle) return;
  set_envelope(std::move(envelope));
  message_ = message;
  converted_.clear();
  outcomes_.clear();
  pending_.clear();
  mail_ok_ = false;
  accepted_ = 0;
  next_rcpt_ = 0;
  host_failure_ = false;
  reused_ = true;
  // Something the server said while we were idle (typically "421 timeout"
  // before it hung up): the session is stale; say QUIT and let the driver
  // reconnect rather than send RSET into it.
  if (auto stale = parser_.next(); stale || parser_.failed()) {
    broken_ = true;
    state_ = State::kRset;
    return fail_all('4', stale ? stale->text() : "421 4.4.2 unexpected data on an idle connection", stale.has_value(),
                    true);
  }
  // RFC 5321 4.1.1.5: RSET clears whatever the last transaction left (a
  // refused MAIL or all-refused RCPTs leave one open on some servers), and its
  // reply proves the connection still works before we commit to a message.
  output_ += "RSET\r\n";
  state_ = State::kRset;
}

void Client::quit() {
  if (state_ != State::kIdle) return;
  output_ += "QUIT\r\n";
  state_ = State::kDone;
}

std::string Client::take_output() {
  std::string out;
  out.swap(output_);
  return out;
}

void Client::feed(std::string_view bytes) {
  // Idle: nothing is expected; anything the server says (typically a 421
  // before it hangs up) is read after the next RSET, whose reply it becomes.
  if (state_ == State::kDone || state_ == State::kTlsHandshake || state_ == State::kIdle) {
    if (state_ == State::kIdle) parser_.feed(bytes);
    return;
  }
  parser_.feed(bytes);
  while (state_ != State::kDone && state_ != State::kTlsHandshake && state_ != State::kIdle) {
    auto reply = parser_.next();
    if (!reply) break;
    on_reply(*reply);
  }
  if (parser_.failed()) broken_ = true;
  if (parser_.failed() && !done())
    fail_all('4', "451 4.5.0 protocol error from the remote server: " + parser_.error(), false, pending_.empty());
}

void Client::tls_established() {
  if (state_ != State::kTlsHandshake) return;
  tls_ = true;
  tls_stage_ = TlsStage::kEstablished;
  // RFC 3207 4.2: forget everything learned before TLS and say EHLO again.
  extensions_.clear();
  auth_mechanisms_.clear();
  parser_ = ReplyParser{};
  send_ehlo();
}

void Client::tls_failed(const std::string& why) {
  if (state_ != State::kTlsHandshake) return;
  tls_stage_ = TlsStage::kHandshakeFailed;
  // A failed handshake leaves the connection unusable either way; with
  // opportunistic TLS the driver may retry this host in plaintext later.
  fail_all('4', "454 4.7.0 TLS handshake failed: " + why, false, true);
}

void Client::tls_rejected(const std::string& reply) {
  if (state_ != State::kTlsHandshake) return;
  // TLS is up but we will not talk to this peer: the driver writes QUIT over
  // the TLS channel and closes.
  tls_ = true;
  broken_ = true;
  state_ = State::kTransaction;
  fail_all('4', reply, false, true);
}

void Client::connection_lost(const std::string& why) {
  broken_ = true;
  if (state_ == State::kIdle) {  // closed while idle: nothing to report
    state_ = State::kDone;
    return;
  }
  if (state_ == State::kDone) return;
  // Before MAIL was answered nothing was decided here: another host may do.
  fail_all('4', "421 4.4.2 " + why, false, !mail_ok_ && accepted_ == 0);
}

void Client::send_ehlo() {
  output_ += "EHLO " + options_.ehlo_name + "\r\n";
  state_ = State::kEhlo;
}

void Client::on_reply(const Reply& r) {
  const char cls = static_cast<char>('0' + r.code / 100);
  // 421: the server is closing the connection (RFC 5321 3.8).
  if (r.code == 421) broken_ = true;
  switch (state_) {
    case State::kGreeting:
      if (cls != '2') return fail_all(cls == '5' ? '5' : '4', r.text(), true, true);
      return send_ehlo();

    case State::kEhlo:
      if (cls != '2') {
        // RFC 5321 3.2: a server that does not know EHLO gets HELO.
        output_ += "HELO " + options_.ehlo_name + "\r\n";
        state_ = State::kHelo;
        return;
      }
      for (size_t i = 1; i < r.lines.size(); ++i) {
        const std::string line = upper(r.lines[i]);
        const auto sp = line.find(' ');
        const std::string keyword = line.substr(0, sp);
        extensions_.insert(keyword);
        if (keyword == "AUTH" && sp != std::string::npos) {
          std::string rest = line.substr(sp + 1);
          size_t start = 0;
          while (start < rest.size()) {
            auto end = rest.find(' ', start);
            if (end == std::string::npos) end = rest.size();
            if (end > start) auth_mechanisms_.insert(rest.substr(start, end - start));
            start = end + 1;
          }
        }
        if (keyword == "SIZE" && sp != std::string::npos) {
          try {
            size_limit_ = std::stoull(line.substr(sp + 1));
          } catch (const std::exception&) {
            size_limit_ = 0;
          }
        }
      }
      return after_ehlo();

    case State::kHelo:
      if (cls != '2') return fail_all(cls == '5' ? '5' : '4', r.text(), true, true);
      return after_ehlo();

    case State::kStartTls:
      if (r.code == 220) {
        state_ = State::kTlsHandshake;
        return;
      }
      tls_stage_ = TlsStage::kRefused;
      if (options_.tls == TlsPolicy::kRequired)
        return fail_all('4', "454 4.7.10 STARTTLS refused and TLS is required: " + r.text(), false, true);
      return maybe_auth();  // opportunistic: carry on in plaintext

    case State::kAuth:
      // Our credentials are configuration, not the sender's fault: defer.
      if (r.code != 235) return fail_all('4', "454 4.7.0 relayhost refused our AUTH: " + r.text(), true, true);
      return begin_transaction();

    case State::kRset:
      // A reused session that no longer works: nothing of this message was
      // sent, so it is the connection's failure, not the message's.
      if (cls != '2') return fail_all('4', r.text(), true, true);
      return begin_transaction();

    case State::kTransaction:
    case State::kDataBody: {
      if (pending_.empty()) return;  // unsolicited: ignore
      auto [cmd, index] = pending_.front();
      pending_.pop_front();
      switch (cmd) {
        case Cmd::kMail:
          if (cls != '2') {
            // The sender was refused: every recipient shares that fate, and
            // pipelined RCPT/DATA replies that follow are moot. A 421 on a
            // reused session is the server ending it (e.g. its own
            // messages-per-connection limit): reconnect, do not defer.
            fail_all(cls == '5' ? '5' : '4', r.text(), true, reused_ && r.code == 421);
            return;
          }
          mail_ok_ = true;
          if (!pipelining_) send_rcpt(0);
          return;
        case Cmd::kRcpt: {
          RecipientOutcome o;
          o.cls = cls == '2' ? '2' : (cls == '5' ? '5' : '4');
          o.reply = r.text();
          o.remote_reply = true;
          o.dsn_passed = dsn_ && !envelope_.recipients[index].notify.empty();
          if (o.cls == '2') ++accepted_;
          rcpt_[index] = std::move(o);
          if (!pipelining_) {
            if (index + 1 < envelope_.recipients.size()) return send_rcpt(index + 1);
            if (accepted_ == 0) return finish();
            output_ += "DATA\r\n";
            pending_.emplace_back(Cmd::kData, 0);
          }
          return;
        }
        case Cmd::kData:
          if (r.code == 354) {
            if (accepted_ == 0) {
              // RFC 2920 3.1: the server took DATA though every RCPT failed;
              // end the (empty) transaction rather than send the message.
              output_ += ".\r\n";
              pending_.emplace_back(Cmd::kDataEnd, 0);
              state_ = State::kDataBody;
              return;
            }
            output_ += encode_data(message_);
            pending_.emplace_back(Cmd::kDataEnd, 0);
            state_ = State::kDataBody;
            return;
          }
          // DATA refused: accepted recipients get this reply.
          for (auto& o : rcpt_)
            if (o && o->cls == '2') *o = RecipientOutcome{cls == '5' ? '5' : '4', r.text(), true, false};
          return finish();
        case Cmd::kDataEnd:
          for (auto& o : rcpt_)
            if (o && o->cls == '2') {
              o->cls = cls == '2' ? '2' : (cls == '5' ? '5' : '4');
              o->reply = r.text();
            }
          return finish();
      }
      return;
    }
    case State::kTlsHandshake:
    case State::kIdle:
    case State::kDone:
      return;
  }
}

void Client::after_ehlo() {
  pipelining_ = has_extension("PIPELINING");
  dsn_ = has_extension("DSN");
  if (!tls_) {
    greeted_ = true;
    offered_starttls_ = has_extension("STARTTLS");
  }
  if (!tls_ && options_.tls != TlsPolicy::kOff && !has_extension("STARTTLS")) tls_stage_ = TlsStage::kNotOffered;
  if (!tls_ && options_.tls != TlsPolicy::kOff && has_extension("STARTTLS")) {
    output_ += "STARTTLS\r\n";
    state_ = State::kStartTls;
    return;
  }
  if (!tls_ && options_.tls == TlsPolicy::kRequired)
    return fail_all('4', "530 4.7.10 TLS is required but the server does not offer STARTTLS", false, true);
  maybe_auth();
}

void Client::maybe_auth() {
  if (options_.auth_username.empty()) return begin_transaction();
  // Credentials never travel in cleartext, whatever queue.tls says.
  if (!tls_) return fail_all('4', "530 4.7.0 will not send credentials without TLS", false, true);
  if (!has_extension("AUTH") || !auth_mechanisms_.count("PLAIN"))
    return fail_all('4', "530 4.7.0 the relayhost does not offer AUTH PLAIN", false, true);
  std::string plain;
  plain += '\0';
  plain += options_.auth_username;
  plain += '\0';
  plain += options_.auth_password;
  output_ += "AUTH PLAIN " + base64(plain) + "\r\n";
  state_ = State::kAuth;
}

std::string Client::base64(std::string_view in) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

void Client::begin_transaction() {
  state_ = State::kTransaction;
  // RFC 8689 4.2.1: only to a server that offers REQUIRETLS over TLS; another
  // MX may (host level), else the sender learns it (5.7.30, our decision).
  if (envelope_.requiretls && !(tls_ && has_extension("REQUIRETLS")))
    return fail_all('5',
                    tls_ ? "550 5.7.30 REQUIRETLS support required: the server does not offer REQUIRETLS"
                         : "550 5.7.30 REQUIRETLS support required: the server does not offer STARTTLS",
                    false, true);
  if (envelope_.smtputf8 && !has_extension("SMTPUTF8"))
    return fail_all('5', "553 5.6.7 the message needs SMTPUTF8 but the server does not support it", false, false);
  if (envelope_.eight_bit && !has_extension("8BITMIME")) {
    // RFC 6152 3: never 8-bit octets to a server that did not offer 8BITMIME.
    Envelope::SevenBit seven;
    if (envelope_.seven_bit) seven = envelope_.seven_bit();
    else seven.error = "no 7-bit form of the message is available";
    if (!seven.ok)
      return fail_all('5',
                      "554 5.6.3 the message has 8-bit content, the server does not offer 8BITMIME, and "
                      "conversion to 7 bit is not possible: " + seven.error,
                      false, false);
    converted_ = std::move(seven.message);
    message_ = converted_;
    envelope_.eight_bit = false;  // no BODY=8BITMIME: it is 7-bit now
  }
  if (size_limit_ > 0 && message_.size() > size_limit_)
    return fail_all('5',
                    "552 5.3.4 message size " + std::to_string(message_.size()) +
                        " exceeds the server's limit of " + std::to_string(size_limit_),
                    false, false);
  output_ += mail_command();
  pending_.emplace_back(Cmd::kMail, 0);
  if (pipelining_) {
    for (size_t i = 0; i < envelope_.recipients.size(); ++i) {
      output_ += rcpt_command(envelope_.recipients[i]);
      pending_.emplace_back(Cmd::kRcpt, i);
    }
    output_ += "DATA\r\n";
    pending_.emplace_back(Cmd::kData, 0);
  }
}

void Client::send_rcpt(size_t i) {
  output_ += rcpt_command(envelope_.recipients[i]);
  pending_.emplace_back(Cmd::kRcpt, i);
}

std::string Client::mail_command() const {
  std::string cmd = "MAIL FROM:<" + envelope_.mail_from + ">";
  if (has_extension("SIZE")) cmd += " SIZE=" + std::to_string(message_.size());
  // Without 8BITMIME the message was converted to 7 bit (begin_transaction).
  if (envelope_.eight_bit && has_extension("8BITMIME")) cmd += " BODY=8BITMIME";
  if (envelope_.smtputf8) cmd += " SMTPUTF8";
  if (envelope_.requiretls) cmd += " REQUIRETLS";
  if (dsn_) {
    if (!envelope_.ret.empty()) cmd += " RET=" + envelope_.ret;
    if (!envelope_.envid.empty()) cmd += " ENVID=" + envelope_.envid;
  }
  return cmd + "\r\n";
}

std::string Client::rcpt_command(const Recipient& r) const {
  std::string cmd = "RCPT TO:<" + r.address + ">";
  if (dsn_) {
    if (!r.notify.empty()) cmd += " NOTIFY=" + r.notify;
    if (!r.orcpt.empty()) cmd += " ORCPT=" + r.orcpt;
  }
  return cmd + "\r\n";
}

void Client::fail_all(char cls, const std::string& reply, bool remote, bool host_level) {
  for (auto& o : rcpt_) {
    // Replies already received for RCPT stand, except for accepted recipients,
    // whose delivery this failure prevents.
    if (o && o->cls != '2') continue;
    o = RecipientOutcome{cls, reply, remote, false};
  }
  host_failure_ = host_level;
  finish();
}

void Client::finish() {
  outcomes_.clear();
  for (auto& o : rcpt_)
    outcomes_.push_back(o ? *o : RecipientOutcome{'4', "451 4.4.0 no answer for this recipient", false, false});
  // Idle only after a transaction that ended in step with the server: every
  // reply we are owed has arrived (a pipelined group cut short by a refused
  // MAIL still has RCPT/DATA replies coming), and the connection is sound.
  const bool in_transaction = state_ == State::kTransaction || state_ == State::kDataBody;
  if (options_.keep_open && in_transaction && pending_.empty() && !broken_ && !host_failure_) {
    state_ = State::kIdle;
    return;
  }
  if (state_ != State::kTlsHandshake) output_ += "QUIT\r\n";
  state_ = State::kDone;
  pending_.clear();
}

std::string Client::encode_data(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 40 + 8);
  bool line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (line_start && c == '.') out += '.';  // RFC 5321 4.5.2 transparency
    if (c == '\n') {
      // A bare LF becomes CRLF (RFC 5321 2.3.8 forbids bare LF on the wire).
      if (out.empty() || out.back() != '\r') out += '\r';
      out += '\n';
      line_start = true;
      continue;
    }
    if (c == '\r' && (i + 1 >= message.size() || message[i + 1] != '\n')) {
      out += "\r\n";  // bare CR: same
      line_start = true;
      continue;
    }
    out += c;
    line_start = false;
  }
  if (!out.empty() && !(out.size() >= 2 && out.compare(out.size() - 2, 2, "\r\n") == 0)) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace postline::queue::smtp
