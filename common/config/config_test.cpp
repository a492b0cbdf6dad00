#include "common/config/config.h"

#include <gtest/gtest.h>

using postline::config::Config;
using postline::config::ConfigError;

TEST(Config, DefaultsWithoutFile) {
  auto cfg = Config::load_from_string("", {});
  EXPECT_EQ(cfg.port("imap", "port"), 1143);
  EXPECT_EQ(cfg.port("smtp", "mx_port"), 2525);
  EXPECT_EQ(cfg.size("smtp", "max_message_size"), 50ull * 1024 * 1024);
  EXPECT_EQ(cfg.duration("imap", "idle_timeout").count(), 1800);
}

TEST(Config, FileThenEnvironmentOverride) {
  auto cfg = Config::load_from_string("imap:\n  port: 2143\n  http_port: 9999\n",
                                      {{"POSTLINE_IMAP_HTTP_PORT", "9113"}});
  EXPECT_EQ(cfg.port("imap", "port"), 2143);
  EXPECT_EQ(cfg.port("imap", "http_port"), 9113);
}

TEST(Config, UnknownKeyIsNamed) {
  try {
    Config::load_from_string("imap:\n  prot: 1\n", {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("imap.prot"), std::string::npos) << e.what();
  }
}

TEST(Config, UnknownSectionIsNamed) {
  EXPECT_THROW(Config::load_from_string("imapd:\n  port: 1\n", {}), ConfigError);
}

TEST(Config, BadEnvironmentValueNamesKeyAndVariable) {
  try {
    Config::load_from_string("", {{"POSTLINE_IMAP_PORT", "abc"}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("imap.port"), std::string::npos) << msg;
    EXPECT_NE(msg.find("POSTLINE_IMAP_PORT"), std::string::npos) << msg;
  }
}

TEST(Config, PortOutOfRange) {
  EXPECT_THROW(Config::load_from_string("smtp:\n  mx_port: 70000\n", {}), ConfigError);
}

TEST(Config, DurationsAndSizes) {
  EXPECT_EQ(postline::config::parse_duration("90", "x").count(), 90);
  EXPECT_EQ(postline::config::parse_duration("5m", "x").count(), 300);
  EXPECT_EQ(postline::config::parse_duration("5d", "x").count(), 5 * 86400);
  EXPECT_THROW(postline::config::parse_duration("5 weeks", "x"), ConfigError);
  EXPECT_EQ(postline::config::parse_size("512KiB", "x"), 512u * 1024);
  EXPECT_THROW(postline::config::parse_size("-1", "x"), ConfigError);
  // Found by config_fuzz: 2^34 GiB is 2^64 bytes, which wrapped to 0 and passed as a size.
  EXPECT_THROW(postline::config::parse_size("17179869184GiB", "x"), ConfigError);
  EXPECT_THROW(postline::config::parse_size("999999999999999G", "x"), ConfigError);
  EXPECT_EQ(postline::config::parse_size("17179869183GiB", "x"), 17179869183ull << 30);
  EXPECT_THROW(Config::load_from_string("smtp:\n  max_message_size: 17179869184GiB\n", {}), ConfigError);
}

TEST(Config, ListsFromYamlSequenceOrCommaString) {
  auto a = Config::load_from_string("queue:\n  retry_schedule: [1s, 2s, 3s]\n", {});
  EXPECT_EQ(a.list("queue", "retry_schedule"), (std::vector<std::string>{"1s", "2s", "3s"}));
  auto b = Config::load_from_string("", {{"POSTLINE_QUEUE_RETRY_SCHEDULE", "1s, 5s"}});
  EXPECT_EQ(b.list("queue", "retry_schedule"), (std::vector<std::string>{"1s", "5s"}));
}

TEST(Config, RoundTripsThroughYaml) {
  auto a = Config::load_from_string("", {{"POSTLINE_IMAP_PORT", "2143"}, {"POSTLINE_DNS_SERVERS", "127.0.0.1:5353"}});
  auto b = Config::load_from_string(a.to_yaml(), {});
  EXPECT_EQ(b.port("imap", "port"), 2143);
  EXPECT_EQ(b.list("dns", "servers"), (std::vector<std::string>{"127.0.0.1:5353"}));
  EXPECT_EQ(b.to_yaml(), a.to_yaml());
}

#include "common/config/command_line.h"

TEST(CommandLine, ConfigFileHelpAndMisuse) {
  const char* both[] = {"postline-x", "--config", "a.yaml"};
  EXPECT_EQ(postline::config::parse_command_line(3, both, "postline-x").config_file, "a.yaml");
  const char* eq[] = {"postline-x", "--config=b.yaml"};
  auto b = postline::config::parse_command_line(2, eq, "postline-x");
  EXPECT_EQ(b.config_file, "b.yaml");
  EXPECT_FALSE(b.exit_code);
  const char* help[] = {"postline-x", "--help"};
  EXPECT_EQ(postline::config::parse_command_line(2, help, "postline-x").exit_code, 0);
  const char* bad[] = {"postline-x", "--port", "1"};
  EXPECT_EQ(postline::config::parse_command_line(3, bad, "postline-x").exit_code, 2);
  const char* dangling[] = {"postline-x", "--config"};
  EXPECT_EQ(postline::config::parse_command_line(2, dangling, "postline-x").exit_code, 2);
}

// Values of the right type that no service can run with are refused at load,
// naming the key (issue 16): unknown words, zero timeouts, negative counts.
TEST(Config, ValuesOutsideTheirLimitsAreRefusedNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"log:\n  level: shouting\n", "log.level"},
      {"log:\n  format: xml\n", "log.format"},
      {"queue:\n  tls: sometimes\n", "queue.tls"},
      {"smtp:\n  command_timeout: 0s\n", "smtp.command_timeout"},
      {"smtp:\n  max_recipients: -1\n", "smtp.max_recipients"},
      {"smtp:\n  max_recipients: 0\n", "smtp.max_recipients"},
      {"spam:\n  rate_ip_messages: -5\n", "spam.rate_ip_messages"},  // every integer is >= 0
      {"imap:\n  idle_timeout: 5m\n", "imap.idle_timeout"},
      {"auth:\n  scram_iterations: 100\n", "auth.scram_iterations"},
      {"db:\n  pool_size: 0\n", "db.pool_size"},
      {"imap:\n  max_literal_size: 0\n", "imap.max_literal_size"},
      {"auth:\n  hash_threads: 1000\n", "auth.hash_threads"},
  };
  for (const auto& [yaml, key] : refused) {
    try {
      Config::load_from_string(yaml, {});
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  // The same rules for the environment.
  EXPECT_THROW(Config::load_from_string("", {{"POSTLINE_SMTP_DATA_TIMEOUT", "0"}}), ConfigError);
  // What is allowed stays allowed: 0 where it means "off", the edges themselves.
  auto cfg = Config::load_from_string(
      "smtp:\n  recipient_cache_ttl: 0s\n  max_recipients: 1\n  enqueue_retry_window: 0s\n"
      "spam:\n  rate_ip_messages: 0\nimap:\n  idle_timeout: 30m\nlog:\n  level: warn\n",
      {});
  EXPECT_EQ(cfg.integer("smtp", "max_recipients"), 1);
  EXPECT_EQ(cfg.str("log", "level"), "warn");
}

// Found by config_fuzz: a complex or empty key escaped as YAML::BadConversion.
TEST(Config, KeysThatAreNotPlainNamesAreConfigErrors) {
  EXPECT_THROW(Config::load_from_string("? [a, b]\n: c\n", {}), ConfigError);
  EXPECT_THROW(Config::load_from_string("log:\n  ? [a, b]\n  : c\n", {}), ConfigError);
  EXPECT_THROW(Config::load_from_string("log:\n  ?\n  : info\n", {}), ConfigError);
  EXPECT_THROW(Config::load_from_string("? {a: b}\n", {}), ConfigError);
}

TEST(Config, DuplicateKeysAndSectionsAreRefused) {
  EXPECT_THROW(Config::load_from_string("smtp:\n  max_recipients: 5\n  max_recipients: 6\n", {}), ConfigError);
  EXPECT_THROW(Config::load_from_string("smtp:\n  max_recipients: 5\nsmtp:\n  max_errors: 6\n", {}), ConfigError);
}

TEST(Config, ADirectoryOrAMissingFileIsNotAConfiguration) {
  EXPECT_THROW(Config::load("/tmp", {}), ConfigError);
  EXPECT_THROW(Config::load("/nonexistent/postline.yaml", {}), ConfigError);
}

// Every limit names a key that exists, and every default satisfies its limits.
TEST(Config, LimitsNameRealKeysAndDefaultsPassThem) {
  for (const auto& l : postline::config::key_limits()) {
    bool found = false;
    for (const auto& spec : postline::config::schema()) found |= spec.section == l.section && spec.key == l.key;
    EXPECT_TRUE(found) << l.section << "." << l.key;
  }
  EXPECT_NO_THROW(Config::load_from_string("", {}));
}
