// Benchmark, not a test (run.sh bench sfu): what forwarding through the host's SFU costs and saves,
// with real Chromium clients, one browser process per person so that each one's CPU is its own.
//
//  1. Mesh against SFU at 4 people: each browser's uplink (outbound-rtp bytesSent) and CPU, and
//     lancall-host's CPU, in a 4-person mesh call and then the same call through the SFU.
//  2. Side by side with Janus (Debian's janus, its VideoRoom plugin): the same Chromium clients
//     publishing the same camera with the same simulcast layers, 3 and then 4 publishers each
//     subscribing to all the others; the SFU process's CPU-seconds per second and RSS, for
//     lancall-host (SFU) and for janus.
//
// Every call is fresh (a new host or janus, new browsers); after everyone decodes everyone and a
// warm-up, one window is measured: CPU as CPU-seconds (utime+stime from /proc/PID/stat) per second
// of wall time, which does not depend on what else shares the cores, and rates from getStats
// read at both ends of the window. Writes its sections of bench/sfu.md.
//
// Env: BENCH_QUALITY (360p), BENCH_WARMUP_SECONDS (10), BENCH_WINDOW_SECONDS (20),
// BENCH_ONLY (comma list of runs: mesh4,sfu4,mesh4syn,sfu4syn,sfu3,janus3,janus4; the `syn` runs
// are one Chromium among three of lancall-peer's synthetic participants), BENCH_SFU_OUT (bench/sfu.md),
// BENCH_RAW (every number as JSON: /tmp/lancall-bench-sfu.json), BENCH_VIEWPORT (1600x1000).
// A run of some of the calls (BENCH_ONLY) rewrites bench/sfu.md's sections with only those: give
// it another BENCH_SFU_OUT.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startHost, openPage, openMoreSettings, closeAll, whyNotRunnable, repoRoot, CHROMIUM, BASE_FLAGS, FAKE_MEDIA, HOST_BIN, HOST_ADDR, sleep, waitFor } from './lib/harness.js';
import { machine, machineState, codeState, descendants, cpuSeconds, rssMiB, pssMiB, setSection } from './bench/report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUALITY = process.env.BENCH_QUALITY ?? '360p';
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const WINDOW = Number(process.env.BENCH_WINDOW_SECONDS ?? 20);
const RUNS = (process.env.BENCH_ONLY ?? 'mesh4,sfu4,mesh4syn,sfu4syn,sfu3,janus3,janus4').split(',');
/** The synthetic participants of the `…syn` runs (run.sh builds it optimised), and their names' start. */
const CROWD_NAME = 'Synthetic';
/** A stream a synthetic participant received from another synthetic one (not from a page). */
const fromCrowd = (s) => s.publisher.startsWith(CROWD_NAME);
const PEER_BIN = process.env.LANCALL_PEER_BIN || path.join(repoRoot, 'target/release/lancall-peer');
const OUT = process.env.BENCH_SFU_OUT ?? path.join(repoRoot, 'bench/sfu.md');
/** Every number of every run, for a closer look than the report's tables. */
const RAW = process.env.BENCH_RAW ?? '/tmp/lancall-bench-sfu.json';
const NAMES = ['Ada', 'Bob', 'Cy', 'Dee'];
const QUALITY_HEIGHT = { '360p': 360, '720p': 720, '1080p': 1080 };
/**
 * Each page's window. With four people lancall's grid then shows tiles about 400 lines tall, so
 * its SFU forwards the top layer (it picks the smallest layer at least the tile's height): the
 * pictures people see are the same size in the mesh, through lancall's SFU and through Janus.
 */
const VIEWPORT = (() => {
  const [width, height] = (process.env.BENCH_VIEWPORT ?? '1600x1000').split('x').map(Number);
  return { width, height };
})();
const JANUS_DIR = path.join(repoRoot, 'tests/janus');
const JANUS_API = `http://${HOST_ADDR}:8088/janus`;
const JANUS_ROOM = 1234;
/** The whole benchmark stops after this, whatever hangs. */
const DEADLINE_MS = 20 * 60_000;

const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}
setTimeout(() => {
  console.error(`bench-sfu: still running after ${DEADLINE_MS / 60_000} minutes: giving up`);
  process.exit(1);
}, DEADLINE_MS).unref();

