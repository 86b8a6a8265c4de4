#!/usr/bin/env bash
# Runs every lancall test, installing what is missing first and saying so. Needs root (or sudo)
# for the network-namespace tests; without it those tests skip and say why.
#
# 1. Rust tests of the core crates (the workspace's default members: no webview, no GTK)
# 1b. type-check of the web client's library (ui/js/lib, JSDoc + tsc --checkJs)
# 2. browser tests: calls between real Chromiums through lancall-host, trust, resilience
# 3. app tests: the Tauri app under WebDriver, with its own Rust tests
# 4. package tests: the desktop .deb and .rpm and the host .deb, built once (release), installed,
#    used and removed (scripts/test-packages.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust
apt_need pkg-config:pkg-config gcc:cc iproute2:ip openssl:openssl libnss3-tools:certutil
# The native peer (peer/, a default member) encodes VP8 and Opus with Debian's libvpx and libopus.
apt_need libvpx-dev:/usr/include/vpx/vpx_encoder.h libopus-dev:/usr/include/opus/opus.h
# The recorder's tests (recorder/, tests/app) check the WebM files they write with ffprobe.
apt_need ffmpeg:ffprobe

# Incremental caches speed up editing, not a test run, and cost gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

disk_report "the Rust tests"
say "Rust tests of the core crates (default members: no webview, no GTK)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  # nextest does not run doc tests
  cargo test --locked --doc
else
  cargo test --locked --no-fail-fast
fi

say "Type-checking the web client's library (tsc --checkJs)"
if [[ ! -x tests/node_modules/.bin/tsc ]]; then
  say "installing npm dependencies in tests/ (typescript, playwright-core; no browser download)"
  (cd tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund </dev/null)
fi
tests/node_modules/.bin/tsc -p ui/tsconfig.json

disk_report "the browser tests"
say "Browser tests: calls, media, errors, resilience, trust (Playwright + Debian Chromium, inside a network namespace)"
tests/browser/run.sh

disk_report "the app tests"
say "App tests: the Tauri app under WebDriver (tauri-driver + WebKitWebDriver on Xvfb, inside a network namespace)"
tests/app/run.sh

# The package stage builds in release and needs no debug build: on CI, or when disk is short,
# the debug builds go first.
free_gib=$(( $(df -Pk target | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if [[ -n ${CI:-} || $free_gib -lt 20 ]]; then
  say "Removing target/debug (the debug stages are done; ${free_gib} GiB free) to leave disk for the release build"
  rm -rf target/debug
fi
disk_report "the package tests"
scripts/test-packages.sh

say "All tests passed"
