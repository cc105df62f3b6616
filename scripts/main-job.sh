#!/usr/bin/env bash
# The main job, for now: build nubo, check the example cluster description
# and print it in canonical form and as IM's JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
./target/release/nubo validate examples/cluster.radl
./target/release/nubo radl fmt examples/cluster.radl
./target/release/nubo radl json examples/cluster.radl
