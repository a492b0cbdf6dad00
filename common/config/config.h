// Postline configuration: one YAML file with a section per service, every key
// overridable from the environment as POSTLINE_<SECTION>_<KEY>.
//
// The set of keys is closed (see schema.cpp): an unknown key or a value of the
// wrong shape is an error naming the key, so a typo never silently runs with a
// default. deploy/postline.example.yaml documents every key.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ValueType { kString, kInt, kPort, kBool, kDuration, kSize, kStringList };

struct KeySpec {
  std::string section;
  std::string key;
  ValueType type;
  std::string default_value;  // textual, parsed like any other value
  std::string help;
};

// Every known key, in documentation order.
const std::vector<KeySpec>& schema();

// What a value must be beyond its type, for the keys where the type alone
// lets through a value the services cannot run with (a 0s command timeout
// that answers every session 421, -1 recipients, a log level nobody knows).
// Every integer is >= 0 whatever this says; `min`/`max` are in the key's
// unit (count, seconds, bytes).
struct KeyLimits {
  std::string section;
  std::string key;
  std::vector<std::string> choices;  // non-empty: the value must be one of them
  std::optional<int64_t> min, max;
};
const std::vector<KeyLimits>& key_limits();

// A validated configuration. Values are stored textually after validation and
// converted by the typed getters; asking for a key missing from the schema is a
// programming error and throws std::logic_error.
class Config {
 public:
  // Reads `path` (may be empty: defaults only), then applies environment
  // overrides from `env` (normally the process environment). Throws ConfigError.
  static Config load(const std::string& path,
                     const std::map<std::string, std::string>& env);
  static Config load_from_string(const std::string& yaml,
                                 const std::map<std::string, std::string>& env);
  static std::map<std::string, std::string> process_environment();

  std::string str(const std::string& section, const std::string& key) const;
  int64_t integer(const std::string& section, const std::string& key) const;
  uint16_t port(const std::string& section, const std::string& key) const;
  bool boolean(const std::string& section, const std::string& key) const;
  std::chrono::seconds duration(const std::string& section, const std::string& key) const;
  uint64_t size(const std::string& section, const std::string& key) const;
  std::vector<std::string> list(const std::string& section, const std::string& key) const;

  // The effective configuration as YAML (what scripts/up writes for other instances).
  std::string to_yaml() const;

 private:
  const std::string& raw(const std::string& section, const std::string& key) const;
  std::map<std::string, std::string> values_;  // "section.key" -> text
};

// Parsers shared with other code (e.g. retry schedules); throw ConfigError with `what`.
std::chrono::seconds parse_duration(const std::string& text, const std::string& what);
uint64_t parse_size(const std::string& text, const std::string& what);
std::vector<std::string> split_list(const std::string& text);

// A secret a key names a file of (auth.admin_token_file, queue.relayhost_password_file):
// its first line without trailing CR, LF or spaces. Throws ConfigError naming
// `key` when the file cannot be read or holds fewer than `min_length`
// characters. The same function in every service and in `postline config
// check`, so the check refuses exactly what a service would.
std::string read_secret_file(const std::string& key, const std::string& path, size_t min_length = 1);

}  // namespace postline::config
