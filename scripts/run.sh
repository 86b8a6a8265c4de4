#!/usr/bin/env bash
# Starts lancall. For now that is the headless host, lancall-host: it serves the call page to
# browsers on this LAN and prints the join link and its QR code. Arguments go to lancall-host
# (try --help). Example: scripts/run.sh --name "Kitchen" --open
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust
apt_need pkg-config:pkg-config gcc:cc
say "Building lancall-host (release; the first build takes a few minutes)"
cargo build --release --locked -p lancall-hub --bin lancall-host
say "Starting lancall-host $*"
exec target/release/lancall-host "$@"
