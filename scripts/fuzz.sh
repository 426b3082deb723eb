#!/usr/bin/env bash
# The command behind `make fuzz` and `make fuzz-smoke` (docs/reliability.md "Fuzzing"): configures
# the clang-14 libFuzzer build in $FUZZ_BUILD_DIR (default build-fuzz; DEVICEAPI_FUZZ=ON with
# AddressSanitizer and UndefinedBehaviorSanitizer, tests and benchmarks off), builds the aggregate
# target fuzz_targets, then runs each target for $FUZZ_SECONDS seconds. Each target grows a working
# corpus in $FUZZ_BUILD_DIR/corpus/<name> (the checked-in seeds in tests/fuzz/corpus/<name> are
# read, never written) and leaves what it finds in $FUZZ_BUILD_DIR/artifacts/<name>/. One summary
# line per target; exits 1 if any target found a crash (or failed to run).
#
#   FUZZ_SECONDS=600 FUZZ_TARGETS="patch selectors" scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-600}
JOBS=${JOBS:-$(nproc)}
ALL_TARGETS="api_sequence selectors resource_version patch plugin_config npd_input sqlite_row"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

for t in $TARGETS; do
  if [ ! -d "tests/fuzz/corpus/$t" ]; then
    echo "fuzz: unknown target \"$t\" (targets: $ALL_TARGETS)" >&2
    exit 2
  fi
done

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DDEVICEAPI_FUZZ=ON -DDEVICEAPI_SANITIZE=address,undefined \
    -DDEVICEAPI_TESTS=OFF -DDEVICEAPI_BENCH=OFF
fi
ninja -C "$BUILD" -j"$JOBS" fuzz_targets

# A UBSan report is a finding, as an ASan one; leaks are reported too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=0
summary=()
for t in $TARGETS; do
  corpus="$BUILD/corpus/$t"
  artifacts="$BUILD/artifacts/$t"
  log="$BUILD/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s (log $log)"
  rc=0
  "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  stat() { awk -v k="stat::$1:" '$1 == k {print $2}' "$log" | tail -1; }
  last=$(grep -E '^#[0-9]+.*(cov|ft): ' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc; $(find "$artifacts" -type f | head -1 || true); see $log)"
    failed=1
  fi
  summary+=("$(printf 'fuzz %-16s execs=%-9s exec/s=%-7s corpus=%-10s cov=%-6s ft=%-6s %s' "$t" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "${corp:-?}" "${cov:-?}" "${ft:-?}" "$result")")
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR: |FUZZ_CHECK|SUMMARY: ' "$log" | head -5 || true
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
