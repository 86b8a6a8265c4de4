#!/usr/bin/env bash
# lancall app tests: the real app (debug build) under tauri-driver + WebKitWebDriver on Xvfb, a
# real lancall-host beside it, and Debian's Chromium, all inside a network namespace made here
# (and always deleted), so that no packet - mDNS included - leaves the machine.
#
#   tests/app/run.sh                 install what is missing, build, run every test
#   tests/app/run.sh FILE...         run some test files (paths relative to tests/app)
#   tests/app/run.sh bench           measurements for bench/app.md (release build; slow to build)
#   tests/app/run.sh bench-native    calls from the Linux app for bench/native-call.md (release)
#
# Needs root (ip netns; apt-get when packages are missing). Works with no stdin. Exit status is
# non-zero when a test fails. Env: LANCALL_TEST_VERBOSE=1 shows the app's and host's logs;
# LANCALL_APP_RELEASE=1 tests the release build; LANCALL_APP_BIN=FILE tests that app, building
# nothing (with LANCALL_HOST_BIN for the lancall-host beside it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
say() { printf '[app-tests] %s\n' "$*" >&2; }

# ---- inside the namespace: links, display, then node ---------------------------------------
if [[ "${1:-}" == "--inside" ]]; then
  shift
  ip link set lo up
  ip link add lcapp0 type veth peer name lcapp1
  ip addr add 10.99.3.1/24 dev lcapp0
  ip addr add 10.99.3.2/24 dev lcapp1
  # IPv4 only: fewer addresses and ICE candidates, nothing else changes.
  sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  ip link set lcapp0 up multicast on
  ip link set lcapp1 up multicast on
  # mDNS needs a route for 224.0.0.251; with no default route, give multicast one.
  ip route add 224.0.0.0/4 dev lcapp0 2>/dev/null || true
  display=":$((90 + RANDOM % 400))"
  Xvfb "$display" -screen 0 1280x900x24 -nolisten tcp >/tmp/lancall-app-xvfb.log 2>&1 &
  xvfb=$!
  trap 'kill $xvfb 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [[ -e "/tmp/.X11-unix/X${display#:}" ]] && break; sleep 0.1; done
  export DISPLAY=$display
  cd "$HERE"
  if [[ "${1:-}" == bench || "${1:-}" == bench-native ]]; then
    node "$1.mjs"
    exit $?
  fi
  if [[ $# -gt 0 ]]; then files=("$@"); else files=(*.test.mjs); fi
  node --test --test-concurrency=1 "${files[@]}"
  exit $?
fi

# ---- what the tests need -------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
  say "SKIP: the app tests need root (network namespaces, and apt-get for missing packages)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
need_pkgs=()
for p in libwebkit2gtk-4.1-dev build-essential libssl-dev libayatana-appindicator3-dev librsvg2-dev \
         libxdo-dev pkg-config xvfb webkit2gtk-driver chromium iproute2 fonts-noto-color-emoji ffmpeg; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
  say "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq </dev/null
  apt-get install -y -qq "${need_pkgs[@]}" </dev/null >/dev/null
fi
if ! command -v tauri-driver >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/tauri-driver" ]]; then
  say "installing tauri-driver (cargo install tauri-driver --locked --version ^2)"
  cargo install tauri-driver --locked --version '^2' </dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
if [[ ! -d "$HERE/node_modules/playwright-core" ]]; then
  say "installing npm dependencies in tests/app (playwright-core; no browser download)"
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  (cd "$HERE" && npm ci --no-audit --no-fund </dev/null)
fi

if [[ "${1:-}" == bench || "${1:-}" == bench-native ]]; then
  export LANCALL_APP_RELEASE=1
fi
if [[ -n "${LANCALL_APP_BIN:-}" && "${LANCALL_APP_RELEASE:-}" != 1 ]]; then
  # An app built elsewhere, e.g. the one the desktop package installed (tests/packages/run.sh).
  say "testing the app at $LANCALL_APP_BIN (no build)"
elif [[ "${LANCALL_APP_RELEASE:-}" == 1 ]]; then
  say "building the release app and its .deb (npx tauri build --bundles deb), and lancall-host (release)"
  if [[ ! -x "$ROOT/src-tauri/node_modules/.bin/tauri" ]]; then
    (cd "$ROOT/src-tauri" && npm ci --no-audit --no-fund </dev/null)
  fi
  (cd "$ROOT/src-tauri" && npx tauri build --bundles deb </dev/null)
  (cd "$ROOT" && cargo build --release -p lancall-hub --bin lancall-host </dev/null)
  export LANCALL_APP_BIN="$ROOT/target/release/lancall" LANCALL_HOST_BIN="$ROOT/target/release/lancall-host"
else
  say "building the app, lancall-host and lancall-peer (cargo build -p lancall -p lancall-hub -p lancall-peer)"
  (cd "$ROOT" && cargo build -p lancall -p lancall-hub -p lancall-peer --bin lancall --bin lancall-host --bin lancall-peer </dev/null)
  say "Rust tests of the app crate (permission policy, settings, pinned signaling, Android project)"
  (cd "$ROOT" && cargo test -p lancall </dev/null)
fi

# ---- the namespace, always deleted -----------------------------------------------------------
NS="lc-app-$$"
cleanup() {
  local pids
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  if [[ -n "$pids" ]]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    sleep 0.5
    pids=$(ip netns pids "$NS" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
  fi
  # A second namespace a test made for a browser (lib/harness.js remoteNamespace), if left behind.
  for ns in "$NS-b"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "/etc/netns/$NS"
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
say "running the tests in network namespace $NS"
export LANCALL_APP_NETNS="$NS"
set +e
ip netns exec "$NS" bash "$HERE/run.sh" --inside "$@" </dev/null
status=$?
set -e
exit $status
