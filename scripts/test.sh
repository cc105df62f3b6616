#!/usr/bin/env bash
# The test command: installs the test prerequisites, then runs every test.
# Tests that need root, namespaces or reference tools skip with a visible
# "SKIPPED:" line when those are missing, unless NUBO_REQUIRE_SYSTEM_TESTS=1
# (as .ci/run sets), which turns each such skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# No test downloads a TOSCA import from the Internet; the one that tests
# downloading serves the file itself on 127.0.0.1 (and unsets this).
export NUBO_OFFLINE=1
cargo test "$@"
