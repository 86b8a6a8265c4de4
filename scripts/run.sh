#!/usr/bin/env bash
# Starts lancall.
#
#   scripts/run.sh [ARGS...]        the app where there is a display, the headless host otherwise
#   scripts/run.sh app              the desktop app (Tauri): host a call, or join one found on the LAN
#   scripts/run.sh host [ARGS...]   lancall-host: serves the call page to browsers on this LAN and
#                                   prints the join link and its QR code (try: host --help)
#
# Examples: scripts/run.sh host --name Kitchen --open      scripts/run.sh host --no-mdns
# The app reads switches from the environment (LANCALL_NO_MDNS=1, LANCALL_LOG=debug, ...; see
# src-tauri/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust

what=${1:-}
case "$what" in
  app|host) shift ;;
  *) if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then what=app; else what=host; fi ;;
esac

if [ "$what" = app ]; then
  apt_need pkg-config:pkg-config build-essential libssl-dev libwebkit2gtk-4.1-dev \
    libayatana-appindicator3-dev librsvg2-dev libxdo-dev fonts-noto-color-emoji
  say "Building the lancall app (release; the first build takes several minutes)"
  cargo build --release --locked -p lancall
  [ $# -gt 0 ] && say "The app takes no arguments (ignored: $*); it reads LANCALL_* variables instead"
  say "Starting the lancall app"
  exec target/release/lancall
fi

apt_need pkg-config:pkg-config gcc:cc
say "Building lancall-host (release; the first build takes a few minutes)"
cargo build --release --locked -p lancall-hub --bin lancall-host
say "Starting lancall-host $*"
exec target/release/lancall-host "$@"
