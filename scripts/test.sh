#!/usr/bin/env bash
# Runs every lancall test, installing what is missing first and saying so. Needs root (or sudo)
# for the network-namespace tests; without it those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust
apt_need pkg-config:pkg-config gcc:cc iproute2:ip openssl:openssl libnss3-tools:certutil

say "Rust tests of the core crates (certs, hub): no webview, no GTK"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast
  # nextest does not run doc tests
  cargo test --locked --workspace --doc
else
  cargo test --locked --workspace --no-fail-fast
fi

if [ -x tests/browser/run.sh ]; then
  say "Browser tests: calls, media, errors, resilience, trust (Playwright + Debian Chromium, inside a network namespace)"
  tests/browser/run.sh
fi
say "All tests passed"
