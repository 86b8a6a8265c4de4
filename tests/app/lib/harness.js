// Shared pieces of the app tests: the lancall app under tauri-driver + WebKitWebDriver (Xvfb),
// a real lancall-host, and Debian's Chromium through playwright-core. Everything runs inside the
// network namespace run.sh makes (LANCALL_APP_NETNS): the app and the host advertise and browse
// over the veth pair lcapp0 (10.99.3.1) / lcapp1 (10.99.3.2), and no packet can leave.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { before, after } from 'node:test';
import { Session } from './webdriver.js';
import { makeRemoteNamespace } from '../../netns/remote.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const APP_BIN = process.env.LANCALL_APP_BIN || path.join(repoRoot, 'target/debug/lancall');
export const HOST_BIN = process.env.LANCALL_HOST_BIN || path.join(repoRoot, 'target/debug/lancall-host');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const APP_ADDR = '10.99.3.1';
export const HOST_ADDR = '10.99.3.2';

export function whyNotRunnable() {
  if (!process.env.LANCALL_APP_NETNS) return 'needs the network namespace that tests/app/run.sh creates (run it as root)';
  if (!process.env.DISPLAY) return 'needs an X display (run.sh starts Xvfb)';
  for (const [what, file] of [['the app', APP_BIN], ['lancall-host', HOST_BIN], ['Chromium', CHROMIUM]]) {
    if (!existsSync(file)) return `needs ${what} at ${file}`;
  }
  return null;
}

export const runnable = () => {
  const why = whyNotRunnable();
  return why ? { skip: why } : {};
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

let nextPort = 4444;

/**
 * Starts tauri-driver (which starts WebKitWebDriver, which starts the app) with the app's
 * environment, and opens a session. `dataDir` is the app's data folder (kept across restarts
 * when the caller passes the same one).
 */
export async function startApp({ dataDir, env = {} } = {}) {
  const home = dataDir ?? mkdtempSync(path.join(tmpdir(), 'lancall-app-'));
  const port = nextPort;
  nextPort += 2;
  const appEnv = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: path.join(home, 'xdg-data'),
    XDG_CONFIG_HOME: path.join(home, 'xdg-config'),
    XDG_CACHE_HOME: path.join(home, 'xdg-cache'),
    LANCALL_DATA_DIR: path.join(home, 'lancall'),
    LANCALL_TEST_MOCK_CAPTURE: '1',
    LANCALL_LOG: process.env.LANCALL_LOG ?? 'info',
    // No accessibility bus or dconf in the namespace; GTK's warnings about them are noise.
    NO_AT_BRIDGE: '1',
    GSETTINGS_BACKEND: 'memory',
    ...env,
  };
  // Its own process group: tauri-driver, WebKitWebDriver, the app and WebKit's helper processes
  // are all stopped together at the end, so that none outlives the test holding its pipes open
  // (which kept node from exiting now and then).
  const driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(port + 1)], {
    env: appEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const signalGroup = (signal) => {
    try {
      process.kill(-driver.pid, signal);
    } catch {
      /* the group is gone already */
    }
  };
  const logs = [];
  const keep = (d) => {
    logs.push(d.toString());
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[app] ${d}`);
  };
  driver.stdout.on('data', keep);
  driver.stderr.on('data', keep);
  for (let i = 0; !(await portOpen(port)); i += 1) {
    if (i > 100 || driver.exitCode !== null) throw new Error(`tauri-driver did not start:\n${logs.join('')}`);
    await sleep(100);
  }
  const started = Date.now();
  let session;
  try {
    session = await Session.create(`http://127.0.0.1:${port}`, {
      'tauri:options': { application: APP_BIN },
    });
  } catch (err) {
    // No session, so no stop(): the driver and an app it may have started go now.
    signalGroup('SIGKILL');
    throw err;
  }
  session.onHang = async (what) => stacksOfGroup(driver.pid, what);
  return {
    session,
    home,
    logs,
    started,
    /** the process group of tauri-driver, WebKitWebDriver, the app and its web processes */
    pgid: driver.pid,
    async stop({ keepData = false } = {}) {
      await session.quit().catch(() => {});
      signalGroup('SIGTERM');
      const exited = new Promise((r) => (driver.exitCode !== null || driver.signalCode !== null ? r() : driver.once('exit', r)));
      await Promise.race([exited, sleep(5000)]);
      // Whatever is left of the group (an app or WebKit process that ignored SIGTERM) goes now.
      signalGroup('SIGKILL');
      await exited;
      driver.stdout.destroy();
      driver.stderr.destroy();
      if (!keepData && !dataDir) {
        try {
          rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
        } catch {
          /* WebKit may still be writing its cache: leave the temporary folder */
        }
      }
    },
  };
}

