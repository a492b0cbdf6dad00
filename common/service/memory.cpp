#include "common/service/memory.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace postline::service {

namespace {

// A number on the first line of a file; 0 when it is absent, "max" or not a number.
uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return 0;
  uint64_t n = 0;
  size_t i = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && n < (UINT64_MAX / 10 - 9); ++i)
    n = n * 10 + static_cast<uint64_t>(line[i] - '0');
  return i == 0 ? 0 : n;
}

uint64_t mem_total(const std::string& meminfo) {
  std::ifstream in(meminfo);
  std::string key, unit;
  uint64_t kib = 0;
  while (in >> key >> kib >> unit)
    if (key == "MemTotal:") return kib * 1024;
  return 0;
}

}  // namespace

uint64_t memory_limit_bytes(const std::string& cgroup_v2, const std::string& cgroup_v1, const std::string& meminfo) {
  const uint64_t total = mem_total(meminfo);
  // cgroup v1 says "no limit" with a huge number (about 2^63): above the
  // machine's memory it means nothing.
  for (const std::string* path : {&cgroup_v2, &cgroup_v1}) {
    const uint64_t limit = read_number(*path);
    if (limit > 0 && (total == 0 || limit < total)) return limit;
  }
  return total;
}

uint64_t buffer_budget_for(uint64_t limit, uint64_t at_least) {
  constexpr uint64_t kMin = 64ull << 20, kMax = 1ull << 30;
  const uint64_t quarter = limit == 0 ? kMax : std::clamp<uint64_t>(limit / 4, kMin, kMax);
  return std::max(quarter, at_least);
}

}  // namespace postline::service
