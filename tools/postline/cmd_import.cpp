// postline import imap|mbox|maildir: copies mail from another server or from
// files into a Postline account. Messages are written through the mailstore's
// typed interface (PgMailStore on db.url, as `postline migrate` reaches the
// database; no SQL here); the account's id and quota come from authd
// (AdminService GetUser, as `quota show` and `mailbox` do). See README.md
// ("import") and docs/operations.md ("Migrating from another server").
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/imapclient/client.h"
#include "common/mailstore/accounts.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "tools/postline/import_imap.h"
#include "tools/postline/import_maildir.h"
#include "tools/postline/import_mbox.h"
#include "tools/postline/import_writer.h"
#include "tools/postline/mailstore_access.h"

namespace postline::cli {

namespace ms = postline::mailstore;
using import::Progress;
using import::Totals;

namespace {

constexpr size_t kFlushMessages = 200;
constexpr size_t kFlushBytes = 32u << 20;

struct Account {
  ms::UserId id = 0;
  std::string email;
  ms::Quota quota;
  std::string shard;  // the mailstore shard authd names
};

// The account by its address (authd's GetUser) and the mailstore on db.url:
// the one way every mailstore command of the CLI reaches them (mailstore_access.h).
Account resolve_account(CliContext& ctx, const std::string& email, const std::string& what) {
  const mail::v1::User u = find_user(ctx, email, what);
  if (u.moving()) throw CliError(what + ": " + u.email() + " is being moved between shards; try again when it is done");
  return Account{u.id(), u.email(), ms::Quota{u.quota_bytes(), u.quota_messages()}, u.shard()};
}

std::unique_ptr<ms::pg::PgMailStore> open_store(CliContext& ctx, const std::string& what, const Account& account) {
  return open_mailstore(ctx, what, account.shard);
}

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }
bool json_summary(const CliContext& ctx) { return ctx.json || ::isatty(STDOUT_FILENO) != 1; }

// The Date: header as Unix seconds, for mbox messages whose From_ line has no date.
std::optional<int64_t> header_date(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (line.size() > 5 && (line[0] == 'D' || line[0] == 'd') && (line.substr(1, 4) == "ate:" || line.substr(1, 4) == "ATE:"))
      return ms::rfc5322_time(line.substr(5));
    pos = end + 1;
  }
  return std::nullopt;
}

// Queues messages into one mailbox and flushes in batches; counts only what
// was committed.
class BatchedFolder {
 public:
  BatchedFolder(import::MailboxWriter& writer, import::FolderResult& result) : writer_(writer), result_(result) {}
  void add(import::IncomingMessage m) {
    const int64_t size = static_cast<int64_t>(m.bytes.size());
    if (writer_.add(std::move(m))) {
      ++imported_;
      bytes_ += size;
    } else {
      ++skipped_;
    }
    if (writer_.pending() >= kFlushMessages || writer_.pending_bytes() >= kFlushBytes) flush();
  }
  void flush() {
    writer_.flush();
    result_.messages += imported_;
    result_.bytes += bytes_;
    result_.skipped += skipped_;
    imported_ = bytes_ = skipped_ = 0;
  }

 private:
  import::MailboxWriter& writer_;
  import::FolderResult& result_;
  int64_t imported_ = 0, bytes_ = 0, skipped_ = 0;
};

void add_result(Totals& totals, const import::FolderResult& r) {
  ++totals.folders;
  totals.messages += r.messages;
  totals.bytes += r.bytes;
  totals.skipped += r.skipped;
  totals.errors += r.errors;
  totals.folder_results.push_back(r);
}

// Prints the summary and turns the outcome into the exit code: 1 when
// anything failed or the import stopped early.
void finish(CliContext& ctx, const std::string& what, Progress& progress, Totals& totals,
            const std::string& fatal = {}) {
  progress.finish();
  if (!fatal.empty() && totals.stopped.empty()) totals.stopped = fatal;
  import::print_summary(totals, progress.seconds(), json_summary(ctx));
  if (!totals.stopped.empty()) throw CliError(what + ": " + totals.stopped);
  if (totals.errors > 0)
    throw CliError(what + ": " + std::to_string(totals.errors) +
                   " message(s) or folder(s) could not be imported (see above); run it again to retry them");
}

