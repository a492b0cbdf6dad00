// The parts of mail_store.h that are the same for every implementation.
#include "common/mailstore/mail_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <map>
#include <set>

namespace postline::mailstore {

namespace {
struct SystemFlagName {
  const char* name;
  SystemFlag bit;
};
constexpr SystemFlagName kSystemFlags[] = {
    {"\\Seen", kSeen}, {"\\Answered", kAnswered}, {"\\Flagged", kFlagged}, {"\\Deleted", kDeleted}, {"\\Draft", kDraft},
};

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return false;
  }
  return true;
}
}  // namespace

uint8_t system_flag_bit(std::string_view name) {
  if (name.empty() || name[0] != '\\') return 0;
  for (const auto& f : kSystemFlags)
    if (ascii_iequals(name, f.name)) return f.bit;
  return 0;
}

std::vector<std::string> flag_names(const Flags& flags) {
  std::vector<std::string> out;
  out.reserve(5 + flags.keywords.size());
  for (const auto& f : kSystemFlags)
    if (flags.system & f.bit) out.emplace_back(f.name);
  out.insert(out.end(), flags.keywords.begin(), flags.keywords.end());
  return out;
}

Flags flags_from_names(const std::vector<std::string>& names) {
  Flags f;
  std::set<std::string> keywords;
  for (const auto& n : names) {
    if (!n.empty() && n[0] == '\\') {
      f.system |= system_flag_bit(n);
      continue;
    }
    if (!n.empty()) keywords.insert(n);
  }
  f.keywords.assign(keywords.begin(), keywords.end());
  return f;
}

KeywordSets::KeywordSets() {
  sets_.emplace_back();
  ids_.emplace(std::vector<std::string>{}, 0);
}

uint32_t KeywordSets::intern(const std::vector<std::string>& sorted_keywords) {
  if (sorted_keywords.empty()) return 0;
  auto [it, inserted] = ids_.emplace(sorted_keywords, static_cast<uint32_t>(sets_.size()));
  if (inserted) sets_.push_back(sorted_keywords);
  return it->second;
}

std::vector<std::string> KeywordSets::all_keywords() const {
  std::set<std::string> all;
  for (const auto& s : sets_) all.insert(s.begin(), s.end());
  return {all.begin(), all.end()};
}

std::string new_urlauth_key() {
  std::string key(kUrlauthKeyOctets, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    throw std::runtime_error("no random bytes for a URLAUTH key");
  return key;
}

std::string metadata_entry_key(std::string_view entry) {
  std::string key(entry);
  for (auto& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return key;
}

MetadataError normalize_metadata_updates(const std::vector<MetadataUpdate>& in, std::vector<MetadataUpdate>& out) {
  std::map<std::string, const MetadataUpdate*> last;
  for (const auto& u : in) {
    if (u.value && u.value->size() > kMaxMetadataValueOctets) return MetadataError::kTooLarge;
    last[metadata_entry_key(u.entry)] = &u;
  }
  out.clear();
  for (const auto& [key, u] : last) out.push_back(MetadataUpdate{key, u->value});
  return MetadataError::kNone;
}

}  // namespace postline::mailstore
