# Shared by scripts/run.sh and scripts/test.sh: say what is happening, install what is missing.
say() { printf '\n==> %s\n' "$*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "error: '$*' needs root, and sudo is not installed. Run it as root." >&2; return 1
  fi
}

APT_UPDATED=0
# apt_need PACKAGE[:COMMAND-OR-FILE] ... installs the Debian packages whose command or file is missing.
apt_need() {
  local missing=() spec pkg probe
  for spec in "$@"; do
    pkg=${spec%%:*}; probe=${spec#*:}
    if [ "$probe" = "$spec" ]; then
      dpkg -s "$pkg" >/dev/null 2>&1 && continue
    elif [ "${probe#/}" != "$probe" ]; then
      [ -e "$probe" ] && continue
    else
      command -v "$probe" >/dev/null 2>&1 && continue
    fi
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]}, and this is not a Debian/Ubuntu system: install them by hand." >&2
    return 1
  fi
  say "Installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install Rust first: https://rustup.rs (then open a new shell)." >&2
    exit 1
  fi
}

# disk_report STAGE: says how much disk the build uses and is left, and warns early when little
# is left (a full disk fails a build halfway with a linker's "No space left on device").
disk_report() {
  local free_kb target_size
  mkdir -p target
  free_kb=$(df -Pk target | awk 'NR==2 {print $4}')
  target_size=$(du -sh target 2>/dev/null | cut -f1)
  say "Disk before $1: target/ uses ${target_size:-?}, $(( free_kb / 1024 / 1024 )) GiB free"
  if [ "${free_kb:-0}" -lt $(( 8 * 1024 * 1024 )) ]; then
    echo "warning: less than 8 GiB free where target/ is; the build may run out of disk (cargo clean frees it)" >&2
  fi
}
