// Native peer benchmark -> bench/native.md. Not a test (no pass/fail on speed); run inside the
// namespace that tests/browser/run.sh makes, with release binaries for the native peer:
//
//   cargo build --release -p lancall-peer
//   LANCALL_PEER_BIN=target/release/lancall-peer tests/browser/run.sh test native/bench-native.mjs
//
// Measures: join -> first remote frame (native<->Chromium, native<->native), sustained frame rate
// at 640x480, CPU of the native peer, one-way video latency (capture time stamped into the
// picture by the native test pattern, read back after decoding on the same machine's clock).
import { test } from 'node:test';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  repoRoot, whyNotRunnable, startHost, launchBrowser, joinCall, waitFor, waitForVideo, closeAll, sleep,
} from '../browser/lib/harness.js';

const PEER_BIN = process.env.LANCALL_PEER_BIN || path.join(repoRoot, 'target/release/lancall-peer');
const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const OUT = process.env.BENCH_OUT ?? path.join(repoRoot, 'bench/native.md');
const CLK_TCK = 100;

function native(joinUrl, name, extra = []) {
  const t0 = Date.now();
  const proc = spawn(PEER_BIN, ['--join', joinUrl, '--name', name, '--json', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = [];
  proc.stderr.on('data', (d) => process.env.LANCALL_TEST_VERBOSE && process.stderr.write(`[${name}] ${d}`));
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      const ev = JSON.parse(line);
      ev.at = ev.unix_ms ?? Date.now(); // the peer's own clock: no pipe or event-loop delay
      events.push(ev);
    } catch { /* ignore */ }
  });
  const exited = new Promise((r) => proc.once('exit', r));
  return {
    proc, events, t0, exited,
    send: (cmd) => proc.stdin.write(`${JSON.stringify(cmd)}\n`),
    event: (what, pred, since = 0, timeout = 20_000) =>
      waitFor(() => events.find((e) => e.at >= since && pred(e)), { timeout, interval: 5, what: `${name}: ${what}` }),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.stdin.write('{"cmd":"hangup"}\n');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

async function cpuOver(pids, ms) {
  const a = pids.map(cpuTicks);
  const t = Date.now();
  await sleep(ms);
  const secs = (Date.now() - t) / 1000;
  return pids.map((p, i) => ((cpuTicks(p) - a[i]) / CLK_TCK / secs) * 100);
}

function codecSpeed() {
  const bin = path.join(path.dirname(PEER_BIN), 'examples/codec_speed');
  try {
    return execFileSync(bin, ['640x480', '300']).toString().trim();
  } catch (err) {
    return `(not run: build it with cargo build --release -p lancall-peer --example codec_speed; ${err.message.split('\n')[0]})`;
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);
const row = (xs) => `| ${xs.length} | ${Math.round(median(xs))} ms | ${Math.round(pct(xs, 95))} ms | ${Math.round(Math.min(...xs))} ms | ${Math.round(Math.max(...xs))} ms |`;

/** Arms the page to note (page clock = machine clock) when the first frame of `peer` is painted. */
async function armFirstFrame(page, peer) {
  await page.evaluate((peer) => {
    window.__firstFrameAt = null;
    const timer = setInterval(() => {
      const v = document.querySelector(`[data-testid=remote-video][data-peer="${peer}"]`);
      if (!v) return;
      clearInterval(timer);
      v.requestVideoFrameCallback(() => { window.__firstFrameAt = Date.now(); });
    }, 2);
  }, peer);
}

/** One-way latency native -> Chromium: read the stamp of `n` painted frames of `peer`. */
async function latencyInPage(page, peer, n) {
  return page.evaluate(async ({ peer, n }) => {
    const v = document.querySelector(`[data-testid=remote-video][data-peer="${peer}"]`);
    const c = document.createElement('canvas');
    c.width = 512; c.height = 16;
    const g = c.getContext('2d', { willReadFrequently: true });
    const out = [];
    for (let i = 0; i < n; i++) {
      await new Promise((r) => v.requestVideoFrameCallback(r));
      const now = Date.now();
      g.drawImage(v, 0, 0, 512, 16, 0, 0, 512, 16);
      const px = g.getImageData(0, 0, 512, 16).data;
      let ms = 0; let ok = true;
      for (let bit = 0; bit < 32; bit++) {
        let sum = 0;
        for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) { const i = (y * 512 + bit * 16 + x) * 4; sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]; }
        const avg = sum / 64;
        if (avg > 70 && avg < 180) { ok = false; break; }
        ms = ms * 2 + (avg >= 128 ? 1 : 0);
      }
      if (ok) out.push(((now % 2 ** 32) - ms + 2 ** 32) % 2 ** 32);
    }
    return out.filter((x) => x < 10_000);
  }, { peer, n });
}

