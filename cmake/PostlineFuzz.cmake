# libFuzzer targets (docs/DESIGN.md "Testing", tests/fuzz/README.md).
#
# Every fuzz entry point (a LLVMFuzzerTestOneInput in a fuzz/ directory next to the
# code it tests) is declared once with postline_add_fuzzer(). That gives:
#   <name>_corpus  always built (gcc too): tests/fuzz/corpus_main.cpp runs the entry
#                  point once per seed file; ctest <name>_corpus, label unit.
#   <name>         with -DPOSTLINE_FUZZ=ON and clang++ only: the libFuzzer binary
#                  (ASan + UBSan, UBSan aborts); ctest <name>_run, label fuzz, runs
#                  it for POSTLINE_FUZZ_SECONDS on a copy of the seeds in a temporary
#                  directory (tests/fuzz/run_fuzzer.sh).
# Such a build directory instruments the parser libraries (postline_fuzz_instrument)
# and is for fuzzing only: build the `fuzzers` target there, not `all`.
option(POSTLINE_FUZZ "Build libFuzzer targets (clang only)" OFF)
set(POSTLINE_FUZZ_SECONDS 30 CACHE STRING "Seconds each fuzzer runs in a ctest of label fuzz")
set(POSTLINE_FUZZ_ACTIVE OFF)
if(POSTLINE_FUZZ)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(POSTLINE_FUZZ_ACTIVE ON)
    add_custom_target(fuzzers)
  else()
    message(WARNING "POSTLINE_FUZZ needs clang++ (-DCMAKE_CXX_COMPILER=clang++); building corpus runners only")
  endif()
endif()
# UBSan aborts instead of printing and going on, so the fuzzer counts it as a crash.
set(POSTLINE_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined)

# Coverage instrumentation and sanitizers for the libraries a fuzzer drives, or
# libFuzzer is blind inside them. Idempotent; a no-op outside a fuzz build.
function(postline_fuzz_instrument)
  if(NOT POSTLINE_FUZZ_ACTIVE)
    return()
  endif()
  foreach(lib ${ARGN})
    get_target_property(done ${lib} POSTLINE_FUZZ_INSTRUMENTED)
    if(NOT done)
      target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link ${POSTLINE_FUZZ_SANITIZERS})
      set_target_properties(${lib} PROPERTIES POSTLINE_FUZZ_INSTRUMENTED ON)
    endif()
  endforeach()
endfunction()

# postline_add_fuzzer(NAME <name> SOURCES <entry point>... LIBRARIES <libs>...
#                     CORPUS <seed dir> [DICT <file>] [MAX_LEN <bytes>] [ARGS <libFuzzer flags>...])
function(postline_add_fuzzer)
  cmake_parse_arguments(F "" "NAME;CORPUS;DICT;MAX_LEN" "SOURCES;LIBRARIES;ARGS" ${ARGN})
  add_executable(${F_NAME}_corpus ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus_main.cpp)
  target_link_libraries(${F_NAME}_corpus PRIVATE ${F_LIBRARIES})
  add_test(NAME ${F_NAME}_corpus COMMAND ${F_NAME}_corpus ${F_CORPUS})
  set_tests_properties(${F_NAME}_corpus PROPERTIES LABELS unit)
  if(NOT POSTLINE_FUZZ_ACTIVE)
    return()
  endif()
  postline_fuzz_instrument(${F_LIBRARIES})
  # The corpus runner links the instrumented libraries, so it needs the runtimes.
  target_compile_options(${F_NAME}_corpus PRIVATE ${POSTLINE_FUZZ_SANITIZERS})
  target_link_options(${F_NAME}_corpus PRIVATE ${POSTLINE_FUZZ_SANITIZERS})
  add_executable(${F_NAME} ${F_SOURCES})
  target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer ${POSTLINE_FUZZ_SANITIZERS})
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer ${POSTLINE_FUZZ_SANITIZERS})
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBRARIES})
  add_dependencies(fuzzers ${F_NAME} ${F_NAME}_corpus)
  set(flags ${F_ARGS})
  if(F_DICT)
    list(APPEND flags -dict=${F_DICT})
  endif()
  if(F_MAX_LEN)
    list(APPEND flags -max_len=${F_MAX_LEN})
  endif()
  add_test(NAME ${F_NAME}_run
           COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/run_fuzzer.sh $<TARGET_FILE:${F_NAME}> ${F_CORPUS}
                   ${POSTLINE_FUZZ_SECONDS} ${CMAKE_BINARY_DIR}/fuzz-artifacts/${F_NAME} ${flags})
  # Seconds of fuzzing plus start-up and the final merge of the corpus.
  math(EXPR timeout "${POSTLINE_FUZZ_SECONDS} * 2 + 120")
  set_tests_properties(${F_NAME}_run PROPERTIES LABELS fuzz TIMEOUT ${timeout})
endfunction()
