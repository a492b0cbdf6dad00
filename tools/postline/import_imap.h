// `postline import imap`: copies an account from another IMAP server into a
// Postline user through MailStore (import_writer.h). Two passes over one
// connection: first every folder is EXAMINEd and the UIDs and sizes still to
// import are listed (UID FETCH n:* (UID RFC822.SIZE), n = one above the
// highest UID the last run recorded), which gives the progress line its
// totals; then each folder's messages are fetched in batches (UID FETCH set
// (UID FLAGS INTERNALDATE BODY.PEEK[])), appended in one transaction per
// batch, and the folder's checkpoint moved past the batch. A folder whose
// UIDVALIDITY changed is imported again from UID 1; what is already there is
// skipped as a duplicate (import_writer.h), so nothing arrives twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/imapclient/response.h"
#include "common/imapclient/transport.h"
#include "common/mailstore/mail_store.h"
#include "tools/postline/import_progress.h"

namespace postline::cli::import {

enum class Security { kTls, kStartTls, kPlain };

struct ImapSource {
  std::string host;
  uint16_t port = 993;
  Security security = Security::kTls;
  imapclient::TlsOptions tls;
  std::string user, password;  // the password is never printed
  std::vector<std::string> include, exclude;  // glob patterns on the source's folder names
  std::chrono::seconds timeout{120};
  uint64_t max_message = 50u << 20;  // imap.max_literal_size: larger ones are reported, not fetched
};

// A source folder and where it goes.
struct FolderPlan {
  std::string raw;          // the name as the server sent it (used in commands)
  std::string display;      // decoded from modified UTF-7, with the source's delimiter
  std::string destination;  // ours ('/' hierarchy)
  std::string special_use;  // the source's attribute that chose the destination, if any
};

// Maps LIST entries to our mailbox names: the personal namespace's prefix
// (`prefix`, "INBOX." on Courier and Cyrus) is removed, the hierarchy
// delimiter becomes '/' (a '/' inside a level becomes '_'), names are decoded
// from modified UTF-7,
// INBOX stays INBOX, a folder with one of the special uses \Sent \Drafts
// \Trash \Junk \Archive goes to our mailbox with that use (`ours`: use ->
// name; the first such source folder wins), and its subfolders follow it.
// \Noselect and \NonExistent folders are left out, and so are folders the
// include/exclude patterns (fnmatch on `display`) leave out. Names the store
// would refuse are reported in `problems` and left out.
std::vector<FolderPlan> plan_folders(const std::vector<imapclient::ListEntry>& entries,
                                     const std::map<std::string, std::string>& ours,
                                     const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                                     std::vector<std::string>& problems, const std::string& prefix = "");

// "1:5,7,9:12" for ascending UIDs.
std::string uid_set(const std::vector<uint32_t>& uids);

void import_imap(const ImapSource& source, mailstore::MailStore& store, mailstore::UserId user,
                 const mailstore::Quota& quota, Progress& progress, Totals& totals);

}  // namespace postline::cli::import
