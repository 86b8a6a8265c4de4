// Benchmark, not a test (run.sh bench first-picture): how long from the second person's Join
// click until BOTH people see each other's picture, and where that time goes.
//
// Each call is fresh: Ada opens the link and joins, then Bob opens it, waits until his page is
// ready (camera preview playing), and clicks Join. Both pages check every 10 ms whether a remote
// <video> has a picture (videoWidth > 0), as issue 13 measured it; every step between is traced
// from outside the product (an init script wraps WebSocket and RTCPeerConnection), on the
// machine's clock, so both pages' times compare. Writes bench/first-picture.md.
//
// BENCH_TOPOLOGY=sfu (run.sh bench first-picture-sfu) does the same through the host's SFU
// (lancall-host --topology sfu): each page has one connection, to the host, and Ada sees Bob once
// the SFU has offered her his tracks. It writes its own section of bench/first-picture.md (the
// mesh numbers stay) and a line in bench/sfu.md; a mesh run keeps the SFU section.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { startHost, launchBrowser, openPage, openMoreSettings, closeAll, whyNotRunnable, repoRoot, sleep, HOST_BIN } from './lib/harness.js';
import { keptSections, setSection, machineState, codeState } from './bench/report.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20);
const SFU = process.env.BENCH_TOPOLOGY === 'sfu';

const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}

/** Runs in every page before its own scripts: records the first time each step happens. */
function tracer() {
  const t = (window.__trace = {});
  const mark = (name) => {
    if (!(name in t)) t[name] = Date.now();
  };
  window.__mark = mark;
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      mark('ws-new');
      this.addEventListener('open', () => mark('ws-open'));
      this.addEventListener('message', (ev) => {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (m.type === 'media-description') mark(`recv-sfu-${m.description?.type}`);
        if (m.type !== 'signal') return mark(`recv-${m.type}`);
        const d = m.data ?? {};
        if (d.state) mark('recv-state');
        else if (d.description) mark(`recv-${d.description.type}`);
        else if (d.candidate) mark('recv-candidate');
      });
    }
    send(data) {
      try {
        const m = JSON.parse(data);
        if (m.type === 'media-description') mark(`send-sfu-${m.description?.type}`);
        if (m.type !== 'signal') mark(`send-${m.type}`);
        else if (m.data?.state) mark('send-state');
        else if (m.data?.description) mark(`send-${m.data.description.type}`);
        else if (m.data?.candidate) mark('send-candidate');
      } catch {
        /* not ours */
      }
      return super.send(data);
    }
  };
  const NativePC = window.RTCPeerConnection;
  if (NativePC) {
    window.RTCPeerConnection = class extends NativePC {
      constructor(...args) {
        super(...args);
        mark('pc-new');
        this.addEventListener('icegatheringstatechange', () => mark(`gather-${this.iceGatheringState}`));
        this.addEventListener('iceconnectionstatechange', () => mark(`ice-${this.iceConnectionState}`));
        this.addEventListener('connectionstatechange', () => {
          mark(`pc-${this.connectionState}`);
          if (this.connectionState === 'connected') this.__watchStats();
        });
        this.addEventListener('track', (ev) => mark(`track-${ev.track.kind}`));
        this.addEventListener('negotiationneeded', () => mark('negotiationneeded'));
      }
      async setLocalDescription(...args) {
        mark('sld-start');
        const r = await super.setLocalDescription(...args);
        mark('sld-done');
        return r;
      }
      /** The media's own steps, from getStats every 10 ms for a second after DTLS. */
      __watchStats() {
        const end = Date.now() + 1500;
        const tick = async () => {
          if (Date.now() > end || this.connectionState !== 'connected') return;
          const st = await this.getStats().catch(() => null);
          st?.forEach((s) => {
            if (s.kind !== 'video') return;
            if (s.type === 'outbound-rtp') {
              if (s.framesEncoded > 0) mark('out-encoded');
              if (s.packetsSent > 0) mark('out-sent');
              if (s.pliCount > 0 || s.firCount > 0) mark('out-got-pli');
            } else if (s.type === 'inbound-rtp') {
              if (s.packetsReceived > 0) mark('in-packet');
              if (s.framesReceived > 0) mark('in-frame');
              if (s.framesDecoded > 0) mark('in-decoded');
              if (s.pliCount > 0 || s.firCount > 0) mark('in-sent-pli');
            }
          });
          setTimeout(tick, 10);
        };
        tick();
      }
    };
  }
  document.addEventListener(
    'click',
    (ev) => {
      if (ev.target?.closest?.('[data-testid=join]')) mark('click');
    },
    true,
  );
  const poll = setInterval(() => {
    for (const v of document.querySelectorAll('[data-testid=remote-video]')) {
      if (v.videoWidth > 0) {
        mark('picture');
        clearInterval(poll);
      }
    }
  }, 10);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

