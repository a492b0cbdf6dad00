#include "common/mailstore/blob/blob_config.h"

#include "common/mailstore/blob/s3/s3_blob_store.h"

#include <spdlog/spdlog.h>

namespace postline::mailstore {

namespace {
std::string env_or(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}
}  // namespace

std::shared_ptr<BlobStore> blob_store_from_config(const config::Config& cfg, prometheus::Registry* registry,
                                                  const std::map<std::string, std::string>& env) {
  if (cfg.str("mailstore", "blob_backend") != "s3") return nullptr;
  s3::S3BlobOptions o;
  o.s3.endpoint = cfg.str("mailstore", "s3_endpoint");
  o.s3.bucket = cfg.str("mailstore", "s3_bucket");
  if (o.s3.endpoint.empty()) throw config::ConfigError("mailstore.s3_endpoint is required with mailstore.blob_backend: s3");
  if (o.s3.bucket.empty()) throw config::ConfigError("mailstore.s3_bucket is required with mailstore.blob_backend: s3");
  o.s3.region = cfg.str("mailstore", "s3_region");
  o.s3.virtual_host = cfg.str("mailstore", "s3_addressing") == "virtual-host";
  o.prefix = cfg.str("mailstore", "s3_prefix");
  o.s3.ca_file = cfg.str("mailstore", "s3_ca_file");
  o.s3.timeout = cfg.duration("mailstore", "s3_timeout");
  o.s3.max_retries = static_cast<int>(cfg.integer("mailstore", "s3_max_retries"));
  o.s3.max_connections = static_cast<size_t>(cfg.integer("mailstore", "s3_max_connections"));
  o.multipart_threshold = cfg.size("mailstore", "s3_multipart_threshold");
  o.part_size = cfg.size("mailstore", "s3_part_size");
  o.s3.credentials.access_key_id = cfg.str("mailstore", "s3_access_key_id");
  if (o.s3.credentials.access_key_id.empty()) o.s3.credentials.access_key_id = env_or(env, "AWS_ACCESS_KEY_ID");
  const std::string secret_file = cfg.str("mailstore", "s3_secret_access_key_file");
  o.s3.credentials.secret_access_key = secret_file.empty()
                                           ? env_or(env, "AWS_SECRET_ACCESS_KEY")
                                           : config::read_secret_file("mailstore.s3_secret_access_key_file", secret_file);
  o.s3.credentials.session_token = env_or(env, "AWS_SESSION_TOKEN");
  if (o.s3.credentials.access_key_id.empty() || o.s3.credentials.secret_access_key.empty())
    throw config::ConfigError(
        "mailstore.blob_backend s3 needs credentials: mailstore.s3_access_key_id and "
        "mailstore.s3_secret_access_key_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  try {
    auto store = std::make_shared<s3::S3BlobStore>(o, registry);
    spdlog::info("mailstore: bodies in S3 bucket {} at {} ({} addressing, prefix {})", o.s3.bucket, o.s3.endpoint,
                 o.s3.virtual_host ? "virtual-host" : "path", o.prefix);
    return store;
  } catch (const s3::S3Error& e) {
    throw config::ConfigError(e.what());
  }
}

BlobSweepSettings blob_sweep_settings(const config::Config& cfg) {
  return {cfg.duration("mailstore", "s3_sweep_interval"), cfg.duration("mailstore", "s3_orphan_grace")};
}

}  // namespace postline::mailstore
