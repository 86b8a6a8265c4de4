#!/usr/bin/env bash
# Builds lancall's packages once (release) and tests them as installed (tests/packages/run.sh):
#   the desktop app: .deb and .rpm (npx tauri build --bundles deb,rpm, in src-tauri)
#   the host: a .deb of lancall-host with its systemd unit (packaging/host/build-deb.sh)
#
#   scripts/test-packages.sh          build, then test
#   scripts/test-packages.sh build    build only (scripts/test.sh builds early: the app tests run
#                                     the release app it makes)
#   scripts/test-packages.sh test     test what was built
#
# Needs root to install and remove the packages: without it, it skips (before the release build,
# which takes minutes) and says so. Installs what it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_rust
what=${1:-all}
if [[ $(id -u) -ne 0 ]]; then
  say "SKIP package tests: installing and removing packages needs root (the README's Packages section builds them by hand)"
  exit 0
fi
# dpkg-shlibdeps (the host .deb's dependencies), Debian's rpm (reads the .rpm), the .desktop
# validator, the icon theme's folder list, curl (the host test's client).
apt_need dpkg-dev:dpkg-shlibdeps rpm:rpm desktop-file-utils:desktop-file-validate \
  hicolor-icon-theme:/usr/share/icons/hicolor/index.theme curl:curl util-linux:setpriv
# The app's build needs WebKitGTK's headers (the app tests install the same).
apt_need libwebkit2gtk-4.1-dev:/usr/include/webkitgtk-4.1 build-essential:cc libssl-dev:/usr/include/openssl/ssl.h \
  libayatana-appindicator3-dev:/usr/include/libayatana-appindicator3-0.1 librsvg2-dev:/usr/include/librsvg-2.0 \
  libxdo-dev:/usr/include/xdo.h libvpx-dev:/usr/include/vpx/vpx_encoder.h libopus-dev:/usr/include/opus/opus.h

VERSION=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
if [[ $what == all || $what == build ]]; then
  started=$(date +%s)
  say "Building the desktop packages, release (cd src-tauri && npm ci && npx tauri build --bundles deb,rpm)"
  if [[ ! -x src-tauri/node_modules/.bin/tauri ]]; then
    (cd src-tauri && npm ci --no-audit --no-fund </dev/null)
  fi
  (cd src-tauri && npx tauri build --bundles deb,rpm </dev/null)
  say "Building the host package (cargo build --release -p lancall-hub --bin lancall-host; packaging/host/build-deb.sh)"
  cargo build --locked --release -p lancall-hub --bin lancall-host </dev/null
  host_deb=$(packaging/host/build-deb.sh)
  say "Packages built in $(( $(date +%s) - started )) s:"
  ls -l target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm "$host_deb" >&2
fi
if [[ $what == all || $what == test ]]; then
  host_deb=$(ls target/packages/lancall-host_"${VERSION}"_*.deb 2>/dev/null | head -1)
  say "Package tests: installed as people install them"
  LANCALL_HOST_DEB="$host_deb" LANCALL_HOST_BIN="$PWD/target/release/lancall-host" tests/packages/run.sh
fi
