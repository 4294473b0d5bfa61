#!/usr/bin/env bash
# Runs every test binary of a build (unit, then integration, then system),
# shows each suite's cmocka summary and ends with one line "N passed, N failed".
#   tests/run.sh build/rel        (make test)
#   tests/run.sh build/san        (make test SANITIZE=1)
# TM_TEST_FILTER=regex limits the binaries run (e.g. TM_TEST_FILTER=unit/).
set -uo pipefail

B=${1:?usage: tests/run.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TM_SOURCE_DIR=$ROOT
export TM_BIN_DIR=$ROOT/$B/bin
LOGS=$ROOT/$B/test-logs
TIMEOUT_S=${TM_TEST_TIMEOUT_S:-600}
mkdir -p "$LOGS"

# sanitizer builds: stop at the first report, keep reports readable
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}

passed=0
failed=0
for kind in unit integration system; do
	for t in "$ROOT/$B/tests/$kind"/test_*; do
		[ -x "$t" ] || continue
		[ -f "$ROOT/tests/$kind/$(basename "$t").c" ] || continue # left over from a renamed test
		name="$kind/$(basename "$t")"
		[[ -n "${TM_TEST_FILTER:-}" && ! "$name" =~ ${TM_TEST_FILTER} ]] && continue
		log="$LOGS/$kind-$(basename "$t").log"
		start=$SECONDS
		timeout --kill-after=10 "$TIMEOUT_S" "$t" >"$log" 2>&1
		rc=$?
		p=$(grep -aoE '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
		f=$(grep -aoE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1 # crashed, timed out, or a sanitizer stopped it before the summary
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		printf '%-42s %3d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
		if [ "$f" -gt 0 ]; then
			grep -aE '^\[  (FAILED|ERROR)   ?\]|^\[  ERROR   \]|error:|ERROR:|runtime error|Assertion|Timeout|timed out' "$log" | head -n 20 | sed 's/^/    /'
			[ "$rc" -eq 124 ] && echo "    (killed after ${TIMEOUT_S}s)"
			echo "    full output: $log"
		fi
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
