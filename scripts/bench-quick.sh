#!/usr/bin/env bash
# Every benchmark in quick mode (NUBO_BENCH_QUICK=1): one round at the
# smallest sizes, the peer tool (radl, tosca-parser, Ansible, IM) included,
# every check made. .ci/run runs this after the tests, so a benchmark that no
# longer works fails CI. A failed check fails its benchmark; a missed speed
# target is only reported (one round on a loaded machine judges no speed).
# Runs as root, as CI does: configure, launch, cloud_launch and
# openssh_floor make local nodes, test-cloud hosts or an sshd (without root
# they print SKIPPED:, a failure under NUBO_REQUIRE_SYSTEM_TESTS=1). Needs scripts/install-test-deps.sh's tools
# (scripts/test.sh has installed them in CI); installs the benchmarks' own.
# Ends with the benchmarks that failed or were skipped; fails if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export NUBO_BENCH_QUICK=1
if [ "$(id -u)" = 0 ]; then
  scripts/install-bench-deps.sh
fi
NUBO_SKIP_LOG=$(mktemp /tmp/nubo-bench-skipped-XXXXXX)
export NUBO_SKIP_LOG
trap 'rm -f "$NUBO_SKIP_LOG"' EXIT

echo "== quick benchmarks: build (at ${SECONDS}s)"
cargo bench --no-run --quiet

failed=()
run() { # NAME COMMAND...
  local name=$1
  shift
  echo "== quick benchmark $name (at ${SECONDS}s)"
  if "$@"; then
    echo "== quick benchmark $name: ok (at ${SECONDS}s)"
  else
    echo "== quick benchmark $name: FAILED (exit $?)"
    failed+=("$name")
  fi
}
for bench in radl_parse tosca_parse elastic_sim elastic_daemon configure launch ansible ec2_launch cloud_launch serve_im; do
  run "$bench" cargo bench --quiet --bench "$bench"
done
run openssh_floor benches/openssh_floor.sh

if [ -s "$NUBO_SKIP_LOG" ]; then
  echo "== quick benchmarks skipped: $(wc -l <"$NUBO_SKIP_LOG")"
  sed 's/^/  /' "$NUBO_SKIP_LOG"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "== quick benchmarks FAILED: ${failed[*]}"
  exit 1
fi
echo "== quick benchmarks: none failed (at ${SECONDS}s)"
