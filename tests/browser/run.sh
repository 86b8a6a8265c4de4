#!/usr/bin/env bash
# lancall browser tests: real lancall-host + Debian Chromium (playwright-core), inside a private
# network namespace so that no packet leaves the machine.
#
#   tests/browser/run.sh                  run every test (node --test)
#   tests/browser/run.sh test FILE...     run some test files
#   tests/browser/run.sh bench            join-time and mesh CPU/memory benchmark -> bench/browser.md
#   tests/browser/run.sh bench first-picture   Join click -> both see each other, traced -> bench/first-picture.md
#   tests/browser/run.sh bench first-picture-sfu   the same through the host's SFU -> its section of bench/first-picture.md
#   tests/browser/run.sh bench datachannel   Chromium to Chromium over bare data channels: 1 or 4 channels, 1-4 connections
#   tests/browser/run.sh bench sfu        mesh against SFU at 4 people, and lancall's SFU against Janus -> bench/sfu.md
#   tests/browser/run.sh bench uplink     Chromium's uplink estimate towards the SFU, second by second (printed)
#   tests/browser/run.sh bench switch     the gap in pictures when an auto room moves to the SFU and back -> bench/sfu.md
#   tests/browser/run.sh bench files      a 200 MB file in the call against an HTTPS upload, receiver memory -> bench/files.md
#   tests/browser/run.sh shots            screenshots of the UI -> $SHOTS_DIR (default /tmp/lancall-shots)
#
# As root it makes a namespace with `ip netns` and deletes it on exit; otherwise it tries an
# unprivileged user+network namespace (unshare -Urn); if neither works, the tests are skipped
# with a message. Works with no stdin (CI). Exit status: non-zero when a test fails.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TESTS="$ROOT/tests"
say() { printf '[browser-tests] %s\n' "$*" >&2; }

# ---- inside the namespace: make the veth pair, then run node -------------------------------
if [[ "${1:-}" == "--inside" ]]; then
  shift
  mode=$1; shift
  if ! ip link show lcv0 >/dev/null 2>&1; then
    ip link set lo up
    ip link add lcv0 type veth peer name lcv1
    ip addr add 10.99.1.1/24 dev lcv0
    ip addr add 10.99.1.2/24 dev lcv1
    # IPv4 only: fewer ICE candidates, nothing else changes.
    sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip link set lcv0 up
    ip link set lcv1 up
  fi
  export LANCALL_NETNS=${LANCALL_NETNS:-userns}
  cd "$TESTS"
  case "$mode" in
    test)
      if [[ $# -gt 0 ]]; then files=("$@"); else files=(browser/*.test.mjs trust/*.test.mjs native/*.test.mjs); fi
      exec node --test --test-concurrency=1 "${files[@]}"
      ;;
    bench)
      if [[ "${1:-}" == first-picture ]]; then shift; exec node browser/bench-first-picture.mjs "$@"; fi
      if [[ "${1:-}" == files ]]; then shift; exec node browser/bench-files.mjs "$@"; fi
      if [[ "${1:-}" == datachannel ]]; then shift; exec node browser/bench-datachannel.mjs "$@"; fi
      if [[ "${1:-}" == first-picture-sfu || "${1:-}" == sfu ]]; then
        # The SFU's benchmarks measure its CPU and its latency: the host is built optimised, as
        # Janus is (offline: no network in here; the dependencies are the debug build's above).
        if [[ -z "${LANCALL_HOST_BIN:-}" ]]; then
          say "building an optimised lancall-host for the SFU benchmarks (cargo build --release)"
          (cd "$ROOT" && CARGO_NET_OFFLINE=true cargo build --release -p lancall-hub --bin lancall-host </dev/null)
          export LANCALL_HOST_BIN="$ROOT/target/release/lancall-host"
        fi
        if [[ "$1" == sfu && -z "${LANCALL_PEER_BIN:-}" ]]; then
          say "building an optimised lancall-peer for the synthetic participants (cargo build --release)"
          (cd "$ROOT" && CARGO_NET_OFFLINE=true cargo build --release -p lancall-peer --bin lancall-peer </dev/null)
          export LANCALL_PEER_BIN="$ROOT/target/release/lancall-peer"
        fi
        if [[ "$1" == sfu ]]; then shift; exec node browser/bench-sfu.mjs "$@"; fi
        shift; BENCH_TOPOLOGY=sfu exec node browser/bench-first-picture.mjs "$@"
      fi
      if [[ "${1:-}" == uplink ]]; then shift; exec node browser/bench-uplink.mjs "$@"; fi
      if [[ "${1:-}" == switch ]]; then shift; exec node browser/bench-switch.mjs "$@"; fi
      exec node browser/bench-join.mjs "$@" ;;
    shots) exec node browser/screenshots.mjs "$@" ;;
    *) say "unknown mode: $mode"; exit 2 ;;
  esac
