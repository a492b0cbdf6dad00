#!/usr/bin/env bash
# Runs one libFuzzer binary for a bounded time: the ctests of label fuzz
# (cmake/PostlineFuzz.cmake). The committed seeds are copied to a temporary
# directory, which is the corpus the fuzzer grows and is removed afterwards, so a
# run never writes into the source tree. A crash, leak, sanitizer report, hang
# (one input over 10 s) or broken invariant (abort) fails the test; the input is
# kept under ARTIFACT_DIR and its path printed.
#
#   run_fuzzer.sh FUZZER SEED_DIR SECONDS ARTIFACT_DIR [libFuzzer flags...]
#
# SECONDS is the cache variable POSTLINE_FUZZ_SECONDS (the ctest TIMEOUT follows it).
#
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 artifacts=$4
shift 4
work=$(mktemp -d "${TMPDIR:-/tmp}/postline-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$seeds"/. "$work"/
mkdir -p "$artifacts"
echo "fuzzing $(basename "$fuzzer") for ${seconds}s on a copy of $seeds"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$work"
