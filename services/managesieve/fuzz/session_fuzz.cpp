// libFuzzer entry point for managesieved's protocol layer: client bytes through
// the Parser and the whole Session (protocol/session.h), with the in-memory
// script store and a fake authd (PLAIN "alice@example.org" / "secret").
//
// The first input byte chooses the start (bit 0: already logged in, bit 1: TLS
// up, bit 2: small limits); the rest is what the client sends. Invariants,
// each an abort when broken:
// - nothing throws out of the session;
// - everything the server says parses as RFC 5804 responses (quoted strings of
//   at most 1024 octets without CR/LF, literals of exactly their length,
//   parenthesised response codes, CRLF line ends), and after BYE the session
//   says nothing more;
// - the conversation does not depend on how the bytes were split: one feed
//   and a feed in small pieces give the same output byte for byte (unless the
//   client ran STARTTLS: what it pipelined after it is dropped, and how much
//   that is depends on the split, on purpose).
//
// Build with -DPOSTLINE_FUZZ=ON and clang++ (target managesieve_session_fuzz);
// without it corpus_main.cpp runs the seeds once (managesieve_session_fuzz_corpus).
#include "common/mailstore/sieve_scripts.h"
#include "services/managesieve/protocol/session.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace postline::managesieve;

void require(bool ok) {
  if (!ok) std::abort();
}

SaslReply fake_authd(const SaslRequest& r) {
  SaslReply out;
  const std::string good("\0alice@example.org\0secret", 25);
  if (r.start && !r.initial) {
    out.state = SaslReply::State::kContinue;
    out.conversation_id = "c";
    out.challenge = "challenge\r\n\"";
    return out;
  }
  const std::string& message = r.start ? *r.initial : r.response;
  if (message == good) {
    out.state = SaslReply::State::kSuccess;
    out.outcome.status = AuthStatus::kOk;
    out.outcome.user_id = 7;
    out.outcome.email = "alice@example.org";
  } else {
    out.outcome.status = message.empty() ? AuthStatus::kThrottled : AuthStatus::kInvalid;
  }
  return out;
}

// One server string at `i`: quoted or literal. Returns the position after it.
size_t check_string(std::string_view out, size_t i) {
  require(i < out.size());
  if (out[i] == '"') {
    size_t octets = 0;
    for (++i;; ++i) {
      require(i < out.size());
      const char c = out[i];
      require(c != '\r' && c != '\n' && c != '\0');
      if (c == '"') return i + 1;
      if (c == '\\') {
        ++i;
        require(i < out.size() && (out[i] == '"' || out[i] == '\\'));
      }
      require(++octets <= 1024 + 1024);  // escapes count twice on the wire
    }
  }
  require(out[i] == '{');
  size_t n = 0, j = i + 1;
  require(j < out.size() && out[j] >= '0' && out[j] <= '9');
  while (j < out.size() && out[j] >= '0' && out[j] <= '9') n = n * 10 + static_cast<size_t>(out[j++] - '0');
  require(out.substr(j, 3) == "}\r\n");
  j += 3;
  require(j + n <= out.size());
  return j + n;
}

// RFC 5804 responses: lines of strings, atoms and one parenthesised code, CRLF.
void check_output(std::string_view out) {
  size_t i = 0;
  bool ended = false;
  while (i < out.size()) {
    require(!ended);
    size_t line_start = i;
    bool first = true;
    for (;;) {
      require(i < out.size());
      const char c = out[i];
      if (c == '\r') {
        require(out.substr(i, 2) == "\r\n");
        i += 2;
        break;
      }
      if (!first) {
        require(c == ' ');
        ++i;
        require(i < out.size());
      }
      if (out[i] == '"' || out[i] == '{') {
        i = check_string(out, i);
      } else if (out[i] == '(') {
        // (CODE) or (CODE string)
        ++i;
        while (i < out.size() && out[i] != ')' && out[i] != ' ') {
          require((out[i] >= 'A' && out[i] <= 'Z') || out[i] == '/' || out[i] == '-');
          ++i;
        }
        if (i < out.size() && out[i] == ' ') i = check_string(out, i + 1);
        require(i < out.size() && out[i] == ')');
        ++i;
      } else {
        const size_t a = i;
        while (i < out.size() && out[i] >= 'A' && out[i] <= 'Z') ++i;
        const std::string_view atom = out.substr(a, i - a);
        require(atom == "OK" || atom == "NO" || atom == "BYE" || atom == "ACTIVE");
        if (atom == "BYE") ended = true;
      }
      first = false;
    }
    (void)line_start;
  }
}

struct Conversation {
  std::string out;
  int starttls = 0;  // handshakes the client asked for (not the set-up one)
};

Conversation converse(std::string_view input, uint8_t flags, size_t piece) {
  Settings settings;
  settings.tls_available = true;
  settings.max_bad_commands = 1000;
  if (flags & 4) {
    settings.max_line = 64;
    settings.max_unauthenticated_command = 96;
    settings.quotas.max_script_size = 200;
    settings.quotas.max_scripts = 2;
    settings.quotas.max_total_size = 300;
  }
  auto store = postline::mailstore::make_memory_sieve_script_store();
  Session s(settings, "192.0.2.1", flags & 2, nullptr);
  s.set_mechanisms({"PLAIN", "LOGIN"});
  s.start();
  Conversation c;
  std::string& out = c.out;
  size_t pos = 0;
  bool closed = false;
  const std::string login = "AUTHENTICATE \"PLAIN\" \"AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==\"\r\n";
  bool need_login = flags & 1;
  if (need_login && !(flags & 2)) {
    s.feed("STARTTLS\r\n");
  }
  for (int guard = 0; guard < 1000000 && !closed; ++guard) {
    switch (s.next()) {
      case Session::Action::kRead:
        out += s.take_output();
        if (need_login) {  // TLS is up now (or was from the start)
          need_login = false;
          s.feed(login);
          break;
        }
        if (pos >= input.size()) {
          closed = true;
          break;
        }
        s.feed(input.substr(pos, piece));
        pos += piece;
        break;
      case Session::Action::kStore: s.run_store(*store); break;
      case Session::Action::kSasl: s.sasl_reply(fake_authd(s.sasl_request())); break;
      case Session::Action::kStartTls:
        if (!need_login) ++c.starttls;
        s.tls_started(true);
        break;
      case Session::Action::kPause: break;
      case Session::Action::kClose:
        out += s.take_output();
        closed = true;
        break;
    }
  }
  require(closed);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const Conversation whole = converse(input, flags, input.size() ? input.size() : 1);
  check_output(whole.out);
  const Conversation pieces = converse(input, flags, 1 + (flags >> 4) % 7);
  check_output(pieces.out);
  if (!whole.starttls && !pieces.starttls) require(whole.out == pieces.out);
  return 0;
}
