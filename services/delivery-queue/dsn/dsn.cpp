#include "services/delivery-queue/dsn/dsn.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace postline::queue {
namespace {

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; });
}

// A header field value must not carry line breaks or run on forever: a remote
// reply is peer-controlled text.
std::string one_line(std::string_view s, size_t limit = 900) {
  std::string out;
  for (char c : s) {
    if (c == '\r') continue;
    if (c == '\n' || c == '\t') c = ' ';
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::string header_part(std::string_view msg) {
  auto end = msg.find("\r\n\r\n");
  if (end != std::string_view::npos) return std::string(msg.substr(0, end + 2));
  end = msg.find("\n\n");
  if (end != std::string_view::npos) return std::string(msg.substr(0, end + 1));
  return std::string(msg);
}

std::string crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 50);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view dsn_action_name(DsnAction a) {
  switch (a) {
    case DsnAction::kFailed: return "failed";
    case DsnAction::kDelayed: return "delayed";
    case DsnAction::kDelivered: return "delivered";
    case DsnAction::kRelayed: return "relayed";
  }
  return "failed";
}

bool notify_wants(std::string_view notify, DsnAction action) {
  const std::string n = upper(notify);
  if (n.find("NEVER") != std::string::npos) return false;
  switch (action) {
    case DsnAction::kFailed: return n.empty() || n.find("FAILURE") != std::string::npos;
    case DsnAction::kDelayed: return n.empty() || n.find("DELAY") != std::string::npos;
    case DsnAction::kDelivered:
    case DsnAction::kRelayed: return n.find("SUCCESS") != std::string::npos;
  }
  return false;
}

std::string enhanced_status(std::string_view reply) {
  // "550 5.1.1 text" or "550-5.1.1 text"
  if (reply.size() >= 9 && std::isdigit(static_cast<unsigned char>(reply[0])) &&
      (reply[3] == ' ' || reply[3] == '-')) {
    std::string_view rest = reply.substr(4);
    size_t i = 0;
    int dots = 0;
    while (i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.')) {
      if (rest[i] == '.') ++dots;
      ++i;
    }
    if (dots == 2 && i >= 5 && rest[0] == reply[0] && (i == rest.size() || rest[i] == ' '))
      return std::string(rest.substr(0, i));
  }
  if (!reply.empty() && (reply[0] == '2' || reply[0] == '4' || reply[0] == '5'))
    return std::string(1, reply[0]) + ".0.0";
  return "5.0.0";
}

std::string rfc5322_date(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string build_dsn(const DsnInput& in, Clock::time_point now, const std::string& boundary) {
  bool intl = !is_ascii(in.to);
  for (const auto& r : in.recipients) intl = intl || !is_ascii(r.address) || !is_ascii(r.orcpt);

  bool any_failed = false, any_delayed = false;
  for (const auto& r : in.recipients) {
    any_failed = any_failed || r.action == DsnAction::kFailed;
    any_delayed = any_delayed || r.action == DsnAction::kDelayed;
  }
  const std::string subject = any_failed    ? "Undelivered Mail Returned to Sender"
                              : any_delayed ? "Delayed Mail (still being retried)"
                                            : "Successful Mail Delivery Report";

  std::string m;
  m += "From: Mail Delivery System <" + in.from + ">\r\n";
  m += "To: <" + in.to + ">\r\n";
  m += "Subject: " + subject + "\r\n";
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "Message-ID: <" + in.queue_id + "." + boundary + "@" + in.reporting_mta + ">\r\n";
  // RFC 3834: automatic responders must not answer this.
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  // Human-readable part.
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  m += "This is the mail system at host " + in.reporting_mta + ".\r\n\r\n";
  if (any_failed)
    m += "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n";
  else if (any_delayed)
    m += "Your message could not be delivered yet. The mail system will keep\r\ntrying; no action is needed.\r\n";
  else
    m += "Your message was successfully delivered as requested.\r\n";
  m += "\r\n";
  for (const auto& r : in.recipients) {
    m += "<" + r.address + ">: " + std::string(dsn_action_name(r.action));
    if (!r.diagnostic.empty()) {
      m += ": ";
      // "host X said" only for the remote's own reply: a decision of ours
      // (SMTPUTF8 or SIZE the server lacks, DNS, connection trouble) is
      // never put in its mouth (RFC 3464 2.3.5, issue 22).
      if (!r.remote_mta.empty() && r.smtp_diagnostic) m += "host " + r.remote_mta + " said: ";
      else if (!r.remote_mta.empty())
        m += "decided by Postline at " + in.reporting_mta + ", while connected to host " + r.remote_mta +
             " (not that host's reply): ";
      else if (!r.smtp_diagnostic)
        m += "decided by Postline at " + in.reporting_mta + " (not a remote server's reply): ";
      m += one_line(r.diagnostic);
    }
    m += "\r\n";
  }
  m += "\r\n";

  // Machine-readable part.
  m += "--" + boundary + "\r\n";
  m += intl ? "Content-Type: message/global-delivery-status\r\n\r\n" : "Content-Type: message/delivery-status\r\n\r\n";
  m += "Reporting-MTA: dns; " + in.reporting_mta + "\r\n";
  m += "X-Postline-Queue-ID: " + in.queue_id + "\r\n";
  if (!in.envid.empty()) m += "Original-Envelope-Id: " + one_line(in.envid, 100) + "\r\n";
  m += "Arrival-Date: " + rfc5322_date(in.arrival) + "\r\n";
  for (const auto& r : in.recipients) {
    m += "\r\n";
    m += std::string("Final-Recipient: ") + (is_ascii(r.address) ? "rfc822; " : "utf-8; ") + one_line(r.address) + "\r\n";
    if (!r.orcpt.empty() && r.orcpt.find(';') != std::string::npos)
      m += "Original-Recipient: " + one_line(r.orcpt) + "\r\n";
    m += "Action: " + std::string(dsn_action_name(r.action)) + "\r\n";
    m += "Status: " + r.status + "\r\n";
    // Remote-MTA names the MTA that reported the status: only when it did.
    if (!r.remote_mta.empty() && r.smtp_diagnostic)
      m += "Remote-MTA: dns; " + one_line(r.remote_mta, 255) + "\r\n";
    // RFC 3464 2.3.6: "smtp" only for a reply an SMTP server gave; our own
    // decisions get our own diagnostic type (as Postfix's X-Postfix).
    if (!r.diagnostic.empty())
      m += std::string("Diagnostic-Code: ") + (r.smtp_diagnostic ? "smtp; " : "X-Postline; ") + one_line(r.diagnostic) +
           "\r\n";
    m += "Last-Attempt-Date: " + rfc5322_date(r.last_attempt) + "\r\n";
    if (r.will_retry_until) m += "Will-Retry-Until: " + rfc5322_date(*r.will_retry_until) + "\r\n";
  }
  m += "\r\n";

  // The original: per RET, else whole when small (see kReturnFullLimit).
  const std::string ret = upper(in.ret);
  const bool full = ret == "FULL" || (ret != "HDRS" && in.original.size() <= kReturnFullLimit);
  m += "--" + boundary + "\r\n";
  if (full) {
    m += intl ? "Content-Type: message/global\r\n" : "Content-Type: message/rfc822\r\n";
    m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
    std::string body = crlf(in.original);
    m += body;
    if (body.size() < 2 || body.compare(body.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  } else {
    m += intl ? "Content-Type: message/global-headers\r\n\r\n" : "Content-Type: text/rfc822-headers\r\n\r\n";
    std::string headers = crlf(header_part(in.original));
    m += headers;
    if (headers.size() < 2 || headers.compare(headers.size() - 2, 2, "\r\n") != 0) m += "\r\n";
  }
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

NewMessage make_dsn_message(const DsnSender& sender, const MessageData& original,
                            std::vector<DsnRecipient> recipients, Clock::time_point now) {
  DsnInput in;
  in.reporting_mta = sender.hostname;
  in.from = sender.bounce_from + "@" + sender.hostname;
  in.to = original.mail_from;
  in.queue_id = original.queue_id;
  in.envid = original.dsn_envid;
  // RFC 8689 4.3: a report about a REQUIRETLS message returns its header only
  // (as with RET=HDRS) and travels under REQUIRETLS itself.
  in.ret = original.requiretls ? "HDRS" : original.dsn_ret;
  in.arrival = original.created_at;
  in.original = original.body;
  in.recipients = std::move(recipients);
  NewMessage dsn;
  dsn.mail_from = "";  // null reverse-path: nobody answers a DSN
  dsn.is_dsn = true;
  dsn.smtputf8 = original.smtputf8;
  dsn.requiretls = original.requiretls;
  NewRecipient to;
  to.address = original.mail_from;
  to.needs_resolve = true;
  dsn.recipients.push_back(std::move(to));
  dsn.body = build_dsn(in, now, generate_queue_id());
  return dsn;
}

}  // namespace postline::queue
