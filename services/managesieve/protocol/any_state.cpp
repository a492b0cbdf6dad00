// CAPABILITY, NOOP, LOGOUT (RFC 5804 2.4, 2.3, 2.13): allowed in every state.
#include "services/managesieve/protocol/session.h"

namespace postline::managesieve {

void Session::cmd_capability(const Command& cmd) {
  parse_no_args(cmd);
  output_ += capabilities();
  reply(Status::kOk, "", "Capability completed");
}

void Session::cmd_noop(const Command& cmd) {
  const NoopArgs args = parse_noop(cmd);
  // RFC 5804 2.13: the tag comes back in the TAG response code.
  reply(Status::kOk, args.tag ? "TAG " + string_arg(*args.tag) : std::string(), "Done");
}

void Session::cmd_logout(const Command& cmd) {
  parse_no_args(cmd);
  // RFC 5804 2.3: OK, then the server closes the connection.
  reply(Status::kOk, "", "Logout completed");
  closing_ = true;
  end_reason_ = "logout";
}

}  // namespace postline::managesieve
