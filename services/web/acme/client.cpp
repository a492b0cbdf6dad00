#include "services/web/acme/client.h"

#include "services/web/acme/certificate.h"
#include "services/web/acme/errors.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace postline::web::acme {

namespace asio = boost::asio;
using http_verb = boost::beast::http::verb;

namespace {
// A CA may refuse any nonce (Pebble refuses 5 % by default, the tests 30 %): ten
// refusals in a row mean something else is wrong.
constexpr int kBadNonceRetries = 10;
constexpr const char* kJose = "application/jose+json";

// Removes the challenge answers an order added, however obtain() ends.
struct ChallengeCleanup {
  ChallengeStore& store;
  std::vector<std::string> tokens;
  ~ChallengeCleanup() {
    for (const auto& t : tokens) store.remove(t);
  }
};

bool ok_status(unsigned status) { return status == 200 || status == 201; }
}  // namespace

AcmeClient::AcmeClient(HttpsClient& https, AccountKey key, std::string directory_url, std::string contact_email,
                       ChallengeStore& challenges, std::function<void()> on_bad_nonce)
    : https_(https), key_(std::move(key)), directory_url_(std::move(directory_url)),
      contact_email_(std::move(contact_email)), challenges_(challenges), on_bad_nonce_(std::move(on_bad_nonce)) {}

asio::awaitable<void> AcmeClient::ensure_directory() {
  if (directory_) co_return;
  const auto r = co_await https_.request(http_verb::get, directory_url_);
  if (r.status != 200) throw AcmeError("directory " + directory_url_ + ": " + describe_failure(r.status, r.body));
  directory_ = parse_directory(r.body);
}

asio::awaitable<HttpsResponse> AcmeClient::post(const std::string& url, const std::string& payload, bool with_jwk,
                                                const std::string& accept) {
  for (int attempt = 0;; ++attempt) {
    if (nonce_.empty()) {
      const auto r = co_await https_.request(http_verb::head, directory_->new_nonce);
      if (r.replay_nonce.empty()) throw AcmeError("newNonce: no Replay-Nonce in the answer (" + std::to_string(r.status) + ")");
      nonce_ = r.replay_nonce;
    }
    const std::string body = sign_request(key_, url, nonce_, payload, with_jwk ? std::string() : account_url_);
    nonce_.clear();  // a nonce is good for one request
    auto r = co_await https_.request(http_verb::post, url, body, kJose, accept);
    nonce_ = r.replay_nonce;
    if (is_bad_nonce(r.status, r.body) && attempt < kBadNonceRetries) {
      if (on_bad_nonce_) on_bad_nonce_();
      spdlog::debug("acme: badNonce from {}, retrying with the fresh nonce", url);
      continue;  // with the nonce of that answer, or a new one from newNonce when it gave none
    }
    co_return r;
  }
}

asio::awaitable<void> AcmeClient::ensure_account() {
  if (!account_url_.empty()) co_return;
  // newAccount with the key's JWK: 201 for a new account, 200 with the same
  // Location for the account this key already has (RFC 8555 7.3.1).
  const auto r = co_await post(directory_->new_account, new_account_payload(contact_email_), /*with_jwk=*/true);
  if (!ok_status(r.status) || r.location.empty())
    throw AcmeError("newAccount: " + describe_failure(r.status, r.body));
  account_url_ = r.location;
  spdlog::info("acme: account {} ({})", account_url_, r.status == 201 ? "created" : "existing");
}

