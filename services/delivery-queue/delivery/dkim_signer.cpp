#include "services/delivery-queue/delivery/dkim_signer.h"

#include "common/config/config.h"
#include "common/mailauth/crypto.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dkim_keys.h"
#include "common/mailauth/arc.h"
#include "common/mailauth/auth_results.h"
#include "common/mailauth/text_util.h"

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
  for (auto& k : keys) {
    if (first_domain_.empty()) first_domain_ = k.domain;
    keys_[k.domain] = Key{k.selector, std::move(k.key)};
  }
}

void DkimSigner::enable_arc(ArcOptions options) {
  if (!options.enabled) return;
  if (options.domain.empty()) options.domain = first_domain_;
  options.domain = lower(options.domain);
  if (options.domain.empty()) return;  // no keys: nothing to seal with
  if (!keys_.count(options.domain))
    throw config::ConfigError("queue.arc_domain: no queue.dkim_keys key for " + options.domain);
  arc_ = std::move(options);
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
  if (it == keys_.end()) return arc_.enabled ? arc_seal(message) : "";
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

std::string DkimSigner::arc_seal(const MessageData& message) {
  // Our verdict at arrival: only mail smtpd judged on the MX carries it.
  std::string_view body = message.body;
  size_t end = body.find("\r\n\r\n");
  std::string_view head = body.substr(0, end == std::string_view::npos ? body.size() : end);
  std::string ar_value;
  bool found = false;
  for (size_t pos = 0; pos < head.size() && !found;) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    if (mailauth::istarts_with(head.substr(pos, eol - pos), "Authentication-Results:")) {
      size_t next = eol;
      while (next + 2 < head.size() && (head[next + 2] == ' ' || head[next + 2] == '\t')) {
        next = head.find("\r\n", next + 2);
        if (next == std::string_view::npos) next = head.size();
      }
      std::string_view value = head.substr(pos + 23, next - pos - 23);
      if (mailauth::iequals(mailauth::authserv_id_of(value), arc_.authserv_id)) {
        ar_value = std::string(value);
        found = true;
      }
      pos = next + 2;
    } else {
      pos = eol + 2;
    }
  }
  if (!found) return "";
  const std::string arc = mailauth::arc_result_in_auth_results(ar_value);
  mailauth::ArcSealOptions o;
  o.domain = arc_.domain;
  o.selector = keys_.at(arc_.domain).selector;
  o.authserv_id = arc_.authserv_id;
  o.timestamp = static_cast<uint64_t>(std::time(nullptr));
  o.chain = arc == "pass" ? mailauth::ArcResult::kPass
            : arc == "fail" ? mailauth::ArcResult::kFail
                            : mailauth::ArcResult::kNone;
  auto sealed = mailauth::arc_seal(message.body, *keys_.at(arc_.domain).key, o);
  if (!sealed.ok) {
    spdlog::info("[q:{}] not ARC-sealed: {}", message.queue_id, sealed.error);
    return "";
  }
  spdlog::info("[q:{}] ARC-sealed as instance {} (cv={}) by {}", message.queue_id, sealed.instance,
               mailauth::to_string(sealed.cv), arc_.domain);
  return sealed.headers + message.body;
}

}  // namespace postline::queue