async function open(browser, url, name) {
  const { context, page } = await openPage(browser, url);
  await page.getByTestId('name').fill(name);
  if (process.env.BENCH_QUALITY) {
    await openMoreSettings(page);
    await page.getByTestId('quality-select').selectOption(process.env.BENCH_QUALITY);
  }
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
  await page.waitForFunction(() => !document.querySelector('[data-testid=join]').disabled && document.querySelector('[data-testid=join]').textContent.startsWith('Join'));
  return { context, page };
}

async function oneCall(browser, url, i) {
  const ada = await open(browser, url, `Ada ${i}`);
  const bob = await open(browser, url, `Bob ${i}`);
  try {
    await ada.page.getByTestId('join').click();
    await ada.page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
    await sleep(200); // Ada is settled in the room
    await bob.page.getByTestId('join').click();
    const done = (p) => p.waitForFunction(() => 'picture' in window.__trace, null, { timeout: 20_000, polling: 50 });
    await Promise.all([done(ada.page), done(bob.page)]);
    const [a, b] = await Promise.all([ada.page.evaluate(() => window.__trace), bob.page.evaluate(() => window.__trace)]);
    return { ada: a, bob: b, click: b.click };
  } finally {
    await closeAll(ada.context, bob.context);
  }
}

const context = { loadAtStart: os.loadavg()[0], state: machineState(), code: codeState(repoRoot) };
const host = await startHost(SFU ? { topology: 'sfu' } : {});
const browser = await launchBrowser();
const calls = [];
try {
  // Every page this browser opens gets the tracer.
  const origNew = browser.newContext.bind(browser);
  browser.newContext = async (opts) => {
    const c = await origNew(opts);
    await c.addInitScript(tracer);
    return c;
  };
  for (let i = 0; i < CALLS; i += 1) {
    const c = await oneCall(browser, host.joinUrl, i);
    calls.push(c);
    const rel = (tr, k) => (k in tr ? `${tr[k] - c.click}` : '-');
    console.log(
      `${SFU ? 'SFU ' : ''}call ${i + 1}/${CALLS}: Bob sees Ada ${rel(c.bob, 'picture')} ms, Ada sees Bob ${rel(c.ada, 'picture')} ms after Bob's click` +
        ` (ws-open ${rel(c.bob, 'ws-open')}, welcome ${rel(c.bob, 'recv-welcome')}, offer sent ${rel(c.bob, 'send-offer')}/${rel(c.ada, 'send-offer')},` +
        ` answer sent ${rel(c.bob, 'send-answer')}/${rel(c.ada, 'send-answer')}, connected ${rel(c.bob, 'pc-connected')}/${rel(c.ada, 'pc-connected')})`,
    );
  }
} finally {
  await closeAll(browser);
  await host.stop();
  host.cleanup();
}

// Every call's traces (epoch ms), to line them up with the host's log (RUST_LOG=…=debug and
// LANCALL_TEST_VERBOSE=1 print it with millisecond times).
if (process.env.BENCH_TRACES) writeFileSync(process.env.BENCH_TRACES, JSON.stringify(calls, null, 1));

// ---- the report ------------------------------------------------------------------------------
const both = calls.map((c) => Math.max(c.ada.picture, c.bob.picture) - c.click);
const bobSees = calls.map((c) => c.bob.picture - c.click);
const adaSees = calls.map((c) => c.ada.picture - c.click);
const row = (label, xs) => `| ${label} | ${pct(xs, 50)} ms | ${pct(xs, 95)} ms | ${Math.min(...xs)} ms | ${Math.max(...xs)} ms |`;