asio::awaitable<void> AcmeClient::pause(std::chrono::seconds wait, std::chrono::steady_clock::time_point deadline,
                                        const std::string& waiting_for) {
  if (std::chrono::steady_clock::now() + wait > deadline)
    throw AcmeError(waiting_for + ": not done within acme.order_timeout");
  asio::steady_timer timer(co_await asio::this_coro::executor, wait);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<Order> AcmeClient::poll_order(const std::string& url, std::chrono::steady_clock::time_point deadline,
                                              const std::vector<std::string>& until) {
  for (;;) {
    const auto r = co_await post(url, "");
    if (r.status != 200) throw AcmeError("order " + url + ": " + describe_failure(r.status, r.body));
    Order order = parse_order(r.body);
    if (std::find(until.begin(), until.end(), order.status) != until.end()) co_return order;
    if (order.status == "invalid")
      throw AcmeError("order " + url + " became invalid" + (order.error.empty() ? "" : ": " + order.error));
    co_await pause(retry_after(r.retry_after, std::chrono::seconds(1), std::chrono::seconds(30)), deadline,
                   "order " + url + " (" + order.status + ")");
  }
}

asio::awaitable<Issued> AcmeClient::obtain(std::vector<std::string> names,
                                           std::chrono::steady_clock::time_point deadline) {
  co_await ensure_directory();
  co_await ensure_account();
  auto r = co_await post(directory_->new_order, new_order_payload(names));
  if (r.status != 201 || r.location.empty()) throw AcmeError("newOrder: " + describe_failure(r.status, r.body));
  const std::string order_url = r.location;
  Order order = parse_order(r.body);

  ChallengeCleanup cleanup{challenges_, std::vector<std::string>()};
  const std::string thumbprint = key_.thumbprint();
  std::vector<std::string> pending;  // authorizations we answered a challenge of
  for (const auto& authz_url : order.authorizations) {
    r = co_await post(authz_url, "");
    if (r.status != 200) throw AcmeError("authorization " + authz_url + ": " + describe_failure(r.status, r.body));
    const Authorization authz = parse_authorization(r.body);
    if (authz.status == "valid") continue;  // validated recently; the CA reuses it
    if (authz.status != "pending")
      throw AcmeError("authorization for " + authz.identifier + " is " + authz.status);
    const Challenge* ch = authz.http01();
    if (!ch) throw AcmeError("authorization for " + authz.identifier + ": the CA offers no http-01 challenge");
    challenges_.add(ch->token, key_authorization(ch->token, thumbprint));
    cleanup.tokens.push_back(ch->token);
    r = co_await post(ch->url, challenge_ready_payload());
    if (r.status != 200) throw AcmeError("challenge for " + authz.identifier + ": " + describe_failure(r.status, r.body));
    pending.push_back(authz_url);
  }
  for (const auto& authz_url : pending) {
    for (;;) {
      r = co_await post(authz_url, "");
      if (r.status != 200) throw AcmeError("authorization " + authz_url + ": " + describe_failure(r.status, r.body));
      const Authorization authz = parse_authorization(r.body);
      if (authz.status == "valid") break;
      if (authz.status != "pending") {
        const Challenge* ch = authz.http01();
        throw AcmeError("http-01 for " + authz.identifier + " failed (" + authz.status + ")" +
                        (ch && !ch->error.empty() ? ": " + ch->error : ""));
      }
      co_await pause(retry_after(r.retry_after, std::chrono::seconds(1), std::chrono::seconds(30)), deadline,
                     "authorization for " + authz.identifier);
    }
  }
  // (Named vectors, not braced lists: GCC 12 cannot take those as co_await arguments.)
  const std::vector<std::string> authorized = {"ready", "processing", "valid"}, issued = {"valid"};
  order = co_await poll_order(order_url, deadline, authorized);

  KeyAndCsr request = make_key_and_csr(names);
  if (order.status == "ready") {
    r = co_await post(order.finalize, finalize_payload(request.csr_der));
    if (r.status != 200) throw AcmeError("finalize: " + describe_failure(r.status, r.body));
    order = parse_order(r.body);
  }
  if (order.status != "valid") order = co_await poll_order(order_url, deadline, issued);
  r = co_await post(order.certificate, "", false, "application/pem-certificate-chain");
  if (r.status != 200) throw AcmeError("certificate download: " + describe_failure(r.status, r.body));
  check_issued(r.body, request.key_pem, names);
  co_return Issued{r.body, request.key_pem};
}

}  // namespace postline::web::acme
