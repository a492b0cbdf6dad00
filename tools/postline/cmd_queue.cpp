// postline queue list|show|retry|delete|flush — QueueService on queued.
#include <ctime>
#include <iostream>
#include <sstream>

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

v1::RecipientState parse_state(const std::string& s) {
  for (auto st : {v1::RECIPIENT_STATE_QUEUED, v1::RECIPIENT_STATE_DELIVERING, v1::RECIPIENT_STATE_DELIVERED,
                  v1::RECIPIENT_STATE_DEFERRED, v1::RECIPIENT_STATE_BOUNCED, v1::RECIPIENT_STATE_EXPIRED})
    if (state_name(st) == s) return st;
  throw CliError("--state: expected queued, deferred, delivered, bounced or expired, got '" + s + "'", 2);
}

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

bool pending(v1::RecipientState s) { return s == v1::RECIPIENT_STATE_QUEUED || s == v1::RECIPIENT_STATE_DEFERRED; }

std::string json_recipient(const v1::QueuedRecipient& r, bool with_history) {
  auto obj = JsonObject()
                 .add("id", static_cast<int64_t>(r.id()))
                 .add("address", r.address())
                 .add("local", r.local())
                 .add("state", state_name(r.state()))
                 .add("attempts", static_cast<int64_t>(r.attempts()))
                 .add("last_reply", r.last_reply())
                 .add("next_attempt", utc(r.next_attempt_unix()))
                 .str();
  if (!with_history) return obj;
  std::string history = "[";
  for (int i = 0; i < r.history_size(); ++i) {
    const auto& a = r.history(i);
    if (i) history += ",";
    history += JsonObject()
                   .add("time", utc(a.started_unix()))
                   .add("duration_ms", static_cast<int64_t>(a.duration_ms()))
                   .add("mx_host", a.mx_host())
                   .add("reply", a.reply())
                   .add("outcome", state_name(a.outcome()))
                   .str();
  }
  history += "]";
  obj.pop_back();  // '}'
  return obj + ",\"history\":" + history + "}";
}

std::string json_message(const v1::QueuedMessage& m, bool with_history) {
  std::string obj = JsonObject()
                        .add("queue_id", m.queue_id())
                        .add("from", m.envelope().mail_from())
                        .add("size", static_cast<int64_t>(m.size()))
                        .add("created", utc(m.created_unix()))
                        .add("client_ip", m.envelope().client_ip())
                        .add("authenticated_user", m.envelope().authenticated_user())
                        .add("target_mailbox", m.envelope().target_mailbox().empty() ? std::string("INBOX")
                                                                                     : m.envelope().target_mailbox())
                        .str();
  std::string rcpts = "[";
  for (int i = 0; i < m.recipients_size(); ++i) {
    if (i) rcpts += ",";
    rcpts += json_recipient(m.recipients(i), with_history);
  }
  rcpts += "]";
  obj.pop_back();
  return obj + ",\"recipients\":" + rcpts + "}";
}

}  // namespace

