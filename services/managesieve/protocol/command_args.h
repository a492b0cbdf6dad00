// Typed arguments of every ManageSieve command (RFC 5804 2), parsed from the
// tokens the Parser framed. Each parser checks the number and kinds of the
// arguments and nothing else: what the values mean (a valid script name, a
// script that compiles, base64) is the command's business, because RFC 5804
// wants a different answer for each. A wrong shape throws SyntaxError, the
// only exception these parsers throw; the session answers NO with its text.
#pragma once

#include "services/managesieve/protocol/parser.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::managesieve {

class SyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string name;          // upper-cased
  std::vector<Token> args;   // after the name
};

// The name is the first token and must be an atom (SyntaxError otherwise).
Command split_command(std::vector<Token> tokens);

// CAPABILITY, LOGOUT, STARTTLS, LISTSCRIPTS, UNAUTHENTICATE.
void parse_no_args(const Command& cmd);

struct AuthenticateArgs {
  std::string mechanism;                        // upper-cased
  std::optional<std::string> initial_response;  // still base64, as sent
};
AuthenticateArgs parse_authenticate(const Command& cmd);

struct NoopArgs {
  std::optional<std::string> tag;  // echoed in OK (TAG ...)
};
NoopArgs parse_noop(const Command& cmd);

// GETSCRIPT, DELETESCRIPT, SETACTIVE: one script name ("" is SETACTIVE's "none").
std::string parse_script_name(const Command& cmd);

struct PutScriptArgs {
  std::string name;
  std::string script;
};
PutScriptArgs parse_putscript(const Command& cmd);

// CHECKSCRIPT: the script.
std::string parse_checkscript(const Command& cmd);

struct HaveSpaceArgs {
  std::string name;
  std::uint64_t size = 0;
};
HaveSpaceArgs parse_havespace(const Command& cmd);

struct RenameScriptArgs {
  std::string from, to;
};
RenameScriptArgs parse_renamescript(const Command& cmd);

// The client's answer to a SASL challenge (RFC 5804 2.1): one string, "*"
// to cancel. The data is still base64.
struct SaslAnswer {
  bool cancel = false;
  std::string data;
};
SaslAnswer parse_sasl_answer(const std::vector<Token>& tokens);

}  // namespace postline::managesieve