fi

mode=${1:-test}
[[ $# -gt 0 ]] && shift
case "$mode" in test|bench|shots) ;; *) say "usage: $0 [test [FILE...] | bench | shots]"; exit 2 ;; esac

# ---- what the tests need -------------------------------------------------------------------
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    say "installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq chromium </dev/null >/dev/null
  else
    say "SKIP: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium)"
    exit 0
  fi
fi
# Reactions and the raised hand are emoji: without a colour emoji font they draw as empty boxes.
if [[ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf && $(id -u) -eq 0 ]]; then
  say "installing Debian's fonts-noto-color-emoji (reactions are emoji)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji </dev/null >/dev/null \
    || { apt-get update -qq </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji </dev/null >/dev/null; }
fi
if [[ ! -d "$TESTS/node_modules/playwright-core" ]]; then
  say "installing npm dependencies in tests/ (playwright-core; no browser download)"
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  (cd "$TESTS" && { npm ci --no-audit --no-fund </dev/null || npm install --no-audit --no-fund </dev/null; })
fi
say "building lancall-host and the native peer (cargo build -p lancall-hub -p lancall-peer)"
(cd "$ROOT" && cargo build -p lancall-hub --bin lancall-host -p lancall-peer --bin lancall-peer </dev/null)

# ---- the namespace -------------------------------------------------------------------------
if [[ $(id -u) -eq 0 ]] && ip netns add "lc-ui-probe-$$" 2>/dev/null; then
  ip netns del "lc-ui-probe-$$"
  NS="lc-ui-$$"
  cleanup() {
    local pids
    # The resilience test's second namespace, if a test died before removing it.
    if ip netns list 2>/dev/null | grep -q "^$NS-b\b"; then
      pids=$(ip netns pids "$NS-b" 2>/dev/null || true)
      [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
      ip netns del "$NS-b" 2>/dev/null || true
    fi
    pids=$(ip netns pids "$NS" 2>/dev/null || true)
    if [[ -n "$pids" ]]; then
      say "stopping processes left in $NS: $pids"
      kill $pids 2>/dev/null || true
      sleep 1
      pids=$(ip netns pids "$NS" 2>/dev/null || true)
      [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "/etc/netns/$NS"
    say "deleted network namespace $NS"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  say "creating network namespace $NS (veth lcv0 10.99.1.1/24 <-> lcv1 10.99.1.2/24, no default route)"
  ip netns add "$NS"
  mkdir -p "/etc/netns/$NS"
  echo 'nameserver 127.0.0.1' >"/etc/netns/$NS/resolv.conf"
  ip -n "$NS" link set lo up
  ip -n "$NS" link add lcv0 type veth peer name lcv1
  ip -n "$NS" addr add 10.99.1.1/24 dev lcv0
  ip -n "$NS" addr add 10.99.1.2/24 dev lcv1
  ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  ip -n "$NS" link set lcv0 up
  ip -n "$NS" link set lcv1 up
  say "running $mode inside $NS"
  set +e
  ip netns exec "$NS" env LANCALL_NETNS="$NS" bash "$HERE/run.sh" --inside "$mode" "$@" </dev/null
  status=$?
  set -e
  exit $status
elif unshare -Urn true 2>/dev/null; then
  say "not root: running $mode in an unprivileged user+network namespace (unshare -Urn)"
  exec unshare -Urn env LANCALL_NETNS=userns bash "$HERE/run.sh" --inside "$mode" "$@" </dev/null
else
  say "SKIP: browser tests need a private network namespace: run as root, or enable unprivileged user namespaces"
  exit 0
fi
