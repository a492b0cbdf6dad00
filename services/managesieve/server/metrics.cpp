#include "services/managesieve/server/metrics.h"

namespace postline::managesieve {

ManageSieveMetrics::ManageSieveMetrics(prometheus::Registry& r)
    : sessions_(prometheus::BuildCounter()
                    .Name("postline_managesieved_sessions_total")
                    .Help("ManageSieve connections accepted")
                    .Register(r)
                    .Add({})),
      active_(prometheus::BuildGauge()
                  .Name("postline_managesieved_sessions_active")
                  .Help("ManageSieve connections open now")
                  .Register(r)
                  .Add({})),
      commands_(prometheus::BuildCounter()
                    .Name("postline_managesieved_commands_total")
                    .Help("ManageSieve commands by name and result (ok, no, bye)")
                    .Register(r)),
      logins_(prometheus::BuildCounter()
                  .Name("postline_managesieved_logins_total")
                  .Help("AUTHENTICATE outcomes: success, failure, throttled, disabled, unavailable, limit, cancelled")
                  .Register(r)),
      stored_(prometheus::BuildCounter()
                  .Name("postline_managesieved_scripts_stored_total")
                  .Help("scripts stored by PUTSCRIPT")
                  .Register(r)
                  .Add({})),
      refused_scripts_(prometheus::BuildCounter()
                           .Name("postline_managesieved_scripts_refused_total")
                           .Help("PUTSCRIPT refusals by reason: syntax (does not compile), maxsize, maxscripts, "
                                 "quota (the user's total), name")
                           .Register(r)),
      errors_(prometheus::BuildCounter()
                  .Name("postline_managesieved_protocol_errors_total")
                  .Help("Client protocol errors by kind (syntax, unknown_command, line_too_long, literal_too_big, "
                        "too_many_errors, auth_before_tls, unsupported_mechanism, timeout, tls_handshake)")
                  .Register(r)),
      refused_(prometheus::BuildCounter()
                   .Name("postline_managesieved_connections_refused_total")
                   .Help("Connections turned away by reason: total (managesieve.max_connections), per_ip "
                         "(managesieve.max_unauthenticated_per_ip)")
                   .Register(r)) {
  // Families with fixed label values exist at zero from the start (rate() sees 0, not a gap).
  for (const char* outcome : {"success", "failure", "throttled", "disabled", "unavailable", "limit", "cancelled"})
    logins_.Add({{"outcome", outcome}});
  for (const char* reason : {"syntax", "maxsize", "maxscripts", "quota", "name"}) refused_scripts_.Add({{"reason", reason}});
  for (const char* kind : {"syntax", "unknown_command", "line_too_long", "literal_too_big", "too_many_errors",
                           "auth_before_tls", "unsupported_mechanism", "timeout", "tls_handshake"})
    errors_.Add({{"kind", kind}});
  for (const char* reason : {"total", "per_ip"}) refused_.Add({{"reason", reason}});
}

}  // namespace postline::managesieve
