// Measures calls from the Linux app, whose webview has no RTCPeerConnection (the peer connection
// runs in the app's Rust side): run through `tests/app/run.sh bench-native` (release build,
// inside the test namespace). A headless Chromium ("Grace", fake 640x480 camera) waits in an
// open room of a lancall-host; the app joins it BENCH_CALLS times (Join pressed -> Grace's first
// picture drawn in the app), then one call runs SUSTAIN_S seconds for the frame rates, the CPU
// and the latency of the way through the app; then a second Chromium ("Hal") joins so that the
// same numbers of a browser-to-browser leg are read from Chromium's own stats. Prints Markdown
// for bench/native-call.md.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startApp, homeReady, startHost, launchChromium, pointAtHost, HOST_ADDR, APP_BIN, sleep } from './lib/harness.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20);
const SUSTAIN_S = Number(process.env.SUSTAIN_S ?? 20);
const TICK = 100; // clock ticks a second (getconf CLK_TCK on Linux)

const pct = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((s.length - 1) * q))];
};

/** The sum of `read(pid)` over the processes whose command line matches `pattern`. */
function sumOver(pattern, read) {
  let pids = [];
  try {
    pids = execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return 0;
  }
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += read(pid);
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** CPU ticks (user + system) of the processes whose command line matches `pattern`. */
const ticks = (pattern) =>
  sumOver(pattern, (pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  });

/** Resident memory (KiB) of the processes whose command line matches `pattern`. */
const rssKiB = (pattern) =>
  sumOver(pattern, (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0));

const PROCS = { app: `^${APP_BIN}( |$)`, webkit: 'WebKitWebProcess', chromium: 'chromium' };
const cpuNow = () => Object.fromEntries(Object.entries(PROCS).map(([k, p]) => [k, ticks(p)]));

const tileOf = (name) => `[...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes(${JSON.stringify(name)}))`;

async function inboundFrom(page, name) {
  return page.evaluate(async (who) => {
    const r = window.lancall.call?.participants.find((p) => p.name === who);
    if (!r) return null;
    const out = {};
    (await r.pc.getStats()).forEach((st) => {
      if (st.type === 'inbound-rtp' && st.kind === 'video') {
        out.frames = st.framesDecoded ?? 0;
        out.w = st.frameWidth ?? 0;
        out.h = st.frameHeight ?? 0;
        out.processing = st.totalProcessingDelay ?? null;
        out.decode = st.totalDecodeTime ?? null;
      }
      if (st.type === 'outbound-rtp' && st.kind === 'video') {
        out.encodeTime = st.totalEncodeTime ?? null;
        out.encoded = st.framesEncoded ?? 0;
      }
    });
    return out;
  }, name);
}

const host = await startHost({ open: true, name: 'Bench' });
const browser = await launchChromium();
const joinPage = async (name) => {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
  await page.fill('[data-testid="name"]', name);
  await page.click('[data-testid="join"]');
  await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
  return page;
};
const grace = await joinPage('Grace');

const app = await startApp({ env: { LANCALL_NO_MDNS: '1' } });
const s = app.session;
await homeReady(s);
await pointAtHost(s, 'Ada', host);
// The preview plays before each Join, as when a person joins.
const previewPlays = () => s.waitFor(() => {
  const v = document.querySelector('[data-testid="preview"]');
  return v && v.readyState >= 2 && v.videoWidth > 0 ? true : JSON.stringify({ phase: window.lancall?.phase, src: !!v?.srcObject, rs: v?.readyState, w: v?.videoWidth, tracks: Object.keys(window.lancall?.tracks ?? {}) });
}, { timeout: 20_000, what: 'the preview' });

const firstFrame = [];
/** The same, measured in the page: its click event → the first picture drawn on the tile's canvas. */
const firstDrawn = [];
for (let i = 0; i < CALLS; i += 1) {
  await previewPlays();
  await sleep(300);
  // When the page itself saw the click (the WebDriver round trip before it is not the app's).
  await s.execute(() => {
    window.__joinClickedAt = null;
    document.querySelector('[data-testid="join"]').addEventListener('click', () => {
      window.__joinClickedAt = performance.timeOrigin + performance.now();
    }, { once: true, capture: true });
  });
  const t0 = Date.now();
  await s.click('[data-testid="join"]');
  await s.waitFor(new Function(`const t = ${tileOf('Grace')}; const r = window.lancall.call?.participants.find((p) => p.name === 'Grace'); return t && r?.tx?.video?.receiver.sink?.decoded > 0;`), { timeout: 20_000, what: "Grace's first picture" });
  firstFrame.push(Date.now() - t0);
  const inPage = await s.execute(() => {
    const sink = window.lancall.call?.participants.find((p) => p.name === 'Grace')?.tx?.video?.receiver.sink;
    return sink?.firstDrawnAt && window.__joinClickedAt ? sink.firstDrawnAt - window.__joinClickedAt : null;
  });
  if (inPage !== null) firstDrawn.push(Math.round(inPage));
  const marks = await s.execute(() => window.lancall.call?.participants.find((p) => p.name === 'Grace')?.pc.marks ?? null);
  if (marks) process.stderr.write(`[bench-native]   timeline after Join (ms): ${Object.entries(marks).sort((x, y) => x[1] - y[1]).map(([k, v]) => `${k} ${v - t0}`).join(', ')}\n`);
  process.stderr.write(`[bench-native] call ${i + 1}/${CALLS}: first picture after ${firstFrame.at(-1)} ms (in the page: ${firstDrawn.at(-1)} ms)\n`);
  if (i < CALLS - 1) {
    await s.click('[data-testid="hangup"]');
    await s.waitFor(() => window.lancall.phase === 'ended', { what: 'the ended screen' });
    await s.click('[data-testid="rejoin"]');
  }
}

// One call, sustained.
await sleep(3000);
const appDecoded = () => s.execute(() => window.lancall.call.participants.find((p) => p.name === 'Grace')?.tx?.video?.receiver.sink?.decoded ?? 0);
const a0 = await appDecoded();
const g0 = await inboundFrom(grace, 'Ada');
const c0 = cpuNow();
await sleep(SUSTAIN_S * 1000);
const a1 = await appDecoded();
const g1 = await inboundFrom(grace, 'Ada');
const c1 = cpuNow();
const rss = { app: rssKiB(PROCS.app), webkit: rssKiB(PROCS.webkit) };
const way = await s.execute(() => {
  const c = window.lancall.call;
  const r = c.participants.find((p) => p.name === 'Grace');
  return {
    inP50: r.tx.video.receiver.sink.latency.quantile(0.5),
    inP95: r.tx.video.receiver.sink.latency.quantile(0.95),
    sender: (({ sender: v }) => ({ sent: v?.sent, drawMs: v?.drawMs, sendMs: v?.sendMs }))(window.lancall.bridge.sources().find((x) => x.kind === 'video') ?? {}),
  };
});
// The camera counts come with the stats (the panel asks for them).
await s.click('[data-testid="open-stats"]');
const camera = await s.run(async () => {
  const v = window.lancall.bridge.sources().find((x) => x.kind === 'video');
  return v ? window.lancall.bridge.counts(v.id) : null;
});
if (!camera?.send_latency_ms) throw new Error(`no counts of the app's camera: ${JSON.stringify(camera)}`);
await s.click('[data-testid="open-stats"]');
const cpu = Object.fromEntries(Object.keys(PROCS).map((k) => [k, (100 * (c1[k] - c0[k])) / TICK / SUSTAIN_S]));

// A browser-to-browser leg in the same room, for comparison: Hal -> Grace.
const hal = await joinPage('Hal');
await grace.waitForFunction(() => window.lancall.call.participants.some((p) => p.name === 'Hal' && p.pc.connectionState === 'connected'), null, { timeout: 20_000 });
await sleep(3000);
const h0 = await inboundFrom(grace, 'Hal');
const e0 = await inboundFrom(hal, 'Grace');
await sleep(8000);
const h1 = await inboundFrom(grace, 'Hal');
const e1 = await inboundFrom(hal, 'Grace');
const browserIn = h1.processing !== null ? (1000 * (h1.processing - h0.processing)) / Math.max(1, h1.frames - h0.frames) : null;
const browserEnc = e1.encodeTime !== null ? (1000 * (e1.encodeTime - e0.encodeTime)) / Math.max(1, e1.encoded - e0.encoded) : null;

await browser.close();
await app.stop();
await host.stop();

const f = (x, d = 1) => (x === null || x === undefined ? '–' : Number(x).toFixed(d));
console.log(`| Join → Grace's first picture drawn in the app, ${CALLS} calls, in the page (click event → first picture drawn) | p50 ${pct(firstDrawn, 0.5)} ms, p95 ${pct(firstDrawn, 0.95)} ms (min ${Math.min(...firstDrawn)}, max ${Math.max(...firstDrawn)}) |`);
console.log(`| the same seen from WebDriver (click sent → a poll every 150 ms finds the picture) | p50 ${pct(firstFrame, 0.5)} ms, p95 ${pct(firstFrame, 0.95)} ms (min ${Math.min(...firstFrame)}, max ${Math.max(...firstFrame)}) |`);
console.log(`| app → Grace (Chromium decodes the app's camera), ${SUSTAIN_S} s | ${f((g1.frames - g0.frames) / SUSTAIN_S)} fps at ${g1.w}x${g1.h} |`);
console.log(`| Grace → app (the app decodes and draws Chromium's fake camera, which sends ≤ 20 fps at ≤ 640x480) | ${f((a1 - a0) / SUSTAIN_S)} fps |`);
console.log(`| camera pictures handed to Rust / encoded / dropped (replaced while the encoder was busy) | ${camera.received} / ${camera.encoded} / ${camera.dropped}; convert + VP8 encode ${f(camera.encode_ms / Math.max(1, camera.encoded))} ms a picture |`);
console.log(`| in the webview, per picture sent: VideoFrame.copyTo + I420 conversion / IPC call | ${f(way.sender.drawMs / Math.max(1, way.sender.sent))} ms / ${f(way.sender.sendMs / Math.max(1, way.sender.sent))} ms |`);
console.log(`| way out: picture taken in the webview → VP8 frame handed to the connection | p50 ${f(camera.send_latency_ms[0])} ms, p95 ${f(camera.send_latency_ms[1])} ms |`);
console.log(`| way in: frame complete in Rust → decoded and drawn in the webview | p50 ${f(way.inP50)} ms, p95 ${f(way.inP95)} ms |`);
console.log(`| Chromium, for comparison: encode time a frame (Hal) / first packet → decoded (totalProcessingDelay, Grace from Hal) | ${f(browserEnc)} ms / ${f(browserIn)} ms |`);
console.log(`| CPU during the call (% of one core): app process / its WebKit web process / Chromium (Grace's renderer and GPU processes) | ${f(cpu.app, 0)} % / ${f(cpu.webkit, 0)} % / ${f(cpu.chromium, 0)} % |`);
console.log(`| RSS at the end of that call: app process / its WebKit web process | ${f(rss.app / 1024)} MiB / ${f(rss.webkit / 1024)} MiB |`);
console.log(`\nfirst-frame runs (ms), in the page: ${firstDrawn.join(', ')}; from WebDriver: ${firstFrame.join(', ')}`);
