#!/usr/bin/env bash
# Type-checks the app for Android (aarch64) on a machine without the Android NDK: the Rust code
# behind cfg(target_os = "android") / cfg(mobile) (the mobile entry point, the multicast-lock
# plugin) must compile. Nothing is linked, so a stand-in C compiler is enough for ring's build
# script: Debian's clang with glibc's aarch64 headers in place of the NDK's bionic sysroot.
# Building a real APK needs the SDK and NDK: see README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
missing=()
command -v clang >/dev/null || missing+=(clang)
command -v llvm-ar >/dev/null || missing+=(llvm)
[[ -d /usr/aarch64-linux-gnu/include ]] || missing+=(libc6-dev-arm64-cross)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "[check-android] installing ${missing[*]}" >&2
  apt-get update -qq </dev/null && apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi
rustup target add aarch64-linux-android >/dev/null
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
cat >"$shim/aarch64-linux-android-clang" <<'SH'
#!/bin/sh
exec clang --target=aarch64-linux-android26 -nostdlibinc -isystem /usr/aarch64-linux-gnu/include "$@"
SH
chmod +x "$shim/aarch64-linux-android-clang"
cd "$ROOT"
PATH="$shim:$PATH" CC_aarch64_linux_android=aarch64-linux-android-clang AR_aarch64_linux_android=llvm-ar \
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/android-check}" \
  cargo check --target aarch64-linux-android -p lancall --tests </dev/null
echo "[check-android] the app compiles for aarch64-linux-android" >&2
