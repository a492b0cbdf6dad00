// How much memory this process may use, for defaults that must fit in it
// (issue 16): the budgets for bytes clients make a service buffer
// (smtp.max_inflight_data, imap.max_inflight_literals) default to a quarter
// of it, so a container's memory limit, not a fixed 1 GiB, bounds what
// strangers can make the process hold.
#pragma once

#include <cstdint>
#include <string>

namespace postline::service {

// The cgroup's memory limit (v2 memory.max, else v1 memory.limit_in_bytes),
// else the machine's MemTotal; 0 if none can be read. The paths are
// parameters for tests.
uint64_t memory_limit_bytes(const std::string& cgroup_v2 = "/sys/fs/cgroup/memory.max",
                            const std::string& cgroup_v1 = "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                            const std::string& meminfo = "/proc/meminfo");

// A quarter of `limit`, at least 64 MiB and at most 1 GiB (1 GiB when the
// limit is unknown), and never below `at_least` (one whole message or
// literal must always fit).
uint64_t buffer_budget_for(uint64_t limit, uint64_t at_least);

}  // namespace postline::service