/** Median time of each step after the click, on each side. */
const STEPS = [
  ['ws-new', 'WebSocket made'],
  ['ws-open', 'WebSocket open (TLS done)'],
  ['send-join', 'join sent'],
  ['recv-welcome', 'welcome received'],
  ['recv-peer-joined', 'peer-joined received'],
  ['send-state', 'state sent'],
  ['recv-state', 'state received'],
  ['pc-new', 'RTCPeerConnection made'],
  ['negotiationneeded', 'negotiationneeded'],
  ['sld-start', 'setLocalDescription called'],
  ['sld-done', 'setLocalDescription done'],
  ['send-offer', 'offer sent'],
  ['recv-offer', 'offer received'],
  ['send-answer', 'answer sent'],
  ['recv-answer', 'answer received'],
  ['send-candidate', 'first candidate sent'],
  ['recv-candidate', 'first candidate received'],
  ['ice-checking', 'ICE checking'],
  ['ice-connected', 'ICE connected'],
  ['pc-connected', 'DTLS done (connected)'],
  ['track-video', 'video track event'],
  ['out-encoded', 'first video frame encoded'],
  ['out-sent', 'first video packet sent'],
  ['in-packet', 'first video packet received'],
  ['in-frame', 'first video frame assembled'],
  ['in-decoded', 'first video frame decoded'],
  ['in-sent-pli', 'asked for a key frame (PLI/FIR)'],
  ['out-got-pli', 'was asked for a key frame'],
  ['picture', 'picture (videoWidth > 0)'],
];
/** The same through the SFU: the page's offer goes to the host, which answers and then offers the
 * page (and the one already in the room) the other's tracks. */
