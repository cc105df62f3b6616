#!/usr/bin/env bash
# The test command: installs the test prerequisites, then runs every test.
# Tests that need root, namespaces or reference tools skip with a visible
# "SKIPPED:" line when those are missing, unless NUBO_REQUIRE_SYSTEM_TESTS=1
# (as .ci/run sets), which turns each such skip into a failure. libtest
# hides what a passing test prints, so each skip is also written to the
# file NUBO_SKIP_LOG names, and this script ends with the list of skipped
# tests, their reasons and their count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# No test downloads a TOSCA import from the Internet; the one that tests
# downloading serves the file itself on 127.0.0.1 (and unsets this).
export NUBO_OFFLINE=1
NUBO_SKIP_LOG=$(mktemp /tmp/nubo-skipped-XXXXXX)
export NUBO_SKIP_LOG
trap 'rm -f "$NUBO_SKIP_LOG"' EXIT
status=0
cargo test "$@" || status=$?
count=$(wc -l <"$NUBO_SKIP_LOG")
if [ "$count" = 0 ]; then
  echo "== skipped tests: none"
else
  echo "== skipped tests: $count (counted as passed, but they did not run)"
  sort "$NUBO_SKIP_LOG" | sed 's/^/  /'
fi
exit "$status"
