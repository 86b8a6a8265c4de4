#!/usr/bin/env bash
# Capacity of lancall's SFU (issue 14): a release lancall-host --topology sfu and N synthetic
# participants (lancall-peer --synthetic N: 640x360 pre-encoded VP8 loop at 25 fps + Opus, each
# its own hub and SFU connection, everyone subscribed to everyone), inside a network namespace
# this script makes (a veth pair with both ends inside, no default route: nothing leaves).
#
# For each N: the host's CPU-seconds per second (utime+stime from /proc/PID/stat over the
# measured window) and RSS at its end, the SFU's counters from /healthz (frames forwarded,
# datagrams received) over the same window, the load generator's CPU-seconds per second, each UDP socket's
# receive-buffer drops (/proc/net/udp inside the namespace: the SFU's socket against the clients'), the receivers' loss (RTP timestamps: frames sent
# from the first to the last that arrived, against those that did), and the load average.
#
#   bench/sfu-capacity.sh [N ...]          (default 4 8 12 16 20; as root)
# DELAY=1 also measures the forwarding delay inside the host (tcpdump on the namespace's lo, which
# carries the traffic between the two local addresses, over the window, read by bench/fwd-delay.py;
# installs Debian's tcpdump if missing). PIN=1 gives the host a core of its own (see below).
# LOOP_SECONDS: length of each synthetic participant's pre-encoded loop (default 2): its only key
# frame starts it, so it is also how often each sends one (a browser: only when asked).
# Environment: SECONDS_PER_RUN (default 30; the window is the last WINDOW=15 s of it),
# LANCALL_HOST_BIN, LANCALL_PEER_BIN (default target/release/…, built if missing), HOST_LOG
# (keep the host's log of each run; see below), PEER_LOG (the same for the load generator: its
# stderr and its summary) and PEER_LOG_LEVEL (its log level, default error).
set -euo pipefail
cd "$(dirname "$0")/.."
NS="lc-cap-$$"
RUN_S="${SECONDS_PER_RUN:-30}"
WINDOW="${WINDOW:-15}"
HOST_BIN="${LANCALL_HOST_BIN:-target/release/lancall-host}"
PEER_BIN="${LANCALL_PEER_BIN:-target/release/lancall-peer}"
if [ "${DELAY:-0}" = 1 ]; then . scripts/lib.sh; apt_need tcpdump; fi
[ -x "$HOST_BIN" ] || cargo build --release -p lancall-hub --bin lancall-host
[ -x "$PEER_BIN" ] || cargo build --release -p lancall-peer --bin lancall-peer
NS_LIST=("$@"); [ ${#NS_LIST[@]} -gt 0 ] || NS_LIST=(4 8 12 16 20)
TMP=$(mktemp -d)
cleanup() {
  [ -n "${HOST_PID:-}" ] && kill "$HOST_PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add va type veth peer name vb
ip -n "$NS" addr add 10.99.7.1/24 dev va
ip -n "$NS" addr add 10.99.7.2/24 dev vb
ip -n "$NS" link set va up
ip -n "$NS" link set vb up
# PIN=1: the host on the first core, the load generator (and tcpdump) on the other, so that
# what is measured is the host with a core of its own (the target: 20 people within one core).
PIN_HOST=; PIN_LOAD=
if [ "${PIN:-0}" = 1 ]; then PIN_HOST="taskset -c 0"; PIN_LOAD="taskset -c 1"; fi
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
healthz() { ip netns exec "$NS" curl -sk "https://10.99.7.1:$PORT/healthz"; }

echo "| N | video streams | host CPU-s/s | RSS MB | load generator CPU-s/s | UDP drops: SFU socket / clients | frames fwd/s | datagrams in/s | us per fwd frame | video loss (mean / worst stream) | audio loss | packets the load generator dropped | forwarding delay in the host, ms: p50 / p99 / max | load avg |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for N in "${NS_LIST[@]}"; do
  rm -rf "$TMP/data"; mkdir -p "$TMP/data"
  ip netns exec "$NS" $PIN_HOST "$HOST_BIN" --listen 10.99.7.1:0 --room call --topology sfu --media-port 0 \
    --no-mdns --json --log-level error --capacity 64 --data-dir "$TMP/data" >"$TMP/host.out" 2>"$TMP/host.err" &
  HOST_PID=$!
  for _ in $(seq 100); do grep -q '"ready"' "$TMP/host.out" 2>/dev/null && break; sleep 0.1; done
  URL=$(grep '"ready"' "$TMP/host.out" | head -1 | sed 's/.*"join_url":"\([^"]*\)".*/\1/')
  PORT=$(echo "$URL" | sed 's|https://[^:]*:\([0-9]*\)/.*|\1|')
  ip netns exec "$NS" $PIN_LOAD "$PEER_BIN" --join "$URL" --synthetic "$N" --seconds "$RUN_S" --join-every 0.2 \
    --loop-seconds "${LOOP_SECONDS:-2}" --name Synth --log-level "${PEER_LOG_LEVEL:-error}" >"$TMP/peer.out" 2>"$TMP/peer.err" &
  PEER_PID=$!
  # Everyone joined (N x 0.2 s) plus the rest of the run minus the window: then measure.
  sleep "$(echo "$N * 0.2 + $RUN_S - $WINDOW - 2" | bc)"
  # DELAY=1: capture the media port's traffic over the window (headers only) for the
  # forwarding delay inside the host (bench/fwd-delay.py). tcpdump costs CPU of its own.
  CAP_PID=
  if [ "${DELAY:-0}" = 1 ]; then
    MEDIA_PORT=$(healthz | python3 -c 'import json,sys; print(json.load(sys.stdin)["media"]["port"])')
    ip netns exec "$NS" $PIN_LOAD tcpdump -i lo -n -s 80 -B 65536 --time-stamp-precision=nano -w "$TMP/cap.pcap" \
      udp port "$MEDIA_PORT" 2>"$TMP/tcpdump.err" &
    CAP_PID=$!
    sleep 0.5
  fi
  t0=$(cpu_ticks "$HOST_PID"); p0=$(cpu_ticks "$PEER_PID"); h0=$(healthz); s0=$(date +%s.%N)
  sleep "$WINDOW"
  t1=$(cpu_ticks "$HOST_PID"); p1=$(cpu_ticks "$PEER_PID"); h1=$(healthz); s1=$(date +%s.%N); rss=$(rss_kb "$HOST_PID")
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  ip netns exec "$NS" cat /proc/net/udp >"$TMP/udp"
  delay="-"
  if [ -n "$CAP_PID" ]; then
    kill -INT "$CAP_PID"; wait "$CAP_PID" 2>/dev/null || true
    delay=$(python3 bench/fwd-delay.py "$TMP/cap.pcap" "$MEDIA_PORT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%s / %s / %s (%d frames; %d of %d subscribers over 10 ms at p99)" % (d["p50_ms"], d["p99_ms"], d["max_ms"], d["frames"], d["subscribers_p99_over_10ms"], d["subscribers"]))')
    [ -n "${KEEP_CAPTURE:-}" ] && cp "$TMP/cap.pcap" "$KEEP_CAPTURE-$N.pcap"
    echo "N=$N: tcpdump: $(grep -E 'captured|dropped' "$TMP/tcpdump.err" | tr '\n' ' ')" >&2
  fi
  wait "$PEER_PID" || true
  kill "$HOST_PID"; wait "$HOST_PID" 2>/dev/null || true; HOST_PID=
  # HOST_LOG=PATH keeps the host's log of each run as PATH-N (with RUST_LOG=lancall_sfu=debug it
  # says why each key frame was asked for: a gap from the publisher, or a subscriber's request).
  [ -n "${HOST_LOG:-}" ] && cp "$TMP/host.err" "$HOST_LOG-$N"
  # RTP packets the load generator's own WebRTC stack (webrtc-rs) dropped on arrival, over the
  # whole run: its queue towards each track's reader holds 256 packets and drops when full (it
  # logs each drop). Such a drop counts as loss at that receiver, but the SFU sent the packet.
  gen_drops=$(grep -c "Failed to send RtpPacket" "$TMP/peer.err" || true)
  [ -n "${PEER_LOG:-}" ] && cp "$TMP/peer.err" "$PEER_LOG-$N.err" && cp "$TMP/peer.out" "$PEER_LOG-$N.out"
  python3 - "$N" "$t0" "$t1" "$TICK" "$s0" "$s1" "$rss" "$load" "$TMP/peer.out" "$h0" "$h1" "$p0" "$p1" "$TMP/udp" "$gen_drops" "$delay" <<'EOF'
import json, sys
n, t0, t1, tick, s0, s1, rss, load, peer, h0, h1, p0, p1, udp, gen_drops, delay = sys.argv[1:]
dt = float(s1) - float(s0)
cpu = (int(t1) - int(t0)) / int(tick) / dt
pcpu = (int(p1) - int(p0)) / int(tick) / dt
m0, m1 = json.loads(h0)["media"], json.loads(h1)["media"]
fwd = (m1["frames_forwarded"] - m0["frames_forwarded"]) / dt
din = (m1["datagrams_received"] - m0["datagrams_received"]) / dt
# Each socket's receive-buffer drops since it opened (the last column of /proc/net/udp).
sfu_drops = client_drops = 0
for line in open(udp).read().splitlines()[1:]:
    f = line.split()
    port = int(f[1].split(":")[1], 16)
    if port == m1["port"]:
        sfu_drops += int(f[-1])
    else:
        client_drops += int(f[-1])
try:
    s = [json.loads(l) for l in open(peer) if '"synthetic-summary"' in l][-1]
    streams = f'{s["video_streams"]}/{s["video_streams_expected"]}'
    vloss = f'{100*s["video_loss"]:.2f} % / {100*s["video_loss_max"]:.2f} %'
    aloss = f'{100*s["audio_loss"]:.2f} %'
except (IndexError, ValueError, KeyError):
    streams, vloss, aloss = "?", "no summary", "?"
us = cpu * 1e6 / fwd if fwd else float("nan")
# The SFU's other counters over the window (what it did not forward, and why), to stderr.
moved = {k: m1[k] - m0[k] for k in m1 if isinstance(m1[k], int) and isinstance(m0.get(k), int) and m1[k] != m0[k] and k not in ("port", "tcp_port")}
print(f"N={n}: SFU counters over the window: {json.dumps(moved)}", file=sys.stderr)
print(f"| {n} | {streams} | {cpu:.3f} | {int(rss)/1024:.0f} | {pcpu:.2f} | {sfu_drops} / {client_drops} | {fwd:.0f} | {din:.0f} | {us:.1f} | {vloss} | {aloss} | {gen_drops} | {delay} | {load} |")
EOF
done
