// libFuzzer entry point for smtpd's sans-I/O session (protocol/session.h): the
// command line framing and dispatch, MAIL/RCPT paths and ESMTP parameters
// (protocol/address.h), AUTH PLAIN/LOGIN/SCRAM payloads (strict base64), DATA
// (protocol/data_reader.h), BDAT, BURL, STARTTLS. The input is what a client sends.
//
// Input layout: byte 0 picks the session's configuration (listener, TLS, plaintext
// AUTH, error budget, authd/queued up or down), byte 1 how the client bytes are cut
// into socket reads; the rest are the client bytes. The events are answered by the
// unit tests' scripted authd/queued (tests/session_harness.h).
//
// The same bytes run twice: in one piece and in uneven pieces. Anything but these
// aborts the run:
//  - both runs give the same reply transcript and the same enqueued messages
//    (framing must not depend on how TCP cut the stream: that is SMTP smuggling),
//    unless STARTTLS ran (what follows it in a later read came over TLS);
//  - every reply is "ddd SP/- text CRLF", the codes of one multi-line reply agree,
//    no CR or LF inside a line (client bytes must not forge replies);
//  - nothing comes out after the session closed;
//  - while the session wants input, it holds at most a line (12288 octets for AUTH);
//  - no AUTH event on the MX listener, or on submission without TLS unless
//    plaintext AUTH is allowed;
//  - an enqueued message has 1..max_recipients recipients, at most max_message_size
//    octets as sent, and on submission an authenticated user; after DATA (no BDAT in
//    the input) it has no bare CR or LF;
//  - the DATA reader, fed directly, gives the same message whole and byte by byte.
// No exception may leave the session.
#include "services/smtp-ingress/protocol/data_reader.h"
#include "services/smtp-ingress/protocol/session.h"
#include "services/smtp-ingress/tests/session_harness.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace postline::smtp;

void require(bool ok) {
  if (!ok) std::abort();
}

constexpr uint64_t kMaxMessage = 16 * 1024;
constexpr size_t kMaxRecipients = 5;

struct Setup {
  ListenerKind listener;
  bool tls_available, tls_active, plaintext_auth, strict_errors, authd_down, queue_down;
};

Setup setup_from(uint8_t b) {
  Setup s;
  s.listener = b % 3 == 0 ? ListenerKind::kMx : b % 3 == 1 ? ListenerKind::kSubmission : ListenerKind::kSubmissions;
  s.tls_available = b & 0x04;
  s.tls_active = s.listener == ListenerKind::kSubmissions;
  s.plaintext_auth = b & 0x08;
  s.strict_errors = b & 0x10;  // the default budget of 10 errors, else 1000
  s.authd_down = (b & 0x60) == 0x60;
  s.queue_down = b & 0x80;
  return s;
}

void check_replies(std::string_view out) {
  std::string_view pending_code;  // of an unfinished multi-line reply
  while (!out.empty()) {
    size_t crlf = out.find("\r\n");
    require(crlf != out.npos);
    std::string_view line = out.substr(0, crlf);
    out.remove_prefix(crlf + 2);
    require(line.find('\r') == line.npos && line.find('\n') == line.npos);
    require(line.size() >= 4 && line[0] >= '2' && line[0] <= '5' && std::isdigit(static_cast<unsigned char>(line[1])) &&
            std::isdigit(static_cast<unsigned char>(line[2])) && (line[3] == ' ' || line[3] == '-'));
    if (!pending_code.empty()) require(line.substr(0, 3) == pending_code);
    pending_code = line[3] == '-' ? line.substr(0, 3) : std::string_view();
  }
  require(pending_code.empty());
}

bool has_bare_newline(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
  }
  return false;
}

struct Transcript {
  std::string replies;
  std::vector<std::string> messages;
  bool tls_started = false;
};