/**
 * When the app stops answering WebDriver: every thread's stack of the app and its web process
 * (gdb, when installed), written to a file, with the main threads' tops returned for the test's
 * message. A freeze is a bug in the product; this is how it shows where.
 */
function stacksOfGroup(pgid, what) {
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,comm='], { encoding: 'utf8' });
  const procs = (ps.stdout ?? '')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && Number(f[1]) === pgid && /^(lancall|WebKitWebProces|WebKitWebDriver)/.test(f[2]));
  const gdb = spawnSync('sh', ['-c', 'command -v gdb'], { encoding: 'utf8' }).stdout.trim();
  if (!gdb || procs.length === 0) return `no stacks (gdb ${gdb ? 'found' : 'missing'}, ${procs.length} processes)`;
  const file = path.join(tmpdir(), `lancall-app-frozen-${pgid}-${Date.now()}.txt`);
  let all = `WebDriver command that hung: ${what}\n`;
  const tops = [];
  for (const [pid, , comm] of procs) {
    const out = spawnSync(gdb, ['-p', pid, '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'thread apply all bt 30'], { encoding: 'utf8', timeout: 60_000 }).stdout ?? '';
    all += `\n===== ${comm} (pid ${pid}) =====\n${out}`;
    // The main thread is "Thread 1": its first frames say what it waits on.
    const main = out.split(/\n(?=Thread \d+ )/).find((t) => /^Thread 1 /.test(t)) ?? '';
    const frames = main.split('\n').filter((l) => /^#\d+/.test(l)).slice(0, 14).map((l) => l.replace(/^#(\d+)\s+(0x[0-9a-f]+ in )?/, '#$1 ').replace(/ \(.*?\) (at|from) /, ' $1 ').slice(0, 140));
    tops.push(`${comm} ${pid} main thread:\n  ${frames.join('\n  ')}`);
  }
  writeFileSync(file, all);
  console.log(`the app froze (${what}); every thread's stack is in ${file}\n${tops.join('\n')}`);
  return `stacks in ${file}`;
}

/**
 * The resident memory of the app and its WebKit processes (MB, summed from /proc), sampled every
 * 500 ms until `stop()`, which resolves to `{ before, peak, after }`.
 * @param {number} pgid startApp's `pgid`
 */
export function sampleAppMemory(pgid) {
  const rss = () => {
    let kb = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // Fields after the ")" that ends the command: state ppid pgrp …
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(f[2]) !== pgid) continue;
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!/^(lancall|WebKitWebProces|WebKitNetworkPr)/.test(comm)) continue;
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        kb += m ? Number(m[1]) : 0;
      } catch {
        /* the process ended */
      }
    }
    return Math.round(kb / 1024);
  };
  const before = rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 500);
  return {
    stop() {
      clearInterval(timer);
      const after = rss();
      return { before, peak: Math.max(peak, after), after };
    },
  };
}

/** Waits until the home screen has loaded its state from the Rust side. */
export async function homeReady(session, timeout = 20_000) {
  return session.waitFor(() => document.documentElement.dataset.homeReady, { timeout, what: 'the home screen' });
}

/**
 * Starts lancall-host beside the app, advertising by mDNS, and waits for its ready line.
 * `topology` (`sfu`, `auto`) sends the room's media through the host's SFU, on a media port the
 * system picks.
 */
