#!/usr/bin/env bash
# gotest.sh ARGS...: go test ARGS, its output kept in .cache/gotest.log.
# When it fails, the failing tests and their first error lines are printed
# again at the end: a failing test's logs (an appliance's, a browser's)
# can run to thousands of lines, and a CI page that shows only the tail
# would otherwise not say which test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
log=.cache/gotest.log
"${GO:-go}" test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
	echo
	echo "=== gotest: go test failed (exit $status); what failed (full output in $log):"
	# Failed tests, panics, timeouts, races, and the error lines of
	# test files (file_test.go:N: ...), at most 60 lines.
	grep -a -E -e '^\s*--- FAIL' -e '^(FAIL|panic:|fatal error:)' -e 'test timed out' \
		-e '^WARNING: DATA RACE' -e '^\s+[A-Za-z0-9_]+_test\.go:[0-9]+: ' "$log" |
		grep -a -v -E '"level":"(DEBUG|INFO)"' | cut -c1-400 | head -60
fi
exit "$status"
