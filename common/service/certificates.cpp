#include "common/service/certificates.h"

#include "common/grpc/grpc.h"

namespace postline::service {

void export_certificate_expiry(metrics::HttpServer& http, const config::Config& cfg,
                               std::shared_ptr<net::TlsContext> tls) {
  if (tls) {
    const std::string file = tls->cert_file();
    http.certificates().add("tls.cert_file", file, [tls] { return tls->not_after(); });
  }
  if (const auto grpc_files = grpcutil::tls_files(cfg); grpc_files.enabled()) {
    const auto not_after = net::certificate_file_not_after(grpc_files.cert_file);
    http.certificates().add("grpc.tls_cert_file", grpc_files.cert_file, [not_after] { return not_after; });
  }
}

}  // namespace postline::service
