// In-memory implementations of the interfaces in sieve.h: a Message over raw RFC 5322
// bytes (parsed with common/mime), and maps for mailboxes, vacation history, duplicate ids
// and scripts. Tests and the differential driver use them; the queue implements the same
// interfaces over its stored message and PostgreSQL tables.
#pragma once

#include <map>
#include <set>
#include <string>

#include "common/mime/mime.h"
#include "common/sieve/sieve.h"

namespace postline::sieve {

class MemoryMessage : public Message {
 public:
  explicit MemoryMessage(std::string raw);
  const std::vector<HeaderField>& header_fields() const override { return fields_; }
  std::uint64_t size() const override { return raw_.size(); }
  std::vector<BodyPart> body_parts() const override;
  std::string raw_body() const override;

 private:
  std::string raw_;
  mime::ParsedMessage parsed_;
  std::vector<HeaderField> fields_;
};

class MemoryMailboxes : public MailboxLookup {
 public:
  std::set<std::string> names;
  bool exists(std::string_view m) const override { return names.count(std::string(m)) > 0; }
};

// key -> time of the last reply / sighting; "within" is judged against `now`.
class MemoryVacationHistory : public VacationHistory {
 public:
  std::map<std::string, std::time_t> replied;
  std::time_t now = 0;
  void record(const std::string& key) { replied[key] = now; }
  bool replied_within(std::string_view key, std::uint64_t seconds) const override {
    auto it = replied.find(std::string(key));
    return it != replied.end() && static_cast<std::uint64_t>(now - it->second) < seconds;
  }
};

class MemoryDuplicates : public DuplicateTracker {
 public:
  std::map<std::string, std::time_t> expires;
  std::time_t now = 0;
  // What the caller does with RunResult::duplicate_marks after a successful delivery.
  void record(const RunResult::DuplicateMark& m) {
    auto it = expires.find(m.key);
    if (it == expires.end() || it->second <= now || m.refresh) expires[m.key] = now + static_cast<std::time_t>(m.seconds);
  }
  bool seen_within(std::string_view key, std::uint64_t) const override {
    auto it = expires.find(std::string(key));
    return it != expires.end() && it->second > now;
  }
};

class MemoryScripts : public ScriptLoader {
 public:
  std::map<std::string, std::string> personal, global;
  std::optional<std::string> load(Location where, std::string_view name) const override {
    const auto& m = where == Location::kGlobal ? global : personal;
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return it->second;
  }
};

}  // namespace postline::sieve
