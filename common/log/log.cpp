#include "common/log/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/log/record.h"

#include <atomic>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace postline::log {
namespace {

// %* in the JSON pattern: "msg" and the fields lifted from the message's
// leading tags (record.h), every value escaped.
class JsonFields : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string body = json_fields(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(body.data(), body.data() + body.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonFields>(); }
};

std::atomic<bool> json_mode{false};

}  // namespace

std::unique_ptr<spdlog::formatter> make_formatter(const std::string& format) {
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonFields>('*').set_pattern(
        "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%e%z\",\"level\":\"%l\",\"service\":\"%n\",%*}");
    return formatter;
  }
  if (format == "text") return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e%z %n %l %v");
  throw std::invalid_argument("unknown log format '" + format + "'");
}

void init(const std::string& service, const std::string& level, const std::string& format) {
  auto logger = std::make_shared<spdlog::logger>(service, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + level + "'");
  logger->set_level(lvl);
  logger->set_formatter(make_formatter(format));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  json_mode = format == "json";
}

void listening(std::string_view what, std::string_view address, unsigned port) {
  spdlog::info("listening {} on {}:{}", what, address, port);
}

void listening_unix(std::string_view what, std::string_view path) {
  spdlog::info("listening {} on unix:{}", what, printable(path));
}

void fatal(std::string_view program, std::string_view why) {
  if (json_mode) {
    spdlog::critical("{}", why);
    spdlog::default_logger()->flush();
  } else {
    std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
                 static_cast<int>(why.size()), why.data());
  }
}

std::string new_session_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  uint64_t v = rng();
  std::string id(10, '0');
  for (auto& c : id) {
    c = hex[v & 15];
    v >>= 4;
  }
  return id;
}

}  // namespace postline::log
