// Address normalisation: the one place that decides when two spellings are the
// same address. Everything stored and every lookup goes through here.
//
//  - domain: trimmed of a trailing dot, lower-cased, internationalised names
//    converted to their A-label form (IDNA2008, libidn2): "Bücher.Example" ->
//    "xn--bcher-kva.example". Labels are checked for LDH syntax and length.
//  - local part: lower-cased (ASCII) unless the operator made local parts
//    case-sensitive (auth.local_part_case_sensitive); non-ASCII UTF-8 is kept
//    as-is (SMTPUTF8). Quoted local parts and control characters are refused:
//    no account is ever created with one, so refusing them costs nothing.
//  - plus-addressing: base_local_part("anna+lists", "+") == "anna".
//
// Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace postline::auth {

struct AddressPolicy {
  bool local_part_case_sensitive = false;
  // Characters that start a sub-address ("+" -> anna+tag@). Empty: plus-addressing off.
  std::string recipient_delimiter = "+";
};

struct Address {
  std::string local;
  std::string domain;
  std::string str() const { return local + "@" + domain; }
};

// A value or an error message naming what is wrong (for an INVALID_ARGUMENT status).
template <typename T>
struct Parsed {
  T value{};
  std::string error;
  bool ok() const { return error.empty(); }
};

Parsed<std::string> normalise_domain(std::string_view domain);
Parsed<Address> normalise_address(std::string_view address, const AddressPolicy& policy);

// The local part without its sub-address; the input unchanged if it has none.
// A delimiter at the very start ("+foo") is not a sub-address.
std::string base_local_part(std::string_view local, std::string_view delimiters);

}  // namespace postline::auth
