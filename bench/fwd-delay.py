#!/usr/bin/env python3
"""Forwarding delay inside the host, from a packet capture of its media port (bench/sfu-capacity.sh
with DELAY=1 makes it, on the namespace's lo: both addresses are local there): for each picture
or sound a subscriber was sent, the time its last RTP packet left the host minus the time the
publisher's last RTP packet of it arrived. The SFU keeps the publisher's RTP timestamp (str0m writes the media time it is given;
the synthetic publishers send one layer, so no switch changes it), and the RTP header stays in
the clear under SRTP, so a frame is matched by its timestamp. Packets with the padding bit (the
SFU's bandwidth probes) are left out; a timestamp a second stream repeats (a retransmission's
own SSRC) counts for the first stream only.

    bench/fwd-delay.py CAPTURE.pcap MEDIA_PORT
Prints one JSON line: frames matched, p50/p90/p99/max in ms, how many were not matched, and per
subscriber (by its UDP port): how many had a p99 over 10 ms (str0m's pacer holds media back
towards a subscriber whose bandwidth estimate is below what it is sent), with the p99 of the
others.
"""
import json
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic == 0xA1B2C3D4:
            frac = 1e-6
        elif magic == 0xA1B23C4D:
            frac = 1e-9
        else:
            raise SystemExit(f"{path}: not a little-endian pcap file")
        linktype = struct.unpack("<I", head[20:24])[0]
        if linktype != 1:
            raise SystemExit(f"{path}: link type {linktype}, expected Ethernet (1)")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, sub, incl, _orig = struct.unpack("<IIII", rec)
            data = f.read(incl)
            yield sec + sub * frac, data


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    arrived = {}  # ts -> (ssrc, time of its last packet)
    sent = {}  # (ssrc, ts) -> time of its last packet
    port_of = {}  # outgoing ssrc -> the subscriber's port
    for t, d in packets(path):
        if len(d) < 14 + 20 + 8 + 12 or d[12:14] != b"\x08\x00":
            continue
        ihl = (d[14] & 0x0F) * 4
        if d[14 + 9] != 17:
            continue
        udp = 14 + ihl
        sport, dport = struct.unpack(">HH", d[udp:udp + 4])
        rtp = d[udp + 8:]
        if len(rtp) < 12 or rtp[0] >> 6 != 2 or rtp[0] & 0x20:
            continue
        pt = rtp[1] & 0x7F
        if not 96 <= pt <= 127:
            continue  # RTCP (200-206 read as 72-78) and the like
        ts, ssrc = struct.unpack(">II", rtp[4:12])
        if dport == port:
            prev = arrived.get(ts)
            if prev is None or prev[0] == ssrc:
                arrived[ts] = (ssrc, t)
        elif sport == port:
            sent[(ssrc, ts)] = t
            port_of[ssrc] = dport
    delays = []
    unmatched = 0
    per_stream = {}
    per_sub = {}
    for (ssrc, ts), t in sent.items():
        a = arrived.get(ts)
        if a is None:
            unmatched += 1
            continue
        per_stream[ssrc] = per_stream.get(ssrc, 0) + 1
        ms = (t - a[1]) * 1000
        delays.append(ms)
        per_sub.setdefault(port_of[ssrc], []).append(ms)
    delays.sort()

    def quantile(values, p):
        return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else None

    q = lambda p: quantile(delays, p)
    slow = {sub for sub, v in per_sub.items() if quantile(sorted(v), 0.99) > 10}
    rest = sorted(x for sub, v in per_sub.items() if sub not in slow for x in v)
    print(json.dumps({
        "frames": len(delays),
        "streams": len([s for s, n in per_stream.items() if n >= 50]),
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "max_ms": round(delays[-1], 2) if delays else None,
        "negative": sum(1 for x in delays if x < 0),
        "unmatched": unmatched,
        "subscribers": len(per_sub),
        "subscribers_p99_over_10ms": len(slow),
        "others_p99_ms": quantile(rest, 0.99),
    }))


if __name__ == "__main__":
    main()
