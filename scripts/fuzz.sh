#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 30s).
# `make fuzz` runs the long pass; `make test` a short one (FUZZTIME=2000x:
# a count, not a duration, since a fuzzing run cut by its clock can fail with
# "context deadline exceeded" on a busy machine), so CI exercises every
# target beyond its seed corpus. A crasher is written to
# the package's testdata/fuzz/ and fails the run: commit it as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
status=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' || true)
	for target in $targets; do
		echo "fuzz: $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1; then
			cat /tmp/fuzz.$$.log
			status=1
		fi
	done
done
rm -f /tmp/fuzz.$$.log
exit $status
