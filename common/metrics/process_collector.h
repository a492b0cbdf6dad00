// The standard Prometheus process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds), read from
// /proc/self at each scrape. Every service has them: HttpServer adds this
// collector itself. prometheus-cpp 1.0 has no process collector of its own.
#pragma once

#include <prometheus/collectable.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postline::metrics {

struct ProcessFigures {
  double cpu_seconds = 0;        // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;            // soft limit (RLIMIT_NOFILE); +Inf when unlimited
  double start_time_seconds = 0; // Unix time the process started
};

// From the texts of /proc/<pid>/stat, /proc/<pid>/limits and /proc/stat (its
// btime line); nullopt when one of them lacks what is needed.
std::optional<ProcessFigures> parse_process(std::string_view stat, std::string_view limits, std::string_view proc_stat,
                                            long ticks_per_second, long page_size, size_t open_fds);

// Reads `proc_self` (/proc/self) and `proc_stat` (/proc/stat); nullopt when a
// file cannot be read or parsed.
std::optional<ProcessFigures> read_process(const std::string& proc_self = "/proc/self",
                                           const std::string& proc_stat = "/proc/stat");

class ProcessCollector : public prometheus::Collectable {
 public:
  // Nothing is exported (and nothing fails) when /proc cannot be read.
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace postline::metrics
