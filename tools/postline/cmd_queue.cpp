// postline queue list|show|view|hold|release|requeue|retry|delete|flush —
// QueueService on queued. Filters (--sender, --recipient, ...) are parsed
// here into typed values and sent as a MessageFilter; queued selects in SQL.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "common/config/config.h"
#include "common/mailauth/text_util.h"
#include "mail/v1/queue.grpc.pb.h"
#include "tools/postline/cli_context.h"
#include "tools/postline/output.h"

namespace postline::cli {
namespace {

namespace v1 = mail::v1;

template <typename Req, typename Resp, typename Method>
Resp queue_call(CliContext& ctx, const std::string& what, Method method, const Req& req) {
  auto stub = v1::QueueService::NewStub(ctx.queue_channel());
  grpc::ClientContext call;
  ctx.prepare(call);
  Resp resp;
  grpc::Status status = ((*stub).*method)(&call, req, &resp);
  if (!status.ok()) ctx.rpc_failed(what, status, "queued at " + ctx.resolved_queue_addr());
  return resp;
}

std::string state_name(v1::RecipientState s) {
  switch (s) {
    case v1::RECIPIENT_STATE_QUEUED: return "queued";
    case v1::RECIPIENT_STATE_DELIVERING: return "delivering";
    case v1::RECIPIENT_STATE_DELIVERED: return "delivered";
    case v1::RECIPIENT_STATE_DEFERRED: return "deferred";
    case v1::RECIPIENT_STATE_BOUNCED: return "bounced";
    case v1::RECIPIENT_STATE_EXPIRED: return "expired";
    default: return "unknown";
  }
}

constexpr const char* kStates = "queued, deferred, delivering, delivered, bounced, expired or held";

std::string utc(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string age(int64_t created_unix) {
  int64_t s = static_cast<int64_t>(std::time(nullptr)) - created_unix;
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

bool pending(v1::RecipientState s) {
  return s == v1::RECIPIENT_STATE_QUEUED || s == v1::RECIPIENT_STATE_DEFERRED || s == v1::RECIPIENT_STATE_DELIVERING;
}

// Where an attempt went and who decided its outcome. A remote recipient's
// attempt without a host (NXDOMAIN, null MX, no address, a message that
// cannot be re-encoded to fit the line limit) is our decision
// about the destination domain: never "local", which means local delivery.
std::string attempt_destination(const v1::QueuedRecipient& r, const v1::DeliveryAttempt& a) {
  if (r.local()) return "local";
  return a.mx_host().empty() ? r.domain() : a.mx_host();
}
std::string attempt_source(const v1::QueuedRecipient& r, const v1::DeliveryAttempt& a) {
  if (r.local()) return "local delivery";
  if (a.remote_reply()) return "remote reply";
  return a.mx_host().empty() ? "local decision (no host reached)" : "local decision";
}

std::string json_recipient(const v1::QueuedRecipient& r, const v1::EnvelopeRecipient* env, bool with_history) {
  JsonObject o;
  o.add("id", static_cast<int64_t>(r.id()))
      .add("address", r.address())
      .add("local", r.local())
      .add("domain", r.domain())
      .add("state", state_name(r.state()))
      .add("held", r.held())
      .add("held_since", utc(r.held_since_unix()))
      .add("attempts", static_cast<int64_t>(r.attempts()))
      .add("last_reply", r.last_reply())
      .add("next_attempt", r.held() ? std::string("-") : utc(r.next_attempt_unix()));
  if (env) o.add("notify", env->notify()).add("orcpt", env->orcpt());
  std::string obj = o.str();
  if (!with_history) return obj;
  std::string history = "[";
  for (int i = 0; i < r.history_size(); ++i) {
    const auto& a = r.history(i);
    if (i) history += ",";
    history += JsonObject()
                   .add("time", utc(a.started_unix()))
                   .add("duration_ms", static_cast<int64_t>(a.duration_ms()))
                   .add("mx_host", a.mx_host())
                   .add("destination", attempt_destination(r, a))
                   .add("remote_reply", a.remote_reply())
                   .add("reply", a.reply())
                   .add("outcome", state_name(a.outcome()))
                   .str();
  }
  history += "]";
  obj.pop_back();  // '}'
  return obj + ",\"history\":" + history + "}";
}

std::string json_message(const v1::QueuedMessage& m, bool with_history, bool with_dsn = false) {
  JsonObject o;
  o.add("queue_id", m.queue_id())
      .add("from", m.envelope().mail_from())
      .add("size", static_cast<int64_t>(m.size()))
      .add("created", utc(m.created_unix()))
      .add("message_id", m.header_message_id())
      .add("held", m.held())
      .add("requeued", utc(m.requeued_unix()))
      .add("client_ip", m.envelope().client_ip())
      .add("authenticated_user", m.envelope().authenticated_user())
      .add("target_mailbox",
           m.envelope().target_mailbox().empty() ? std::string("INBOX") : m.envelope().target_mailbox());
  if (with_dsn)
    o.add("helo", m.envelope().helo())
        .add("dsn_ret", m.envelope().dsn_ret())
        .add("dsn_envid", m.envelope().dsn_envid())
        .add("body_type", m.envelope().body_type())
        .add("smtputf8", m.envelope().smtputf8());
  std::string obj = o.str();
  std::string rcpts = "[";
  for (int i = 0; i < m.recipients_size(); ++i) {
    if (i) rcpts += ",";
    const v1::EnvelopeRecipient* env =
        with_dsn && i < m.envelope().recipients_size() ? &m.envelope().recipients(i) : nullptr;
    rcpts += json_recipient(m.recipients(i), env, with_history);
  }
  rcpts += "]";
  obj.pop_back();
  return obj + ",\"recipients\":" + rcpts + "}";
}

// --- filters ---------------------------------------------------------------------

struct FilterOptions {
  std::string sender, recipient, message_id, older_than, newer_than, state, domain;
  CLI::Option* sender_opt = nullptr;
};

void add_filter_options(CLI::App* cmd, const std::shared_ptr<FilterOptions>& f, bool with_state = true) {
  f->sender_opt = cmd->add_option("--sender", f->sender, "envelope sender (case-insensitive; '<>' = null sender)");
  cmd->add_option("--recipient", f->recipient, "a recipient address (case-insensitive)");
  cmd->add_option("--domain", f->domain, "a recipient's destination domain");
  cmd->add_option("--message-id", f->message_id, "the Message-ID header (with or without <>)");
  cmd->add_option("--older-than", f->older_than, "arrived more than this long ago (30s, 5m, 4h, 2d)");
  cmd->add_option("--newer-than", f->newer_than, "arrived less than this long ago");
  if (with_state) cmd->add_option("--state", f->state, std::string("a recipient in this state: ") + kStates);
}

int64_t parse_age(const std::string& text, const std::string& option) {
  std::chrono::seconds s;
  try {
    s = config::parse_duration(text, option);
  } catch (const std::exception& e) {
    throw CliError(e.what(), 2);
  }
  if (s.count() <= 0) throw CliError(option + ": must be longer than 0, got '" + text + "'", 2);
  return s.count();
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// The typed filter; throws CliError (exit 2) naming the bad option. Sets
// *given when any condition was given.
v1::MessageFilter build_filter(const FilterOptions& f, bool* given) {
  v1::MessageFilter out;
  *given = false;
  auto text = [&](const std::string& value, const std::string& option) {
    if (has_control(value)) throw CliError(option + ": control characters are not allowed", 2);
    if (value.size() > 512) throw CliError(option + ": longer than 512 characters", 2);
  };
  if (f.sender_opt && f.sender_opt->count() > 0) {
    text(f.sender, "--sender");
    out.set_match_sender(true);
    out.set_sender(f.sender == "<>" ? "" : f.sender);
    *given = true;
  }
  if (!f.recipient.empty()) {
    text(f.recipient, "--recipient");
    if (f.recipient.find('@') == std::string::npos)
      throw CliError("--recipient: expected an address like user@example.com, got '" + f.recipient + "'", 2);
    out.set_recipient(f.recipient);
    *given = true;
  }
  if (!f.domain.empty()) {
    text(f.domain, "--domain");
    std::string d = f.domain;
    if (!d.empty() && d.back() == '.') d.pop_back();
    if (d.empty() || d.find('@') != std::string::npos || d.find(' ') != std::string::npos)
      throw CliError("--domain: expected a domain like example.com, got '" + f.domain + "'", 2);
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) { return std::tolower(c); });
    out.set_domain(d);
    *given = true;
  }
  if (!f.message_id.empty()) {
    text(f.message_id, "--message-id");
    out.set_message_id(f.message_id);
    *given = true;
  }
  if (!f.older_than.empty()) {
    out.set_older_than_seconds(parse_age(f.older_than, "--older-than"));
    *given = true;
  }
  if (!f.newer_than.empty()) {
    out.set_newer_than_seconds(parse_age(f.newer_than, "--newer-than"));
    *given = true;
  }
  if (out.older_than_seconds() && out.newer_than_seconds() && out.older_than_seconds() >= out.newer_than_seconds())
    throw CliError("--older-than " + f.older_than + " with --newer-than " + f.newer_than + ": no message can match",
                   2);
  if (!f.state.empty()) {
    *given = true;
    if (f.state == "held") {
      out.set_held_only(true);
    } else {
      bool known = false;
      for (auto st : {v1::RECIPIENT_STATE_QUEUED, v1::RECIPIENT_STATE_DELIVERING, v1::RECIPIENT_STATE_DELIVERED,
                      v1::RECIPIENT_STATE_DEFERRED, v1::RECIPIENT_STATE_BOUNCED, v1::RECIPIENT_STATE_EXPIRED})
        if (state_name(st) == f.state) {
          out.set_state(st);
          known = true;
        }
      if (!known) throw CliError("--state: expected " + std::string(kStates) + ", got '" + f.state + "'", 2);
    }
  }
  return out;
}

// Queue ids, or a filter, or --all: exactly one.
struct SelectionOptions {
  std::vector<std::string> ids;
  bool all = false;
  std::shared_ptr<FilterOptions> filter = std::make_shared<FilterOptions>();
};

void add_selection_options(CLI::App* cmd, const std::shared_ptr<SelectionOptions>& sel) {
  cmd->add_option("QUEUE_ID", sel->ids, "queue id(s)");
  cmd->add_flag("--all", sel->all, "every message with a pending recipient");
  add_filter_options(cmd, sel->filter);
}

// *bulk: selected by a filter or --all (not by explicit ids).
v1::MessageSelection build_selection(const std::string& command, const SelectionOptions& opts, bool* bulk) {
  bool filtered = false;
  v1::MessageSelection out;
  *out.mutable_filter() = build_filter(*opts.filter, &filtered);
  const int modes = !opts.ids.empty() + filtered + opts.all;
  if (modes != 1)
    throw CliError(command + ": give queue id(s), filter options (--sender, --recipient, --domain, --message-id, "
                             "--older-than, --newer-than, --state) or --all" +
                       (modes > 1 ? std::string(", only one of them") : std::string()),
                   2);
  for (const auto& id : opts.ids) out.add_queue_ids(id);
  out.set_all(opts.all);
  if (!filtered) out.clear_filter();
  *bulk = filtered || opts.all;
  return out;
}

void print_action(CliContext& ctx, const std::string& action, const std::string& done, int64_t messages,
                  int64_t recipients, const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<std::string> list(ids.begin(), ids.end());
  if (ctx.json) {
    std::cout << JsonObject()
                     .add("action", action)
                     .add("messages", messages)
                     .add("recipients", recipients)
                     .add("queue_ids", list)
                     .str()
              << "\n";
    return;
  }
  std::cout << done << " " << messages << " message(s), " << recipients << " recipient(s)";
  if (!list.empty() && list.size() <= 20) {
    std::cout << ":";
    for (const auto& id : list) std::cout << " " << id;
  }
  std::cout << "\n";
}

// --- view ----------------------------------------------------------------------

// Message bytes for a terminal: C0 controls (but tab and line ends), DEL, C1
// controls and bytes that are not UTF-8 become \xNN, so a message cannot move
// the cursor, retitle the window or hide text. Off a terminal, or with --raw,
// the bytes are written exactly as stored.
std::string terminal_safe(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  auto escape = [&](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      const bool line_end = c == '\n' || (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n');
      if ((c < 0x20 && c != '\t' && !line_end) || c == 0x7f) escape(c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = n > 0 && i + n <= s.size();
    for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    // U+0080..U+009F (C2 80..C2 9F): C1 controls, CSI among them.
    if (valid && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) valid = false;
    if (!valid) {
      escape(c);
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

// [0, header_end) is the header block, [body_start, size) the body.
void split_message(std::string_view m, size_t* header_end, size_t* body_start) {
  size_t pos = 0;
  while (pos < m.size()) {
    size_t eol = m.find('\n', pos);
    if (eol == std::string_view::npos) break;
    size_t len = eol - pos;
    if (len == 0 || (len == 1 && m[pos] == '\r')) {
      *header_end = pos;
      *body_start = eol + 1;
      return;
    }
    pos = eol + 1;
  }
  *header_end = m.size();
  *body_start = m.size();
}

void write_bytes(std::string_view bytes, bool escape) {
  std::cout.flush();
  std::string safe;
  if (escape) {
    safe = terminal_safe(bytes);
    bytes = safe;
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size())
    throw CliError("queue view: writing to stdout failed");
  std::fflush(stdout);
}

void print_envelope(const v1::QueuedMessage& m, bool body_stored) {
  const auto& env = m.envelope();
  std::cout << "queue id:   " << m.queue_id() << "\n"
            << "sender:     <" << env.mail_from() << ">\n"
            << "arrived:    " << utc(m.created_unix()) << " (" << age(m.created_unix()) << " ago)\n"
            << "size:       " << m.size() << " bytes" << (body_stored ? "" : " (body no longer stored)") << "\n";
  if (!m.header_message_id().empty()) std::cout << "message-id: <" << m.header_message_id() << ">\n";
  if (m.held()) std::cout << "held:       yes (postline queue release " << m.queue_id() << ")\n";
  if (m.requeued_unix() > 0) std::cout << "requeued:   " << utc(m.requeued_unix()) << "\n";
  std::string dsn;
  if (!env.dsn_ret().empty()) dsn += "RET=" + env.dsn_ret() + " ";
  if (!env.dsn_envid().empty()) dsn += "ENVID=" + env.dsn_envid() + " ";
  if (!env.body_type().empty()) dsn += "BODY=" + env.body_type() + " ";
  if (env.smtputf8()) dsn += "SMTPUTF8 ";
  if (!dsn.empty()) std::cout << "parameters: " << dsn.substr(0, dsn.size() - 1) << "\n";
  if (!env.client_ip().empty() || !env.helo().empty())
    std::cout << "client:     " << env.client_ip() << (env.helo().empty() ? "" : " (HELO " + env.helo() + ")") << "\n";
  if (!env.authenticated_user().empty()) std::cout << "auth user:  " << env.authenticated_user() << "\n";
  for (int i = 0; i < m.recipients_size(); ++i) {
    const auto& r = m.recipients(i);
    std::cout << "recipient:  <" << r.address() << "> " << (r.local() ? "(local) " : "") << state_name(r.state())
              << (r.held() ? ", held" : "") << ", " << r.attempts() << " attempt(s)";
    if (i < env.recipients_size()) {
      if (!env.recipients(i).notify().empty()) std::cout << ", NOTIFY=" << env.recipients(i).notify();
      if (!env.recipients(i).orcpt().empty()) std::cout << ", ORCPT=" << env.recipients(i).orcpt();
    }
    std::cout << "\n";
  }
}

void view_message(CliContext& ctx, const std::string& id, bool headers, bool body, bool envelope, bool raw) {
  if (!headers && !body && !envelope) headers = body = envelope = true;
  auto stub = v1::QueueService::NewStub(ctx.queue_channel());
  grpc::ClientContext call;
  ctx.prepare(call, std::chrono::seconds(120));
  v1::ReadMessageRequest req;
  req.set_queue_id(id);
  auto reader = stub->ReadMessage(&call, req);
  v1::ReadMessageChunk chunk;
  v1::QueuedMessage message;
  bool first = true, stored = true;
  std::string bytes;
  while (reader->Read(&chunk)) {
    if (first) {
      message = chunk.message();
      stored = chunk.body_stored();
      bytes.reserve(static_cast<size_t>(std::max<int64_t>(0, message.size())));
      first = false;
    }
    bytes += chunk.data();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) ctx.rpc_failed("queue view " + id, status, "queued at " + ctx.resolved_queue_addr());
  if (first) throw CliError("queue view " + id + ": queued sent no message");
  if (!stored && (headers || body) && !envelope)
    throw CliError("queue view " + id +
                   ": the message itself is no longer stored (every recipient was delivered when it arrived)");
  size_t header_end = 0, body_start = 0;
  split_message(bytes, &header_end, &body_start);
  const std::string_view all(bytes);
  if (ctx.json) {
    std::string obj = json_message(message, false, true);
    obj.pop_back();
    obj += ",\"body_stored\":" + std::string(stored ? "true" : "false");
    if (headers && stored)
      obj += ",\"header_base64\":" + json_string(mailauth::base64_encode(all.substr(0, header_end)));
    if (body && stored) obj += ",\"body_base64\":" + json_string(mailauth::base64_encode(all.substr(body_start)));
    std::cout << obj << "}\n";
    return;
  }
  const bool escape = !raw && isatty(STDOUT_FILENO);
  if (envelope) {
    print_envelope(message, stored);
    if (!stored) {
      std::cout << "(the message itself is no longer stored: every recipient was delivered when it arrived)\n";
      return;
    }
    if (headers || body) std::cout << "--- message as stored (" << bytes.size() << " bytes) ---\n";
  }
  if (headers && body) write_bytes(all, escape);  // exactly as stored, blank line included
  else if (headers) write_bytes(all.substr(0, header_end), escape);
  else if (body) write_bytes(all.substr(body_start), escape);
}

const char* kQueueCommands = "list, show, view, hold, release, requeue, retry, delete, flush";

}  // namespace

void register_queue_commands(CLI::App& app, CliContext& ctx) {
  auto* queue = app.add_subcommand("queue", "inspect and manage the delivery queue (queued)");

  auto list_opts = std::make_shared<FilterOptions>();
  auto limit = std::make_shared<int>(1000);
  auto* list = queue->add_subcommand("list", "messages with pending recipients (or those the filters select)");
  add_filter_options(list, list_opts);
  list->add_option("--limit", *limit, "at most this many messages (default 1000)");
  list->callback([&ctx, list_opts, limit] {
    bool filtered = false;
    v1::ListMessagesRequest req;
    *req.mutable_filter() = build_filter(*list_opts, &filtered);
    if (*limit <= 0) throw CliError("--limit: must be at least 1", 2);
    req.set_limit(*limit);
    auto resp = queue_call<v1::ListMessagesRequest, v1::ListMessagesResponse>(ctx, "queue list",
                                                                              &v1::QueueService::Stub::ListMessages, req);
    if (ctx.json) {
      std::cout << "[";
      for (int i = 0; i < resp.messages_size(); ++i)
        std::cout << (i ? ",\n" : "\n") << json_message(resp.messages(i), false);
      std::cout << (resp.messages_size() ? "\n" : "") << "]\n";
      return;
    }
    // One row per recipient the filter is about.
    const auto& f = req.filter();
    auto lower = [](std::string s) {
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      return s;
    };
    Table t({"QUEUE-ID", "AGE", "SIZE", "FROM", "RECIPIENT", "STATE", "ATTEMPTS", "NEXT", "LAST REPLY"});
    for (const auto& m : resp.messages())
      for (const auto& r : m.recipients()) {
        if (f.held_only() ? !(r.held() && pending(r.state()))
            : f.state() != v1::RECIPIENT_STATE_UNSPECIFIED ? r.state() != f.state()
                                                            : !pending(r.state()))
          continue;
        if (!f.recipient().empty() && lower(r.address()) != lower(f.recipient())) continue;
        if (!f.domain().empty() && r.domain() != f.domain()) continue;
        std::string reply = r.last_reply();
        if (reply.size() > 60) reply = reply.substr(0, 57) + "...";
        t.row({m.queue_id(), age(m.created_unix()), format_bytes(m.size()),
               m.envelope().mail_from().empty() ? "<>" : m.envelope().mail_from(), r.address(),
               r.held() ? "held" : state_name(r.state()), std::to_string(r.attempts()),
               pending(r.state()) && !r.held() ? utc(r.next_attempt_unix()) : "-", reply.empty() ? "-" : reply});
      }
    if (t.empty()) {
      std::cout << (filtered ? "no message matches\n" : "the queue is empty\n");
      return;
    }
    t.print(std::cout);
  });

  auto show_id = std::make_shared<std::string>();
  auto* show = queue->add_subcommand("show", "one message: envelope and each recipient's attempts");
  show->add_option("QUEUE_ID", *show_id, "queue id")->required();
  show->callback([&ctx, show_id] {
    v1::GetMessageRequest req;
    req.set_queue_id(*show_id);
    auto resp = queue_call<v1::GetMessageRequest, v1::GetMessageResponse>(ctx, "queue show " + *show_id,
                                                                          &v1::QueueService::Stub::GetMessage, req);
    const auto& m = resp.message();
    if (ctx.json) {
      std::cout << json_message(m, true) << "\n";
      return;
    }
    std::cout << "queue id:  " << m.queue_id() << "\n"
              << "from:      <" << m.envelope().mail_from() << ">\n"
              << "size:      " << format_bytes(m.size()) << " (" << m.size() << " bytes)\n"
              << "arrived:   " << utc(m.created_unix()) << " (" << age(m.created_unix()) << " ago)\n";
    if (!m.header_message_id().empty()) std::cout << "msg id:    <" << m.header_message_id() << ">\n";
    if (m.held()) std::cout << "held:      yes: not attempted until `postline queue release " << m.queue_id() << "`\n";
    if (m.requeued_unix() > 0) std::cout << "requeued:  " << utc(m.requeued_unix()) << "\n";
    if (!m.envelope().client_ip().empty()) std::cout << "client:    " << m.envelope().client_ip() << "\n";
    if (!m.envelope().authenticated_user().empty())
      std::cout << "auth user: " << m.envelope().authenticated_user() << "\n";
    // Where local recipients get it (smtpd files spam verdicts into Junk).
    if (!m.envelope().target_mailbox().empty()) std::cout << "mailbox:   " << m.envelope().target_mailbox() << "\n";
    for (const auto& r : m.recipients()) {
      std::cout << "\n<" << r.address() << "> " << (r.local() ? "(local) " : "") << state_name(r.state())
                << (r.held() ? ", held since " + utc(r.held_since_unix()) : "") << ", " << r.attempts()
                << " attempt(s)";
      if (pending(r.state()) && !r.held()) std::cout << ", next " << utc(r.next_attempt_unix());
      std::cout << "\n";
      for (const auto& a : r.history())
        std::cout << "  " << utc(a.started_unix()) << "  " << state_name(a.outcome()) << "  "
                  << attempt_destination(r, a) << " [" << attempt_source(r, a) << "]  " << a.duration_ms() << "ms  "
                  << a.reply() << "\n";
    }
  });

  // postcat: the envelope, then the message as stored.
  auto view_id = std::make_shared<std::string>();
  auto view_parts = std::make_shared<std::array<bool, 4>>();  // headers, body, envelope, raw
  auto* view = queue->add_subcommand("view", "the envelope and the message as stored (postcat)");
  view->add_option("QUEUE_ID", *view_id, "queue id")->required();
  view->add_flag("--headers", (*view_parts)[0], "the message's header block");
  view->add_flag("--body", (*view_parts)[1], "the message's body (after the blank line)");
  view->add_flag("--envelope", (*view_parts)[2], "sender, recipients, arrival, size, DSN parameters");
  view->add_flag("--raw", (*view_parts)[3], "write control characters as they are, also to a terminal");
  view->callback([&ctx, view_id, view_parts] {
    const auto& p = *view_parts;
    view_message(ctx, *view_id, p[0], p[1], p[2], p[3]);
  });

  struct ActionSpec {
    const char* name;
    const char* help;
    const char* done;
    decltype(&v1::QueueService::Stub::Hold) method;
  };
  for (const ActionSpec& spec :
       {ActionSpec{"hold", "put messages on hold: never attempted (nor expired) until released", "held",
                   &v1::QueueService::Stub::Hold},
        ActionSpec{"release", "release held messages: attempted now", "released", &v1::QueueService::Stub::Release},
        ActionSpec{"requeue", "attempt now with the retry schedule and lifetime started over (releases held mail)",
                   "requeued", &v1::QueueService::Stub::Requeue}}) {
    auto sel = std::make_shared<SelectionOptions>();
    auto* cmd = queue->add_subcommand(spec.name, spec.help);
    add_selection_options(cmd, sel);
    const std::string name = spec.name, done = spec.done;
    const auto method = spec.method;
    cmd->callback([&ctx, sel, name, done, method] {
      bool bulk = false;
      v1::QueueActionRequest req;
      *req.mutable_selection() = build_selection("queue " + name, *sel, &bulk);
      auto resp = queue_call<v1::QueueActionRequest, v1::QueueActionResponse>(ctx, "queue " + name, method, req);
      print_action(ctx, name, done, resp.messages(), resp.recipients(), resp.queue_ids());
    });
  }

  auto retry_sel = std::make_shared<SelectionOptions>();
  auto* retry = queue->add_subcommand("retry", "attempt pending recipients now (held ones wait for release)");
  add_selection_options(retry, retry_sel);
  retry->callback([&ctx, retry_sel] {
    bool bulk = false;
    v1::RetryRequest req;
    *req.mutable_selection() = build_selection("queue retry", *retry_sel, &bulk);
    auto resp = queue_call<v1::RetryRequest, v1::RetryResponse>(ctx, "queue retry", &v1::QueueService::Stub::Retry,
                                                                req);
    if (ctx.json) {
      print_action(ctx, "retry", "", resp.messages(), resp.recipients(), resp.queue_ids());
      return;
    }
    std::cout << resp.recipients() << " recipient(s) scheduled for delivery now\n";
  });

  auto del_sel = std::make_shared<SelectionOptions>();
  auto bounce = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto* del = queue->add_subcommand("delete", "remove messages from the queue (--bounce: tell the sender)");
  add_selection_options(del, del_sel);
  del->add_flag("--bounce", *bounce, "send the sender a failure DSN for its pending recipients");
  del->add_flag("--force", *force, "needed with a filter or --all");
  del->callback([&ctx, del_sel, bounce, force] {
    bool bulk = false;
    v1::DeleteMessageRequest req;
    *req.mutable_selection() = build_selection("queue delete", *del_sel, &bulk);
    req.set_bounce(*bounce);
    if (bulk && !*force) {
      // Ask the server what the selection holds (a dry run removes nothing), then
      // the one gate of every destructive command decides: --force, a "yes" typed
      // at a terminal, or a refusal that names the count and the ids.
      req.set_dry_run(true);
      auto dry = queue_call<v1::DeleteMessageRequest, v1::DeleteMessageResponse>(
          ctx, "queue delete", &v1::QueueService::Stub::DeleteMessage, req);
      RemovalPlan plan;
      plan.command = "queue delete";
      plan.kind = std::to_string(dry.messages()) + " message(s)";
      plan.name = "(" + std::to_string(dry.recipients()) + " pending recipient(s)) matching the selection";
      plan.parts.push_back({"queue_ids", "queued message", "queued messages",
                            {dry.queue_ids().begin(), dry.queue_ids().end()}});
      require_force(ctx, plan, false);
      req.set_dry_run(false);
    }
    auto resp = queue_call<v1::DeleteMessageRequest, v1::DeleteMessageResponse>(
        ctx, "queue delete", &v1::QueueService::Stub::DeleteMessage, req);
    if (ctx.json) {
      print_action(ctx, "delete", "", resp.messages(), resp.recipients(), resp.queue_ids());
      return;
    }
    if (!bulk && resp.messages() == 1)
      std::cout << "deleted " << resp.queue_ids(0) << " (" << resp.recipients() << " pending recipient(s)"
                << (*bounce ? ", sender notified" : "") << ")\n";
    else
      print_action(ctx, "delete", "deleted", resp.messages(), resp.recipients(), resp.queue_ids());
  });

  auto* flush = queue->add_subcommand("flush", "attempt every deferred recipient now (not held ones)");
  flush->callback([&ctx] {
    auto resp = queue_call<v1::FlushRequest, v1::FlushResponse>(ctx, "queue flush", &v1::QueueService::Stub::Flush,
                                                                v1::FlushRequest());
    if (ctx.json) {
      std::cout << JsonObject().add("action", "flush").add("recipients", static_cast<int64_t>(resp.recipients())).str()
                << "\n";
      return;
    }
    std::cout << resp.recipients() << " recipient(s) scheduled for delivery now\n";
  });

  // Bare `postline queue` lists the commands (CLI11 alone would say "A
  // subcommand is required"); an unknown word is named by CLI11 ("The
  // following argument was not expected: WORD").
  queue->require_subcommand(0, 1);
  queue->callback([queue] {
    if (queue->get_subcommands().empty())
      throw CliError(std::string("queue: give a command: ") + kQueueCommands, 2);
  });
}

}  // namespace postline::cli