export async function startHost({ open = true, name = 'Test host', topology = null } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lancall-host-'));
  const args = ['--listen', `${HOST_ADDR}:0`, '--no-http', '--data-dir', dataDir, '--name', name, '--json'];
  if (open) args.push('--open');
  if (topology) args.push('--topology', topology, '--media-port', '0');
  const proc = spawn(HOST_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
  const stderr = [];
  proc.stderr.on('data', (d) => {
    stderr.push(d.toString());
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[host] ${d}`);
  });
  const events = [];
  const lines = readline.createInterface({ input: proc.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lancall-host not ready in 20 s:\n${stderr.join('')}`)), 20_000);
    proc.once('exit', (code) => reject(new Error(`lancall-host exited (${code}):\n${stderr.join('')}`)));
    lines.on('line', (line) => {
      try {
        const ev = JSON.parse(line);
        events.push(ev);
        if (ev.event === 'ready') {
          clearTimeout(timer);
          resolve(ev);
        }
      } catch {
        /* not JSON */
      }
    });
  });
  return {
    ready,
    events,
    port: Number(new URL(ready.https_url).port),
    fingerprint: ready.ca_sha256,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, with the flags of TESTING.md and fake media. */
export async function launchChromium({ extra = [], executablePath = CHROMIUM } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      ...extra,
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
}

export { sleep };

/**
 * The usual frame of an app suite, registered as its `before` and `after` hooks: a lancall-host
 * first when `host` gives its options, then the app at its home screen; at the end a browser
 * the suite launched (set `ctx.browser`), the app and the host are closed. Returns `ctx`, whose
 * `app`, `s` (the WebDriver session) and `host` are set once `before` has run.
 */
export function withApp({ host = null } = {}) {
  const ctx = { app: null, s: null, host: null, browser: null };
  before(async () => {
    if (host) ctx.host = await startHost(host);
    ctx.app = await startApp();
    ctx.s = ctx.app.session;
    await homeReady(ctx.s);
  });
  after(async () => {
    await ctx.browser?.close().catch(() => {});
    await ctx.app?.stop().catch(() => {});
    await ctx.host?.stop().catch(() => {});
  });
  return ctx;
}

/**
 * With LANCALL_APP_SHOTS set (a folder): a screenshot of the app as `name`.png, once the element
 * `testid` (if given) is scrolled into view and two frames have been drawn.
 */
export async function shot(session, name, testid) {
  const folder = process.env.LANCALL_APP_SHOTS;
  if (!folder) return;
  if (testid) await session.execute((id) => document.querySelector(`[data-testid="${id}"]`)?.scrollIntoView({ block: 'center' }), testid);
  await session.run(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  writeFileSync(path.join(folder, `${name}.png`), await session.screenshot());
}

/** The join link of `host`'s room "call", with the host's fingerprint (as its QR code gives it). */
export const joinLink = (host) => `https://${HOST_ADDR}:${host.port}/#room=call&fp=${host.fingerprint}`;

/**
 * From the app's home screen, as a person does: types `name`, pastes `host`'s join link and
 * waits for the pre-join card to point at the host.
 */
export async function pointAtHost(s, name, host) {
  await s.type('[data-testid="name"]', name);
  await s.type('[data-testid="join-address"]', joinLink(host));
  await s.click('[data-testid="join-address-go"]');
  await s.waitFor((want) => document.getElementById('host').value === want, { what: 'the pre-join card to point at the host' }, `${HOST_ADDR}:${host.port}`);
}

/** `pointAtHost`, then Join; returns when Join was clicked (ms since the epoch). */
export async function joinByLink(s, name, host) {
  await pointAtHost(s, name, host);
  const clicked = Date.now();
  await s.click('[data-testid="join"]');
  return clicked;
}

/**
 * A second network namespace beside the tests' one, for a browser whose only way to the app and
 * the host is one veth pair (10.99.4.1 here, 10.99.4.2 there): cutting it cuts that browser's
 * media and signaling, as a Wi-Fi drop would. `chromium` runs Chromium in it. Null when the
 * tests do not run in run.sh's namespace.
 */
export function remoteNamespace() {
  if (!process.env.LANCALL_APP_NETNS) return null;
  return makeRemoteNamespace({
    name: `${process.env.LANCALL_APP_NETNS}-b`,
    veth: ['lcy0', 'lcy1'],
    here: '10.99.4.1',
    there: '10.99.4.2',
    route: '10.99.3.0/24',
    chromium: CHROMIUM,
  });
}
