#include "tests/support/pg_test_db.h"

#include <pqxx/pqxx>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace postline::testing {

std::string test_server_url() {
  if (const char* url = std::getenv("POSTLINE_TEST_PG_URL"); url && *url) return url;
  if (const char* file = std::getenv("POSTLINE_TEST_PG_URL_FILE"); file && *file) {
    std::ifstream in(file);
    std::string url;
    if (in && std::getline(in, url) && !url.empty()) return url;
    throw std::runtime_error(std::string("no PostgreSQL URL in ") + file +
                             ": is the ctest fixture postgres_start running?");
  }
  throw std::runtime_error(
      "no test PostgreSQL: run through ctest (fixture `postgres`) or set POSTLINE_TEST_PG_URL");
}

std::string create_test_database(const std::string& prefix) {
  const std::string server = test_server_url();
  std::random_device rd;
  std::mt19937_64 rng(rd());
  std::string name = prefix + "_";
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int i = 0; i < 10; ++i) name += alphabet[rng() % 36];
  {
    pqxx::connection conn(server);
    pqxx::nontransaction tx(conn);
    // CREATE DATABASE cannot take a bind parameter; the name is built above from
    // [a-z0-9_] only, and quote_name escapes it regardless.
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  // Replace the database path of the server URL (postgresql://user@host:port/db?params).
  const auto scheme = server.find("://");
  const auto slash = server.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = server.find('?');
  std::string url = server.substr(0, slash == std::string::npos ? server.size() : slash) + "/" + name;
  if (query != std::string::npos) url += server.substr(query);
  return url;
}

}  // namespace postline::testing
