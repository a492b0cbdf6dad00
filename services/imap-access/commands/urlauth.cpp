// GENURLAUTH, RESETKEY and URLFETCH (RFC 4467 URLAUTH), in the authenticated
// and selected states. The URLs, the INTERNAL token and the fetch are
// common/urlauth's (shared with queued, which reads URLs for smtpd's BURL);
// the mailbox access keys are the mailstore's (MailStore::urlauth_key).
//
// Decisions (docs/imap.md):
// - GENURLAUTH authorizes only URLs naming the session's own user (the
//   URL's iuserinfo, case-insensitively): NO otherwise. The URL must be an
//   absolute imap:// message URL with a UID ending in ";URLAUTH=<access>"
//   (BAD otherwise); only INTERNAL is offered (NO for another mechanism). A
//   mailbox that does not exist is NO [NONEXISTENT]; the message itself is
//   not checked (URLFETCH answers NIL when it is gone). All URLs or none.
// - URLFETCH answers one `* URLFETCH` with each URL and its bytes, or NIL for
//   any URL that does not verify, whatever the reason (RFC 4467 6.3: the
//   client learns nothing about why). It reads URLs of the session's own
//   user only (there is no mailbox sharing to reach another's): `user+` for
//   this user, `authuser` and `anonymous`; `submit+` never (an IMAP session
//   is no submission server; smtpd's BURL goes through queued). Never sets
//   \Seen.
// - RESETKEY without a mailbox forgets every key of the user; with one, that
//   mailbox's (NO [NONEXISTENT] when there is none), answered with
//   [URLMECH INTERNAL]. URLMECH is not sent at SELECT.
#include "services/imap-access/commands/names.h"
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/mail_store.h"
#include "common/urlauth/urlauth.h"
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/encoder.h"

#include <chrono>

namespace postline::imap {

namespace {

bool same_user(std::string_view a, std::string_view b) { return iequals(a, b); }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A URL as the responses carry it: always a quoted string (or a literal).
std::string url_string(const std::string& url) { return quoted_or_literal(url); }

}  // namespace

asio::awaitable<Result> cmd_genurlauth(Context& ctx) {
  const GenUrlauthArgs args = parse_genurlauth_args(ctx.args);
  std::vector<urlauth::UrlauthUrl> urls;
  for (const auto& item : args.items) {
    auto url = urlauth::parse_urlauth_url(item.rump);
    if (!url || !url->mechanism.empty()) co_return Result::bad("Not a URLAUTH rump URL of a message");
    urls.push_back(std::move(*url));
  }
  for (const auto& item : args.items)
    if (item.mechanism != "INTERNAL") co_return Result::no("Unsupported URLAUTH mechanism " + item.mechanism);
  for (const auto& url : urls)
    if (!same_user(url.owner, ctx.session.username)) co_return Result::no("URL names another user's mailbox");
  const int64_t user_id = ctx.session.user_id;
  auto sign = [user_id, urls](mailstore::MailStore& st) {
    std::vector<std::string> out;
    for (const auto& url : urls) {
      auto key = st.urlauth_key(user_id, url.message.mailbox, true);
      if (!key) return std::vector<std::string>();
      out.push_back(url.rump + ":internal:" + urlauth::internal_token(*key, url.rump));
    }
    return out;
  };
  std::vector<std::string> authorized = co_await ctx.store(std::move(sign));
  if (authorized.empty()) co_return Result::no("No such mailbox", "NONEXISTENT");
  std::string line = "* GENURLAUTH";
  for (const auto& u : authorized) line += " " + url_string(u);
  ctx.send(line + "\r\n");
  co_return Result::ok("GENURLAUTH completed");
}

asio::awaitable<Result> cmd_resetkey(Context& ctx) {
  const ResetKeyArgs args = parse_resetkey_args(ctx.args);
  for (const auto& m : args.mechanisms)
    if (m != "INTERNAL") co_return Result::no("Unsupported URLAUTH mechanism " + m);
  const std::string name = args.mailbox ? from_wire(ctx.session, *args.mailbox) : std::string();
  const int64_t user_id = ctx.session.user_id;
  auto reset = [user_id, name](mailstore::MailStore& st) { return st.reset_urlauth_keys(user_id, name); };
  const bool ok = co_await ctx.store(std::move(reset));
  if (!ok) co_return Result::no("No such mailbox", "NONEXISTENT");
  if (!args.mailbox) co_return Result::ok("All keys removed");
  co_return Result::ok("RESETKEY completed", "URLMECH INTERNAL");
}

asio::awaitable<Result> cmd_urlfetch(Context& ctx) {
  const UrlFetchArgs args = parse_urlfetch_args(ctx.args);
  const int64_t user_id = ctx.session.user_id;
  const std::string username = ctx.session.username;
  const int64_t now = unix_now();
  const std::vector<std::string> texts = args.urls;
  auto fetch = [=](mailstore::MailStore& st) {
    std::vector<std::optional<std::string>> out;
    for (const auto& text : texts) {
      auto url = urlauth::parse_urlauth_url(text);
      if (!url || !same_user(url->owner, username) ||
          !urlauth::access_permits(url->access, urlauth::Fetcher::kImapSession, username)) {
        out.emplace_back();
        continue;
      }
      urlauth::Fetched f = urlauth::fetch_authorized(st, user_id, *url, now);
      if (f.status == urlauth::FetchStatus::kOk) out.emplace_back(std::move(f.bytes));
      else out.emplace_back();
    }
    return out;
  };
  std::vector<std::optional<std::string>> fetched = co_await ctx.store(std::move(fetch));
  std::string line = "* URLFETCH";
  for (size_t i = 0; i < texts.size(); ++i) {
    line += ' ';
    line += url_string(texts[i]);
    line += ' ';
    if (fetched[i]) append_literal(line, *fetched[i]);  // nstring: a NUL goes out as a space (replace_nul)
    else line += "NIL";
  }
  ctx.send(line + "\r\n");
  co_return Result::ok("URLFETCH completed");
}

}  // namespace postline::imap
