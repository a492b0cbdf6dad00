// Reading a Maildir for `postline import maildir`: the directory itself is
// INBOX, Maildir++ subfolders ".Sub.Folder" (names in modified UTF-7, as
// Dovecot writes them) become "Sub/Folder". Messages are the files of cur/
// and new/ (tmp/ holds deliveries in progress and is left alone); the flags
// after ":2," become IMAP flags (S \Seen, R \Answered, F \Flagged,
// T \Deleted, D \Draft, P $Forwarded, a-z the keywords listed in the
// folder's dovecot-keywords); the file's mtime is the INTERNALDATE (what
// Dovecot reports). Files keep the order of the folder's dovecot-uidlist
// when there is one (so UIDs keep their order), otherwise of their mtime
// and name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace postline::cli::import {

struct MaildirFolder {
  std::string name;  // ours: "INBOX", "Sub/Folder"
  std::filesystem::path dir;
};

struct MaildirFile {
  std::filesystem::path path;
  std::vector<std::string> flags;  // IMAP flag names
  int64_t mtime = 0;               // Unix seconds
  uint64_t size = 0;
};

// Throws std::runtime_error when `root` is not a Maildir (no cur/ or new/).
std::vector<MaildirFolder> maildir_folders(const std::filesystem::path& root);
// The messages of one folder, in import order.
std::vector<MaildirFile> maildir_files(const MaildirFolder& folder);
// "12345.M1P2.host:2,FRa" -> flags, with dovecot-keywords' index -> name.
std::vector<std::string> maildir_flags(const std::string& filename, const std::map<int, std::string>& keywords);
std::map<int, std::string> read_dovecot_keywords(const std::filesystem::path& dir);

}  // namespace postline::cli::import
