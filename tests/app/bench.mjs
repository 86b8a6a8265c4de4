// Measures the app (run through `tests/app/run.sh bench`, release build, inside the test
// namespace): cold start to an interactive home screen, and resident memory idle and while
// hosting a call with two browser guests. Prints Markdown for bench/app.md.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startApp, homeReady, launchChromium, APP_BIN, sleep } from './lib/harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function rssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function children(pid) {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** RSS of the app process and of every process below it (WebKit's web and network processes). */
function appMemory() {
  // The newest process running exactly this binary (not, say, target/release/lancall-peer).
  const app = execFileSync('pgrep', ['-n', '-f', `^${APP_BIN}( |$)`], { encoding: 'utf8' }).trim().split('\n').map(Number)[0];
  const all = [];
  const walk = (pid) => {
    all.push(pid);
    for (const c of children(pid)) walk(c);
  };
  walk(app);
  const name = (pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const parts = all.map((pid) => ({ pid, name: name(pid), kib: rssKiB(pid) }));
  return { app: rssKiB(app), total: parts.reduce((a, p) => a + p.kib, 0), parts };
}

const mib = (kib) => (kib / 1024).toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const starts = [];
for (let i = 0; i < RUNS; i += 1) {
  const t0 = Date.now();
  const app = await startApp({ env: { LANCALL_NO_MDNS: '1' } });
  await homeReady(app.session);
  starts.push(Date.now() - t0);
  if (i < RUNS - 1) await app.stop();
  else {
    await sleep(5000);
    const idle = appMemory();
    const s = app.session;
    await s.click('[data-testid="host-call"]');
    const link = await s.waitFor(() => {
      const el = document.querySelector('[data-testid="join-link"]');
      return el && el.textContent.startsWith('https://') ? el.textContent : null;
    });
    const browser = await launchChromium();
    const guests = [];
    for (const name of ['Grace', 'Linus']) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(link);
      await page.fill('[data-testid="name"]', name);
      await page.click('[data-testid="join"]');
      guests.push(page);
    }
    // Both guests see each other's video: the call is up.
    for (const page of guests) {
      await page.waitForFunction(() => [...document.querySelectorAll('#grid video')].some((v) => !v.muted && v.videoWidth > 0 && v.readyState >= 2), null, { timeout: 30_000 });
    }
    await s.waitFor(() => document.querySelectorAll('[data-testid="participant"]').length === 2);
    await sleep(10_000);
    const hosting = appMemory();
    await browser.close();
    await app.stop();
    const binSize = statSync(APP_BIN).size;
    const debs = (() => {
      try {
        const dir = new URL('../../target/release/bundle/deb/', import.meta.url);
        return readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => ({ f, size: statSync(new URL(f, dir)).size }));
      } catch {
        return [];
      }
    })();
    console.log(`| cold start to interactive home screen (median of ${RUNS}, incl. WebKitWebDriver session setup) | ${median(starts)} ms (runs: ${starts.join(', ')} ms) |`);
    console.log(`| release binary \`${APP_BIN.replace(/.*target/, 'target')}\` | ${binSize} bytes (${(binSize / 1048576).toFixed(1)} MiB) |`);
    for (const d of debs) console.log(`| .deb \`${d.f}\` | ${(d.size / 1048576).toFixed(2)} MiB |`);
    console.log(`| RSS idle on the home screen: app process / with WebKit processes | ${mib(idle.app)} MiB / ${mib(idle.total)} MiB |`);
    console.log(`| RSS hosting a call with 2 browser guests: app process / with WebKit processes | ${mib(hosting.app)} MiB / ${mib(hosting.total)} MiB |`);
    console.log(`\nprocesses idle: ${idle.parts.map((p) => `${p.name} ${mib(p.kib)}`).join(', ')}`);
    console.log(`processes hosting: ${hosting.parts.map((p) => `${p.name} ${mib(p.kib)}`).join(', ')}`);
  }
}
