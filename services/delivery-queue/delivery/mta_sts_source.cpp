#include "services/delivery-queue/delivery/mta_sts_source.h"

#include "common/dns/mailauth_lookup.h"
#include "common/dns/resolver.h"
#include "common/log/printable.h"
#include "common/net/https_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace postline::queue {

namespace asio = boost::asio;
namespace http = boost::beast::http;

bool is_text_plain(std::string_view ct) {
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
  std::string_view type = ct.substr(0, ct.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  constexpr std::string_view want = "text/plain";
  return type.size() == want.size() && std::equal(type.begin(), type.end(), want.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

HttpsPolicyFetcher::HttpsPolicyFetcher(std::vector<std::string> dns_servers, const std::string& ca_file,
                                       uint16_t port, std::chrono::seconds timeout)
    : dns_servers_(std::move(dns_servers)), port_(port), timeout_(timeout) {
  try {
    ctx_ = net::make_https_client_context(ca_file);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("queue.tls_ca_file: ") + e.what());
  }
}

FetchResult HttpsPolicyFetcher::fetch(const std::string& domain) {
  const std::string host = "mta-sts." + domain;
  FetchResult out;
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  dns::Resolver resolver(dns_servers_, std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(10)));
  auto addresses = resolver.lookup_addresses(host);
  if (addresses.status != dns::Status::kOk) {
    out.error = "cannot resolve " + host + ": " + addresses.error;
    return out;
  }
  std::string last_error = "no address to connect to";
  for (const auto& address : addresses.addresses) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    boost::system::error_code parse_ec;
    const auto ip = asio::ip::make_address(address, parse_ec);
    if (parse_ec) continue;
    asio::io_context io;
    bool connected = false;
    FetchResult attempt;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const std::string url = "https://" + host + "/.well-known/mta-sts.txt";
          try {
            net::HttpsRequest request;
            request.host = host;
            request.port = std::to_string(port_);
            request.target = "/.well-known/mta-sts.txt";
            request.user_agent = "postline-queued-mta-sts";
            request.max_header = 16 * 1024;
            request.max_body = sts::kMaxPolicyBytes;
            const std::vector<asio::ip::tcp::endpoint> endpoint{asio::ip::tcp::endpoint(ip, port_)};
            // One deadline for connect, handshake, request and answer.
            const auto res = co_await net::https_request(*ctx_, endpoint, request, deadline);
            connected = true;
            const unsigned status = res.result_int();
            if (status >= 300 && status < 400) {
              attempt.error = url + " answered " + std::to_string(status) + " (redirects are not followed, RFC 8461 3.3)";
            } else if (status != 200) {
              attempt.error = url + " answered " + std::to_string(status);
            } else if (!is_text_plain(std::string(res[http::field::content_type]))) {
              attempt.error = url + " is not text/plain but '" +
                              log::printable(std::string(res[http::field::content_type]), 100) + "'";
            } else {
              attempt.kind = FetchResult::Kind::kOk;
              attempt.body = res.body();
            }
          } catch (const net::CertificateError& e) {
            connected = true;
            attempt.kind = FetchResult::Kind::kWebPkiInvalid;
            attempt.error = "the certificate of " + host + " is not valid: " + e.reason();
          } catch (const std::exception& e) {
            // Refused or unreachable (ConnectError): the next address may answer.
            if (!dynamic_cast<const net::ConnectError*>(&e)) connected = true;
            attempt.error = "fetching " + url + " from " + address + ": " + e.what();
          }
        },
        asio::detached);
    io.run();
    if (attempt.kind != FetchResult::Kind::kFetchError || connected) return attempt;
    last_error = attempt.error;
  }
  out.error = last_error;
  return out;
}

StsLookup StsPolicySource::lookup(const std::string& domain) {
  StsLookup out;
  sts::TxtAnswer txt;
  if (auto records = lookup_txt_("_mta-sts." + domain)) {
    txt = sts::evaluate_txt(*records);
  } else {
    txt.status = sts::TxtStatus::kTemporary;
    txt.error = "TXT lookup of _mta-sts." + domain + " failed";
  }
  const auto entry = cache_.get(domain);
  std::optional<sts::Cached> cached;
  std::optional<sts::Policy> cached_policy;
  if (entry) {
    std::string why;
    cached_policy = sts::parse_policy(entry->text, &why);
    // A stored policy that no longer parses (a parser change) counts as none.
    if (cached_policy) cached = sts::Cached{entry->id, entry->text, entry->fresh};
  }
  auto use_cached = [&] {
    out.policy = cached_policy;
    out.id = cached->id;
    out.from_cache = true;
  };
  if (txt.status == sts::TxtStatus::kInvalid) {
    // RFC 8460: a malformed record is an invalid policy for the report.
    out.failure = PolicyResultType::kStsPolicyInvalid;
    out.error = "_mta-sts." + domain + ": " + txt.error;
  }
  switch (sts::next_step(txt, cached)) {
    case sts::Step::kUseCached:
      use_cached();
      return out;
    case sts::Step::kNoPolicy:
      return out;
    case sts::Step::kFetch:
      break;
  }
  auto fetched = fetcher_.fetch(domain);
  if (fetched.kind == FetchResult::Kind::kOk) {
    std::string why;
    auto policy = sts::parse_policy(fetched.body, &why);
    if (policy) {
      cache_.put(domain, txt.id, fetched.body, policy->max_age);
      out.policy = std::move(policy);
      out.id = txt.id;
      spdlog::info("MTA-STS policy of {} fetched (id {}, mode {}, max_age {})", domain, txt.id,
                   sts::mode_name(out.policy->mode), out.policy->max_age);
      return out;
    }
    out.failure = PolicyResultType::kStsPolicyInvalid;
    out.error = "the MTA-STS policy of " + domain + " is invalid: " + why;
  } else {
    out.failure = fetched.kind == FetchResult::Kind::kWebPkiInvalid ? PolicyResultType::kStsWebpkiInvalid
                                                                    : PolicyResultType::kStsPolicyFetchError;
    out.error = fetched.error;
  }
  spdlog::warn("MTA-STS: {}{}", log::printable(out.error, 1024),
               sts::use_cached_after_fetch_failure(cached) ? " (the cached policy still applies)" : " (no policy applies)");
  if (sts::use_cached_after_fetch_failure(cached)) use_cached();
  return out;
}

StsPolicySource::TxtLookup make_txt_lookup(std::vector<std::string> dns_servers) {
  return [servers = std::move(dns_servers)](const std::string& name) -> std::optional<std::vector<std::string>> {
    dns::MailauthLookup lookup(servers);
    auto r = lookup.txt(name);
    switch (r.status) {
      case mailauth::DnsStatus::kOk: return r.records;
      case mailauth::DnsStatus::kNxDomain:
      case mailauth::DnsStatus::kNoData: return std::vector<std::string>{};
      case mailauth::DnsStatus::kTempFail: break;
    }
    return std::nullopt;
  };
}

}  // namespace postline::queue