uint64_t max_message_size(CliContext& ctx) { return ctx.config().size("imap", "max_literal_size"); }

struct ImapArgs {
  std::string email, host, user, ca_file;
  int port = 0;
  bool tls = false, starttls = false, plain = false, password_stdin = false, insecure = false;
  bool ignore_quota = false;
  std::vector<std::string> folders, excludes;
  int timeout = 120;
};

void run_imap(CliContext& ctx, const ImapArgs& a) {
  const std::string what = "import imap " + a.email;
  if (int(a.tls) + int(a.starttls) + int(a.plain) > 1) throw CliError("give one of --tls, --starttls, --plain", 2);
  if (a.port < 0 || a.port > 65535) throw CliError("--port: expected 1-65535, got " + std::to_string(a.port), 2);
  if (a.timeout <= 0) throw CliError("--timeout: expected seconds > 0", 2);
  import::ImapSource src;
  src.host = a.host;
  src.security = a.starttls ? import::Security::kStartTls : a.plain ? import::Security::kPlain : import::Security::kTls;
  src.port = a.port ? static_cast<uint16_t>(a.port) : src.security == import::Security::kTls ? 993 : 143;
  src.tls.verify = !a.insecure;
  src.tls.ca_file = a.ca_file;
  src.user = a.user;
  src.include = a.folders;
  src.exclude = a.excludes;
  src.timeout = std::chrono::seconds(a.timeout);
  src.max_message = max_message_size(ctx);
  if (a.insecure && src.security != import::Security::kPlain)
    std::cerr << "postline: warning: --insecure: the certificate of " << a.host
              << " is not checked; anyone on the path can read the password and the mail\n";
  if (src.security == import::Security::kPlain && a.host != "127.0.0.1" && a.host != "::1" && a.host != "localhost")
    std::cerr << "postline: warning: --plain: the password and the mail cross the network unencrypted\n";
  const Account account = resolve_account(ctx, a.email, what);
  src.password = read_password(a.password_stdin, "password of " + a.user + " at " + a.host, false);
  auto store = open_store(ctx, what, account);
  Progress progress(stderr_is_tty());
  Totals totals;
  std::string fatal;
  try {
    import::import_imap(src, *store, account.id, a.ignore_quota ? ms::Quota{} : account.quota, progress, totals);
  } catch (const import::QuotaExceeded& e) {
    totals.stopped = e.what();
  } catch (const imapclient::TransportError& e) {
    fatal = std::string(e.what()) + "; what was imported stays, run it again to resume";
  } catch (const imapclient::ImapError& e) {
    fatal = a.host + ": " + e.what() + "; what was imported stays, run it again to resume";
  }
  finish(ctx, what, progress, totals, fatal);
}

struct MboxArgs {
  std::string email, file, folder = "INBOX", format = "mboxrd";
  bool ignore_quota = false;
};