Transcript run(const Setup& s, std::string_view client, const std::vector<size_t>& pieces, bool data_only_input) {
  testing::Harness h;
  h.config.listener = s.listener;
  h.config.tls_available = s.tls_available;
  h.config.tls_active = s.tls_active;
  h.config.allow_plaintext_auth = s.plaintext_auth;
  h.config.max_message_size = kMaxMessage;
  h.config.max_recipients = kMaxRecipients;
  h.config.max_errors = s.strict_errors ? 10 : 1000;
  h.authd_down = s.authd_down;
  h.queue_down = s.queue_down;
  h.begin();
  Transcript t;
  bool was_closed = false;
  size_t at = 0, k = 0;
  while (at < client.size()) {
    size_t n = std::min(client.size() - at, pieces[k++ % pieces.size()]);
    h.feed(client.substr(at, n));
    at += n;
    std::string out = h.take();
    if (was_closed) require(out.empty());
    t.replies += out;
    was_closed = h.session->closed();
    if (!was_closed && h.session->wants_input()) require(h.session->buffered() <= 12288);
  }
  h.session->on_timeout();  // the client went quiet: one 421, or nothing if closed
  std::string out = h.take();
  if (was_closed) require(out.empty());
  t.replies += out;
  check_replies(t.replies);

  const bool auth_possible = s.listener != ListenerKind::kMx && (s.tls_available || s.tls_active || s.plaintext_auth);
  if (!auth_possible) require(h.auth_users.empty() && h.sasl_steps.empty());
  for (const auto& e : h.enqueued) {
    require(!e.envelope.recipients.empty() && e.envelope.recipients.size() <= kMaxRecipients);
    require(e.added_header_bytes <= e.data.size());
    std::string_view sent = std::string_view(e.data).substr(e.added_header_bytes);
    require(sent.size() <= kMaxMessage);  // smtpd's own headers are the added bytes
    if (s.listener != ListenerKind::kMx) require(!e.envelope.authenticated_user.empty());
    if (data_only_input) require(!has_bare_newline(e.data));
    t.messages.push_back(e.data);
  }
  t.tls_started = h.tls_starts > 0;
  return t;
}

// DataReader alone: the message does not depend on how the bytes arrive.
void data_reader(std::string_view in) {
  DataReader whole, bytewise;
  whole.reset(4096);
  bytewise.reset(4096);
  size_t used_whole = whole.feed(in);
  size_t used_bytes = 0;
  for (size_t i = 0; i < in.size() && !bytewise.done(); ++i) used_bytes += bytewise.feed(in.substr(i, 1));
  require(used_whole == used_bytes && used_whole <= in.size());
  require(whole.done() == bytewise.done() && whole.bare_newline() == bytewise.bare_newline());
  require(whole.size() == bytewise.size() && whole.too_big() == bytewise.too_big());
  require(whole.stored() <= 4096);
  if (whole.done()) require(in.substr(0, used_whole).ends_with("\r\n.\r\n") || used_whole == 3);
  std::string a = whole.take_message(), b = bytewise.take_message();
  require(a == b);
  // Past max_size the stored bytes may end in the CR of a cut-off CRLF.
  if (!whole.bare_newline() && !whole.too_big()) require(!has_bare_newline(a));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 64 * 1024) return 0;
  const Setup s = setup_from(data[0]);
  std::string_view client(reinterpret_cast<const char*>(data) + 2, size - 2);
  static const size_t kPieces[] = {1, 7, 64, 2048, 3, 13, 512};
  std::vector<size_t> pieces;
  for (size_t i = 0; i < 7; ++i) pieces.push_back(kPieces[(i + data[1]) % 7]);

  std::string lowered(client);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool data_only = lowered.find("bdat") == std::string::npos && lowered.find("burl") == std::string::npos;

  Transcript one = run(s, client, {client.size() ? client.size() : 1}, data_only);
  Transcript cut = run(s, client, pieces, data_only);
  // After STARTTLS, bytes of a later read are what came over TLS, while the same
  // bytes pipelined in the STARTTLS read are discarded (starttls.cpp): there the
  // transcript rightly depends on the cut.
  if (!one.tls_started && !cut.tls_started) {
    require(one.replies == cut.replies);
    require(one.messages == cut.messages);
  }

  // After the first "DATA\r\n" line, what follows is also a DATA body.
  size_t d = lowered.find("data\r\n");
  data_reader(d == std::string::npos ? client : client.substr(d + 6));
  return 0;
}
