// The MX listener's antispam checks, glued to DNS, PostgreSQL and Rspamd:
// DNSBL + greylisting at RCPT, sender authentication (SPF/DKIM/DMARC through
// common/mailauth), rate limits, Rspamd and the built-in score at end of data.
// Decisions live in policy/ (sans-I/O); this class gathers the facts on a
// worker pool (DNS, libpqxx and the Rspamd HTTP call all block) and turns
// the decision into a reply, headers, metrics and log lines.
//
// Failure posture: our own failures (DNS server down, database down, Rspamd
// down) never refuse mail permanently. SPF/DKIM/DMARC temperror is recorded as
// such; greylisting and rate limits fail open; Rspamd down follows
// spam.rspamd_fail_open.
#pragma once

#include "common/db/pool.h"
#include "common/mailauth/dns_lookup.h"
#include "services/smtp-ingress/policy/spam_policy.h"
#include "services/smtp-ingress/protocol/events.h"
#include "services/smtp-ingress/protocol/session.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace postline::smtp {

struct AntispamOptions {
  bool enabled = true;           // spam.enabled: SPF/DKIM/DMARC + score on MX
  std::string authserv_id;       // spam.authserv_id (default smtp.hostname)
  policy::PolicyConfig policy;
  std::vector<policy::DnsblZone> dnsbl;
  bool greylist = false;
  std::chrono::seconds greylist_delay{300};
  std::chrono::seconds greylist_retry_window{86400};
  std::chrono::seconds greylist_whitelist_ttl{36 * 86400};
  int64_t rate_ip_messages = 0;       // per window, 0 = unlimited
  int64_t rate_ip_recipients = 0;
  int64_t rate_sender_messages = 0;
  int64_t rate_sender_recipients = 0;
  std::chrono::seconds rate_window{3600};
  std::string rspamd_url;   // "http://127.0.0.1:11333" or "" = off
  bool rspamd_fail_open = true;
  std::chrono::milliseconds rspamd_timeout{10000};
  std::vector<std::string> dns_servers;
  std::chrono::milliseconds dns_timeout{5000};
  // ARC (RFC 8617): sealers whose cv=pass chain may override a DMARC failure
  // (spam.arc_trusted_sealers; empty = ARC is reported, never trusted).
  std::vector<std::string> arc_trusted_sealers;
  size_t threads = 8;
};

class DmarcReportSink;

class Antispam {
 public:
  // pool may be null when neither greylisting nor rate limits are enabled.
  // cached_dns (optional): the same look-ups answered from the DNS cache
  // only, throwing dns::NotCached otherwise (dns::MailauthLookup::cache_only);
  // given, a message whose answers are all cached is judged without leaving
  // the I/O thread.
  Antispam(AntispamOptions options, std::unique_ptr<mailauth::DnsLookup> dns, std::shared_ptr<db::Pool> pool,
           prometheus::Registry& registry, std::unique_ptr<mailauth::DnsLookup> cached_dns = nullptr);
  ~Antispam();

  // At RCPT, before authd is asked: DNSBL (MX) and recipient rate limits.
  // A refusal with code 0 means go on.
  boost::asio::awaitable<PolicyRefusal> check_recipient(ListenerKind listener, std::string client_ip,
                                                        ResolveRecipientEvent rcpt, std::string authenticated_user);
  // At RCPT, once authd said the recipient is ours: greylisting (MX,
  // unauthenticated). After the lookup so a dictionary attack cannot fill
  // the triplet table with addresses that do not exist.
  boost::asio::awaitable<PolicyRefusal> check_greylist(ListenerKind listener, std::string client_ip,
                                                       ResolveRecipientEvent rcpt, std::string authenticated_user);
  // At end of data, before Enqueue: may rewrite message.data (forged headers
  // out, Authentication-Results / X-Spam-Status in) and set the target mailbox.
  boost::asio::awaitable<PolicyRefusal> check_message(ListenerKind listener, EnqueueEvent& message);

  const AntispamOptions& options() const { return options_; }
  // DMARC evaluations go here for aggregate reports (reports.send); null = none.
  void set_dmarc_sink(DmarcReportSink* sink) { dmarc_sink_ = sink; }

 private:
  struct Metrics;
  PolicyRefusal dnsbl_check(const std::string& client_ip);
  PolicyRefusal greylist_check(const std::string& client_ip, const std::string& sender, const std::string& rcpt);
  PolicyRefusal rate_check(const std::string& key, int64_t max_messages, int64_t max_recipients, int messages,
                           int recipients);
  policy::RspamdResult rspamd_check(const EnqueueEvent& message, const std::string& body);
  PolicyRefusal judge(EnqueueEvent& message, mailauth::DnsLookup& dns);
  // judge() with cached_dns_, or nullopt (message unchanged) when an answer
  // is not cached.
  std::optional<PolicyRefusal> judge_inline(EnqueueEvent& message);

  AntispamOptions options_;
  std::unique_ptr<mailauth::DnsLookup> dns_;
  std::unique_ptr<mailauth::DnsLookup> cached_dns_;
  std::shared_ptr<db::Pool> pool_;
  std::unique_ptr<Metrics> metrics_;
  DmarcReportSink* dmarc_sink_ = nullptr;
  boost::asio::thread_pool workers_;
  // DNSBL answers per client IP for a minute: a session asks once per RCPT.
  std::mutex cache_mutex_;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, PolicyRefusal>> dnsbl_cache_;
};

}  // namespace postline::smtp
