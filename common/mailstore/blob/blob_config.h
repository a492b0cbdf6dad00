// The blob backend a service's configuration chooses (`mailstore.blob_backend`,
// `mailstore.s3_*`, common/config/schema.cpp): null for postgres, else an
// S3BlobStore. Credentials: mailstore.s3_access_key_id and
// mailstore.s3_secret_access_key_file, or else the AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) environment variables. They
// are never logged. Throws config::ConfigError naming the key when a setting
// cannot be used.
#pragma once

#include "common/config/config.h"
#include "common/mailstore/blob/blob_store.h"

#include <chrono>
#include <map>
#include <memory>

namespace prometheus {
class Registry;
}

namespace postline::mailstore {

std::shared_ptr<BlobStore> blob_store_from_config(const config::Config& cfg, prometheus::Registry* registry,
                                                  const std::map<std::string, std::string>& env);

struct BlobSweepSettings {
  std::chrono::seconds interval{0}, grace{3600};
};
BlobSweepSettings blob_sweep_settings(const config::Config& cfg);

}  // namespace postline::mailstore
