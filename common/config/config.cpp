#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

extern char** environ;

namespace postline::config {
namespace {

std::string env_name(const std::string& section, const std::string& key) {
  std::string name = "POSTLINE_" + section + "_" + key;
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

const KeySpec* find_spec(const std::string& section, const std::string& key) {
  for (const auto& spec : schema())
    if (spec.section == section && spec.key == key) return &spec;
  return nullptr;
}

const KeyLimits* find_limits(const std::string& section, const std::string& key) {
  for (const auto& l : key_limits())
    if (l.section == section && l.key == key) return &l;
  return nullptr;
}

// The key's min/max, in its unit, for a value already of the right type.
void check_range(const KeySpec& spec, int64_t value, const std::string& text, const std::string& what) {
  const KeyLimits* l = find_limits(spec.section, spec.key);
  const int64_t min = l && l->min ? *l->min : 0;
  if (value < min)
    throw ConfigError(what + ": must be at least " + std::to_string(min) +
                      (spec.type == ValueType::kDuration ? " seconds" : spec.type == ValueType::kSize ? " bytes" : "") +
                      ", got '" + text + "'");
  if (l && l->max && value > *l->max)
    throw ConfigError(what + ": must be at most " + std::to_string(*l->max) + ", got '" + text + "'");
}

// Validates `text` for `spec`, throwing ConfigError naming the key and its source.
void validate(const KeySpec& spec, const std::string& text, const std::string& source) {
  const std::string what = spec.section + "." + spec.key + " (" + source + ")";
  switch (spec.type) {
    case ValueType::kString:
    case ValueType::kStringList: {
      const KeyLimits* l = find_limits(spec.section, spec.key);
      if (l && !l->choices.empty() && std::find(l->choices.begin(), l->choices.end(), text) == l->choices.end()) {
        std::string one_of;
        for (const auto& c : l->choices) one_of += (one_of.empty() ? "" : "|") + c;
        throw ConfigError(what + ": expected one of " + one_of + ", got '" + text + "'");
      }
      return;
    }
    case ValueType::kInt: {
      long long v = 0;
      try {
        size_t used = 0;
        v = std::stoll(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
      } catch (const std::exception&) {
        throw ConfigError(what + ": expected an integer, got '" + text + "'");
      }
      check_range(spec, v, text, what);
      return;
    }
    case ValueType::kPort: {
      long long v = -1;
      try {
        size_t used = 0;
        v = std::stoll(text, &used);
        if (used != text.size()) v = -1;
      } catch (const std::exception&) {
      }
      if (v < 0 || v > 65535)
        throw ConfigError(what + ": expected a port number 0-65535, got '" + text + "'");
      return;
    }
    case ValueType::kBool:
      if (text != "true" && text != "false")
        throw ConfigError(what + ": expected true or false, got '" + text + "'");
      return;
    case ValueType::kDuration:
      check_range(spec, parse_duration(text, what).count(), text, what);
      return;
    case ValueType::kSize: {
      const uint64_t bytes = parse_size(text, what);
      check_range(spec, bytes > uint64_t(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(bytes), text, what);
      return;
    }
  }
}

std::string scalar_text(const YAML::Node& node, const std::string& what) {
  if (node.IsNull()) return "";
  if (node.IsScalar()) return node.Scalar();
  if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) throw ConfigError(what + ": list items must be plain values");
      if (!joined.empty()) joined += ",";
      joined += item.Scalar();
    }
    return joined;
  }
  throw ConfigError(what + ": expected a value, got a mapping");
}

}  // namespace

std::chrono::seconds parse_duration(const std::string& raw_text, const std::string& what) {
  const std::string text = trim(raw_text);
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12)
    throw ConfigError(what + ": expected a duration like 30s, 5m, 4h or 5d, got '" + raw_text + "'");
  const long long n = std::stoll(text.substr(0, i));
  const std::string unit = text.substr(i);
  long long mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  else throw ConfigError(what + ": unknown duration unit '" + unit + "' in '" + raw_text + "'");
  return std::chrono::seconds(n * mult);
}

std::string read_secret_file(const std::string& key, const std::string& path, size_t min_length) {
  std::ifstream in(path);
  if (path.empty() || !in) throw ConfigError(key + ": cannot read '" + path + "'");
  std::string value;
  std::getline(in, value);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
  if (value.size() < min_length)
    throw ConfigError(key + ": '" + path + "' holds no value of at least " + std::to_string(min_length) + " characters");
  return value;
}

