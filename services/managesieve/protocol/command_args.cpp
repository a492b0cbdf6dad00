#include "services/managesieve/protocol/command_args.h"

#include <algorithm>
#include <cctype>

namespace postline::managesieve {

namespace {

const std::string& string_at(const Command& cmd, size_t i, const char* what) {
  if (i >= cmd.args.size()) throw SyntaxError(std::string("missing argument: ") + what);
  if (cmd.args[i].kind != Token::Kind::kString)
    throw SyntaxError(std::string("expected a string for ") + what);
  return cmd.args[i].text;
}

void at_most(const Command& cmd, size_t n) {
  if (cmd.args.size() > n) throw SyntaxError("too many arguments for " + cmd.name);
}

}  // namespace

Command split_command(std::vector<Token> tokens) {
  if (tokens.empty() || tokens.front().kind != Token::Kind::kAtom) throw SyntaxError("expected a command name");
  Command cmd;
  cmd.name = std::move(tokens.front().text);
  std::transform(cmd.name.begin(), cmd.name.end(), cmd.name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  cmd.args.assign(std::make_move_iterator(tokens.begin() + 1), std::make_move_iterator(tokens.end()));
  return cmd;
}

void parse_no_args(const Command& cmd) { at_most(cmd, 0); }

AuthenticateArgs parse_authenticate(const Command& cmd) {
  at_most(cmd, 2);
  AuthenticateArgs a;
  a.mechanism = string_at(cmd, 0, "the SASL mechanism");
  std::transform(a.mechanism.begin(), a.mechanism.end(), a.mechanism.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (a.mechanism.empty()) throw SyntaxError("empty SASL mechanism");
  if (cmd.args.size() == 2) a.initial_response = string_at(cmd, 1, "the initial response");
  return a;
}

NoopArgs parse_noop(const Command& cmd) {
  at_most(cmd, 1);
  NoopArgs a;
  if (cmd.args.size() == 1) a.tag = string_at(cmd, 0, "the tag");
  return a;
}

std::string parse_script_name(const Command& cmd) {
  at_most(cmd, 1);
  return string_at(cmd, 0, "the script name");
}

PutScriptArgs parse_putscript(const Command& cmd) {
  at_most(cmd, 2);
  PutScriptArgs a;
  a.name = string_at(cmd, 0, "the script name");
  a.script = string_at(cmd, 1, "the script");
  return a;
}

std::string parse_checkscript(const Command& cmd) {
  at_most(cmd, 1);
  return string_at(cmd, 0, "the script");
}

HaveSpaceArgs parse_havespace(const Command& cmd) {
  at_most(cmd, 2);
  HaveSpaceArgs a;
  a.name = string_at(cmd, 0, "the script name");
  if (cmd.args.size() < 2) throw SyntaxError("missing argument: the script size");
  if (cmd.args[1].kind != Token::Kind::kNumber) throw SyntaxError("expected a number for the script size");
  // The parser has bounded the digits (RFC 5804 4: number < 4294967296).
  for (char c : cmd.args[1].text) a.size = a.size * 10 + static_cast<uint64_t>(c - '0');
  return a;
}

RenameScriptArgs parse_renamescript(const Command& cmd) {
  at_most(cmd, 2);
  RenameScriptArgs a;
  a.from = string_at(cmd, 0, "the old script name");
  a.to = string_at(cmd, 1, "the new script name");
  return a;
}

SaslAnswer parse_sasl_answer(const std::vector<Token>& tokens) {
  if (tokens.size() != 1 || tokens[0].kind != Token::Kind::kString)
    throw SyntaxError("expected one string as the SASL response");
  SaslAnswer a;
  a.cancel = tokens[0].text == "*";
  if (!a.cancel) a.data = tokens[0].text;
  return a;
}

}  // namespace postline::managesieve
