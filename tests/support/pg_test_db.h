// Test support for *_pgtest.cpp: each test gets a database of its own on the
// throwaway PostgreSQL server that ctest's `postgres` fixture started.
#pragma once

#include <string>

namespace postline::testing {

// The server URL (maintenance database), from POSTLINE_TEST_PG_URL or the file
// named by POSTLINE_TEST_PG_URL_FILE. Throws std::runtime_error with a hint when
// neither is set (run the test through ctest, which starts the server).
std::string test_server_url();

// Creates a fresh, empty database named "<prefix>_<random>" and returns its URL.
std::string create_test_database(const std::string& prefix);

}  // namespace postline::testing
