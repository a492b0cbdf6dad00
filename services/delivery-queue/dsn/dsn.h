// Delivery Status Notifications (RFC 3464 multipart/report, RFC 3461 NOTIFY/RET,
// RFC 6533 for internationalised addresses). Pure text building, no I/O.
#pragma once

#include "services/delivery-queue/store/queue_store.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue {

enum class DsnAction { kFailed, kDelayed, kDelivered, kRelayed };
std::string_view dsn_action_name(DsnAction a);

struct DsnRecipient {
  std::string address;
  std::string orcpt;  // as given in RCPT ORCPT= ("rfc822;a@b"), may be empty
  DsnAction action = DsnAction::kFailed;
  std::string status;      // enhanced status code "5.1.1"
  std::string remote_mta;  // "" when no remote host answered
  std::string diagnostic;  // reply text
  bool smtp_diagnostic = false;  // diagnostic is a remote SMTP reply
  Clock::time_point last_attempt;
  std::optional<Clock::time_point> will_retry_until;  // delayed only
};

struct DsnInput {
  std::string reporting_mta;  // our hostname
  std::string from;           // MAILER-DAEMON@hostname
  std::string to;             // the original envelope sender
  std::string queue_id;
  std::string envid;  // RFC 3461 ENVID of the original
  std::string ret;    // "FULL" | "HDRS" | ""
  Clock::time_point arrival;
  std::string_view original;  // the original message
  std::vector<DsnRecipient> recipients;
};

// Without RET, the whole original is returned when it is at most this big,
// only its header otherwise: enough for the sender to recognise it without
// mailing a large attachment back.
inline constexpr size_t kReturnFullLimit = 1024 * 1024;

std::string build_dsn(const DsnInput& in, Clock::time_point now, const std::string& boundary);

// Who we are when we send DSNs.
struct DsnSender {
  std::string hostname;                      // Reporting-MTA and the From: domain
  std::string bounce_from = "MAILER-DAEMON";  // From: local part
};

// A DSN about `original` as a queue message: null reverse-path, marked is_dsn
// (so it is never bounced itself), addressed to the original sender, who is
// resolved (local or remote) when the DSN is delivered. For a REQUIRETLS
// original (RFC 8689 4.3) only the header is returned and the DSN is itself
// REQUIRETLS.
NewMessage make_dsn_message(const DsnSender& sender, const MessageData& original,
                            std::vector<DsnRecipient> recipients, Clock::time_point now);

// RFC 3461 NOTIFY: does the sender want this kind of report? Absent NOTIFY means
// FAILURE,DELAY (RFC 3461 4.1); NEVER means none.
bool notify_wants(std::string_view notify, DsnAction action);

// The enhanced status code of an SMTP-style reply ("550 5.1.1 ..." → "5.1.1"),
// or class.0.0 from the reply code when it carries none.
std::string enhanced_status(std::string_view reply);

// RFC 5322 date-time in UTC.
std::string rfc5322_date(Clock::time_point t);

}  // namespace postline::queue