const hostBuild = HOST_BIN.includes('/release/') ? 'release' : 'debug';
const log = (...a) => console.log(`[bench-sfu ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Runs in every page first: keeps every RTCPeerConnection the page makes, for getStats. */
function keepConnections() {
  window.__pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  };
}

/** One Chromium process for one person (so its CPU is its own), with the connection keeper. */
async function launchPerson() {
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, '--disable-features=WebRtcHideLocalIpsWithMdns', ...FAKE_MEDIA],
    timeout: 30_000,
  });
  const browser = await chromium.connect(server.wsEndpoint());
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (opts) => {
    const c = await newContext(opts);
    await c.addInitScript(keepConnections);
    return c;
  };
  return { server, browser };
}

/** What a page sends and receives so far, over all its connections (getStats). */
function snapshot(page) {
  return page.evaluate(async () => {
    const out = { t: performance.now(), sent: 0, sentVideo: 0, received: 0, packetsReceived: 0, outgoingEstimate: 0, capture: null, outbound: [], inbound: [] };
    for (const [i, pc] of window.__pcs.entries()) {
      if (pc.connectionState === 'closed') continue;
      const st = await pc.getStats();
      st.forEach((s) => {
        if (s.type === 'media-source' && s.kind === 'video' && s.width) out.capture = `${s.width}x${s.height}`;
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          out.outgoingEstimate += st.get(s.selectedCandidatePairId)?.availableOutgoingBitrate ?? 0;
        }
        if (s.type === 'outbound-rtp') {
          out.sent += s.bytesSent ?? 0;
          if (s.kind === 'video') {
            out.sentVideo += s.bytesSent ?? 0;
            out.outbound.push({ id: `${i}/${s.id}`, rid: s.rid ?? null, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? 0, bytes: s.bytesSent ?? 0, limit: s.qualityLimitationReason ?? 'none' });
          }
        } else if (s.type === 'inbound-rtp') {
          out.received += s.bytesReceived ?? 0;
          out.packetsReceived += s.packetsReceived ?? 0;
          if (s.kind === 'video') {
            out.inbound.push({ id: `${i}/${s.id}`, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? 0, bytes: s.bytesReceived ?? 0, frames: s.framesDecoded ?? 0 });
          }
        }
      });
    }
    return out;
  });
}

/** Wait until `page` decodes `count` video streams (from its snapshot). */
async function waitDecoding(page, count, what) {
  await waitFor(async () => {
    const s = await snapshot(page);
    return s.inbound.filter((x) => x.frames > 0 && x.width > 0).length >= count;
  }, { timeout: 60_000, interval: 500, what });
}

/**
 * The measured window: warm-up, then CPU of `forwarder` (a pid, or null) and each person's
 * browser, and each page's rates, over WINDOW seconds.
 */
async function measure(people, forwarderPid, counters = async () => null) {
  await sleep(WARMUP * 1000);
  const state = machineState();
  const trees = people.map((p) => descendants(p.server.process().pid));
  const s0 = await Promise.all(people.map((p) => snapshot(p.page)));
  const k0 = await counters();
  const c0 = trees.map((t) => cpuSeconds(t));
  const f0 = forwarderPid ? cpuSeconds(forwarderPid) : 0;
  const t0 = Date.now();
  await sleep(WINDOW * 1000);
  const s1 = await Promise.all(people.map((p) => snapshot(p.page)));
  const c1 = trees.map((t) => cpuSeconds(t));
  const k1 = await counters();
  const f1 = forwarderPid ? cpuSeconds(forwarderPid) : 0;
  const secs = (Date.now() - t0) / 1000;
  const kbps = (b0, b1, dt) => ((b1 - b0) * 8) / dt / 1000;
  const browsers = people.map((p, i) => {
    const dt = (s1[i].t - s0[i].t) / 1000;
    const before = new Map(s0[i].inbound.map((x) => [x.id, x]));
    const outBefore = new Map(s0[i].outbound.map((x) => [x.id, x]));
    return {
      name: p.name,
      uplink: kbps(s0[i].sent, s1[i].sent, dt),
      uplinkVideo: kbps(s0[i].sentVideo, s1[i].sentVideo, dt),
      downlink: kbps(s0[i].received, s1[i].received, dt),
      packetsIn: (s1[i].packetsReceived - s0[i].packetsReceived) / dt,
      capture: s1[i].capture,
      uplinkEstimate: s1[i].outgoingEstimate / 1000,
      cpu: (c1[i] - c0[i]) / secs,
      pss: pssMiB(trees[i]),
      processes: trees[i].length,
      sending: s1[i].outbound.map((x) => ({ ...x, kbps: kbps(outBefore.get(x.id)?.bytes ?? 0, x.bytes, dt) })),
      receiving: s1[i].inbound.map((x) => ({ ...x, kbps: kbps(before.get(x.id)?.bytes ?? 0, x.bytes, dt) })).filter((x) => x.kbps > 1),
    };
  });
  const forwarder = forwarderPid ? { cpu: (f1 - f0) / secs, rss: rssMiB(forwarderPid) } : null;
  return { secs, browsers, forwarder, state, counters: k0 && k1 ? { before: k0, after: k1 } : null };
}

// ---- lancall calls -----------------------------------------------------------------------------
/**
 * `synthetic` of the `n` people are lancall-peer's synthetic participants (one process, a
 * pre-encoded VP8 loop and Opus, counting what arrives without decoding), the others Chromium
 * pages: the pages' uplink then does not depend on how the other pages' receivers fare on the
 * shared cores.
 */
async function lancallCall(topology, n, synthetic = 0) {
  log(`lancall ${topology}, ${n} people at ${QUALITY}${synthetic ? ` (${synthetic} of them synthetic)` : ''}`);
  const host = await startHost(topology === 'sfu' ? { topology: 'sfu' } : {});
  const people = [];
  let crowd = null;
  try {
    for (const name of NAMES.slice(0, n - synthetic)) {
      const person = await launchPerson();
      people.push(person);
      const { context, page } = await openPage(person.browser, host.joinUrl, { viewport: VIEWPORT });
      Object.assign(person, { name, context, page });
      await page.getByTestId('name').fill(name);
      await openMoreSettings(page);
      await page.getByTestId('quality-select').selectOption(QUALITY);
      // The preview at the chosen size: a Join pressed while the camera is still being reopened
      // at the new size went out at the old one (1280x720) in earlier runs.
      const height = QUALITY_HEIGHT[QUALITY];
      const sized = await page
        .waitForFunction((h) => document.querySelector('[data-testid=preview]')?.videoHeight === h, height, { timeout: 15_000 })
        .then(() => true, () => false);
      if (!sized) log(`${name}: the preview is not ${height} lines tall after 15 s: joining anyway`);
      await page.getByTestId('join').click();
      await page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 15_000 });
    }
    if (synthetic) crowd = startCrowd(host.joinUrl, synthetic, WARMUP + WINDOW + 120);
    for (const p of people) await waitDecoding(p.page, n - 1, `${p.name} decoding ${n - 1} streams (${topology})`);
    const topologies = await Promise.all(people.map((p) => p.page.evaluate(() => window.lancall.call.topology)));
    const m = await measure(people, host.proc.pid, async () => (topology === 'sfu' ? healthMedia(people[0].page, host) : null));
    // What each page asked the SFU for (tile heights), to tell a layer chosen by tile size from one
    // lowered for bandwidth.
    m.wanted = await Promise.all(people.map((p) => p.page.evaluate(() => window.lancall.call.wantSent ?? null)));
    m.topologies = [...new Set(topologies)];
    if (m.counters) {
      const { before, after } = m.counters;
      m.framesForwardedPerSecond = (after.frames_forwarded - before.frames_forwarded) / m.secs;
      m.datagramsPerSecond = (after.datagrams_received - before.datagrams_received) / m.secs;
    }
    if (crowd) {
      m.crowd = await crowd.stop();
      const fromPages = (m.crowd?.streams ?? []).filter((s) => !fromCrowd(s));
      log(`synthetic participants: ${m.crowd ? `${m.crowd.joined} joined (${m.crowd.topology}); from the pages ${fromPages.map((s) => `${s.publisher}→${s.receiver} ${s.video.frames} frames`).join(', ')}` : 'no summary'}`);
    }
    log(summary(m));
    return m;
  } finally {
    await crowd?.stop();
    await closeAll(people.map((p) => p.browser));
    await closeAll(people.map((p) => p.server));
    await host.stop();
    host.cleanup();
  }
}

/**
 * `lancall-peer --synthetic count` joining `joinUrl` (in this namespace), staying at most
 * `seconds`. `stop()` ends it (SIGTERM: everyone hangs up) and resolves to its JSON summary.
 */
function startCrowd(joinUrl, count, seconds) {
  if (!existsSync(PEER_BIN)) throw new Error(`no lancall-peer at ${PEER_BIN}: build it (cargo build --release -p lancall-peer) or set LANCALL_PEER_BIN`);
  const proc = spawn(PEER_BIN, ['--join', joinUrl, '--synthetic', String(count), '--seconds', String(seconds), '--join-every', '0.5', '--name', CROWD_NAME, '--size', `${Math.round((QUALITY_HEIGHT[QUALITY] * 16) / 9)}x${QUALITY_HEIGHT[QUALITY]}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => {
    err += d;
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[peer] ${d}`);
  });
  const exited = new Promise((resolve) => {
    proc.once('exit', resolve);
    proc.once('error', (e) => {
      err += `could not run ${PEER_BIN}: ${e.message}`;
      resolve(null);
    });
  });
  let stopping = null;
  return {
    stop() {
      stopping ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
        const line = out.split('\n').find((l) => l.includes('synthetic-summary'));
        if (!line) {
          log(`lancall-peer gave no summary; its stderr ends: ${err.slice(-1500)}`);
          return null;
        }
        try {
          return JSON.parse(line);
        } catch {
          return null;
        }
      })();
      return stopping;
    },
  };
}

/** The host's /healthz `media` counters, asked from a page (the host's certificate is its own). */
function healthMedia(page, host) {
  return page.evaluate(async (url) => (await (await fetch(url)).json()).media, `${host.httpsUrl}healthz`);
}

// ---- Janus -------------------------------------------------------------------------------------
function janusMissing() {
  try {
    execFileSync('sh', ['-c', 'command -v janus'], { stdio: 'ignore' });
  } catch {
    return 'the `janus` command is missing: install Debian\'s janus package first (as root: tests/janus/install.sh); apt-get cannot reach the network from inside the benchmark\'s namespace';
  }
  if (!existsSync('/usr/lib/x86_64-linux-gnu/janus/plugins/libjanus_videoroom.so')) return 'Janus\'s VideoRoom plugin is missing (/usr/lib/x86_64-linux-gnu/janus/plugins/libjanus_videoroom.so)';
  return null;
}

/** janus, configured by tests/janus/ (HTTP API on 10.99.1.1:8088, ICE on 10.99.1.1 only). */
async function startJanus() {
  const proc = spawn('janus', ['-C', path.join(JANUS_DIR, 'janus.jcfg'), '-F', JANUS_DIR], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const keep = (d) => {
    output.push(d.toString());
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[janus] ${d}`);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = null;
  proc.once('exit', (code, signal) => {
    exited = `${code ?? signal}`;
  });
  await waitFor(async () => {
    if (exited !== null) throw new Error(`janus exited (${exited}) before it answered:\n${output.join('').slice(-3000)}`);
    try {
      const res = await fetch(`${JANUS_API}/info`);
      return res.ok;
    } catch {
      return false;
    }
  }, { timeout: 20_000, interval: 250, what: 'janus to answer on its HTTP API' });
  return {
    proc,
    output,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Serves the Janus client page and lancall's own capture and simulcast modules, on loopback. */
async function startPageServer() {
  const files = {
    '/': [path.join(here, 'bench/janus-client.html'), 'text/html'],
    '/janus-client.js': [path.join(here, 'bench/janus-client.js'), 'text/javascript'],
    '/lib/media.js': [path.join(repoRoot, 'ui/js/lib/media.js'), 'text/javascript'],
    '/lib/sfu-link.js': [path.join(repoRoot, 'ui/js/lib/sfu-link.js'), 'text/javascript'],
  };
  const server = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f[1] }).end(readFileSync(f[0]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

async function janusCall(n, substream) {
  log(`janus videoroom, ${n} publishers at ${QUALITY}, subscriber substream ${substream ?? 'default (highest)'}`);
  const janus = await startJanus();
  const pages = await startPageServer();
  const people = [];
  try {
    const feeds = [];
    for (const name of NAMES.slice(0, n)) {
      const person = await launchPerson();
      people.push(person);
      const context = await person.browser.newContext({ viewport: VIEWPORT });
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error(`[janus page error] ${err.message}`));
      Object.assign(person, { name, context, page });
      await page.goto(pages.url);
      await page.waitForFunction(() => typeof window.janusPublish === 'function', null, { timeout: 10_000 });
      const published = await page.evaluate((o) => window.janusPublish(o), { api: JANUS_API, room: JANUS_ROOM, name, quality: QUALITY });
      person.feed = published.id;
      person.layers = published.layers;
      feeds.push(published.id);
    }
    for (const p of people) {
      await p.page.evaluate((o) => window.janusSubscribe(o), { room: JANUS_ROOM, feeds: feeds.filter((f) => f !== p.feed), substream });
    }
    for (const p of people) await waitDecoding(p.page, n - 1, `${p.name} decoding ${n - 1} streams (janus)`);
    const m = await measure(people, janus.proc.pid);
    m.substream = substream;
    m.layers = people[0].layers;
    log(summary(m));
    return m;
  } finally {
    await closeAll(people.map((p) => p.browser));
    await closeAll(people.map((p) => p.server));
    pages.close();
    await janus.stop();
  }
}

// ---- the report --------------------------------------------------------------------------------
const f0 = (x) => x.toFixed(0);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const avg = (xs) => (xs.length ? sum(xs) / xs.length : 0);

function summary(m) {
  return `uplink ${m.browsers.map((b) => f0(b.uplink)).join('/')} kbit/s, browser CPU ${m.browsers.map((b) => b.cpu.toFixed(2)).join('/')}, forwarder ${m.forwarder ? `${m.forwarder.cpu.toFixed(3)} CPU-s/s, ${f0(m.forwarder.rss)} MiB` : '-'}`;
}

/** "640x360 ~700 kbit/s ×12" for the streams the receivers decode. */
function received(m) {
  const groups = new Map();
  for (const b of m.browsers) {
    for (const s of b.receiving) {
      const k = `${s.width}x${s.height}`;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(s);
    }
  }
  return [...groups]
    .map(([k, xs]) => `${xs.length} × ${k} at ${f0(avg(xs.map((x) => x.kbps)))} kbit/s, ${f0(avg(xs.map((x) => x.fps)))} fps`)
    .join('; ');
}

/** The layers a publisher sends: "h 320x180 180 kbit/s + f 640x360 700 kbit/s". */
function sent(b) {
  return b.sending
    .filter((s) => s.kbps > 1)
    .map((s) => `${s.rid ? `${s.rid} ` : ''}${s.width}x${s.height} ${f0(s.kbps)}`)
    .join(' + ');
}

/** Video streams forwarded: each receiver's decoded video streams. */
const forwarded = (m) => sum(m.browsers.map((b) => b.receiving.length));
const forwardedKbps = (m) => sum(m.browsers.map((b) => sum(b.receiving.map((s) => s.kbps))));
/** RTP packets per second the receivers get (audio and video): what the server sent them. */
const forwardedPackets = (m) => sum(m.browsers.map((b) => b.packetsIn));

/** One browser's row of {@link browserTable}'s columns, headed by `label`. */
function browserRow(label, b) {
  return `| ${label} | ${b.capture ?? '?'} | ${f0(b.uplink)} kbit/s | ${f0(b.uplinkVideo)} kbit/s | ${f0(b.uplinkEstimate)} kbit/s | ${f0(b.downlink)} kbit/s | ${sent(b) || '–'} | ${b.cpu.toFixed(2)} | ${f0(b.pss)} MiB |`;
}

const BROWSER_COLUMNS = `| camera | uplink (all) | of which video | uplink estimate | downlink | video sent (layer size kbit/s) | CPU (cores) | memory (PSS) |
|---|---|---|---|---|---|---|---|---|`;

function browserTable(m) {
  return `| browser ${BROWSER_COLUMNS}
${m.browsers.map((b) => browserRow(b.name, b)).join('\n')}
| **mean** | | **${f0(avg(m.browsers.map((b) => b.uplink)))} kbit/s** | ${f0(avg(m.browsers.map((b) => b.uplinkVideo)))} kbit/s | ${f0(avg(m.browsers.map((b) => b.uplinkEstimate)))} kbit/s | ${f0(avg(m.browsers.map((b) => b.downlink)))} kbit/s | | **${avg(m.browsers.map((b) => b.cpu)).toFixed(2)}** | ${f0(avg(m.browsers.map((b) => b.pss)))} MiB |`;
}

const started = { state: machineState(), code: codeState(repoRoot), day: new Date().toISOString().slice(0, 10) };
const chromiumVersion = execFileSync(CHROMIUM, ['--version']).toString().trim();
const results = {};
const failures = {};
async function run(key, fn) {
  if (!RUNS.includes(key.replace(/top$/, ''))) return;
  try {
    results[key] = await fn();
  } catch (err) {
    failures[key] = err.message.split('\n').slice(0, 6).join(' ');
    console.error(`bench-sfu: ${key} failed: ${err.stack ?? err}`);
  }
}

await run('mesh4', () => lancallCall('mesh', 4));
await run('sfu4', () => lancallCall('sfu', 4));
await run('mesh4syn', () => lancallCall('mesh', 4, 3));
await run('sfu4syn', () => lancallCall('sfu', 4, 3));
await run('sfu3', () => lancallCall('sfu', 3));
const janusWhy = janusMissing();
/** Janus's subscribers get the layer lancall's SFU chose for the same call (by what its receivers decoded). */
function substreamLike(m) {
  if (!m) return undefined;
  const heights = m.browsers.flatMap((b) => b.receiving.map((s) => s.height));
  // The top layer is the camera's size (a layer the SFU paused shows no size).
  const top = Math.max(...m.browsers.map((b) => Number(b.capture?.split('x')[1] ?? 0)), 0);
  const high = heights.filter((h) => h >= top * 0.9).length;
  return high >= heights.length / 2 ? undefined : 0;
}
if (!janusWhy) {
  for (const n of [3, 4]) {
    const like = substreamLike(results[`sfu${n}`]);
    await run(`janus${n}`, () => janusCall(n, like));
    // When lancall forwarded the low layer, Janus forwarding the top one too: the usual case.
    if (like !== undefined) await run(`janus${n}top`, () => janusCall(n, undefined));
  }
}

/** "1.1.2" (janus --version prints it and exits 1). */
function janusVersion() {
  const r = spawnSync('janus', ['--version']);
  return r.stdout?.toString().match(/\(([\d.]+)\)/)?.[1] ?? '?';
}
writeFileSync(RAW, JSON.stringify({ started, results, failures }, null, 1));
log(`raw results: ${RAW}`);
const machineLine = `${machine()}; ${chromiumVersion} (headless, \`--disable-gpu\`, Chromium's fake camera and microphone); lancall-host ${hostBuild} build of ${started.code}; Janus ${janusWhy ? '(not run)' : janusVersion()}, Debian's package. Everything on one machine inside a network namespace (veth 10.99.1.1 / 10.99.1.2). At the start: ${started.state}.`;
const failed = (key) => (failures[key] ? `\n**${key} failed:** ${failures[key]}\n` : '');

// Section: mesh against SFU.
if (results.mesh4 || results.sfu4 || failures.mesh4 || failures.sfu4) {
  const mesh = results.mesh4;
  const sfu = results.sfu4;
  const ratio = mesh && sfu ? avg(sfu.browsers.map((b) => b.uplink)) / avg(mesh.browsers.map((b) => b.uplink)) : null;
  /** The picture height most receivers decode. */
  const typicalHeight = (m) => {
    const hs = m.browsers.flatMap((b) => b.receiving.map((s) => s.height)).sort((a, b) => a - b);
    return hs[Math.floor(hs.length / 2)] ?? 0;
  };
  const smaller = mesh && sfu && typicalHeight(sfu) < typicalHeight(mesh)
    ? ` But not like for like: through the SFU the receivers decode ${typicalHeight(sfu)}-line pictures, in the mesh ${typicalHeight(mesh)}-line ones (the SFU forwarded a lower layer, so its publishers sent only that).`
    : '';
  const hostRow = (label, m) => (m ? `| ${label} | ${m.forwarder.cpu.toFixed(3)} | ${f0(m.forwarder.rss)} MiB | ${m.topologies.join(', ')} | ${received(m)} |` : `| ${label} | – | – | – | – |`);
  const body = `## Mesh against SFU at 4 people

${started.day}, \`tests/browser/run.sh bench sfu\` (tests/browser/bench-sfu.mjs). Machine: ${machineLine}

Method: four Chromium processes (one per person, so that each one's CPU is its own: the browser
and all its child processes, renderer and GPU process included), quality ${QUALITY} (the fake
camera), window ${VIEWPORT.width}x${VIEWPORT.height}. The same four join a fresh \`lancall-host\` as a mesh, then a fresh one
with \`--topology sfu\`. Once everyone decodes the three others and after ${WARMUP} s of warm-up, a
${WINDOW} s window: uplink is the sum over the page's connections of outbound-rtp \`bytesSent\`
(RTP payload, audio and video, all simulcast layers) per second, from getStats at both ends of the
window (uplink estimate: Chromium's own \`availableOutgoingBitrate\` on its connections, summed, at the
end; camera: the capture size from \`media-source\`); CPU is CPU-seconds (utime+stime from /proc/PID/stat) per second of the window (1.00 = one
core busy); memory is the summed PSS at the end. Four browsers and the host share ${machine().match(/(\d+) cores/)?.[1] ?? 'the'} cores: each
browser's encoder adapts to the CPU it gets, so the absolute numbers are this machine's.
Target (issue 14): SFU uplink ≤ 1/2 of mesh.
${failed('mesh4')}${failed('sfu4')}
**Result: mean uplink per browser ${mesh ? f0(avg(mesh.browsers.map((b) => b.uplink))) : '–'} kbit/s in the mesh, ${sfu ? f0(avg(sfu.browsers.map((b) => b.uplink))) : '–'} kbit/s through the SFU${ratio !== null ? ` (${(ratio * 100).toFixed(0)} % of the mesh's: target ${ratio <= 0.5 ? 'met' : 'missed'})` : ''}; mean browser CPU ${mesh ? avg(mesh.browsers.map((b) => b.cpu)).toFixed(2) : '–'} → ${sfu ? avg(sfu.browsers.map((b) => b.cpu)).toFixed(2) : '–'} cores.**${smaller}

### Mesh (${mesh ? `${mesh.secs.toFixed(1)} s window` : 'not measured'})

${mesh ? `${browserTable(mesh)}\n\nThe machine as the window began: ${mesh.state}.` : ''}

### SFU (${sfu ? `${sfu.secs.toFixed(1)} s window` : 'not measured'})

${sfu ? `${browserTable(sfu)}\n\nThe machine as the window began: ${sfu.state}.` : ''}

### lancall-host

| call | CPU-seconds per second | RSS | topology the pages report | video the receivers decode (streams × size, mean rate) |
|---|---|---|---|---|
${hostRow('mesh, 4 people', mesh)}
${hostRow('SFU, 4 people', sfu)}

In the mesh the host carries only signaling; through the SFU it forwards every stream${sfu?.framesForwardedPerSecond ? ` (/healthz: ${f0(sfu.framesForwardedPerSecond)} frames forwarded per second, audio and video, from ${f0(sfu.datagramsPerSecond)} datagrams received per second)` : ''}.`;
  setSection(OUT, 'mesh-vs-sfu', body, '# The SFU: measurements (issue 14)\n');
}

// Section: mesh against SFU, one browser among synthetic participants.
if (results.mesh4syn || results.sfu4syn || failures.mesh4syn || failures.sfu4syn) {
  const mesh = results.mesh4syn;
  const sfu = results.sfu4syn;
  const up = (m) => m.browsers[0].uplink;
  const ratio = mesh && sfu ? up(sfu) / up(mesh) : null;
  const crowdLine = (label, m) => {
    const c = m?.crowd;
    if (!c) return `- ${label}: no summary from lancall-peer`;
    const fromPage = c.streams.filter((s) => !fromCrowd(s));
    const between = c.streams.filter(fromCrowd);
    const lost = 1 - sum(between.map((s) => s.video.frames)) / Math.max(1, sum(between.map((s) => s.video.expected)));
    return `- ${label}: ${c.joined} of ${c.participants} joined (${c.topology}); the page's picture reached ${fromPage.filter((s) => s.video.frames > 0).length} of them (${fromPage.map((s) => `${s.video.frames} frames`).join(', ')}, in the ${f0(c.seconds)} s they were all in; no loss figure: it assumes a steady frame rate, which a browser's encoder does not keep); video loss between the synthetic participants ${(lost * 100).toFixed(2)} % (${between.length} streams)`;
  };
  const hostRow = (label, m) => (m ? `| ${label} | ${m.forwarder.cpu.toFixed(3)} | ${f0(m.forwarder.rss)} MiB | ${m.topologies.join(', ')} |` : `| ${label} | – | – | – |`);
  const body = `## Mesh against SFU at 4 people: one browser among three synthetic participants

${started.day}, \`tests/browser/run.sh bench sfu\` (\`BENCH_ONLY=mesh4syn,sfu4syn\`). Machine: ${machineLine}

Why: with four Chromiums on these two cores, each browser's encoders and receivers get what CPU
is left, and a starved receiver's delayed feedback makes the SFU's estimate towards it collapse
(section above): its uplink then depends on how the *other* browsers fare. Here one Chromium
(Ada, quality ${QUALITY}, window ${VIEWPORT.width}x${VIEWPORT.height}) is the only browser; the three others are
\`lancall-peer --synthetic 3\` (optimised build, one process; each participant a full
webrtc-rs peer with its own hub and media connections, sending a pre-encoded ${QUALITY} VP8 loop
and Opus, receiving without decoding), as on real devices each receiver has its own CPU. Same
method and window as above (Ada's outbound-rtp \`bytesSent\`, audio and video, all layers).
In the mesh Ada encodes her camera once per peer; through the SFU she publishes
simulcast, and the SFU tells her which layers someone receives.
${failed('mesh4syn')}${failed('sfu4syn')}
**Result: Ada's uplink ${mesh ? f0(up(mesh)) : '–'} kbit/s in the mesh, ${sfu ? f0(up(sfu)) : '–'} kbit/s through the SFU${ratio !== null ? ` (${(ratio * 100).toFixed(0)} % of the mesh's: target ${ratio <= 0.5 ? 'met' : 'missed'})` : ''}; her browser's CPU ${mesh ? mesh.browsers[0].cpu.toFixed(2) : '–'} → ${sfu ? sfu.browsers[0].cpu.toFixed(2) : '–'} cores.**

| call ${BROWSER_COLUMNS}
${[['mesh', mesh], ['SFU', sfu]].map(([label, m]) => (m ? browserRow(label, m.browsers[0]) : `| ${label} | not measured | | | | | | | |`)).join('\n')}

| call | lancall-host CPU-s/s | RSS | topology the page reports |
|---|---|---|---|
${hostRow('mesh', mesh)}
${hostRow('SFU', sfu)}

What the synthetic participants received (their own count, from RTP timestamps):
${crowdLine('mesh', mesh)}
${crowdLine('SFU', sfu)}

The machine as each window began: mesh ${mesh?.state ?? '–'}; SFU ${sfu?.state ?? '–'}.`;
  setSection(OUT, 'mesh-vs-sfu-synthetic', body, '# The SFU: measurements (issue 14)\n');
}

// Section: Janus.
if (['sfu3', 'janus3', 'janus4'].some((k) => RUNS.includes(k))) {
  const rows = [];
  for (const [key, label, n] of [
    ['sfu3', 'lancall-host (SFU)', 3],
    ['janus3', 'janus (VideoRoom)', 3],
    ['janus3top', 'janus (VideoRoom), highest layer', 3],
    ['sfu4', 'lancall-host (SFU)', 4],
    ['janus4', 'janus (VideoRoom)', 4],
    ['janus4top', 'janus (VideoRoom), highest layer', 4],
  ]) {
    const m = results[key];
    if (key.endsWith('top') && !m && !failures[key]) continue;
    if (!m) {
      rows.push(`| ${n} | ${label} | ${failures[key] ? 'failed' : 'not run'} | | | | | | | | |`);
      continue;
    }
    const streams = forwarded(m);
    const pps = forwardedPackets(m);
    rows.push(`| ${n} | ${label} | ${m.forwarder.cpu.toFixed(3)} | ${streams} | **${((m.forwarder.cpu / streams) * 1000).toFixed(1)}** | ${((m.forwarder.cpu / (forwardedKbps(m) / 1000)) * 1000).toFixed(1)} | ${f0(pps)} | ${((m.forwarder.cpu / pps) * 1e6).toFixed(0)} µs | ${f0(m.forwarder.rss)} MiB | ${f0(avg(m.browsers.map((b) => b.uplink)))} kbit/s (estimate ${f0(avg(m.browsers.map((b) => b.uplinkEstimate)))}) | ${received(m)} |`);
  }
  const per = (key) => (results[key] ? results[key].forwarder.cpu / forwarded(results[key]) : null);
  const verdict = [3, 4]
    .map((n) => {
      const l = per(`sfu${n}`);
      const j = per(`janus${n}`);
      if (l === null || j === null) return `${n} publishers: not both measured`;
      return `${n} publishers: lancall ${(l * 1000).toFixed(1)} against Janus ${(j * 1000).toFixed(1)} CPU-ms per second per forwarded video stream (${l <= j ? 'no more than Janus: target met' : `${(l / j).toFixed(1)}× Janus: target missed`})`;
    })
    .join('; ');
  const j = results.janus4 ?? results.janus3;
  const body = `## Side by side with Janus

${started.day}, \`tests/browser/run.sh bench sfu\` (tests/browser/bench-sfu.mjs). Machine: ${machineLine}

Method: the same Chromium clients (one process each, fake camera at ${QUALITY}), one fresh server
per call, 3 then 4 people, each publishing camera and microphone and receiving every other
person. lancall: its own page through \`lancall-host --topology sfu\`. Janus: Debian's janus with
the configuration in tests/janus/ (VideoRoom only, HTTP API on 10.99.1.1, ICE on 10.99.1.1 only,
no STUN/TURN, RTP ports 20000–20199, log level warnings) and a small page
(tests/browser/bench/janus-client.js) that speaks Janus's HTTP API: join as publisher, publish,
then one subscriber connection per person for all the others' feeds. Its publishers use lancall's
own capture constraints and simulcast layers (imported from ui/js/lib/media.js and sfu-link.js:
${j?.layers?.length ? `rids ${j.layers.join(', ')}, low to high` : 'the same list'}), so both servers receive the same simulcast layers; each Janus subscriber
asks for the layer most of lancall's receivers got in the same call (substream 0 for the low
layer, else Janus's default, the highest), and when that was the low layer a second Janus call
forwards the highest (the "highest layer" rows).
After everyone decodes everyone and ${WARMUP} s of warm-up, the server process's CPU-seconds
(utime+stime, /proc/PID/stat) over a ${WINDOW} s window, per second; RSS (VmRSS) at the end. A
forwarded stream is one video stream a receiver decodes (n × (n−1)); each call forwards as many
audio streams besides (lancall forwards at most the 3 loudest). Because the two servers need not
forward the same layers (lancall's SFU picks one per receiver by tile size and bandwidth, Janus
the one asked for), the cost is also given per forwarded video Mbit/s (video payload rate at the
receivers) and per RTP packet the receivers get (audio and video, inbound-rtp \`packetsReceived\`:
the packets the server sent them; its CPU also covers the packets it received from publishers,
including layers nobody gets). lancall-host's figure includes its hub (signaling, TLS), as
Janus's includes its HTTP transport.
${janusWhy ? `\n**Janus was not run:** ${janusWhy}.\n` : ''}${failed('sfu3')}${failed('janus3')}${failed('janus4')}
| people | server | CPU-s/s | video streams forwarded | CPU-ms/s per forwarded stream | CPU-ms/s per forwarded video Mbit/s | packets/s the receivers get | CPU per packet received | RSS | each publisher sends (mean) | what the receivers decode |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

**Result: ${verdict}.**

The machine as each window began:
${Object.entries(results).filter(([k]) => k !== 'mesh4').map(([k, m]) => `- ${k}: ${m.state}`).join('\n')}`;
  setSection(OUT, 'janus', body, '# The SFU: measurements (issue 14)\n');
}
console.log(`\nwrote ${OUT}`);
if (Object.keys(failures).length) {
  console.error(`bench-sfu: failed runs: ${Object.keys(failures).join(', ')}`);
  process.exitCode = 1;
}