void register_queue_commands(CLI::App& app, CliContext& ctx) {
  auto* queue = app.add_subcommand("queue", "inspect and manage the delivery queue (queued)");
  queue->require_subcommand(1);

  auto state = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(1000);
  auto* list = queue->add_subcommand("list", "messages with pending recipients (or in --state)");
  list->add_option("--state", *state, "queued|deferred|delivered|bounced|expired");
  list->add_option("--limit", *limit, "at most this many messages (default 1000)");
  list->callback([&ctx, state, limit] {
    v1::ListMessagesRequest req;
    if (!state->empty()) req.set_state(parse_state(*state));
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
    Table t({"QUEUE-ID", "AGE", "SIZE", "FROM", "RECIPIENT", "STATE", "ATTEMPTS", "NEXT", "LAST REPLY"});
    for (const auto& m : resp.messages())
      for (const auto& r : m.recipients()) {
        if (!state->empty() ? state_name(r.state()) != *state : !pending(r.state())) continue;
        std::string reply = r.last_reply();
        if (reply.size() > 60) reply = reply.substr(0, 57) + "...";
        t.row({m.queue_id(), age(m.created_unix()), format_bytes(m.size()),
               m.envelope().mail_from().empty() ? "<>" : m.envelope().mail_from(), r.address(), state_name(r.state()),
               std::to_string(r.attempts()), pending(r.state()) ? utc(r.next_attempt_unix()) : "-",
               reply.empty() ? "-" : reply});
      }
    if (t.empty()) {
      std::cout << (state->empty() ? "the queue is empty\n" : "no recipients in state " + *state + "\n");
      return;
    }
    t.print(std::cout);
  });

  auto show_id = std::make_shared<std::string>();
  auto* show = queue->add_subcommand("show", "one message: envelope and each recipient's attempts");
  show->add_option("ID", *show_id, "queue id")->required();
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
    if (!m.envelope().client_ip().empty()) std::cout << "client:    " << m.envelope().client_ip() << "\n";
    if (!m.envelope().authenticated_user().empty())
      std::cout << "auth user: " << m.envelope().authenticated_user() << "\n";
    // Where local recipients get it (smtpd files spam verdicts into Junk).
    if (!m.envelope().target_mailbox().empty()) std::cout << "mailbox:   " << m.envelope().target_mailbox() << "\n";
    for (const auto& r : m.recipients()) {
      std::cout << "\n<" << r.address() << "> " << (r.local() ? "(local) " : "") << state_name(r.state())
                << ", " << r.attempts() << " attempt(s)";
      if (pending(r.state())) std::cout << ", next " << utc(r.next_attempt_unix());
      std::cout << "\n";
      for (const auto& a : r.history())
        std::cout << "  " << utc(a.started_unix()) << "  " << state_name(a.outcome()) << "  "
                  << (a.mx_host().empty() ? "local" : a.mx_host()) << "  " << a.duration_ms() << "ms  " << a.reply()
                  << "\n";
    }
  });

  auto retry_id = std::make_shared<std::string>();
  auto retry_all = std::make_shared<bool>(false);
  auto* retry = queue->add_subcommand("retry", "attempt pending recipients now (ID, or --all)");
  retry->add_option("ID", *retry_id, "queue id");
  retry->add_flag("--all", *retry_all, "every pending recipient");
  retry->callback([&ctx, retry_id, retry_all] {
    if (retry_id->empty() == !*retry_all) throw CliError("queue retry: give either ID or --all", 2);
    v1::RetryRequest req;
    req.set_queue_id(*retry_id);
    req.set_all(*retry_all);
    auto resp = queue_call<v1::RetryRequest, v1::RetryResponse>(ctx, "queue retry", &v1::QueueService::Stub::Retry,
                                                                req);
    std::cout << resp.recipients() << " recipient(s) scheduled for delivery now\n";
  });

  auto del_id = std::make_shared<std::string>();
  auto bounce = std::make_shared<bool>(false);
  auto* del = queue->add_subcommand("delete", "remove a message from the queue (--bounce: tell the sender)");
  del->add_option("ID", *del_id, "queue id")->required();
  del->add_flag("--bounce", *bounce, "send the sender a failure DSN for its pending recipients");
  del->callback([&ctx, del_id, bounce] {
    v1::DeleteMessageRequest req;
    req.set_queue_id(*del_id);
    req.set_bounce(*bounce);
    auto resp = queue_call<v1::DeleteMessageRequest, v1::DeleteMessageResponse>(
        ctx, "queue delete " + *del_id, &v1::QueueService::Stub::DeleteMessage, req);
    std::cout << "deleted " << *del_id << " (" << resp.recipients() << " pending recipient(s)"
              << (*bounce ? ", sender notified" : "") << ")\n";
  });

  auto* flush = queue->add_subcommand("flush", "attempt every deferred recipient now");
  flush->callback([&ctx] {
    auto resp = queue_call<v1::FlushRequest, v1::FlushResponse>(ctx, "queue flush", &v1::QueueService::Stub::Flush,
                                                                v1::FlushRequest());
    std::cout << resp.recipients() << " recipient(s) scheduled for delivery now\n";
  });
}

}  // namespace postline::cli
