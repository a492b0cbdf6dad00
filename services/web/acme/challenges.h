// The http-01 answers webd has to give while an order is open: token -> key
// authorization (RFC 8555 8.3). Filled by the ACME client, read by the plain-
// HTTP listener for GET /.well-known/acme-challenge/TOKEN; one io_context
// thread uses it, so no lock.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace postline::web::acme {

class ChallengeStore {
 public:
  void add(const std::string& token, const std::string& key_authorization) { answers_[token] = key_authorization; }
  void remove(const std::string& token) { answers_.erase(token); }
  size_t size() const { return answers_.size(); }
  // The key authorization for a request target "/.well-known/acme-challenge/TOKEN"
  // (no query), when TOKEN is pending; nullopt for anything else.
  std::optional<std::string> answer(std::string_view target) const {
    constexpr std::string_view prefix = "/.well-known/acme-challenge/";
    if (target.substr(0, prefix.size()) != prefix) return std::nullopt;
    const auto it = answers_.find(std::string(target.substr(prefix.size())));
    if (it == answers_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> answers_;
};

}  // namespace postline::web::acme
