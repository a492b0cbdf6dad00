// MTA-STS policy discovery for one recipient domain (RFC 8461 3, 5.1): the
// `_mta-sts` TXT record (c-ares, dns.servers), the cache (store/mta_sts_cache),
// and the HTTPS fetch of https://mta-sts.<domain>/.well-known/mta-sts.txt:
// the certificate verified against queue.tls_ca_file or the system store and
// the name mta-sts.<domain>, no redirects followed, 200 with Content-Type
// text/plain only, at most 64 KiB within queue.mta_sts_fetch_timeout. The
// decisions are policy/mta_sts (sans-I/O); this file only does the I/O.
#pragma once

#include "services/delivery-queue/policy/mta_sts.h"
#include "services/delivery-queue/policy/transport_result.h"
#include "services/delivery-queue/store/mta_sts_cache.h"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace postline::queue {

struct FetchResult {
  enum class Kind { kOk, kFetchError, kWebPkiInvalid } kind = Kind::kFetchError;
  std::string body;   // kOk: the policy file
  std::string error;  // otherwise: why
};

class PolicyFetcher {
 public:
  virtual ~PolicyFetcher() = default;
  virtual FetchResult fetch(const std::string& domain) = 0;
};

class HttpsPolicyFetcher final : public PolicyFetcher {
 public:
  // ca_file: PEM bundle; empty = the system trust store. Throws
  // std::runtime_error naming queue.tls_ca_file when it cannot be loaded.
  HttpsPolicyFetcher(std::vector<std::string> dns_servers, const std::string& ca_file, uint16_t port,
                     std::chrono::seconds timeout);
  FetchResult fetch(const std::string& domain) override;

 private:
  std::vector<std::string> dns_servers_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  uint16_t port_;
  std::chrono::seconds timeout_;
};

// Content-Type "text/plain" (any parameters, any case)? Exposed for tests.
bool is_text_plain(std::string_view content_type);

// What applies to a domain now.
struct StsLookup {
  // The policy in force (any mode), from the cache or just fetched; nullopt:
  // no policy (deliver as without MTA-STS).
  std::optional<sts::Policy> policy;
  std::string id;
  bool from_cache = false;
  // A failure met on the way (TLS-RPT): sts-policy-fetch-error,
  // sts-policy-invalid or sts-webpki-invalid; set also when a cached policy
  // then applied.
  std::optional<PolicyResultType> failure;
  std::string error;
};

class StsPolicySource {
 public:
  // lookup_txt: the TXT records of a name (nullopt: temporary failure; an
  // empty list: none). Production: c-ares on dns.servers (make_txt_lookup).
  using TxtLookup = std::function<std::optional<std::vector<std::string>>(const std::string& name)>;
  StsPolicySource(TxtLookup lookup_txt, PolicyFetcher& fetcher, StsPolicyCache& cache)
      : lookup_txt_(std::move(lookup_txt)), fetcher_(fetcher), cache_(cache) {}
  StsLookup lookup(const std::string& domain);

 private:
  TxtLookup lookup_txt_;
  PolicyFetcher& fetcher_;
  StsPolicyCache& cache_;
};

StsPolicySource::TxtLookup make_txt_lookup(std::vector<std::string> dns_servers);

}  // namespace postline::queue
