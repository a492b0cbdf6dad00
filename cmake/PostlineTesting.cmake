# Test tiers (DESIGN.md): unit tests (LABELS unit) need nothing; pgtests need the
# PostgreSQL server that the `postgres` ctest fixture starts and stops.
#
# postline_add_pgtest(<target> SOURCES a_pgtest.cpp ... LIBS lib1 lib2 ...)
# builds a GoogleTest binary and registers it with the fixture. In the test, call
# postline::testing::create_test_database("prefix") (tests/support/pg_test_db.h)
# for a fresh, empty database of its own.
function(postline_add_pgtest target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} postline_test_support GTest::gtest_main)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES
    LABELS pg
    FIXTURES_REQUIRED postgres
    ENVIRONMENT "POSTLINE_TEST_PG_URL_FILE=${POSTLINE_TEST_PG_DIR}/url")
endfunction()

# Where the ctest fixture keeps its throwaway PostgreSQL cluster.
set(POSTLINE_TEST_PG_DIR ${CMAKE_BINARY_DIR}/test-pg)

# Where the ctest fixture `s3` keeps its S3 test server (scripts/s3): DIR/url,
# DIR/env (the POSTLINE_MAILSTORE_* settings that reach it), DIR/secret.
set(POSTLINE_TEST_S3_DIR ${CMAKE_BINARY_DIR}/test-s3)

# postline_add_s3test(<target> SOURCES ... LIBS ...): a pgtest that also needs
# the S3 test server (fixtures postgres and s3; label pg).
function(postline_add_s3test target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} postline_test_support GTest::gtest_main)
  add_test(NAME ${target} COMMAND ${target})
  set_tests_properties(${target} PROPERTIES
    LABELS pg
    FIXTURES_REQUIRED "postgres;s3"
    ENVIRONMENT "POSTLINE_TEST_PG_URL_FILE=${POSTLINE_TEST_PG_DIR}/url;POSTLINE_TEST_S3_ENV_FILE=${POSTLINE_TEST_S3_DIR}/env")
endfunction()
