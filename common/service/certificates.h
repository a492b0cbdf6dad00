// postline_tls_certificate_not_after_timestamp_seconds for every certificate a
// service loads: tls.cert_file (smtpd's and imapd's listeners; the value
// follows SIGHUP reloads) and grpc.tls_cert_file (every service, when gRPC
// runs over mutual TLS; read once, as gRPC loads it once).
#pragma once

#include "common/config/config.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"

#include <memory>

namespace postline::service {

void export_certificate_expiry(metrics::HttpServer& http, const config::Config& cfg,
                               std::shared_ptr<net::TlsContext> tls = nullptr);

}  // namespace postline::service
