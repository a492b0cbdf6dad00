#include "tools/postline/import_maildir.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include "common/imapclient/mutf7.h"

namespace postline::cli::import {

namespace fs = std::filesystem;

namespace {

bool is_maildir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "cur", ec) || fs::is_directory(dir / "new", ec);
}

// dovecot-uidlist: a header line, then "<uid> [extensions] :<file base name>".
std::unordered_map<std::string, uint64_t> read_uidlist(const fs::path& dir) {
  std::unordered_map<std::string, uint64_t> out;
  std::ifstream in(dir / "dovecot-uidlist");
  std::string line;
  if (!in || !std::getline(in, line)) return out;  // header
  while (std::getline(in, line)) {
    const size_t colon = line.find(" :");
    const size_t sp = line.find(' ');
    if (colon == std::string::npos || sp == 0 || sp == std::string::npos) continue;
    const std::string uid = line.substr(0, sp);
    if (uid.empty() || uid.size() > 10 || uid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string file = line.substr(colon + 2);
    if (!file.empty() && file.back() == '\r') file.pop_back();
    out.emplace(file.substr(0, file.find(':')), std::stoull(uid));
  }
  return out;
}

}  // namespace

std::map<int, std::string> read_dovecot_keywords(const fs::path& dir) {
  std::map<int, std::string> out;
  std::ifstream in(dir / "dovecot-keywords");
  std::string line;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp > 2) continue;
    const std::string idx = line.substr(0, sp);
    if (idx.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string name = line.substr(sp + 1);
    if (!name.empty() && name.back() == '\r') name.pop_back();
    if (!name.empty()) out[std::stoi(idx)] = name;
  }
  return out;
}

std::vector<std::string> maildir_flags(const std::string& filename, const std::map<int, std::string>& keywords) {
  std::vector<std::string> flags;
  const size_t info = filename.rfind(":2,");
  if (info == std::string::npos) return flags;
  for (char c : filename.substr(info + 3)) {
    switch (c) {
      case 'S': flags.push_back("\\Seen"); break;
      case 'R': flags.push_back("\\Answered"); break;
      case 'F': flags.push_back("\\Flagged"); break;
      case 'T': flags.push_back("\\Deleted"); break;
      case 'D': flags.push_back("\\Draft"); break;
      case 'P': flags.push_back("$Forwarded"); break;
      default:
        if (c >= 'a' && c <= 'z') {
          auto it = keywords.find(c - 'a');
          if (it != keywords.end()) flags.push_back(it->second);
        }
    }
  }
  return flags;
}

std::vector<MaildirFolder> maildir_folders(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw std::runtime_error(root.string() + " is not a directory");
  if (!is_maildir(root)) throw std::runtime_error(root.string() + " is not a Maildir: it has no cur/ or new/ directory");
  std::vector<MaildirFolder> out{{"INBOX", root}};
  std::vector<MaildirFolder> subs;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string base = e.path().filename().string();
    if (base.size() < 2 || base[0] != '.' || base == ".." || !e.is_directory() || !is_maildir(e.path())) continue;
    // ".Sub.Folder" -> "Sub/Folder"; each level from modified UTF-7.
    std::string name;
    size_t pos = 1;
    bool ok = true;
    while (pos <= base.size()) {
      size_t dot = base.find('.', pos);
      if (dot == std::string::npos) dot = base.size();
      const std::string level = base.substr(pos, dot - pos);
      if (level.empty()) ok = false;
      auto utf8 = imapclient::decode_mutf7(level);
      name += (name.empty() ? "" : "/") + (utf8 ? *utf8 : level);
      pos = dot + 1;
    }
    if (!ok) continue;
    // Dovecot's INBOX children (".INBOX.x") are Maildir++ "INBOX/x" too.
    subs.push_back({name, e.path()});
  }
  std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  out.insert(out.end(), subs.begin(), subs.end());
  return out;
}

std::vector<MaildirFile> maildir_files(const MaildirFolder& folder) {
  const auto keywords = read_dovecot_keywords(folder.dir);
  const auto uidlist = read_uidlist(folder.dir);
  struct Sortable {
    MaildirFile file;
    uint64_t uid;  // UINT64_MAX when not listed
    std::string name;
  };
  std::vector<Sortable> all;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder.dir / sub, ec)) {
      if (!e.is_regular_file()) continue;
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      struct stat st{};
      if (::stat(e.path().c_str(), &st) != 0) continue;
      MaildirFile f;
      f.path = e.path();
      f.mtime = static_cast<int64_t>(st.st_mtime);
      f.size = static_cast<uint64_t>(st.st_size);
      // new/ holds mail no client has seen: no flags, whatever the name says.
      if (std::string(sub) == "cur") f.flags = maildir_flags(name, keywords);
      const std::string base = name.substr(0, name.find(':'));
      auto it = uidlist.find(base);
      all.push_back({std::move(f), it == uidlist.end() ? UINT64_MAX : it->second, name});
    }
  }
  std::sort(all.begin(), all.end(), [](const Sortable& a, const Sortable& b) {
    if (a.uid != b.uid) return a.uid < b.uid;
    if (a.file.mtime != b.file.mtime) return a.file.mtime < b.file.mtime;
    return a.name < b.name;
  });
  std::vector<MaildirFile> out;
  out.reserve(all.size());
  for (auto& s : all) out.push_back(std::move(s.file));
  return out;
}

}  // namespace postline::cli::import
