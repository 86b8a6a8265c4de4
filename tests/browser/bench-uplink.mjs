// Benchmark, not a test (run.sh bench uplink): what Chromium thinks it can send the host's SFU.
// Three pages with 720p cameras join an SFU call; once each decodes the others, every second for
// EXP_SECONDS (25) it prints each page's uplink estimate (availableOutgoingBitrate of the SFU
// connection's selected pair), round trip, losses the SFU reported, NACKs and PLIs received, and
// per simulcast layer: picture height, kbit/s sent in that second / Chromium's target, paused or
// not, and why Chromium limits its quality. EXP_CHROME_LOG=1 (with DEBUG=pw:browser) adds
// Chromium's own congestion-control log (probes, estimates) to the output. EXP_TOPOLOGY=mesh
// makes the same call without the SFU. Used for bench/sfu.md's "uplink estimate" section.
import { startHost, launchBrowser, joinCall, waitForVideo, closeAll, sleep, whyNotRunnable } from './lib/harness.js';
const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}
const SECONDS = Number(process.env.EXP_SECONDS ?? 25);
const host = await startHost({ topology: process.env.EXP_TOPOLOGY ?? 'sfu' });
const browser = await launchBrowser({ extra: process.env.EXP_CHROME_LOG ? ['--enable-logging=stderr', '--v=0', '--vmodule=*/webrtc/modules/congestion_controller/*=2,*/webrtc/modules/pacing/*=1,*/webrtc/modules/remote_bitrate_estimator/*=2'] : [] });
const peers = [];
try {
  for (const name of ['Ada', 'Bob', 'Cy']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '720p' }));
  for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
  const t0 = Date.now();
  let last = {};
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    const row = [];
    for (const p of peers) {
      const s = await p.page.evaluate(async () => {
        const pc = window.lancall.call.sfu?.pc ?? window.lancall.call.participants[0]?.pc;
        const st = await pc.getStats();
        const out = { est: 0, rids: {}, lim: '', rtt: 0, nacks: 0, plis: 0, lost: 0 };
        st.forEach((s) => {
          if (s.type === 'transport' && s.selectedCandidatePairId) {
            const pair = st.get(s.selectedCandidatePairId);
            out.est = pair?.availableOutgoingBitrate ?? 0;
            out.rtt = pair?.currentRoundTripTime ?? 0;
          }
          if (s.type === 'outbound-rtp' && s.kind === 'video') {
            out.rids[s.rid ?? '-'] = { bytes: s.bytesSent, h: s.frameHeight ?? 0, active: s.active, target: s.targetBitrate ?? 0, fps: s.framesPerSecond ?? 0, retx: s.retransmittedBytesSent ?? 0 };
            out.lim += `${s.rid}:${s.qualityLimitationReason} `;
            out.nacks += s.nackCount ?? 0; out.plis += s.pliCount ?? 0;
          }
          if (s.type === 'remote-inbound-rtp' && s.kind === 'video') out.lost += s.packetsLost ?? 0;
        });
        return out;
      });
      const prev = last[p.name] ?? s;
      const rates = Object.entries(s.rids).map(([rid, r]) => `${rid}:${r.h}p ${Math.round((r.bytes - (prev.rids[rid]?.bytes ?? 0)) * 8 / 1000)}k/${Math.round(r.target / 1000)}k${r.active ? '' : ' off'}`).join(' ');
      row.push(`${p.name} est ${Math.round(s.est / 1000)}k rtt ${s.rtt} lost ${s.lost} nack ${s.nacks} pli ${s.plis} [${rates}] ${s.lim}`);
      last[p.name] = s;
    }
    console.log(`t+${Math.round((Date.now() - t0) / 1000)}s ${row.join(' | ')}`);
  }
  const health = await peers[0].page.evaluate(async (url) => (await (await fetch(url)).json()).media, `${host.httpsUrl}healthz`);
  console.log(JSON.stringify(health));
} finally {
  await closeAll(peers.map((p) => p.context), browser);
  await host.stop();
  host.cleanup();
}