test('native peer benchmark', { skip: whyNotRunnable() ?? undefined, timeout: 20 * 60_000 }, async () => {
  const md = [];
  const load = os.loadavg()[0].toFixed(2);
  const chromium = execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';

  // ---- native <-> Chromium --------------------------------------------------------------
  let host = await startHost();
  const browser = await launchBrowser();
  const ada = await joinCall(browser, host.joinUrl, 'Ada');
  // Half the runs with the native peer offering (session ff…: impolite), half answering (00…).
  const ROLES = { offers: 'f'.repeat(32), answers: '0'.repeat(32) };
  const byRole = { offers: { toNative: [], toChromium: [], fromSpawn: [] }, answers: { toNative: [], toChromium: [], fromSpawn: [] } };
  let lastBot = null;
  for (let i = 0; i < RUNS * 2; i++) {
    const role = i % 2 === 0 ? 'offers' : 'answers';
    const { toNative, toChromium, fromSpawn } = byRole[role];
    const bot = native(host.joinUrl, `Bot${i}`, ['--session', ROLES[role]]);
    const joined = await bot.event('joined', (e) => e.event === 'joined');
    await armFirstFrame(ada.page, joined.self_id);
    const ff = await bot.event('first frame', (e) => e.event === 'first-frame');
    const painted = await waitFor(() => ada.page.evaluate(() => window.__firstFrameAt), { timeout: 20_000, interval: 10, what: 'painted' });
    toNative.push(ff.at - joined.at);
    toChromium.push(painted - joined.at);
    fromSpawn.push(Math.max(ff.at, painted) - bot.t0);
    if (i < RUNS * 2 - 1) {
      await bot.stop();
      await sleep(300);
    } else {
      lastBot = { bot, id: joined.self_id };
    }
  }
  // Sustained rate, latency and CPU with Chromium.
  const { bot, id: botId } = lastBot;
  await waitForVideo(ada.page, botId);
  await sleep(3000);
  const framesA = await ada.page.evaluate(async (peer) => {
    const r = window.lancall.call.remotes.get(peer);
    const read = async () => { let n = 0; (await r.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = Math.max(n, s.framesDecoded ?? 0); }); return n; };
    const a = await read(); const t = performance.now();
    await new Promise((res) => setTimeout(res, 10_000));
    return ((await read()) - a) / ((performance.now() - t) / 1000);
  }, botId);
  const sinceRate = Date.now();
  const [botCpuWithChromium] = await cpuOver([bot.proc.pid], 10_000);
  const rates = bot.events.filter((e) => e.event === 'media' && e.at >= sinceRate).map((e) => e.video_decoded);
  const chromiumSize = bot.events.filter((e) => e.event === 'media').at(-1);
  const latChromium = await latencyInPage(ada.page, botId, 150);
  await bot.stop();
  await closeAll(ada.context, browser);
  await host.stop();
  host.cleanup();

  // ---- native <-> native ----------------------------------------------------------------
  host = await startHost();
  const anchor = native(host.joinUrl, 'Anchor');
  await anchor.event('joined', (e) => e.event === 'joined');
  const nnNew = []; // the anchor's picture at the newcomer, from the newcomer's welcome
  const nnAnchor = []; // the newcomer's picture at the anchor, from the newcomer's welcome
  let keep = null;
  for (let i = 0; i < RUNS; i++) {
    const b = native(host.joinUrl, `New${i}`);
    const joined = await b.event('joined', (e) => e.event === 'joined');
    const ff = await b.event('first frame', (e) => e.event === 'first-frame');
    const added = await anchor.event('newcomer', (e) => e.event === 'remote-added' && e.name === `New${i}`);
    const ffA = await anchor.event('first frame at anchor', (e) => e.event === 'first-frame' && e.link === added.link);
    nnNew.push(ff.at - joined.at);
    nnAnchor.push(ffA.at - joined.at);
    if (i < RUNS - 1) {
      await b.stop();
      await sleep(300);
    } else keep = b;
  }
  await sleep(3000);
  const since = Date.now();
  const [cpuAnchor, cpuNew] = await cpuOver([anchor.proc.pid, keep.proc.pid], 20_000);
  const nnMedia = anchor.events.filter((e) => e.event === 'media' && e.at >= since);
  const nnRates = nnMedia.map((e) => e.video_decoded);
  const nnLat = nnMedia.map((e) => e.latency_ms).filter((x) => x != null);
  const nnAudio = nnMedia.map((e) => e.audio_pps);
  // Without decoding: what the WebRTC path alone costs (what the app's Rust side would do).
  await keep.stop();
  const nd = native(host.joinUrl, 'NoDecode', ['--no-decode']);
  await nd.event('first frame seen', (e) => e.event === 'media' && e.video_fps > 0);
  await sleep(3000);
  const [cpuNoDecode] = await cpuOver([nd.proc.pid], 15_000);
  await nd.stop();
  // The test pattern alone (no peer connected: generation + encoding only).
  await sleep(1500);
  const [cpuAlone] = await cpuOver([anchor.proc.pid], 10_000);
  await anchor.stop();
  await host.stop();
  host.cleanup();

  const r1 = (x) => (x == null ? 'n/a' : Math.round(x * 10) / 10);
  md.push('# Native peer benchmark', '',
    `Made by \`tests/native/bench-native.mjs\` on ${new Date().toISOString().slice(0, 10)} (inside the namespace of \`tests/browser/run.sh\`).`, '',
    `Machine: ${cpu}, ${os.cpus().length} cores; ${chromium} (headless, fake camera and microphone); \`lancall-peer\` ${PEER_BIN.includes('release') ? 'release' : 'debug'} build (${path.relative(repoRoot, PEER_BIN)}), VP8 640x480 at 30 fps asked, cpu-used 8, 1.2 Mbit/s CBR target; Opus 32 kbit/s mono. Load average (1 min) at the start: ${load} (other engineers' builds share the 2 cores).`, '',
    '## Join → first remote frame', '',
    `Method: ${RUNS} times per row a new \`lancall-peer\` joins a room where someone already is; times are from the newcomer's \`welcome\` (its \`joined\` event) to the first picture decoded by the native peer (its \`first-frame\` event, after libvpx decoded it) or painted by Chromium (\`requestVideoFrameCallback\` on the tile). They include the state exchange, offer/answer, ICE, DTLS, SCTP and the first keyframe. Native times are the peer's own clock (\`unix_ms\` in its events), Chromium's are the page's \`Date.now()\`: the same machine clock. The fifth row starts at process start instead, so it adds the process start and the hub connection (TCP, TLS, WebSocket, join).`, '',
    '| direction | runs | p50 | p95 | min | max |', '|---|---|---|---|---|---|',
    `| Chromium's camera decoded by the native newcomer (native offers) ${row(byRole.offers.toNative)}`,
    `| Chromium's camera decoded by the native newcomer (Chromium offers) ${row(byRole.answers.toNative)}`,
    `| native newcomer's pattern painted by Chromium (native offers) ${row(byRole.offers.toChromium)}`,
    `| native newcomer's pattern painted by Chromium (Chromium offers) ${row(byRole.answers.toChromium)}`,
    `| native↔Chromium, process start → both pictures (both roles) ${row([...byRole.offers.fromSpawn, ...byRole.answers.fromSpawn])}`,
    `| native anchor's pattern decoded by the native newcomer ${row(nnNew)}`,
    `| native newcomer's pattern decoded by the native anchor ${row(nnAnchor)}`, '',
    'For comparison, bench/browser.md: browser↔browser, click on Join → first painted frame, p50 248 ms, p95 330 ms (that includes the WebSocket connect and join).', '',
    '## Sustained frame rate at 640x480', '',
    '| path | frames per second (median of 1 s windows) | windows |', '|---|---|---|',
    `| native → native (decoded by libvpx) | ${median(nnRates)} | ${nnRates.length} |`,
    `| native → Chromium (framesDecoded over 10 s) | ${r1(framesA)} | 1 |`,
    `| Chromium's fake camera (${chromiumSize?.width}x${chromiumSize?.height}) → native (decoded) | ${median(rates)} | ${rates.length} |`,
    `| native → native audio packets per second (20 ms Opus) | ${median(nnAudio)} | ${nnAudio.length} |`, '',
    '## CPU of the native peer', '',
    'utime+stime of the `lancall-peer` process from /proc; 100 % = one core. The process generates the test pattern (Rust, 640x480 every frame), encodes VP8 and Opus once, and sends, receives, depacketizes and (unless `--no-decode`) decodes.', '',
    '| situation | CPU |', '|---|---|',
    `| alone in the room: test pattern + VP8/Opus encoding only | ${r1(cpuAlone)} % |`,
    `| 1:1 with a native peer, decoding what arrives (anchor / newcomer) | ${r1(cpuAnchor)} % / ${r1(cpuNew)} % |`,
    `| 1:1 with a native peer, not decoding (\`--no-decode\`: what the app's Rust side does) | ${r1(cpuNoDecode)} % |`,
    `| 1:1 with Chromium, decoding | ${r1(botCpuWithChromium)} % |`, '',
    'Per-frame costs on this machine (`cargo run --release -p lancall-peer --example codec_speed`, one thread each, back to back):', '',
    '```', codecSpeed(), '```', '',
    '## One-way video latency', '',
    'The native test pattern stamps its capture time (ms) into the top row of the picture as 32 black/white blocks; the receiver reads it back from the decoded picture and subtracts it from its own clock (same machine, same clock). This includes encoding, packetization, the network, jitter handling, depacketization and decoding (and for Chromium its render pipeline up to `requestVideoFrameCallback`).', '',
    '| path | samples | p50 | p95 |', '|---|---|---|---|',
    `| native → native | ${nnLat.length} s (median of each second) | ${r1(median(nnLat))} ms | ${r1(pct(nnLat, 95))} ms |`,
    `| native → Chromium (painted frame) | ${latChromium.length} frames | ${r1(median(latChromium))} ms | ${r1(pct(latChromium, 95))} ms |`, '',
    'Browser → browser was not measured the same way (Chromium\'s fake camera carries no timestamp).', '',
    '## What the measurements changed',
    '',
    "- libvpx's VP8 encoder with `g_threads = 2` spin-waits between macroblock rows: on these shared 2 cores the native peer used 40 % of a core alone in a room. One thread: 7 %, at the same 30 fps (a 640x480 frame encodes in about 2 ms).",
    "- `cpu-used` must be positive: a negative value (libvpx's adaptive real-time speed) took 30-70 ms per frame here under load.",
    "- ICE connectivity checks every 50 ms instead of webrtc-rs's default 200 ms (same 1.4 s budget per pair), and peer-reflexive pairs usable at once: join → first frame with the native peer offering to Chromium went from p50 468 ms to 272 ms, native↔native from 240 ms to 146 ms.",
    '- Keyframe requests (RTCP PLI/FIR) from receivers are acted on (an interceptor hands them to the application): the native↔native p95 outlier of 1.2-1.5 s seen before (probably a first keyframe the receiver could not use, then a wait for the periodic one every 3 s) no longer shows up.',
    '');
  writeFileSync(OUT, md.join('\n'));
  console.log(md.join('\n'));
});
