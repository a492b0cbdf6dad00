// A blocking IMAP client on Transport + ResponseParser: one command at a
// time, untagged responses handed to a callback as they arrive (so a FETCH of
// many bodies is processed message by message), synchronising literals sent
// after the server's continuation. What an importer needs: greeting,
// CAPABILITY, STARTTLS, LOGIN / AUTHENTICATE PLAIN, LIST, EXAMINE, UID FETCH,
// LOGOUT. Passwords never appear in errors.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/imapclient/response.h"
#include "common/imapclient/transport.h"

namespace postline::imapclient {

// A server answered NO or BAD (or sent data a command cannot use): the
// connection is still usable. A broken connection or protocol (closed, BYE,
// bytes that are not IMAP, a wrong tag) is a TransportError instead.
class ImapError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command under construction: text, and strings that become quoted strings
// or synchronising literals (LITERAL+ / LITERAL- are used when offered).
class Command {
 public:
  explicit Command(std::string_view verb) : chunks_{std::string(verb)}, describe_(verb) {}
  Command& text(std::string_view t);
  Command& astring(std::string_view s, bool nonsync = false);
  const std::vector<std::string>& chunks() const { return chunks_; }
  // What an error message may show: the command with literals as {n}, or
  // only its first word when hidden.
  std::string describe() const;
  Command& hide() {  // do not show the arguments in errors (LOGIN)
    hidden_ = true;
    return *this;
  }

 private:
  std::vector<std::string> chunks_;
  std::string describe_;
  bool hidden_ = false;
  friend class Client;
};

struct SelectedState {
  uint32_t exists = 0;
  uint64_t uidvalidity = 0;
  std::optional<uint64_t> uidnext;
};

class Client {
 public:
  using Untagged = std::function<void(Response&)>;
  Client(std::unique_ptr<Transport> transport, Limits limits = {});

  // The greeting; throws ImapError on BYE. True when PREAUTH.
  bool read_greeting();
  const std::vector<std::string>& capabilities() const { return caps_; }
  bool has_capability(std::string_view cap) const;
  void refresh_capabilities();
  void starttls(const std::string& host, const TlsOptions& options);
  // AUTHENTICATE PLAIN when offered, else LOGIN. Throws ImapError with the
  // server's text (never the password).
  void login(const std::string& user, const std::string& password);

  // Runs one command; untagged responses go to `on_untagged` (or are dropped).
  // Returns the tagged response; throws ImapError for NO/BAD when `check`.
  // `on_untagged` should not throw ImapError: the tagged answer would stay
  // unread and the connection out of step (collect errors, throw after).
  Response run(const Command& command, const Untagged& on_untagged = {}, bool check = true);

  std::vector<ListEntry> list();
  // The prefix of the first personal namespace (RFC 2342), e.g. "INBOX." on
  // Courier and Cyrus; "" without NAMESPACE or when it has none.
  std::string personal_namespace_prefix();
  SelectedState examine(const std::string& mailbox_as_sent);
  void logout();
  Transport& transport() { return *transport_; }

 private:
  Response read_response();
  std::string next_tag();

  std::unique_ptr<Transport> transport_;
  ResponseParser parser_;
  Limits limits_;
  std::vector<std::string> caps_;
  uint64_t tag_counter_ = 0;
  std::vector<char> read_buf_;
};

}  // namespace postline::imapclient
