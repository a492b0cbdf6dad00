#include "services/web/acme/files.h"

#include "services/web/acme/errors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace postline::web::acme {

namespace {
std::string why() { return std::strerror(errno); }

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

namespace {

// Writes `content` to a new temporary file beside `path` and syncs it; returns its name.
std::string stage(const std::string& path, const std::string& content, mode_t mode) {
  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw AcmeError("cannot write " + tmp + ": " + why());
  // open() applies the umask; the mode must be exactly `mode` (0600 for keys).
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const std::string error = ok ? "" : why();
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw AcmeError("cannot write " + tmp + ": " + error);
  }
  return tmp;
}

// Renames the staged file over `path`; the rename is durable once the directory is synced.
void commit(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string e = why();
    ::unlink(tmp.c_str());
    throw AcmeError("cannot write " + path + ": " + e);
  }
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace

void write_atomically(const std::string& path, const std::string& content, mode_t mode) {
  commit(stage(path, content, mode), path);
}

void write_all_atomically(const std::vector<FileContent>& files) {
  std::vector<std::string> staged;
  try {
    for (const auto& f : files) staged.push_back(stage(f.path, f.content, f.mode));
  } catch (...) {
    for (const auto& tmp : staged) ::unlink(tmp.c_str());
    throw;
  }
  for (size_t i = 0; i < files.size(); ++i) commit(staged[i], files[i].path);
}

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    throw AcmeError("cannot read " + path + ": " + why());
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

AccountKey load_or_create_account_key(const std::string& path, bool* created) {
  if (created) *created = false;
  if (auto pem = read_whole_file(path)) {
    try {
      return AccountKey::from_pem(*pem);
    } catch (const AcmeError& e) {
      throw AcmeError("acme.account_key_file: " + path + ": " + e.what());
    }
  }
  AccountKey key = AccountKey::generate();
  try {
    write_atomically(path, key.to_pem(), 0600);
  } catch (const AcmeError& e) {
    throw AcmeError(std::string("acme.account_key_file: ") + e.what());
  }
  if (created) *created = true;
  return key;
}

}  // namespace postline::web::acme
