// libFuzzer entry point for the configuration loader (config.h): operator bytes.
// The input is YAML text, optionally followed by a NUL and environment overrides
// as NAME=value lines (POSTLINE_<SECTION>_<KEY>). Config::load_from_string may
// only throw ConfigError ("Throws ConfigError"). When it returns, the config must
// be one the services can run with:
//  - every key of schema() reads back through its typed getter without throwing;
//  - every value is within key_limits() (choices, min/max in the key's unit, and
//    never below 0 for integers, durations and sizes), computed here without
//    overflow from the text, so a wrapped size cannot slip under a maximum;
//  - to_yaml() loads again to the same configuration (scripts/up writes it for
//    other instances).
#include "common/config/config.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace config = postline::config;

void require(bool ok) {
  if (!ok) std::abort();
}

const config::KeyLimits* limits_of(const config::KeySpec& spec) {
  for (const auto& l : config::key_limits())
    if (l.section == spec.section && l.key == spec.key) return &l;
  return nullptr;
}

// The number a size or duration text means, in unsigned 128-bit arithmetic.
unsigned __int128 exact_value(std::string text, bool size) {
  auto b = text.find_first_not_of(" \t\r\n\v\f");  // std::isspace, as the loader trims
  auto e = text.find_last_not_of(" \t\r\n\v\f");
  text = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  size_t i = 0;
  unsigned __int128 n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') n = n * 10 + static_cast<unsigned>(text[i++] - '0');
  std::string unit = text.substr(i);
  if (size) {
    if (unit == "KiB" || unit == "K" || unit == "k") return n * 1024;
    if (unit == "MiB" || unit == "M") return n * 1024 * 1024;
    if (unit == "GiB" || unit == "G") return n * 1024 * 1024 * 1024;
    return n;
  }
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  return n;
}

void check(const config::Config& cfg) {
  for (const auto& spec : config::schema()) {
    const config::KeyLimits* l = limits_of(spec);
    const std::string text = cfg.str(spec.section, spec.key);
    __int128 value = 0;
    bool numeric = true;
    switch (spec.type) {
      case config::ValueType::kString:
      case config::ValueType::kStringList:
        numeric = false;
        if (l && !l->choices.empty())
          require(std::find(l->choices.begin(), l->choices.end(), text) != l->choices.end());
        (void)cfg.list(spec.section, spec.key);
        break;
      case config::ValueType::kInt: value = cfg.integer(spec.section, spec.key); break;
      case config::ValueType::kPort: value = cfg.port(spec.section, spec.key); break;
      case config::ValueType::kBool:
        numeric = false;
        require(text == "true" || text == "false");
        (void)cfg.boolean(spec.section, spec.key);
        break;
      case config::ValueType::kDuration: {
        value = cfg.duration(spec.section, spec.key).count();
        require(static_cast<unsigned __int128>(value) == exact_value(text, false));
        break;
      }
      case config::ValueType::kSize: {
        const uint64_t got = cfg.size(spec.section, spec.key);
        require(got == exact_value(text, true));
        value = got;
        break;
      }
    }
    if (!numeric) continue;
    require(value >= 0);
    if (l && l->min) require(value >= *l->min);
    if (l && l->max) require(value <= *l->max);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string yaml(in.substr(0, nul));
  std::map<std::string, std::string> env;
  if (nul != in.npos) {
    std::string_view rest = in.substr(nul + 1);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == rest.npos ? std::string_view() : rest.substr(nl + 1);
      size_t eq = line.find('=');
      if (eq != line.npos) env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  std::optional<config::Config> cfg;
  try {
    cfg = config::Config::load_from_string(yaml, env);
  } catch (const config::ConfigError&) {
    return 0;
  }
  check(*cfg);
  // What to_yaml() writes must load again, to the same values: any exception here aborts.
  const std::string out = cfg->to_yaml();
  require(config::Config::load_from_string(out, {}).to_yaml() == out);
  return 0;
}
