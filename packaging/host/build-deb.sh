#!/usr/bin/env bash
# Builds the lancall-host .deb from a release binary, with dpkg-deb (no packaging tool to install).
#
#   packaging/host/build-deb.sh [BINARY [OUT_DIR]]
#
# BINARY defaults to target/release/lancall-host (build it first: cargo build --release -p
# lancall-hub --bin lancall-host); OUT_DIR to target/packages. Prints the .deb's path.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-$ROOT/target/release/lancall-host}
OUT=${2:-$ROOT/target/packages}
[[ -x "$BIN" ]] || { echo "error: no lancall-host at $BIN: build it with cargo build --release -p lancall-hub --bin lancall-host" >&2; exit 1; }

# The version every package carries: the workspace's, in Cargo.toml.
VERSION=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/lancall-host"

# Stripped of symbols, as Debian packages are (the release profile keeps them; debug info is gone).
install -s -D -m 755 "$BIN" "$PKG/usr/bin/lancall-host"
install -D -m 644 "$HERE/lancall-host.service" "$PKG/lib/systemd/system/lancall-host.service"
install -D -m 644 "$HERE/host.toml" "$PKG/etc/lancall/host.toml"
install -D -m 644 "$HERE/README" "$PKG/usr/share/doc/lancall-host/README"
install -D -m 644 "$HERE/60-lancall-host.conf" "$PKG/usr/lib/sysctl.d/60-lancall-host.conf"
install -d "$PKG/DEBIAN"
install -m 755 "$HERE/postinst" "$HERE/prerm" "$HERE/postrm" "$PKG/DEBIAN/"
echo /etc/lancall/host.toml >"$PKG/DEBIAN/conffiles"

# The shared libraries it links, as Debian dependencies (dpkg-shlibdeps reads debian/control).
mkdir -p "$STAGE/debian"
printf 'Source: lancall-host\n\nPackage: lancall-host\nArchitecture: any\n' >"$STAGE/debian/control"
DEPENDS=$(cd "$STAGE" && dpkg-shlibdeps -O "$PKG/usr/bin/lancall-host" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n "$DEPENDS" ]] || { echo "error: dpkg-shlibdeps found no dependencies (is dpkg-dev installed?)" >&2; exit 1; }

cat >"$PKG/DEBIAN/control" <<CONTROL
Package: lancall-host
Version: $VERSION
Architecture: $ARCH
Maintainer: lancall
Section: net
Priority: optional
Depends: $DEPENDS
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Description: lancall host: video calls on this LAN, served to browsers
 Serves the lancall call page and signaling over HTTPS on the local network, with its own
 local CA, advertised by mDNS; forwards media for group calls. Runs as the lancall-host
 systemd service with its settings in /etc/lancall/host.toml.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/lancall-host_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