void run_mbox(CliContext& ctx, const MboxArgs& a) {
  const std::string what = "import mbox " + a.email;
  import::MboxFormat format;
  if (a.format == "mboxrd") {
    format = import::MboxFormat::kMboxrd;
  } else if (a.format == "mboxo") {
    format = import::MboxFormat::kMboxo;
  } else {
    throw CliError("--format: expected mboxrd or mboxo, got '" + a.format + "'", 2);
  }
  const std::string folder = ms::normalize_mailbox_name(a.folder);
  if (!ms::valid_mailbox_name(folder)) throw CliError("--folder: '" + a.folder + "' is not a valid mailbox name", 2);
  std::ifstream in(a.file, std::ios::binary);
  if (!in) throw CliError(what + ": cannot read " + a.file + ": " + std::strerror(errno));
  struct stat st{};
  const int64_t file_size = ::stat(a.file.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  const Account account = resolve_account(ctx, a.email, what);
  auto store = open_store(ctx, what, account);
  store->ensure_account(account.id);
  const uint64_t max_message = max_message_size(ctx);
  Progress progress(stderr_is_tty());
  progress.set_total(0, file_size);
  progress.folder(folder);
  Totals totals;
  import::FolderResult result{a.file, folder, 0, 0, 0, 0, ""};
  try {
    import::MailboxWriter writer(*store, account.id, folder, a.ignore_quota ? ms::Quota{} : account.quota);
    writer.open();
    BatchedFolder batch(writer, result);
    import::MboxReader reader(in, format, max_message);
    import::MboxMessage m;
    while (reader.next(m)) {
      if (m.too_large) {
        progress.warn(a.file + ": the message at line " + std::to_string(m.line) +
                      " is larger than imap.max_literal_size; left out");
        ++result.errors;
        progress.advance(0);
        continue;
      }
      const int64_t size = static_cast<int64_t>(m.bytes.size());
      import::IncomingMessage in_msg;
      in_msg.flags = import::flags_from_source(m.flags);
      in_msg.internaldate = m.from_time ? m.from_time : header_date(m.bytes);
      in_msg.bytes = std::move(m.bytes);
      batch.add(std::move(in_msg));
      progress.advance(size);
    }
    batch.flush();
  } catch (const import::QuotaExceeded& e) {
    totals.stopped = e.what();
  } catch (const std::runtime_error& e) {
    progress.finish();
    add_result(totals, result);
    finish(ctx, what, progress, totals, e.what());
  }
  add_result(totals, result);
  finish(ctx, what, progress, totals);
}

struct MaildirArgs {
  std::string email, dir;
  bool ignore_quota = false;
};

void run_maildir(CliContext& ctx, const MaildirArgs& a) {
  const std::string what = "import maildir " + a.email;
  std::vector<import::MaildirFolder> folders;
  try {
    folders = import::maildir_folders(a.dir);
  } catch (const std::runtime_error& e) {
    throw CliError(what + ": " + e.what());
  }
  const Account account = resolve_account(ctx, a.email, what);
  auto store = open_store(ctx, what, account);
  store->ensure_account(account.id);
  const uint64_t max_message = max_message_size(ctx);
  Progress progress(stderr_is_tty());
  std::vector<std::vector<import::MaildirFile>> files;
  int64_t total_messages = 0, total_bytes = 0;
  for (const auto& f : folders) {
    files.push_back(import::maildir_files(f));
    for (const auto& m : files.back()) {
      ++total_messages;
      total_bytes += static_cast<int64_t>(m.size);
    }
  }
  progress.set_total(total_messages, total_bytes);
  Totals totals;
  for (size_t i = 0; i < folders.size(); ++i) {
    const auto& folder = folders[i];
    import::FolderResult result{folder.dir.string(), folder.name, 0, 0, 0, 0, ""};
    const std::string name = ms::normalize_mailbox_name(folder.name);
    if (!ms::valid_mailbox_name(name)) {
      progress.warn(folder.dir.string() + ": '" + folder.name + "' is not a mailbox name Postline accepts; left out");
      ++result.errors;
      add_result(totals, result);
      continue;
    }
    progress.folder(name);
    try {
      import::MailboxWriter writer(*store, account.id, name, a.ignore_quota ? ms::Quota{} : account.quota);
      writer.open();
      BatchedFolder batch(writer, result);
      for (const auto& file : files[i]) {
        progress.advance(static_cast<int64_t>(file.size));
        if (file.size > max_message) {
          progress.warn(file.path.string() + " is larger than imap.max_literal_size; left out");
          ++result.errors;
          continue;
        }
        std::ifstream in(file.path, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        if (!in) {
          progress.warn("cannot read " + file.path.string() + ": " + std::strerror(errno));
          ++result.errors;
          continue;
        }
        import::IncomingMessage m;
        m.bytes = ss.str();
        m.flags = import::flags_from_source(file.flags);
        m.internaldate = file.mtime;
        batch.add(std::move(m));
      }
      batch.flush();
    } catch (const import::QuotaExceeded& e) {
      totals.stopped = e.what();
      add_result(totals, result);
      break;
    } catch (const std::runtime_error& e) {
      progress.warn(name + ": " + e.what());
      ++result.errors;
    }
    add_result(totals, result);
  }
  finish(ctx, what, progress, totals);
}

}  // namespace

void register_import_commands(CLI::App& app, CliContext& ctx) {
  auto* imp = app.add_subcommand("import", "copy mail into an account: from another IMAP server, an mbox, a Maildir");
  imp->require_subcommand(1);
  auto add_db_url = [&ctx](CLI::App* cmd) {
    cmd->add_option("--db-url", ctx.db_url, "PostgreSQL URL (default: POSTLINE_DB_URL, then db.url)")
        ->envname("POSTLINE_DB_URL");
  };

  auto ia = std::make_shared<ImapArgs>();
  auto* imap = imp->add_subcommand(
      "imap", "copy every folder of an account on another IMAP server (resumable: a second run copies what is new)");
  imap->add_option("EMAIL", ia->email, "the Postline account to fill")->required();
  imap->add_option("--host", ia->host, "the source server")->required();
  imap->add_option("--port", ia->port, "default 993 with --tls, 143 otherwise");
  imap->add_flag("--tls", ia->tls, "implicit TLS (the default)");
  imap->add_flag("--starttls", ia->starttls, "STARTTLS on the plain port");
  imap->add_flag("--plain", ia->plain, "no TLS (loopback or a trusted network only)");
  imap->add_option("--user", ia->user, "login name at the source")->required();
  imap->add_flag("--password-stdin", ia->password_stdin, "read the source password from the first line of stdin");
  // One pattern per occurrence, so a pattern never swallows EMAIL.
  imap->add_option("--folder", ia->folders, "only folders matching this pattern (the source's names, * wildcard; repeatable)")
      ->allow_extra_args(false);
  imap->add_option("--exclude", ia->excludes, "leave out folders matching this pattern (repeatable)")
      ->allow_extra_args(false);
  imap->add_option("--ca-file", ia->ca_file, "PEM CA bundle to verify the source's certificate with");
  imap->add_flag("--insecure", ia->insecure, "do not verify the source's TLS certificate");
  imap->add_flag("--ignore-quota", ia->ignore_quota, "import past the account's quota");
  imap->add_option("--timeout", ia->timeout, "seconds to wait for the source server (default 120)");
  add_db_url(imap);
  imap->callback([&ctx, ia] { run_imap(ctx, *ia); });

  auto ma = std::make_shared<MboxArgs>();
  auto* mbox = imp->add_subcommand("mbox", "import an mbox file into one mailbox (default INBOX)");
  mbox->add_option("EMAIL", ma->email, "the Postline account to fill")->required();
  mbox->add_option("FILE", ma->file, "the mbox file")->required();
  mbox->add_option("--folder", ma->folder, "destination mailbox (default INBOX; created when missing)");
  mbox->add_option("--format", ma->format, "mboxrd (default) or mboxo: how '>From ' lines are un-quoted");
  mbox->add_flag("--ignore-quota", ma->ignore_quota, "import past the account's quota");
  add_db_url(mbox);
  mbox->callback([&ctx, ma] { run_mbox(ctx, *ma); });

  auto da = std::make_shared<MaildirArgs>();
  auto* maildir = imp->add_subcommand("maildir", "import a Maildir (with Maildir++ subfolders)");
  maildir->add_option("EMAIL", da->email, "the Postline account to fill")->required();
  maildir->add_option("DIR", da->dir, "the Maildir (the directory holding cur/ and new/)")->required();
  maildir->add_flag("--ignore-quota", da->ignore_quota, "import past the account's quota");
  add_db_url(maildir);
  maildir->callback([&ctx, da] { run_maildir(ctx, *da); });
}

}  // namespace postline::cli
