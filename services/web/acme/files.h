// The files ACME touches: the account key (created 0600 when missing) and the
// issued key and chain, each written atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory) so a service that reads
// tls.cert_file at any moment sees the old file or the new one, never half.
#pragma once

#include "services/web/acme/jws.h"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace postline::web::acme {

// Throws AcmeError naming the path.
void write_atomically(const std::string& path, const std::string& content, mode_t mode);

struct FileContent {
  std::string path, content;
  mode_t mode;
};
// Every file written and synced under a temporary name first, then renamed in
// order: when any cannot be written, none is replaced (a key without its
// certificate would not load anywhere).
void write_all_atomically(const std::vector<FileContent>& files);
// nullopt when the file does not exist; throws AcmeError when it cannot be read.
std::optional<std::string> read_whole_file(const std::string& path);
// The key in `path`, or a new P-256 key written there (0600) when there is none.
AccountKey load_or_create_account_key(const std::string& path, bool* created = nullptr);

}  // namespace postline::web::acme
