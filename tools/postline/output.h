// Output for listings: an aligned text table by default, JSON with --json.
// Hand-written JSON (no JSON library in the stack): objects of strings,
// numbers, booleans, string arrays and nested objects are all the CLI needs.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace postline::cli {

std::string json_string(const std::string& s);

// One JSON object built field by field, in order.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, double value);  // finite; printed with 3 decimals
  JsonObject& add(const std::string& key, const std::vector<std::string>& values);
  JsonObject& add(const std::string& key, const JsonObject& value);
  JsonObject& add(const std::string& key, const std::vector<JsonObject>& values);
  // A value that is JSON already (a document a service produced); the caller vouches for it.
  JsonObject& add_json(const std::string& key, const std::string& json_text);
  // Appends the fields of another object (error details merged into the error).
  JsonObject& merge(const JsonObject& other);
  bool empty() const { return body_.empty(); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& k);
  std::string body_;
};

// Prints `[obj, obj, ...]` one object per line, so tools can stream it.
void print_json_array(std::ostream& out, const std::vector<JsonObject>& rows);

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(std::ostream& out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace postline::cli