uint64_t parse_size(const std::string& raw_text, const std::string& what) {
  const std::string text = trim(raw_text);
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 15)
    throw ConfigError(what + ": expected a size like 1048576, 512KiB, 50MiB or 2GiB, got '" + raw_text + "'");
  const uint64_t n = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  uint64_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k") mult = 1024;
  else if (unit == "MiB" || unit == "M") mult = 1024ull * 1024;
  else if (unit == "GiB" || unit == "G") mult = 1024ull * 1024 * 1024;
  else throw ConfigError(what + ": unknown size unit '" + unit + "' in '" + raw_text + "'");
  // 15 digits of GiB do not fit in 64 bits: a wrapped product could pass a maximum.
  if (n > UINT64_MAX / mult) throw ConfigError(what + ": size '" + raw_text + "' is too large");
  return n * mult;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Config Config::load(const std::string& path, const std::map<std::string, std::string>& env) {
  if (path.empty()) return load_from_string("", env);
  // A directory opens as a stream that reads nothing: it would run on defaults.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError("config file " + path + (std::filesystem::exists(path, ec) ? " is not a regular file" : " does not exist"));
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return load_from_string(ss.str(), env);
}

Config Config::load_from_string(const std::string& yaml,
                                const std::map<std::string, std::string>& env) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("config file is not valid YAML: ") + e.what());
  }
  Config cfg;
  for (const auto& spec : schema()) cfg.values_[spec.section + "." + spec.key] = spec.default_value;

  if (root && !root.IsNull()) {
    if (!root.IsMap()) throw ConfigError("config file: top level must be a mapping of sections");
    // YAML says a mapping's keys are unique; yaml-cpp keeps both and the last
    // would win silently, so a second copy of a key is refused here.
    std::set<std::string> sections_seen, keys_seen;
    // A key must be a plain value: as<std::string>() on a null, sequence or mapping key
    // ("? [a, b]", "? ") throws YAML::BadConversion, which is not a ConfigError.
    auto key_text = [](const YAML::Node& key, const std::string& where) {
      if (!key.IsScalar()) throw ConfigError("config file: " + where + " has a key that is not a plain name");
      return key.Scalar();
    };
    for (const auto& section_it : root) {
      const std::string section = key_text(section_it.first, "the top level");
      if (!sections_seen.insert(section).second)
        throw ConfigError("config file: section '" + section + "' appears twice");
      const YAML::Node& body = section_it.second;
      bool known_section = false;
      for (const auto& spec : schema()) known_section |= spec.section == section;
      if (!known_section) throw ConfigError("config file: unknown section '" + section + "'");
      if (body.IsNull()) continue;
      if (!body.IsMap()) throw ConfigError("config file: section '" + section + "' must be a mapping");
      for (const auto& kv : body) {
        const std::string key = key_text(kv.first, "section '" + section + "'");
        if (!keys_seen.insert(section + "." + key).second)
          throw ConfigError("config file: key '" + section + "." + key + "' appears twice");
        const KeySpec* spec = find_spec(section, key);
        if (!spec) throw ConfigError("config file: unknown key '" + section + "." + key + "'");
        const std::string text = scalar_text(kv.second, section + "." + key);
        validate(*spec, text, "config file");
        cfg.values_[section + "." + key] = text;
      }
    }
  }
  for (const auto& spec : schema()) {
    auto it = env.find(env_name(spec.section, spec.key));
    if (it == env.end()) continue;
    validate(spec, it->second, "environment " + it->first);
    cfg.values_[spec.section + "." + spec.key] = it->second;
  }
  return cfg;
}

std::map<std::string, std::string> Config::process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    if (entry.rfind("POSTLINE_", 0) != 0) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

const std::string& Config::raw(const std::string& section, const std::string& key) const {
  auto it = values_.find(section + "." + key);
  if (it == values_.end()) throw std::logic_error("config key not in schema: " + section + "." + key);
  return it->second;
}

std::string Config::str(const std::string& s, const std::string& k) const { return raw(s, k); }
int64_t Config::integer(const std::string& s, const std::string& k) const { return std::stoll(raw(s, k)); }
uint16_t Config::port(const std::string& s, const std::string& k) const {
  return static_cast<uint16_t>(std::stoi(raw(s, k)));
}
bool Config::boolean(const std::string& s, const std::string& k) const { return raw(s, k) == "true"; }
std::chrono::seconds Config::duration(const std::string& s, const std::string& k) const {
  return parse_duration(raw(s, k), s + "." + k);
}
uint64_t Config::size(const std::string& s, const std::string& k) const {
  return parse_size(raw(s, k), s + "." + k);
}
std::vector<std::string> Config::list(const std::string& s, const std::string& k) const {
  return split_list(raw(s, k));
}

std::string Config::to_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string current;
  for (const auto& spec : schema()) {
    if (spec.section != current) {
      if (!current.empty()) out << YAML::EndMap;
      current = spec.section;
      out << YAML::Key << current << YAML::Value << YAML::BeginMap;
    }
    const std::string& v = raw(spec.section, spec.key);
    out << YAML::Key << spec.key << YAML::Value;
    if (spec.type == ValueType::kString || spec.type == ValueType::kStringList)
      out << YAML::DoubleQuoted << v;
    else
      out << v;
  }
  if (!current.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace postline::config