const SFU_STEPS = [
  ['ws-new', 'WebSocket made'],
  ['ws-open', 'WebSocket open (TLS done)'],
  ['send-join', 'join sent'],
  ['recv-welcome', 'welcome received'],
  ['recv-peer-joined', 'peer-joined received'],
  ['send-state', 'state sent'],
  ['recv-state', 'state received'],
  ['pc-new', 'RTCPeerConnection made'],
  ['sld-start', 'setLocalDescription called'],
  ['send-sfu-offer', 'offer sent to the SFU'],
  ['recv-sfu-answer', "SFU's answer received"],
  ['recv-sfu-offer', "SFU's offer (with the other's tracks) received"],
  ['send-sfu-answer', 'answer to the SFU sent'],
  ['send-media-candidate', 'first candidate sent'],
  ['recv-media-candidate', 'first candidate received'],
  ['ice-checking', 'ICE checking'],
  ['ice-connected', 'ICE connected'],
  ['pc-connected', 'DTLS done (connected)'],
  ['track-video', 'video track event'],
  ['out-encoded', 'first video frame encoded'],
  ['out-sent', 'first video packet sent'],
  ['in-packet', 'first video packet received'],
  ['in-decoded', 'first video frame decoded'],
  ['in-sent-pli', 'asked for a key frame (PLI/FIR)'],
  ['out-got-pli', 'was asked for a key frame'],
  ['picture', 'picture (videoWidth > 0)'],
];
const med = (side, k) => {
  const xs = calls.filter((c) => k in c[side]).map((c) => c[side][k] - c.click);
  return xs.length ? `${pct(xs, 50)}` : '–';
};
const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.+)/) ?? [])[1] ?? os.arch();
const chromiumVersion = execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
const table = `| | p50 | p95 | min | max |
|---|---|---|---|---|
${row('both see each other', both)}
${row('Bob sees Ada', bobSees)}
${row('Ada sees Bob', adaSees)}`;
const out = process.env.BENCH_OUT ?? path.join(repoRoot, 'bench/first-picture.md');
const day = new Date().toISOString().slice(0, 10);
if (SFU) {
  const section = `## Through the host's SFU

Made by \`tests/browser/run.sh bench first-picture-sfu\` (the same script with BENCH_TOPOLOGY=sfu) on ${day}.
The same method, machine and browser as above, with \`lancall-host --topology sfu --media-port 0\`
(${HOST_BIN.includes('/release/') ? 'release' : 'debug'} build of ${context.code}): each page has one connection, to the host's SFU. Bob's picture reaches Ada once the
SFU has answered Bob, received his first key frame and offered Ada his tracks. ${calls.length} calls, all
connected. Load average (1 min) at the start: ${context.loadAtStart.toFixed(2)}; ${context.state}.
Target (issue 14): p50 ≤ 300 ms.

${table}

Median ms after Bob's click, each step (steps from \`getStats\` are read every 10 ms for 1.5 s
after the connection is up, and only Bob's connection comes up during the call: Ada's was up
before):

| step | Bob (joining) | Ada (in the room) |
|---|---|---|
${SFU_STEPS.map(([k, label]) => `| ${label} | ${med('bob', k)} | ${med('ada', k)} |`).join('\n')}
`;
  setSection(out, 'first-picture-sfu', section);
  const sfuReport = process.env.BENCH_SFU_OUT ?? path.join(repoRoot, 'bench/sfu.md');
  setSection(
    sfuReport,
    'first-picture',
    `## Join to first remote frame in an SFU call

${day}, \`tests/browser/run.sh bench first-picture-sfu\` (lancall-host ${HOST_BIN.includes('/release/') ? 'release' : 'debug'} build): Bob clicks Join while Ada is in an SFU
call; both see each other p50 **${pct(both, 50)} ms**, p95 ${pct(both, 95)} ms over ${calls.length} fresh calls
(Bob sees Ada p50 ${pct(bobSees, 50)} ms, Ada sees Bob p50 ${pct(adaSees, 50)} ms; target p50 ≤ 300 ms). Method, steps
and the mesh's numbers for the same measure: bench/first-picture.md.`,
    '# The SFU: measurements (issue 14)\n',
  );
  console.log(`\nwrote the SFU section of ${out} and a line in ${sfuReport}\n\n${section}`);
  process.exit(0);
}
const md = `# First picture: second person's Join click → both see each other

Made by \`tests/browser/run.sh bench first-picture\` (tests/browser/bench-first-picture.mjs) on ${day}.

Machine: ${cpuModel}, ${os.cpus().length} cores; ${chromiumVersion} (headless, \`--disable-gpu\`, fake camera
and microphone); the real \`lancall-host\` (debug build); one browser, a context per person, inside a
network namespace. Load average (1 min) at the start: ${context.loadAtStart.toFixed(2)}.

Method (issue 13's): each call is fresh. Ada joins; Bob opens the link, waits for his preview, clicks
Join. Both pages check every 10 ms for a remote \`<video>\` with \`videoWidth > 0\`. Times are from
Bob's click (the page's click event) on the machine's clock. ${calls.length} calls, all connected.

${table}

Before this work (this benchmark run on the code of commit 6c4cba6, 2026-12-06): both see each other p50 431 ms,
p95 487 ms (8 calls). What it cut, in order of size:

- Chromium's encoder starts every new connection at a 300 kb/s estimate and drops the first
  frames of a picture larger than 640x480 while it asks for a smaller one: a 720p camera's first
  frame arrived ~180 ms later than a 360p one's (both p50 252 ms with 360p cameras). A new
  connection now sends at most 360 lines and goes to full size 2 s after it connects.
- Drawing the call screen the first time keeps the page busy 30–60 ms; it ran while the first
  offer and answer were being made. The call is now drawn once they are out (at most 300 ms
  after the welcome), and tiles are placed once per frame rather than inside the handlers that
  start connections (both p50 268 → 241 ms).
- The joiner's \`state\` goes out before anything is drawn; the pre-join card opens the hub
  connection ahead (Join waited ~25 ms for TLS) and the page makes its DTLS certificate ahead.

## Where the time goes (median ms after Bob's click)

Medians of each step over all calls: in some calls Bob made the offer, in others Ada did, so a
step's two columns need not add up. Steps from \`getStats\` (encoded, sent, received, decoded) are
read every 10 ms but Chromium refreshes its statistics less often: they come late.

| step | Bob (joining) | Ada (in the room) |
|---|---|---|
${STEPS.map(([k, label]) => `| ${label} | ${med('bob', k)} | ${med('ada', k)} |`).join('\n')}
`;
// The SFU run's section (if any) stays below the mesh's numbers.
const kept = keptSections(out);
writeFileSync(out, kept ? `${md}\n${kept}\n` : md);
console.log(`\nwrote ${out}\n\n${md}`);
