#include "tools/postline/import_progress.h"

#include <cstdio>
#include <iostream>

#include "common/log/printable.h"
#include "tools/postline/output.h"

namespace postline::cli::import {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string human_duration(double s) {
  if (s < 0) s = 0;
  const long long t = static_cast<long long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}

Progress::Progress(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::set_total(int64_t messages, int64_t bytes) {
  total_messages_ = messages;
  total_bytes_ = bytes;
  draw(true);
}

// Folder names come from the source server: shown without control characters.
void Progress::folder(const std::string& name) {
  folder_ = log::printable(name, 100);
  draw(true);
}

void Progress::advance(int64_t bytes) {
  ++done_messages_;
  done_bytes_ += bytes;
  draw(false);
}

void Progress::warn(const std::string& line) {
  if (enabled_ && drawn_) std::cerr << "\r\x1b[K";
  std::cerr << "postline: " << line << "\n";
  if (enabled_ && drawn_) draw(true);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const double elapsed = seconds();
  const double rate = elapsed > 0.5 ? done_bytes_ / elapsed : 0;
  std::string line = "[" + folder_ + "] " + std::to_string(done_messages_) +
                     (total_messages_ > 0 ? "/" + std::to_string(total_messages_) : std::string()) + " messages, " + human_bytes(static_cast<double>(done_bytes_)) + "/" +
                     human_bytes(static_cast<double>(total_bytes_)) + ", " + human_bytes(rate) + "/s";
  if (rate > 0 && total_bytes_ > done_bytes_) line += ", ETA " + human_duration((total_bytes_ - done_bytes_) / rate);
  std::cerr << "\r\x1b[K" << line << std::flush;
  drawn_ = true;
}

void Progress::finish() {
  if (enabled_ && drawn_) {
    draw(true);
    std::cerr << "\n";
  }
  drawn_ = false;
}

void print_summary(const Totals& t, double seconds, bool json) {
  if (json) {
    JsonObject o;
    o.add("folders", t.folders)
        .add("messages", t.messages)
        .add("bytes", t.bytes)
        .add("skipped", t.skipped)
        .add("errors", t.errors)
        .add("seconds", seconds);
    if (!t.stopped.empty()) o.add("stopped", t.stopped);
    std::cout << o.str() << "\n";
    return;
  }
  for (const auto& f : t.folder_results) {
    std::cout << log::printable(f.source, 200)
              << (f.source == f.destination ? "" : " -> " + log::printable(f.destination, 200)) << ": " << f.messages
              << " imported (" << human_bytes(static_cast<double>(f.bytes)) << "), " << f.skipped << " skipped";
    if (f.errors) std::cout << ", " << f.errors << " failed";
    if (!f.note.empty()) std::cout << " (" << log::printable(f.note, 300) << ")";
    std::cout << "\n";
  }
  std::cout << "imported " << t.messages << " message(s), " << human_bytes(static_cast<double>(t.bytes)) << " in "
            << t.folders << " folder(s); " << t.skipped << " skipped as already there, " << t.errors << " failed, "
            << human_duration(seconds) << "\n";
}

}  // namespace postline::cli::import
