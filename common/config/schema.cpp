// The closed set of configuration keys. Adding a key: add it here and to
// deploy/postline.example.yaml (a test checks they agree).
#include "common/config/config.h"

namespace postline::config {

const std::vector<KeySpec>& schema() {
  using T = ValueType;
  static const std::vector<KeySpec> keys = {
      // db
      {"db", "url", T::kString, "postgresql://postgres@127.0.0.1:55432/postline",
       "libpq connection URI of the shared PostgreSQL database"},
      {"db", "pool_size", T::kInt, "8", "connections per service process"},
      // tls
      {"tls", "cert_file", T::kString, "", "PEM certificate chain for SMTP STARTTLS/465 and IMAP STARTTLS/993"},
      {"tls", "key_file", T::kString, "", "PEM private key matching tls.cert_file"},
      // grpc: TLS between the services (mutual: every server asks for a client
      // certificate signed by tls_ca_file). All three files or none.
      {"grpc", "tls_cert_file", T::kString, "", "PEM certificate this process presents on gRPC, as server and as client; empty = plaintext gRPC (one host or a trusted network only)"},
      {"grpc", "tls_key_file", T::kString, "", "PEM private key matching grpc.tls_cert_file"},
      {"grpc", "tls_ca_file", T::kString, "", "PEM CA bundle that gRPC peers' certificates must chain to (both directions)"},
      {"grpc", "tls_server_name", T::kString, "", "name to expect in the servers' certificates instead of the host in auth.addr/queue.addr (one certificate for all services)"},
      // log
      {"log", "level", T::kString, "info", "trace|debug|info|warn|error"},
      {"log", "format", T::kString, "text", "text|json"},
      // dns
      {"dns", "servers", T::kStringList, "", "comma-separated resolvers (host:port); empty = /etc/resolv.conf"},
      // auth
      {"auth", "listen_address", T::kString, "127.0.0.1", "address authd binds its gRPC and HTTP ports to"},
      {"auth", "grpc_port", T::kPort, "50051", "authd gRPC port (AuthService, AdminService, health)"},
      {"auth", "http_port", T::kPort, "9104", "authd /metrics /healthz /readyz"},
      {"auth", "addr", T::kString, "127.0.0.1:50051", "where other services reach authd"},
      {"auth", "hash_threads", T::kInt, "2", "threads hashing passwords (argon2id is deliberately slow)"},
      {"auth", "hash_ops_limit", T::kInt, "2", "argon2id passes (libsodium opslimit)"},
      {"auth", "hash_mem_limit", T::kSize, "64MiB", "argon2id memory per hash"},
      {"auth", "scram_iterations", T::kInt, "4096", "PBKDF2 iterations for SCRAM-SHA-256 keys derived at password set (RFC 7677 minimum 4096)"},
      {"auth", "local_part_case_sensitive", T::kBool, "false", "compare local parts case-sensitively (domains never are)"},
      {"auth", "recipient_delimiter", T::kString, "+", "characters that start a sub-address (anna+tag@); empty turns plus-addressing off"},
      {"auth", "admin_token_file", T::kString, "", "file holding the bearer token AdminService requires; empty = admin API open to anyone who can reach the port"},
      {"auth", "allow_plaintext_mechanisms", T::kBool, "false", "advertise PLAIN/LOGIN on connections without TLS"},
      {"auth", "throttle_window", T::kDuration, "15m", "failed logins older than this are forgotten"},
      {"auth", "throttle_ip_delay_after", T::kInt, "5", "failures from one IP before its attempts are slowed"},
      {"auth", "throttle_ip_block_after", T::kInt, "20", "failures from one IP before it is blocked (0 = never)"},
      {"auth", "throttle_ip_block_duration", T::kDuration, "15m", "how long a blocked IP is refused"},
      {"auth", "throttle_account_delay_after", T::kInt, "10", "failures on one account (any IP) before its attempts are slowed; accounts are never blocked"},
      {"auth", "throttle_max_delay", T::kDuration, "8s", "longest delay for a throttled IP"},
      {"auth", "throttle_account_max_delay", T::kDuration, "4s", "longest delay for a throttled account"},
      // smtp
      {"smtp", "listen_address", T::kString, "127.0.0.1", "address smtpd binds its ports to"},
      {"smtp", "mx_port", T::kPort, "2525", "MX listener (25 in production)"},
      {"smtp", "submission_port", T::kPort, "5587", "submission listener, STARTTLS + AUTH (587)"},
      {"smtp", "submissions_port", T::kPort, "4465", "implicit-TLS submission listener (465)"},
      {"smtp", "http_port", T::kPort, "9101", "smtpd /metrics /healthz /readyz"},
      {"smtp", "hostname", T::kString, "localhost", "name in the greeting, EHLO reply and Received: headers"},
      {"smtp", "max_message_size", T::kSize, "50MiB", "largest message accepted (SIZE)"},
      {"smtp", "max_recipients", T::kInt, "100", "recipients per message"},
      {"smtp", "max_line_length", T::kInt, "1000", "command/text line limit including CRLF (RFC 5321)"},
      {"smtp", "command_timeout", T::kDuration, "5m", "idle time allowed while waiting for a command"},
      {"smtp", "data_timeout", T::kDuration, "10m", "idle time allowed while receiving message data"},
      {"smtp", "max_connections", T::kInt, "1000", "concurrent connections in total"},
      {"smtp", "max_errors", T::kInt, "10", "protocol errors per session before 421 and disconnect"},
      {"smtp", "max_connections_per_ip", T::kInt, "20", "concurrent connections from one client IP"},
      {"smtp", "max_header_size", T::kSize, "256KiB", "largest header section of a message"},
      {"smtp", "max_auth_failures", T::kInt, "3", "failed AUTH attempts per session before 421 and disconnect"},
      {"smtp", "max_messages_per_session", T::kInt, "100", "messages per connection before 421 (reconnect)"},
      {"smtp", "allow_plaintext_auth", T::kBool, "false", "offer AUTH on submission without TLS (testing only)"},
      // spam: smtpd's inbound checks on the MX listener (docs/antispam.md)
      {"spam", "enabled", T::kBool, "true", "SPF, DKIM, DMARC and the spam score on mail arriving on the MX port"},
      {"spam", "authserv_id", T::kString, "", "authserv-id of our Authentication-Results (empty = smtp.hostname)"},
      {"spam", "dmarc_enforce", T::kBool, "true", "honour DMARC p=reject (550 5.7.1) and p=quarantine (Junk)"},
      {"spam", "junk_score", T::kString, "5.0", "score at or above which mail goes to the Junk mailbox"},
      {"spam", "reject_score", T::kString, "15.0", "score at or above which mail is refused at DATA (550 5.7.1)"},
      {"spam", "dnsbl_zones", T::kStringList, "", "DNSBL zones, each 'zone' or 'zone=127.0.0.2|127.0.0.3' (reply codes that list)"},
      {"spam", "greylist", T::kBool, "false", "greylist unknown (client /24, sender, recipient) triplets (needs db)"},
      {"spam", "greylist_delay", T::kDuration, "5m", "how long a new triplet is deferred with 451 4.7.1"},
      {"spam", "greylist_retry_window", T::kDuration, "1d", "a retry later than this after the last attempt starts over"},
      {"spam", "greylist_whitelist_ttl", T::kDuration, "36d", "a passed triplet stays whitelisted until unused this long"},
      {"spam", "rate_window", T::kDuration, "1h", "window of the rate limits below"},
      {"spam", "rate_ip_messages", T::kInt, "0", "messages per window from one unauthenticated client IP (0 = no limit)"},
      {"spam", "rate_ip_recipients", T::kInt, "0", "recipients per window from one unauthenticated client IP (0 = no limit)"},
      {"spam", "rate_sender_messages", T::kInt, "0", "messages per window per authenticated sender (0 = no limit)"},
      {"spam", "rate_sender_recipients", T::kInt, "0", "recipients per window per authenticated sender (0 = no limit)"},
      {"spam", "rspamd_url", T::kString, "", "Rspamd normal worker, e.g. http://127.0.0.1:11333 (empty = off)"},
      {"spam", "rspamd_fail_open", T::kBool, "true", "accept mail when Rspamd is unreachable (false: 451 4.7.1)"},
      {"spam", "rspamd_timeout", T::kDuration, "10s", "read/write timeout of one Rspamd call"},
      {"spam", "dns_timeout", T::kDuration, "5s", "timeout of one DNS query for SPF/DKIM/DMARC/DNSBL"},
      // queue
      {"queue", "listen_address", T::kString, "127.0.0.1", "address queued binds its gRPC and HTTP ports to"},
      {"queue", "grpc_port", T::kPort, "50052", "queued gRPC port (QueueService, health)"},
      {"queue", "http_port", T::kPort, "9102", "queued /metrics /healthz /readyz"},
      {"queue", "addr", T::kString, "127.0.0.1:50052", "where other services reach queued"},
      {"queue", "workers", T::kInt, "4", "delivery worker threads"},
      {"queue", "poll_interval", T::kDuration, "5s", "longest wait between queue scans (new mail wakes workers at once)"},
      {"queue", "retry_schedule", T::kStringList, "1m,5m,15m,30m,1h,2h,4h", "delays between attempts; the last repeats"},
      {"queue", "max_lifetime", T::kDuration, "5d", "age at which an undelivered recipient expires and bounces"},
      {"queue", "remote_smtp_port", T::kPort, "25", "port of remote MX hosts"},
      {"queue", "hostname", T::kString, "localhost", "name queued uses in EHLO and DSNs"},
      {"queue", "max_message_size", T::kSize, "64MiB", "largest message Enqueue accepts (above smtp.max_message_size: smtpd adds headers)"},
      {"queue", "max_recipients", T::kInt, "1000", "recipients per enqueued message"},
      {"queue", "batch_size", T::kInt, "16", "recipients one worker claims per transaction"},
      {"queue", "tls", T::kString, "opportunistic", "outbound STARTTLS: opportunistic|required|off"},
      {"queue", "connect_timeout", T::kDuration, "30s", "time allowed to connect to a remote MX"},
      {"queue", "command_timeout", T::kDuration, "5m", "time allowed for each remote SMTP reply (RFC 5321 4.5.3.2)"},
      {"queue", "delay_warning", T::kDuration, "4h", "age after which the sender gets one delay DSN (0 = never)"},
      {"queue", "bounce_from", T::kString, "MAILER-DAEMON", "local part of the From: of DSNs (domain: queue.hostname)"},
      {"queue", "dkim_keys", T::kStringList, "", "DKIM keys for our domains: domain:selector:/path/key.pem,... (RSA or Ed25519 PEM)"},
      {"queue", "keep_finished", T::kDuration, "7d", "how long finished messages stay for `postline queue show` (0 = forever)"},
      {"queue", "max_per_domain", T::kInt, "10", "concurrent SMTP sessions to one destination domain per queued instance"},
      {"queue", "relayhost", T::kString, "", "smarthost for all remote mail: host, host:port or [v6]:port (empty = deliver to MX hosts)"},
      {"queue", "relayhost_username", T::kString, "", "AUTH PLAIN user for the relayhost (sent only over TLS)"},
      {"queue", "relayhost_password_file", T::kString, "", "file holding the relayhost password"},
      // imap
      {"imap", "listen_address", T::kString, "127.0.0.1", "address imapd binds its ports to"},
      {"imap", "port", T::kPort, "1143", "IMAP listener with STARTTLS (143)"},
      {"imap", "tls_port", T::kPort, "1993", "implicit-TLS IMAP listener (993)"},
      {"imap", "http_port", T::kPort, "9103", "imapd /metrics /healthz /readyz"},
      {"imap", "max_line_length", T::kInt, "65536", "longest command line (without literals)"},
      {"imap", "max_literal_size", T::kSize, "50MiB", "largest literal (APPENDLIMIT)"},
      {"imap", "idle_timeout", T::kDuration, "30m", "idle time allowed after login (RFC 9051: at least 30 minutes)"},
      {"imap", "login_timeout", T::kDuration, "60s", "time allowed before login"},
      {"imap", "max_bad_commands", T::kInt, "20", "BAD responses before the server says BYE"},
      {"imap", "allow_plaintext_auth", T::kBool, "true", "allow LOGIN/AUTHENTICATE without TLS"},
      {"imap", "max_connections", T::kInt, "1000", "concurrent connections in total"},
  };
  return keys;
}

}  // namespace postline::config
