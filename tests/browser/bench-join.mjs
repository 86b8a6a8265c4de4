// Benchmark, not a test (run.sh bench):
//  1. time from pressing Join to the first decoded frame of the other person's video, over N
//     two-peer calls (p50, p95);
//  2. CPU and memory of each browser in a 4-peer full mesh at 720p.
// Writes bench/browser.md. Runs inside run.sh's namespace against the real lancall-host.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startHost, launchBrowser, joinCall, openPage, waitForVideo, closeAll, whyNotRunnable, repoRoot, CHROMIUM, BASE_FLAGS, FAKE_MEDIA, sleep } from './lib/harness.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 24);
const MESH_SECONDS = Number(process.env.BENCH_MESH_SECONDS ?? 20);

const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

// ---- 1. join to first remote frame ---------------------------------------------------------
async function joinTimes(host) {
  const browser = await launchBrowser();
  const ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
  const times = [];
  try {
    for (let i = 0; i < CALLS; i += 1) {
      const { page, context } = await openPage(browser, host.joinUrl);
      await page.getByTestId('name').fill(`Bob ${i}`);
      await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0);
      // Watch for the first frame painted in any remote tile, on the page's own clock.
      await page.evaluate(() => {
        window.__firstFrame = null;
        const watch = () => {
          const v = document.querySelector('[data-testid=remote-video]');
          if (v && 'requestVideoFrameCallback' in v) {
            v.requestVideoFrameCallback((now) => {
              window.__firstFrame = now;
            });
            return true;
          }
          return false;
        };
        if (!watch()) {
          const mo = new MutationObserver(() => {
            if (watch()) mo.disconnect();
          });
          mo.observe(document.body, { childList: true, subtree: true });
        }
        document.querySelector('[data-testid=join]').addEventListener('click', () => {
          window.__pressed = performance.now();
        }, { capture: true, once: true });
      });
      await page.getByTestId('join').click();
      await page.waitForFunction(() => window.__firstFrame !== null, null, { timeout: 20_000 });
      const ms = await page.evaluate(() => window.__firstFrame - window.__pressed);
      times.push(ms);
      console.log(`call ${i + 1}/${CALLS}: first remote frame ${ms.toFixed(0)} ms after Join`);
      await page.getByTestId('hangup').click();
      await context.close();
      await sleep(300);
    }
  } finally {
    await closeAll(ada.context, browser);
  }
  return times;
}

// ---- 2. a 4-peer mesh at 720p: CPU and memory per browser ----------------------------------
function descendants(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) out.push(...(children.get(out[i]) ?? []));
  return out;
}

function cpuTicks(pids) {
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime + stime
    } catch {
      /* gone */
    }
  }
  return ticks;
}

function pssMiB(pids) {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+)/m);
      if (m) kb += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

async function mesh(host) {
  const servers = [];
  const peers = [];
  try {
    for (const name of ['Ada', 'Bob', 'Cy', 'Dee']) {
      const server = await chromium.launchServer({
        executablePath: CHROMIUM,
        headless: true,
        args: [...BASE_FLAGS, '--disable-features=WebRtcHideLocalIpsWithMdns', ...FAKE_MEDIA],
      });
      servers.push(server);
      const browser = await chromium.connect(server.wsEndpoint());
      const peer = await joinCall(browser, host.joinUrl, name, { quality: '720p' });
      peers.push({ ...peer, browser, server });
    }
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
    await sleep(3000); // let bitrates ramp up
    const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
    // The same processes at both ends of the window (a process born inside it would bring in
    // CPU time from before it).
    const trees = peers.map((p) => descendants(p.server.process().pid));
    const before = trees.map((pids) => cpuTicks(pids));
    const t0 = Date.now();
    await sleep(MESH_SECONDS * 1000);
    const after = trees.map((pids) => cpuTicks(pids));
    const secs = (Date.now() - t0) / 1000;
    const rows = [];
    for (const [i, p] of peers.entries()) {
      const pids = trees[i];
      const cpu = ((after[i] - before[i]) / hz / secs) * 100;
      const sent = await p.page.evaluate(async () => {
        const out = [];
        for (const r of window.lancall.call.participants) {
          const st = await r.pc.getStats();
          st.forEach((s) => {
            if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth) out.push(`${s.frameWidth}x${s.frameHeight}@${Math.round(s.framesPerSecond ?? 0)}`);
          });
        }
        return out;
      });
      rows.push({ name: p.name, cpu, pss: pssMiB(pids), processes: pids.length, sent });
    }
    return { rows, secs };
  } finally {
    await closeAll(peers.map((p) => p.browser));
    await closeAll(servers);
  }
}

