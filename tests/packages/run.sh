#!/usr/bin/env bash
# lancall's packages, checked and used as people install them. scripts/test-packages.sh builds
# them first; this runs the checks on what it built:
#
# - the desktop .deb: its fields and version, its .desktop file (desktop-file-validate) and the
#   icon sizes it installs; installed with `apt-get install ./…deb`, the installed /usr/bin/lancall
#   driven through WebDriver (installed-app.test.mjs: home screen, hosting, a Chromium joins by
#   the link, each sees the other); removed, leaving no file and nothing running
# - the desktop .rpm: `rpm -qip`, its files and requirements (Debian's rpm)
# - the host .deb: its fields and files; installed; its unit through `systemd-analyze verify`;
#   `lancall-host --version`; the installed binary started as the unit starts it (an unprivileged
#   user, the packaged /etc/lancall/host.toml) inside a network namespace made here, with mDNS off:
#   its settings took effect and a client reaches /healthz and the trust page; purged, leaving no
#   file, settings or data
#
#   tests/packages/run.sh     env: LANCALL_DEB, LANCALL_RPM, LANCALL_HOST_DEB (the packages),
#                             LANCALL_HOST_BIN (a lancall-host for the app harness's checks)
#
# Needs root (apt-get, ip netns). Ends with "N passed, N failed"; exit status non-zero on failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
say() { printf '[package-tests] %s\n' "$*" >&2; }
if [[ $(id -u) -ne 0 ]]; then
  say "SKIP: the package tests need root (apt-get install, ip netns)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive

VERSION=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
DEB=${LANCALL_DEB:-$(ls "$ROOT"/target/release/bundle/deb/lancall_"${VERSION}"_*.deb 2>/dev/null | head -1)}
RPM=${LANCALL_RPM:-$(ls "$ROOT"/target/release/bundle/rpm/lancall-"${VERSION}"-*.rpm 2>/dev/null | head -1)}
HOST_DEB=${LANCALL_HOST_DEB:-$(ls "$ROOT"/target/packages/lancall-host_"${VERSION}"_*.deb 2>/dev/null | head -1)}

passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); printf 'ok - %s\n' "$1"; }
not_ok() { failed=$((failed + 1)); printf 'not ok - %s\n' "$1"; shift; [[ $# -gt 0 ]] && printf '  # %s\n' "$@"; }
skip() { skipped=$((skipped + 1)); printf 'ok - %s # SKIP %s\n' "$1" "$2"; }
# check NAME COMMAND...: one test, its output shown only when it fails.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "${out//$'\n'/$'\n  # '}"; fi
}

WORK=$(mktemp -d)
# The host's state folder, apart: WORK is root's alone (0700), and the host runs as nobody.
HOST_DATA=$(mktemp -d)
NS="lc-pkg-$$"
HOST_PID=
cleanup() {
  [[ -n "$HOST_PID" ]] && kill -9 "$HOST_PID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  # Whatever a failed test left installed goes: this machine is not the place for it.
  for p in lancall lancall-host; do
    if [[ -f "$WORK/installed-$p" ]] && dpkg -s "$p" >/dev/null 2>&1; then
      apt-get purge -y -qq "$p" </dev/null >/dev/null 2>&1
    fi
  done
  rm -rf "$WORK" "$HOST_DATA"
}
trap cleanup EXIT

# Every process whose program is FILE (also when the file was deleted under it).
running() {
  local exe pids=()
  for exe in /proc/[0-9]*/exe; do
    [[ "$(readlink "$exe" 2>/dev/null)" == "$1" || "$(readlink "$exe" 2>/dev/null)" == "$1 (deleted)" ]] && pids+=("${exe//[^0-9]/}")
  done
  echo "${pids[*]}"
}

# Of the files a package installed (listed before removal), those still there.
left_behind() {
  local f
  while read -r f; do
    [[ -n "$f" && ! -d "$f" && -e "$f" ]] && echo "$f"
  done <"$1"
}

# apt-get install ./FILE, for a package not installed before (this test removes what it installs).
install_deb() {
  local pkg=$1 file
  file=$(realpath "$2")  # apt-get takes a path for a file only when it has a slash in front
  if dpkg -s "$pkg" >/dev/null 2>&1; then
    echo "$pkg is already installed on this machine; this test installs and removes it: remove it first"
    return 1
  fi
  touch "$WORK/installed-$pkg"
  apt-get install -y -qq "$file" </dev/null
}

# ---- the desktop .deb -------------------------------------------------------------------------
desktop_deb_fields() {
  local f
  f=$(dpkg-deb -f "$DEB" Package Version Depends)
  grep -qx "Package: lancall" <<<"$f" && grep -qx "Version: $VERSION" <<<"$f" \
    && grep -q "libwebkit2gtk-4.1-0" <<<"$f" && grep -q "libvpx7" <<<"$f" && grep -q "libopus0" <<<"$f" \
    || { echo "$f"; return 1; }
}

# desktop-file-validate, and the Icon= it names: every size installed for it is a folder of the
# hicolor theme, holding a PNG of that size; the common sizes are there.
desktop_entry_and_icons() {
  local tree=$WORK/deb desktop icon dir size png w h sizes=()
  mkdir -p "$tree" && dpkg-deb -x "$DEB" "$tree"
  desktop=$(ls "$tree"/usr/share/applications/*.desktop) || return 1
  desktop-file-validate "$desktop" || return 1
  grep -qx "Exec=lancall" "$desktop" || { echo "Exec is not lancall"; return 1; }
  icon=$(sed -n 's/^Icon=//p' "$desktop")
  [[ -n "$icon" ]] || { echo "no Icon= in $desktop"; return 1; }
  local theme=/usr/share/icons/hicolor/index.theme
  [[ -f "$theme" ]] || { echo "no $theme (hicolor-icon-theme)"; return 1; }
  for png in "$tree"/usr/share/icons/hicolor/*/apps/"$icon".png; do
    [[ -f "$png" ]] || { echo "no icon $icon in hicolor"; return 1; }
    dir=$(basename "$(dirname "$(dirname "$png")")")
    grep -qx "\[$dir/apps\]" "$theme" || { echo "icon folder $dir/apps is not one of the hicolor theme's: nothing looks there"; return 1; }
    # PNG width and height: bytes 16-23, big-endian.
    read -r w h < <(od -An -tu1 -j16 -N8 "$png" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
    size=${dir%@2}
    [[ "$dir" == *@2 ]] && size="$(( ${size%x*} * 2 ))x$(( ${size#*x} * 2 ))"
    [[ "${w}x${h}" == "$size" ]] || { echo "$dir/apps/$icon.png is ${w}x${h}"; return 1; }
    sizes+=("$dir")
  done
  for want in 32x32 128x128 256x256; do
    [[ " ${sizes[*]} " == *" $want "* ]] || { echo "no $want icon (has: ${sizes[*]})"; return 1; }
  done
  echo "icons: ${sizes[*]}"
}

desktop_rpm() {
  local info files reqs
  info=$(rpm -qip "$RPM" 2>/dev/null) || { echo "rpm -qip failed"; return 1; }
  grep -Eq "^Name *: lancall$" <<<"$info" && grep -Eq "^Version *: $VERSION$" <<<"$info" || { echo "$info"; return 1; }
  files=$(rpm -qlp "$RPM" 2>/dev/null)
  for f in /usr/bin/lancall /usr/share/applications/lancall.desktop /usr/share/icons/hicolor/128x128/apps/lancall.png; do
    grep -qx "$f" <<<"$files" || { echo "the .rpm has no $f: $files"; return 1; }
  done
  reqs=$(rpm -qpR "$RPM" 2>/dev/null)
  grep -qw libvpx <<<"$reqs" && grep -qw opus <<<"$reqs" || { echo "requires: $reqs"; return 1; }
}

installed_app_removed_cleanly() {
  local pids left
  apt-get remove -y -qq lancall </dev/null >/dev/null || return 1
  dpkg -s lancall >/dev/null 2>&1 && dpkg -s lancall | grep -q "^Status: install" && { echo "still installed"; return 1; }
  left=$(left_behind "$WORK/lancall.files")
  [[ -z "$left" ]] || { echo "left behind: $left"; return 1; }
  pids=$(running /usr/bin/lancall)
  [[ -z "$pids" ]] || { echo "still running from /usr/bin/lancall: $pids"; return 1; }
}

if [[ -f "$DEB" ]]; then
  say "the desktop .deb: $DEB ($(du -h "$DEB" | cut -f1))"
  check "the desktop .deb is lancall $VERSION and depends on WebKitGTK, libvpx and libopus" desktop_deb_fields
  check "its .desktop file passes desktop-file-validate, and its icons are hicolor sizes of the right size" desktop_entry_and_icons
  if check_out=$(install_deb lancall "$DEB" 2>&1); then
    ok "apt-get install ./$(basename "$DEB") installs it with its dependencies"
    dpkg -L lancall >"$WORK/lancall.files"
    say "driving the installed /usr/bin/lancall through WebDriver"
    if LANCALL_APP_BIN=/usr/bin/lancall LANCALL_PACKAGE_VERSION="$VERSION" \
       LANCALL_HOST_BIN="${LANCALL_HOST_BIN:-$ROOT/target/release/lancall-host}" \
       "$ROOT/tests/app/run.sh" ../packages/installed-app.test.mjs; then
      ok "the installed app hosts a call that a browser joins by the link, and each sees the other"
    else
      not_ok "the installed app hosts a call that a browser joins by the link, and each sees the other" "see the node test output above"
    fi
    check "apt-get remove takes every file it installed and leaves nothing running" installed_app_removed_cleanly
  else
    not_ok "apt-get install ./$(basename "$DEB") installs it with its dependencies" "${check_out//$'\n'/$'\n  # '}"
  fi
else
  not_ok "the desktop .deb was built" "none in target/release/bundle/deb (scripts/test-packages.sh builds it)"
fi

if [[ -f "$RPM" ]]; then
  say "the desktop .rpm: $RPM ($(du -h "$RPM" | cut -f1))"
  check "the desktop .rpm is lancall $VERSION with the app, its .desktop file and icons, and requires libvpx and opus" desktop_rpm
else
  not_ok "the desktop .rpm was built" "none in target/release/bundle/rpm (scripts/test-packages.sh builds it)"
fi

# ---- the host .deb ----------------------------------------------------------------------------
host_deb_fields() {
  local f c
  f=$(dpkg-deb -f "$HOST_DEB" Package Version Depends)
  grep -qx "Package: lancall-host" <<<"$f" && grep -qx "Version: $VERSION" <<<"$f" && grep -q "libc6" <<<"$f" || { echo "$f"; return 1; }
  c=$(dpkg-deb -c "$HOST_DEB" | awk '{print $6}')
  for want in ./usr/bin/lancall-host ./lib/systemd/system/lancall-host.service ./etc/lancall/host.toml ./usr/share/doc/lancall-host/README ./usr/lib/sysctl.d/60-lancall-host.conf; do
    grep -qx "$want" <<<"$c" || { echo "no $want in: $c"; return 1; }
  done
  dpkg-deb --ctrl-tarfile "$HOST_DEB" | tar -xO ./conffiles | grep -qx /etc/lancall/host.toml || { echo "host.toml is not a conffile"; return 1; }
}

unit_verifies() {
  local err unit=/lib/systemd/system/lancall-host.service
  grep -qx "ExecStart=/usr/bin/lancall-host --config /etc/lancall/host.toml" "$unit" || { echo "ExecStart changed"; return 1; }
  for want in DynamicUser=yes StateDirectory=lancall Restart=on-failure; do grep -qx "$want" "$unit" || { echo "no $want"; return 1; }; done
  # It warns (and exits 0) on an unknown key: a warning fails this test.
  err=$(systemd-analyze verify "$unit" 2>&1) || { echo "$err"; return 1; }
  [[ -z "$err" ]] || { echo "$err"; return 1; }
}

host_version() {
  local v
  v=$(/usr/bin/lancall-host --version) && [[ "$v" == "lancall-host $VERSION" ]] || { echo "$v"; return 1; }
}

# The installed binary as the unit starts it: the packaged settings, an unprivileged user, its own
# state folder; in a namespace with a LAN-like veth pair, mDNS off (nothing leaves the namespace).
# The packaged ports are fixed (7443, 7080), which the namespace keeps to itself.
host_serves_with_packaged_config() {
  local data=$HOST_DATA out=$WORK/host.out ready health trust
  ip netns add "$NS" || return 1
  ip -n "$NS" link set lo up
  ip -n "$NS" link add lcpkg0 type veth peer name lcpkg1
  ip -n "$NS" addr add 10.99.5.1/24 dev lcpkg0
  ip -n "$NS" addr add 10.99.5.2/24 dev lcpkg1
  ip -n "$NS" link set lcpkg0 up
  ip -n "$NS" link set lcpkg1 up
  chown 65534:65534 "$data" && chmod 700 "$data"
  ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
    /usr/bin/lancall-host --config /etc/lancall/host.toml --no-mdns --data-dir "$data" --json \
    </dev/null >"$out" 2>"$WORK/host.err" &
  HOST_PID=$!
  for _ in $(seq 200); do grep -q '"event":"ready"' "$out" 2>/dev/null && break; kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
  ready=$(grep -m1 '"event":"ready"' "$out") || { echo "no ready line:"; cat "$WORK/host.err"; return 1; }
  # What host.toml says, as the host took it.
  node -e '
    const e = JSON.parse(process.argv[1]);
    const want = { room: "call", topology: "auto", capacity: 8, https_port: 7443, http_port: 7080, media_port: 7443, mdns_instance: null };
    for (const [k, v] of Object.entries(want)) if (e[k] !== v) { console.log(`${k}: ${JSON.stringify(e[k])}, host.toml says ${JSON.stringify(v)}`); process.exit(1); }
    if (!/^[0-9a-f]{32}$/.test(e.token ?? "")) { console.log("the room has no token"); process.exit(1); }
  ' "$ready" || return 1
  health=$(ip netns exec "$NS" curl -sS --max-time 10 -k https://10.99.5.1:7443/healthz) || { echo "no /healthz: $health"; return 1; }
  node -e '
    const h = JSON.parse(process.argv[1]);
    if (h.status !== "ok" || h.version !== process.argv[2] || !h.media) { console.log(JSON.stringify(h)); process.exit(1); }
  ' "$health" "$VERSION" || return 1
  trust=$(ip netns exec "$NS" curl -sS --max-time 10 -o /dev/null -w '%{http_code}' http://10.99.5.1:7080/) || return 1
  [[ "$trust" == 200 ]] || { echo "the trust page answered $trust"; return 1; }
  [[ -f "$data/rooms.json" && $(stat -c %U "$data/rooms.json") == nobody ]] || { echo "no rooms.json of its own in its state folder"; ls -la "$data"; return 1; }
  kill -TERM "$HOST_PID"
  wait "$HOST_PID" || { echo "it exited with $? on SIGTERM"; return 1; }
  HOST_PID=
  grep -q '"event":"stopped"' "$out" || { echo "no stopped event"; return 1; }
}

host_purged_cleanly() {
  local left pids
  apt-get purge -y -qq lancall-host </dev/null >/dev/null || return 1
  left=$(left_behind "$WORK/lancall-host.files")
  [[ -z "$left" ]] || { echo "left behind: $left"; return 1; }
  [[ ! -e /etc/lancall ]] || { echo "/etc/lancall is still there"; return 1; }
  pids=$(running /usr/bin/lancall-host)
  [[ -z "$pids" ]] || { echo "still running from /usr/bin/lancall-host: $pids"; return 1; }
}

if [[ -f "$HOST_DEB" ]]; then
  say "the host .deb: $HOST_DEB ($(du -h "$HOST_DEB" | cut -f1))"
  check "the host .deb is lancall-host $VERSION with the program, its unit, its settings (a conffile) and a README" host_deb_fields
  if check_out=$(install_deb lancall-host "$HOST_DEB" 2>&1); then
    ok "apt-get install ./$(basename "$HOST_DEB") installs it"
    dpkg -L lancall-host >"$WORK/lancall-host.files"
    if command -v systemd-analyze >/dev/null; then
      check "its systemd unit (DynamicUser, StateDirectory, Restart=on-failure) passes systemd-analyze verify" unit_verifies
    else
      skip "its systemd unit passes systemd-analyze verify" "systemd-analyze is not installed"
    fi
    check "the installed lancall-host --version says $VERSION" host_version
    check "the installed lancall-host, started as its unit starts it, takes host.toml's settings and a client reaches /healthz and the trust page" host_serves_with_packaged_config
    check "apt-get purge takes its files, settings and unit, and leaves nothing running" host_purged_cleanly
  else
    not_ok "apt-get install ./$(basename "$HOST_DEB") installs it" "${check_out//$'\n'/$'\n  # '}"
  fi
else
  not_ok "the host .deb was built" "none in target/packages (scripts/test-packages.sh builds it)"
fi

printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[[ $failed -eq 0 ]]
