#include "services/delivery-queue/delivery/dkim_signer.h"

#include "common/config/config.h"
#include "common/mailauth/crypto.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dkim_keys.h"

#include <spdlog/spdlog.h>

#include <cctype>

namespace postline::queue {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

DkimSigner::DkimSigner(const std::vector<std::string>& entries) {
  std::vector<mailauth::DkimKey> keys;
  try {
    keys = mailauth::load_dkim_keys(entries);
  } catch (const std::runtime_error& e) {
    throw config::ConfigError(std::string("queue.dkim_keys: ") + e.what());
  }
  for (auto& k : keys) keys_[k.domain] = Key{k.selector, std::move(k.key)};
}

DkimSigner::~DkimSigner() = default;

std::string DkimSigner::from_domain(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    auto eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") break;  // end of the header section
    if (line.size() > 5 && lower(std::string(line.substr(0, 5))) == "from:") {
      // Unfold the continuation lines of this field.
      std::string value(line.substr(5));
      size_t next = eol + 1;
      while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
        auto e2 = message.find('\n', next);
        if (e2 == std::string_view::npos) e2 = message.size();
        value += message.substr(next, e2 - next);
        next = e2 + 1;
      }
      auto lt = value.rfind('<');
      std::string addr = lt != std::string::npos ? value.substr(lt + 1, value.find('>', lt) - lt - 1) : value;
      auto at = addr.rfind('@');
      if (at == std::string::npos) return "";
      std::string domain;
      for (char c : addr.substr(at + 1)) {
        if (std::isspace(static_cast<unsigned char>(c)) || c == '>' || c == ',' || c == ';' || c == '(') break;
        domain += c;
      }
      return lower(domain);
    }
    pos = eol + 1;
  }
  return "";
}

std::string DkimSigner::sign(const MessageData& message) {
  if (keys_.empty()) return "";
  const std::string domain = from_domain(message.body);
  auto it = keys_.find(domain);
  if (it == keys_.end()) return "";
  mailauth::DkimSignOptions opts;
  opts.domain = domain;
  opts.selector = it->second.selector;
  opts.timestamp = static_cast<uint64_t>(std::time(nullptr));
  auto result = mailauth::dkim_sign(message.body, *it->second.key, opts);
  if (!result.ok) {
    // Unsigned mail still goes out: a signing problem must not stop delivery.
    spdlog::warn("[q:{}] DKIM signing for {} failed: {}", message.queue_id, domain, result.error);
    return "";
  }
  return result.header + message.body;
}

}  // namespace postline::queue
