// The portal's Backend over gRPC and the mailstore: authd's AuthService
// (Authenticate, GetQuota) and AdminService (accounts, domains, aliases, app
// passwords, SetPassword), queued's QueueService (ListMessages, GetMessage,
// ReadMessage, the admin actions), DNS for the records page
// (common/dnsrecords), and the mailstore's
// interface for usage (mailstore::MailStore, only when db.url is set). The
// admin RPCs carry the bearer token from auth.admin_token_file, which webd
// holds for this purpose only: every call names the signed-in account, which
// the portal took from its verified session, never from the request.
#pragma once

#include "services/web/portal/backend.h"
#include "services/web/server/readiness_probe.h"

#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

namespace postline::web {

struct PortalBackendOptions {
  std::string auth_addr;
  std::string queue_addr;
  std::string admin_token;  // "" = the admin APIs are open (development)
  std::string db_url;       // "" = quota usage not shown
  std::string shards;       // mailstore.shards ("" = db_url is the one shard)
  // The DNS page (common/dnsrecords): smtp.hostname, queue.hostname,
  // queue.dkim_keys, dns.servers (empty = /etc/resolv.conf).
  std::string mail_host, outbound_host;
  std::vector<std::string> dkim_keys, dns_servers;
  // The MTA-STS policy webd serves (web.mta_sts_mode, web.mta_sts_max_age): the
  // DNS page's TXT id is its hash.
  std::string mta_sts_mode = "testing";
  int64_t mta_sts_max_age = 604800;
  // The health page's HTTP /readyz probes (web.health_urls, parse_health_urls).
  std::vector<HealthUrl> health_urls;
};

class GrpcPortalBackend : public portal::Backend {
 public:
  GrpcPortalBackend(PortalBackendOptions options, prometheus::Registry& registry);
  ~GrpcPortalBackend() override;
  portal::LoginResult authenticate(const std::string& username, const std::string& password,
                                   const std::string& client_ip) override;
  std::vector<portal::SentMessage> sent_messages(const std::string& email, int limit,
                                                const portal::PageCursor& page) override;
  std::optional<portal::SentMessage> message(const std::string& queue_id) override;
  std::vector<portal::AppPasswordInfo> app_passwords(const std::string& email) override;
  std::string add_app_password(const std::string& email, const std::string& label) override;
  void remove_app_password(const std::string& email, const std::string& label) override;
  void set_password(const std::string& email, const std::string& password) override;
  portal::QuotaInfo quota(int64_t user_id, const std::string& email) override;
  portal::FilterScripts filter_scripts(int64_t user_id, const std::string& name) override;
  void save_active_sieve_script(int64_t user_id, const std::string& name, const std::string& text) override;
  bool is_admin(const std::string& email) override;
  std::vector<portal::DomainInfo> domains() override;
  void add_domain(const std::string& name) override;
  std::optional<portal::DomainRemoval> domain_removal(const std::string& name) override;
  void remove_domain(const std::string& name, bool force) override;
  void set_catch_all(const std::string& domain, const std::string& target) override;
  std::optional<portal::UserRemoval> user_removal(const std::string& email) override;
  void remove_user(const std::string& email) override;
  std::vector<portal::UserInfo> users() override;
  void add_user(const portal::NewUser& user) override;
  void set_quota(const std::string& email, const portal::QuotaChange& change) override;
  void set_disabled(const std::string& email, bool disabled) override;
  std::vector<portal::AliasInfo> aliases() override;
  void add_alias(const std::string& address, const std::string& target) override;
  void remove_alias(const std::string& address, const std::string& target) override;
  std::vector<portal::SentMessage> queue(int limit, const portal::QueueFilter& filter,
                                        const portal::PageCursor& page) override;
  std::optional<portal::QueuedContent> read_message(const std::string& queue_id, size_t max_bytes,
                                                    const std::string& viewer) override;
  int64_t queue_action(portal::QueueAction action, const std::string& queue_id) override;
  portal::DomainDns dns(const std::string& domain, bool check) override;
  std::vector<portal::ServiceHealth> health() override;

  struct Impl;  // public so the call helper in the .cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::web
