#include "common/imapclient/client.h"

#include <algorithm>

#include "common/log/printable.h"
#include "common/mailauth/text_util.h"

namespace postline::imapclient {

namespace {

std::string server_says(const Response& r) {
  std::string s = r.keyword;
  if (!r.code.empty()) s += " [" + log::printable(r.code, 200) + "]";
  if (!r.text.empty()) s += " " + log::printable(r.text, 300);
  return s;
}

}  // namespace

std::string Command::describe() const {
  if (hidden_) return describe_.substr(0, describe_.find(' '));
  return log::printable(describe_, 200);
}

Command& Command::text(std::string_view t) {
  chunks_.back() += t;
  describe_ += t;
  return *this;
}

Command& Command::astring(std::string_view s, bool nonsync) {
  if (!needs_literal(s)) {
    const std::string q = quote_astring(s);
    chunks_.back() += q;
    describe_ += q;
    return *this;
  }
  chunks_.back() += "{" + std::to_string(s.size()) + (nonsync ? "+" : "") + "}\r\n";
  describe_ += "{" + std::to_string(s.size()) + "}";
  if (nonsync) {
    chunks_.back() += s;
  } else {
    chunks_.emplace_back(s);  // sent after the continuation
  }
  return *this;
}

Client::Client(std::unique_ptr<Transport> transport, Limits limits)
    : transport_(std::move(transport)), parser_(limits), limits_(limits), read_buf_(256 * 1024) {}

std::string Client::next_tag() { return "p" + std::to_string(++tag_counter_); }

Response Client::read_response() {
  for (;;) {
    Response r;
    switch (parser_.next(r)) {
      case ResponseParser::Status::kResponse:
        return r;
      case ResponseParser::Status::kError:
        throw TransportError("the server sent something that is not IMAP: " + parser_.error());
      case ResponseParser::Status::kNeedMore:
        break;
    }
    const size_t n = transport_->read(read_buf_.data(), read_buf_.size());
    if (n == 0) throw TransportError("the server closed the connection");
    parser_.feed(std::string_view(read_buf_.data(), n));
  }
}

bool Client::read_greeting() {
  Response r = read_response();
  if (r.type != Response::kUntagged || !r.is_status())
    throw ImapError("the server's greeting is not an IMAP greeting");
  if (r.keyword == "BYE") throw ImapError("the server refused the connection: " + server_says(r));
  caps_ = parse_capabilities(r);
  return r.keyword == "PREAUTH";
}

bool Client::has_capability(std::string_view cap) const {
  std::string up(cap);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return std::find(caps_.begin(), caps_.end(), up) != caps_.end();
}

void Client::refresh_capabilities() {
  std::vector<std::string> caps;
  Response done = run(Command("CAPABILITY"), [&](Response& r) {
    if (r.keyword == "CAPABILITY") caps = parse_capabilities(r);
  });
  auto from_code = parse_capabilities(done);
  caps_ = !caps.empty() ? caps : from_code;
}

Response Client::run(const Command& command, const Untagged& on_untagged, bool check) {
  const std::string tag = next_tag();
  const auto& chunks = command.chunks();
  transport_->write(tag + " " + chunks[0] + (chunks.size() == 1 ? "\r\n" : ""));
  for (size_t i = 1; i < chunks.size(); ++i) {
    // A synchronising literal: the server says "+" before the bytes.
    for (;;) {
      Response r = read_response();
      if (r.type == Response::kContinuation) break;
      if (r.type == Response::kTagged) {
        if (check) throw ImapError(command.describe() + ": " + server_says(r));
        return r;
      }
      if (on_untagged) on_untagged(r);
    }
    transport_->write(chunks[i] + (i + 1 == chunks.size() ? "\r\n" : ""));
  }
  for (;;) {
    Response r = read_response();
    if (r.type == Response::kContinuation) throw TransportError("the server asked for more data where none was due");
    if (r.type == Response::kUntagged) {
      if (r.keyword == "BYE") {
        // The server is closing: the tagged answer may never come.
        throw TransportError("the server closed the session: " + server_says(r));
      }
      if (on_untagged) on_untagged(r);
      continue;
    }
    if (r.tag != tag) throw TransportError("the server answered tag " + log::printable(r.tag, 32) + ", expected " + tag);
    if (check && r.keyword != "OK") throw ImapError(command.describe() + ": " + server_says(r));
    return r;
  }
}

void Client::starttls(const std::string& host, const TlsOptions& options) {
  if (!has_capability("STARTTLS")) throw ImapError("the server does not offer STARTTLS");
  run(Command("STARTTLS"));
  transport_->start_tls(host, options);
  caps_.clear();
  refresh_capabilities();  // RFC 9051 6.2.1: capabilities may change after TLS
}

void Client::login(const std::string& user, const std::string& password) {
  Response done;
  if (has_capability("AUTH=PLAIN")) {
    const std::string ir = mailauth::base64_encode(std::string(1, '\0') + user + std::string(1, '\0') + password);
    if (has_capability("SASL-IR")) {
      Command c("AUTHENTICATE PLAIN ");
      c.text(ir).hide();
      done = run(c, {}, false);
    } else {
      const std::string tag = next_tag();
      transport_->write(tag + " AUTHENTICATE PLAIN\r\n");
      for (;;) {
        Response r = read_response();
        if (r.type == Response::kContinuation) {
          transport_->write(ir + "\r\n");
          continue;
        }
        if (r.type == Response::kTagged) {
          done = std::move(r);
          break;
        }
      }
    }
  } else {
    if (has_capability("LOGINDISABLED"))
      throw ImapError("the server refuses LOGIN on this connection (LOGINDISABLED): use --tls or --starttls");
    Command c("LOGIN ");
    c.astring(user).text(" ").astring(password).hide();
    done = run(c, {}, false);
  }
  if (done.keyword != "OK") throw ImapError("login as " + log::printable(user, 100) + " failed: " + server_says(done));
  auto caps = parse_capabilities(done);
  if (!caps.empty()) {
    caps_ = caps;
  } else {
    refresh_capabilities();
  }
}

std::vector<ListEntry> Client::list() {
  std::vector<ListEntry> out;
  std::string error;
  const bool special_use = has_capability("SPECIAL-USE") && has_capability("LIST-EXTENDED");
  Command c(special_use ? "LIST \"\" \"*\" RETURN (SPECIAL-USE)" : "LIST \"\" \"*\"");
  std::string first_error;
  run(c, [&](Response& r) {
    if (r.keyword != "LIST") return;
    auto e = parse_list(r, error);
    if (!e) {
      if (first_error.empty()) first_error = error;
      return;
    }
    out.push_back(std::move(*e));
  });
  // Thrown only now: the tagged answer has been read, the connection stays usable.
  if (!first_error.empty()) throw ImapError("LIST: " + first_error);
  return out;
}

std::string Client::personal_namespace_prefix() {
  if (!has_capability("NAMESPACE")) return "";
  std::string prefix;
  run(Command("NAMESPACE"), [&](Response& r) {
    // * NAMESPACE (("INBOX." ".")) NIL NIL
    if (r.keyword != "NAMESPACE" || r.data.empty() || r.data[0].kind != Value::kList) return;
    const auto& personal = r.data[0].items;
    if (personal.empty() || personal[0].kind != Value::kList || personal[0].items.empty()) return;
    if (personal[0].items[0].is_text()) prefix = personal[0].items[0].text;
  });
  return prefix;
}

SelectedState Client::examine(const std::string& mailbox) {
  SelectedState s;
  Command c("EXAMINE ");
  c.astring(mailbox, has_capability("LITERAL+"));
  Response done = run(c, [&](Response& r) {
    if (r.keyword == "EXISTS" && r.number) s.exists = *r.number;
    if (r.is_status() && r.code_name() == "UIDVALIDITY") {
      Value v{Value::kAtom, r.code_argument(), {}};
      if (auto n = v.number()) s.uidvalidity = *n;
    }
    if (r.is_status() && r.code_name() == "UIDNEXT") {
      Value v{Value::kAtom, r.code_argument(), {}};
      s.uidnext = v.number();
    }
  });
  if (s.uidvalidity == 0) throw ImapError("EXAMINE " + log::printable(mailbox) + ": the server sent no UIDVALIDITY");
  return s;
}

void Client::logout() {
  try {
    run(Command("LOGOUT"), {}, false);
  } catch (const std::exception&) {
    // BYE then close: the tagged OK is optional for our purposes.
  }
}

}  // namespace postline::imapclient
