#include "common/metrics/process_collector.h"

#include "common/metrics/families.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace postline::metrics {

namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<double> number(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The line of `text` that starts with `prefix`, without it.
std::optional<std::string_view> line_after(std::string_view text, std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, prefix.size()) == prefix) return line.substr(prefix.size());
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessFigures> parse_process(std::string_view stat, std::string_view limits, std::string_view proc_stat,
                                            long ticks_per_second, long page_size, size_t open_fds) {
  if (ticks_per_second <= 0 || page_size <= 0) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces and ')':
  // the fields after the last ')' start with field 3 (state).
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  const auto f = words(stat.substr(close + 1));
  // field n is f[n - 3]: utime 14, stime 15, starttime 22, vsize 23, rss 24
  if (f.size() < 22) return std::nullopt;
  const auto utime = number(f[11]), stime = number(f[12]), start = number(f[19]), vsize = number(f[20]),
             rss = number(f[21]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;

  const auto btime_text = line_after(proc_stat, "btime ");
  if (!btime_text) return std::nullopt;
  const auto btime_words = words(*btime_text);
  if (btime_words.empty()) return std::nullopt;
  const auto btime = number(btime_words[0]);
  if (!btime) return std::nullopt;

  // "Max open files            1024                 524288               files"
  const auto nofile = line_after(limits, "Max open files");
  if (!nofile) return std::nullopt;
  const auto nofile_words = words(*nofile);
  if (nofile_words.empty()) return std::nullopt;
  double max_fds = std::numeric_limits<double>::infinity();
  if (nofile_words[0] != "unlimited") {
    const auto soft = number(nofile_words[0]);
    if (!soft) return std::nullopt;
    max_fds = *soft;
  }

  ProcessFigures p;
  const double ticks = static_cast<double>(ticks_per_second);
  p.cpu_seconds = (*utime + *stime) / ticks;
  p.start_time_seconds = *btime + *start / ticks;
  p.virtual_bytes = *vsize;
  p.resident_bytes = *rss * static_cast<double>(page_size);
  p.open_fds = static_cast<double>(open_fds);
  p.max_fds = max_fds;
  return p;
}

std::optional<ProcessFigures> read_process(const std::string& proc_self, const std::string& proc_stat) {
  const auto stat = slurp(proc_self + "/stat");
  const auto limits = slurp(proc_self + "/limits");
  const auto boot = slurp(proc_stat);
  if (!stat || !limits || !boot) return std::nullopt;
  std::error_code ec;
  size_t fds = 0;
  for (std::filesystem::directory_iterator it(proc_self + "/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
  if (ec) return std::nullopt;
  // The iterator's own descriptor was listed too.
  if (fds > 0) --fds;
  return parse_process(*stat, *limits, *boot, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), fds);
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const auto p = read_process();
  if (!p) return out;
  using prometheus::MetricType;
  auto one = [&](const char* name, const char* help, MetricType type, double value) {
    auto f = family(name, help, type);
    add_sample(f, value);
    out.push_back(std::move(f));
  };
  one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter,
      p->cpu_seconds);
  one("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge, p->resident_bytes);
  one("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, p->virtual_bytes);
  one("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, p->open_fds);
  one("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge, p->max_fds);
  one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
      p->start_time_seconds);
  return out;
}

}  // namespace postline::metrics
