#!/usr/bin/env bash
# The main job: on a fresh Debian machine, as root, install what the local
# provider needs, build nubo, and launch the `demo` cluster (a front-end and
# two workers, configured by shipped recipes) on the local provider; then
# show it and run a command on a worker. `nubo destroy demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-local-deps.sh
command -v cargo >/dev/null || {
  echo "cargo not found: install Rust (https://rustup.rs) and run this again" >&2
  exit 1
}
cargo build --release --quiet
nubo=./target/release/nubo
$nubo launch demo demo -y
$nubo show demo
echo "--- nubo ssh demo wn-1 hostname"
$nubo ssh demo wn-1 hostname
echo "--- nubo ssh demo wn-2 cat /etc/demo-front.txt"
$nubo ssh demo wn-2 cat /etc/demo-front.txt
echo "The cluster is up. Remove it with: $nubo destroy demo -y"
