#!/usr/bin/env bash
# Runs every lancall test, installing what is missing first and saying so. Needs root (or sudo)
# for the network-namespace tests; without it those tests skip and say why.
#
# 1. Rust tests of the core crates (the workspace's default members: no webview, no GTK)
# 1b. type-check of the web client's library (ui/js/lib, JSDoc + tsc --checkJs)
# 2. browser tests: calls between real Chromiums through lancall-host, trust, resilience
# 3. the release build: the desktop .deb and .rpm and the host .deb (scripts/test-packages.sh build)
# 4. app tests: the release Tauri app under WebDriver, with its own Rust tests
# 5. package tests: the packages of step 3 installed, used and removed (scripts/test-packages.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust
apt_need pkg-config:pkg-config gcc:cc iproute2:ip openssl:openssl libnss3-tools:certutil
# The native peer (peer/, a default member) encodes VP8 and Opus with Debian's libvpx and libopus.
apt_need libvpx-dev:/usr/include/vpx/vpx_encoder.h libopus-dev:/usr/include/opus/opus.h
# The recorder's tests (recorder/, tests/app) check the WebM files they write with ffprobe.
apt_need ffmpeg:ffprobe

# How long each stage took, said at the end (also when a stage fails): CI's budget is in minutes.
T_START=$(date +%s); T_STAGE=$T_START; STAGES=""
stage_done() { local now; now=$(date +%s); STAGES="$STAGES $1 $((now - T_STAGE)) s;"; T_STAGE=$now; }
trap 'say "Time: $(( $(date +%s) - T_START )) s in all;${STAGES:- no stage finished}"' EXIT

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

stage_done "Rust tests"
say "Type-checking the web client's library (tsc --checkJs)"
if [[ ! -x tests/node_modules/.bin/tsc ]]; then
  say "installing npm dependencies in tests/ (typescript, playwright-core; no browser download)"
  (cd tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund </dev/null)
fi
tests/node_modules/.bin/tsc -p ui/tsconfig.json
stage_done "type check"

disk_report "the browser tests"
say "Browser tests: calls, media, errors, resilience, trust (Playwright + Debian Chromium, inside a network namespace)"
tests/browser/run.sh
stage_done "browser tests"

# The app tests run the release app that the package stage ships: built here, once. A debug app
# would be a second build of every dependency (the app's feature set differs from the core
# crates'), minutes of CI for a binary nobody installs. Without root, the app and package tests
# skip (they need network namespaces), so nothing is built for them.
if [[ $(id -u) -eq 0 ]]; then
  disk_report "the release build"
  scripts/test-packages.sh build
  stage_done "release build"
  say "Rust tests of the app crate (permission policy, settings, pinned signaling, Android project; release)"
  # The features `npx tauri build` passes: the test build shares its compiled dependencies.
  cargo test --locked --release -p lancall --features tauri/custom-protocol </dev/null
  disk_report "the app tests"
  say "App tests: the Tauri app (release) under WebDriver (tauri-driver + WebKitWebDriver on Xvfb, inside a network namespace)"
  LANCALL_APP_BIN="$PWD/target/release/lancall" tests/app/run.sh
  stage_done "app tests"
  scripts/test-packages.sh test
  stage_done "package tests"
else
  tests/app/run.sh
  scripts/test-packages.sh
fi

say "All tests passed"
