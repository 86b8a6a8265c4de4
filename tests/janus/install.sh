#!/usr/bin/env bash
# Installs Debian's Janus (the VideoRoom plugin comes with the `janus` package) for the SFU
# benchmark (tests/browser/run.sh bench sfu). Run as root, outside any test namespace (apt-get
# needs the network, which the benchmark's namespace does not have). Janus does not start by
# itself: the benchmark starts it inside its namespace with the configuration in this folder.
set -euo pipefail
if command -v janus >/dev/null 2>&1; then
  echo "janus is installed: $(janus --version 2>/dev/null | head -1)"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "installing janus needs root: sudo $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq janus </dev/null >/dev/null
echo "installed: $(janus --version 2>/dev/null | head -1)"
