// What `postline import` reports: a progress line on stderr when it is a
// terminal (messages and bytes done of the total, rate, ETA; redrawn at most
// five times a second), and the totals at the end: one JSON object on stdout
// with --json or when stdout is not a terminal, else a few lines of text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace postline::cli::import {

struct FolderResult {
  std::string source, destination;
  int64_t messages = 0, bytes = 0, skipped = 0, errors = 0;
  std::string note;  // "UIDVALIDITY changed: imported again", "up to date", an error
};

struct Totals {
  int64_t folders = 0, messages = 0, bytes = 0, skipped = 0, errors = 0;
  std::vector<FolderResult> folder_results;
  std::string stopped;  // why the import stopped early ("" = it did not)
};

class Progress {
 public:
  explicit Progress(bool enabled);
  void set_total(int64_t messages, int64_t bytes);
  void folder(const std::string& name);
  // One message done (imported, skipped or failed) of `bytes` bytes.
  void advance(int64_t bytes);
  // A warning line that must not be drawn over.
  void warn(const std::string& line);
  void finish();
  double seconds() const;

 private:
  void draw(bool force);
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
  int64_t total_messages_ = 0, total_bytes_ = 0, done_messages_ = 0, done_bytes_ = 0;
  std::string folder_;
  bool drawn_ = false;
};

std::string human_bytes(double bytes);
std::string human_duration(double seconds);
// The end report (stdout); `json` chooses the form.
void print_summary(const Totals& totals, double seconds, bool json);

}  // namespace postline::cli::import