const loadAtStart = os.loadavg()[0];
const host = await startHost();
let times;
let meshResult;
try {
  times = await joinTimes(host);
  meshResult = await mesh(host);
} finally {
  await host.stop();
  host.cleanup();
}

const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.+)/) ?? [])[1] ?? os.arch();
const chromiumVersion = execFileSync(CHROMIUM, ['--version']).toString().trim();
const p50 = pct(times, 50);
const p95 = pct(times, 95);
const md = `# Browser benchmark

Made by \`tests/browser/run.sh bench\` (tests/browser/bench-join.mjs) on ${new Date().toISOString().slice(0, 10)}.

Machine: ${cpuModel}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${chromiumVersion} (headless, \`--disable-gpu\`,
Chromium's fake camera and microphone); the real \`lancall-host\` (debug build). Everything runs on one
machine inside a network namespace (veth 10.99.1.1 / 10.99.1.2), so the "network" is the kernel.
Load average (1 min) when the run started: ${loadAtStart.toFixed(2)}; whatever else runs on the machine shares its cores.

## Join → first remote frame (two-peer call)

Method: one person (Ada, 360p) stays in the room. ${times.length} times, a new browser context opens the join
link, types a name, waits for its camera preview, presses Join; the time is taken on the page's own
clock from the click to the first frame painted in the remote tile (\`requestVideoFrameCallback\`).
It includes the WebSocket connect, join, state exchange, offer/answer, ICE, DTLS and the first
key frame.

| calls | p50 | p95 | min | max |
|---|---|---|---|---|
| ${times.length} | ${p50.toFixed(0)} ms | ${p95.toFixed(0)} ms | ${Math.min(...times).toFixed(0)} ms | ${Math.max(...times).toFixed(0)} ms |

## Four-peer mesh at 720p: CPU and memory per browser

Method: four separate Chromium processes, one person each, quality 720p at 30 fps asked (the fake
camera gives 20 fps), full mesh (each browser encodes its camera three times and decodes three
streams). After everyone decodes everyone and 3 s of ramp-up, CPU time (utime+stime of the browser
and all its child processes, from /proc) is measured over ${meshResult.secs.toFixed(0)} s; memory is the summed PSS
(/proc/PID/smaps_rollup) of those processes at the end. 100 % = one core; the machine has ${os.cpus().length}.

| browser | CPU | memory (PSS) | processes | video sent to each peer |
|---|---|---|---|---|
${meshResult.rows.map((r) => `| ${r.name} | ${r.cpu.toFixed(0)} % | ${r.pss.toFixed(0)} MiB | ${r.processes} | ${[...new Set(r.sent)].join(', ')} |`).join('\n')}

Total CPU of the four browsers: ${meshResult.rows.reduce((a, r) => a + r.cpu, 0).toFixed(0)} % (of ${os.cpus().length * 100} %). With four
browsers sharing two cores, WebRTC's bandwidth and CPU adaptation lowers what is sent (see the last
column): on real devices each browser has its own CPU.
`;
mkdirSync(path.join(repoRoot, 'bench'), { recursive: true });
writeFileSync(path.join(repoRoot, 'bench/browser.md'), md);
console.log(md);
