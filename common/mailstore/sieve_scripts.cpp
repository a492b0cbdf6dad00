#include "common/mailstore/sieve_scripts.h"

#include <map>
#include <mutex>
#include <stdexcept>

namespace postline::mailstore {

namespace {

void require_name(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("a Sieve script name may not be empty");
}

class MemorySieveScriptStore final : public SieveScriptStore {
 public:
  std::vector<SieveScriptInfo> list_scripts(UserId user) override {
    std::lock_guard lock(mu_);
    std::vector<SieveScriptInfo> out;
    auto it = users_.find(user);
    if (it == users_.end()) return out;
    for (const auto& [name, text] : it->second.scripts)  // std::map<std::string>: octet order
      out.push_back({name, name == it->second.active, static_cast<std::int64_t>(text.size())});
    return out;
  }

  std::optional<std::string> get_script(UserId user, const std::string& name) override {
    std::lock_guard lock(mu_);
    const User* u = find(user);
    if (!u) return std::nullopt;
    auto s = u->scripts.find(name);
    if (s == u->scripts.end()) return std::nullopt;
    return s->second;
  }

  void put_script(UserId user, const std::string& name, const std::string& text) override {
    require_name(name);
    std::lock_guard lock(mu_);
    users_[user].scripts[name] = text;
  }

  bool delete_script(UserId user, const std::string& name) override {
    std::lock_guard lock(mu_);
    User* u = find(user);
    if (!u || u->scripts.erase(name) == 0) return false;
    if (u->active == name) u->active.clear();
    return true;
  }

  bool rename_script(UserId user, const std::string& from, const std::string& to) override {
    require_name(to);
    std::lock_guard lock(mu_);
    User* u = find(user);
    if (!u) return false;
    auto s = u->scripts.find(from);
    if (s == u->scripts.end() || u->scripts.count(to)) return false;
    std::string text = std::move(s->second);
    u->scripts.erase(s);
    u->scripts.emplace(to, std::move(text));
    if (u->active == from) u->active = to;
    return true;
  }

  bool set_active_script(UserId user, const std::string& name) override {
    std::lock_guard lock(mu_);
    User* u = find(user);
    if (name.empty()) {
      if (u) u->active.clear();
      return true;
    }
    if (!u || !u->scripts.count(name)) return false;
    u->active = name;
    return true;
  }

  std::optional<std::pair<std::string, std::string>> active_script(UserId user) override {
    std::lock_guard lock(mu_);
    const User* u = find(user);
    if (!u || u->active.empty()) return std::nullopt;
    return std::make_pair(u->active, u->scripts.at(u->active));
  }

  std::int64_t scripts_total_size(UserId user) override {
    std::lock_guard lock(mu_);
    const User* u = find(user);
    std::int64_t total = 0;
    if (u)
      for (const auto& [name, text] : u->scripts) total += static_cast<std::int64_t>(text.size());
    return total;
  }

 private:
  struct User {
    std::map<std::string, std::string> scripts;
    std::string active;  // "" = none (names are never empty)
  };
  User* find(UserId user) {
    auto it = users_.find(user);
    return it == users_.end() ? nullptr : &it->second;
  }
  std::mutex mu_;
  std::map<UserId, User> users_;
};

}  // namespace

std::unique_ptr<SieveScriptStore> make_memory_sieve_script_store() {
  return std::make_unique<MemorySieveScriptStore>();
}

}  // namespace postline::mailstore
