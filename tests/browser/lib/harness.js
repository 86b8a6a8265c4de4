// Shared pieces of the browser tests: the real lancall-host, Debian's Chromium through
// playwright-core, and helpers that read what a person would see (video playing, sound arriving).
//
// Everything here runs inside the network namespace that run.sh makes (env LANCALL_NETNS): the
// host listens on 10.99.1.1, the browsers get host candidates on 10.99.1.1 and 10.99.1.2, and no
// packet can leave.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { makeRemoteNamespace as remoteNamespace } from '../../netns/remote.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const HOST_BIN = process.env.LANCALL_HOST_BIN || path.join(repoRoot, 'target/debug/lancall-host');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const HOST_ADDR = '10.99.1.1';
/** The veth pair inside the namespace (see run.sh). */
export const LINKS = ['lcv0', 'lcv1'];

/** Why these tests cannot run here, or null when they can. */
export function whyNotRunnable() {
  if (!process.env.LANCALL_NETNS) {
    return 'needs the network namespace that tests/browser/run.sh creates (run it as root, or where unprivileged user namespaces work)';
  }
  if (!existsSync(CHROMIUM)) return `needs Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (!existsSync(HOST_BIN)) return `needs the host binary at ${HOST_BIN} (cargo build -p lancall-hub --bin lancall-host)`;
  return null;
}

/** Options for node:test's describe/test: skip with the reason when the setup is missing. */
export const runnable = () => {
  const why = whyNotRunnable();
  return why ? { skip: why } : {};
};

// ---- the host ----------------------------------------------------------------------------

/** The data folders this process made for hosts: removed when it exits (a test may still read
 * one after stopping its host, and not every test calls `cleanup`). */
const madeDirs = new Set();
process.on('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});
/** @param {string} dir */
function madeDir(dir) {
  madeDirs.add(dir);
  return dir;
}

/**
 * Start lancall-host and wait for its `ready` line.
 * @param {{open?: boolean, name?: string, knock?: 'admit'|'refuse', capacity?: number, port?: number, httpPort?: number, dataDir?: string, room?: string}} opts
 */
export async function startHost(opts = {}) {
  const dataDir = opts.dataDir ?? madeDir(mkdtempSync(path.join(tmpdir(), 'lancall-host-')));
  const args = [
    '--listen', `${HOST_ADDR}:${opts.port ?? 0}`,
    '--http-listen', `${HOST_ADDR}:${opts.httpPort ?? 0}`,
    '--data-dir', dataDir,
    '--room', opts.room ?? 'call',
    '--no-mdns',
    '--json',
  ];
  if (opts.open) args.push('--open');
  if (opts.name) args.push('--name', opts.name);
  if (opts.capacity) args.push('--capacity', String(opts.capacity));
  if (opts.topology) args.push('--topology', opts.topology, '--media-port', String(opts.mediaPort ?? 0));
  // More rooms, as `--room NAME[:OPTIONS]` (the ready line's `rooms` has their links).
  for (const room of opts.moreRooms ?? []) args.push('--room', room);
  // Any other options (e.g. ['--max-file-mb', '1']).
  args.push(...(opts.extraArgs ?? []));
  // Nobody answers knocks on stdin in a test: admit or refuse them, or refuse by default.
  args.push('--knock', opts.knock ?? 'refuse');
  // `stdin: true`: commands can be typed to it (host.send).
  const proc = spawn(HOST_BIN, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
  const stderr = [];
  proc.stderr.on('data', (d) => {
    stderr.push(d.toString());
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[host] ${d}`);
  });
  const lines = readline.createInterface({ input: proc.stdout });
  const events = [];
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lancall-host printed no ready line in 20 s. stderr:\n${stderr.join('')}`)), 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lancall-host exited (${code}) before it was ready. stderr:\n${stderr.join('')}`));
    });
    lines.on('line', (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      events.push(ev);
      if (ev.event === 'ready') {
        clearTimeout(timer);
        resolve(ev);
      }
    });
  });
  const httpsUrl = new URL(ready.https_url);
  const host = {
    proc,
    ready,
    dataDir,
    events,
    port: Number(httpsUrl.port),
    httpPort: ready.http_url ? Number(new URL(ready.http_url).port) || 0 : 0,
    joinUrl: ready.join_url,
    httpsUrl: ready.https_url,
    token: ready.token ?? null,
    /** A command on its stdin (`--json`: one JSON object a line); needs `stdin: true`. */
    send(command) {
      proc.stdin.write(`${JSON.stringify(command)}\n`);
    },
    /** The first event after `from` (an index into `events`) that `pred` accepts. */
    async event(pred, { from = 0, timeout = 20_000, what = 'a host event' } = {}) {
      let found;
      await waitFor(() => (found = events.slice(from).find(pred)), { timeout, what });
      return found;
    },
    /** Stop it the way a person would (SIGTERM: the hub sends `closing`). */
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    cleanup() {
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return host;
}

// ---- browsers ----------------------------------------------------------------------------

export const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--autoplay-policy=no-user-gesture-required',
];
/** Show real host candidates: mDNS names cannot resolve in a namespace without multicast. */
const DISABLED_FEATURES = ['WebRtcHideLocalIpsWithMdns'];
export const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/**
 * @param {{fakeDevices?: boolean|string, fakeUi?: boolean, extra?: string[]}} opts
 *   fakeDevices: true, or a value for --use-fake-device-for-media-stream (e.g. "device-count=2");
 *   false launches with no camera or microphone at all (this machine has none).
 */
export async function launchBrowser({ fakeDevices = true, fakeUi = true, extra = [], executablePath = CHROMIUM, disableFeatures = [] } = {}) {
  const args = [...BASE_FLAGS, `--disable-features=${[...DISABLED_FEATURES, ...disableFeatures].join(',')}`, ...extra];
  if (fakeDevices) args.push(fakeDevices === true ? '--use-fake-device-for-media-stream' : `--use-fake-device-for-media-stream=${fakeDevices}`);
  if (fakeUi) args.push('--use-fake-ui-for-media-stream');
  return chromium.launch({ executablePath, headless: true, args, timeout: 30_000 });
}

/**
 * A Chromium with a profile on disk in `userDataDir` (not off the record): its origin-private
 * file system is on disk, as a person's browser's is. Returns a BrowserContext, which `openPage`
 * and `joinCall` take in place of a browser (they then use it as it is).
 * @param {string} userDataDir
 * @param {{extra?: string[]}} [opts]
 */
export async function launchPersistent(userDataDir, { extra = [] } = {}) {
  const args = [...BASE_FLAGS, `--disable-features=${DISABLED_FEATURES.join(',')}`, ...FAKE_MEDIA, ...extra];
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    timeout: 30_000,
    ignoreHTTPSErrors: true,
    viewport: { width: 960, height: 640 },
    acceptDownloads: true,
    colorScheme: 'dark',
  });
}

/**
 * A second namespace "behind" a veth pair of its own, for a browser whose only path to the host
 * and to the other browsers can be cut: lcx0 10.99.2.1 stays here, lcx1 10.99.2.2 goes there
 * with a route to 10.99.1.0/24. Needs root (`ip netns`); run.sh deletes it too if a test dies.
 * @returns {{name: string, chromium: string, cut(): void, restore(): void, limit(rate: string): void, unlimit(): void, remove(): void} | null}
 */
export function makeRemoteNamespace() {
  if (!process.env.LANCALL_NETNS || process.env.LANCALL_NETNS === 'userns') return null;
  return remoteNamespace({
    name: `${process.env.LANCALL_NETNS}-b`,
    veth: ['lcx0', 'lcx1'],
    here: '10.99.2.1',
    there: '10.99.2.2',
    route: '10.99.1.0/24',
    chromium: CHROMIUM,
  });
}

/** A fresh browser profile on the join link, as a person opening it. */
export async function openPage(browser, url, { viewport = { width: 960, height: 640 }, permissions, colorScheme = 'dark' } = {}) {
  // A persistent context (launchPersistent) is used as it is.
  const context = typeof browser.newContext === 'function'
    ? await browser.newContext({ ignoreHTTPSErrors: true, viewport, acceptDownloads: true, permissions, colorScheme })
    : browser;
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  page.on('console', (msg) => {
    if (process.env.LANCALL_TEST_VERBOSE || msg.type() === 'error') console.error(`[console.${msg.type()}] ${msg.text()}`);
  });
  // Chromium aborts loads in flight when it sees the network change (the resilience tests move
  // links up and down): a load it aborted is tried again, as a person would reload.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await page.goto(url);
      break;
    } catch (err) {
      if (attempt >= 3 || !/ERR_NETWORK_CHANGED/.test(String(err?.message))) throw err;
      console.error(`[harness] loading the page was aborted (${err.message.split('\n')[0]}): trying again`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  // A page whose modules were aborted that way loads itself again (ui/js/boot.js; tested in
  // errors.test.mjs), so nothing is done for it here.
  return { context, page };
}

/**
 * Open the link, type a name, wait for the camera preview, press Join, wait for the call screen.
 * @returns {Promise<{page, context, name, id: string}>}
 */
export async function joinCall(browser, url, name, { quality, waitPreview = true, viewport, colorScheme } = {}) {
  const { context, page } = await openPage(browser, url, { viewport, colorScheme });
  await pageScriptsReady(page);
  await page.getByTestId('name').fill(name);
  if (quality) {
    await openMoreSettings(page);
    await page.getByTestId('quality-select').selectOption(quality);
  }
  if (waitPreview) await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
  await page.getByTestId('join').click();
  await page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
  const id = await page.evaluate(() => window.lancall.call.selfId);
  return { page, context, name, id };
}

/**
 * Waits until the page's scripts have wired the pre-join card (its Join button is enabled then),
 * and if they never do, says what the page had loaded. (Twice in CI a card stayed unwired: a
 * network change in the tests' namespaces had aborted the page's module requests. The page now
 * loads itself again then, and the namespaces no longer change under a loading page.)
 */
export async function pageScriptsReady(page, timeout = 30_000) {
  await page.waitForSelector('[data-testid="join"]:enabled', { timeout }).catch(async (err) => {
    const loaded = await page
      .evaluate(() => performance.getEntriesByType('resource').map((e) => `${e.name.split('/').pop()} ${Math.round(e.duration)} ms`).join(', '))
      .catch((e) => `? (${e.message})`);
    const state = await page.evaluate(() => ({ ready: document.readyState, lancall: typeof window.lancall, errors: window.lancall?.errors ?? null })).catch(() => null);
    throw new Error(`${err.message}\nthe page's scripts never wired the card: ${JSON.stringify(state)}; it loaded: ${loaded}`);
  });
}

/** Unfolds the pre-join card's "More settings" (quality, frame rate, noise suppression). */
export async function openMoreSettings(page) {
  const more = page.getByTestId('prejoin-more-settings');
  if (!(await more.evaluate((d) => d.open))) await more.locator('summary').click();
}

/** Poll `fn` until it returns a truthy value; the last value and `what` (or what it returns) go into the error. */
export async function waitFor(fn, { timeout = 10_000, interval = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * What `page` receives from peer `peerId`: the tile's video element and the connection's inbound
 * RTP counters.
 */
export function received(page, peerId) {
  return page.evaluate(async (peerId) => {
    const video = document.querySelector(`[data-testid=remote-video][data-peer="${peerId}"]`);
    const remote = window.lancall.call?.remotes.get(peerId);
    const out = {
      tile: !!video,
      videoWidth: video?.videoWidth ?? 0,
      videoHeight: video?.videoHeight ?? 0,
      framesShown: video?.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
      framesDecoded: 0,
      audioEnergy: 0,
      audioBytes: 0,
      audioLevel: 0,
      connection: remote?.pc?.connectionState ?? remote?.connectionState ?? null,
      screenWidth: 0,
      screenFrames: 0,
    };
    if (!remote) return out;
    // In an SFU call one connection carries everyone: the call keeps this remote's part.
    const stats = await window.lancall.call.getStats(remote);
    if (!stats) return out;
    const main = remote.tx.video?.receiver.track.id ?? remote.mainStream.getVideoTracks()[0]?.id;
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video' && s.trackIdentifier === main) out.framesDecoded = s.framesDecoded ?? 0;
      else if (s.kind === 'video') out.screenFrames = Math.max(out.screenFrames, s.framesDecoded ?? 0);
      if (s.kind === 'audio') {
        out.audioEnergy = s.totalAudioEnergy ?? 0;
        out.audioBytes = s.bytesReceived ?? 0;
        out.audioLevel = s.audioLevel ?? 0;
      }
    });
    const screen = document.querySelector(`[data-testid=remote-screen][data-peer="${peerId}"]`);
    out.screenWidth = screen?.videoWidth ?? 0;
    return out;
  }, peerId);
}

/** Wait until `page` decodes video frames from `peerId` (count growing, picture has a size). */
export async function waitForVideo(page, peerId, { timeout = 15_000, frames = 10 } = {}) {
  const first = await waitFor(async () => {
    const r = await received(page, peerId);
    return r.videoWidth > 0 && r.framesDecoded > 0 ? r : null;
  }, { timeout, what: `video from ${peerId}` });
  return waitFor(async () => {
    const r = await received(page, peerId);
    return r.framesDecoded >= first.framesDecoded + frames ? r : null;
  }, { timeout, what: `more frames from ${peerId}` });
}

/**
 * Wait until media from `peerId` has stopped: a `stretchMs` stretch in which `stopped(before,
 * after)` holds for two readings of `received`. Not one fixed sleep: frames already on their way
 * can take a while to drain on a busy machine.
 * @param {(before: any, after: any) => boolean} stopped
 */
export async function waitForMediaToStop(page, peerId, stopped, { stretchMs = 1500, timeout = 20_000 } = {}) {
  let last = await received(page, peerId);
  let seen = '';
  return waitFor(async () => {
    await sleep(stretchMs);
    const now = await received(page, peerId);
    seen = `${last.framesDecoded} -> ${now.framesDecoded} frames, ${last.audioBytes} -> ${now.audioBytes} audio bytes, energy ${last.audioEnergy} -> ${now.audioEnergy}`;
    const done = stopped(last, now);
    last = now;
    return done;
  }, { timeout, interval: 0, what: () => `media from ${peerId} to stop (last ${stretchMs} ms: ${seen})` });
}

/** Wait until sound energy from `peerId` grows (Chromium's fake microphone beeps). */
export async function waitForAudio(page, peerId, { timeout = 15_000 } = {}) {
  const first = await waitFor(async () => {
    const r = await received(page, peerId);
    return r.audioBytes > 0 ? r : null;
  }, { timeout, what: `audio from ${peerId}` });
  return waitFor(async () => {
    const r = await received(page, peerId);
    return r.audioEnergy > first.audioEnergy + 1e-4 ? r : null;
  }, { timeout, what: `audio energy from ${peerId}` });
}

/** Close contexts and browsers, ignoring ones that are gone. */
export async function closeAll(...things) {
  for (const t of things.flat()) {
    try {
      await t?.close();
    } catch {
      /* already closed */
    }
  }
}

/** Run `ip` inside our namespace (the test process is already in it). */
export function ip(...args) {
  execFileSync('ip', args, { stdio: 'inherit' });
}

/** The remote side of the selected candidate pair of the page's connection to the host's SFU. */
export function sfuPath(page) {
  return page.evaluate(async () => {
    const stats = await window.lancall.call.sfu.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    const remote = pair ? stats.get(pair.remoteCandidateId) : null;
    return remote ? { address: remote.address ?? remote.ip, port: remote.port, protocol: remote.protocol, tcpType: remote.tcpType ?? null } : null;
  });
}

/** How the page's call travels now. */
export function route(page) {
  return page.evaluate(() => {
    const call = window.lancall.call;
    return {
      topology: call.topology,
      sfu: call.sfu ? call.sfu.pc.connectionState : null,
      direct: call.participants.filter((r) => r.pc).map((r) => r.pc.connectionState),
    };
  });
}

/** Records when each remote picture shows a new frame (requestVideoFrameCallback), by peer id. */
export function recordFrames(page) {
  return page.evaluate(() => {
    window.__frames = {};
    const watched = new WeakSet();
    const watch = () => {
      for (const v of document.querySelectorAll('[data-testid=remote-video]')) {
        if (watched.has(v)) continue;
        watched.add(v);
        const onFrame = () => {
          const peer = v.dataset.peer;
          if (peer) (window.__frames[peer] ??= []).push(performance.now());
          v.requestVideoFrameCallback(onFrame);
        };
        v.requestVideoFrameCallback(onFrame);
      }
    };
    watch();
    setInterval(watch, 100);
  });
}

/** Waits until `page` has shown `count` frames of `peer`'s picture after `after` (page clock). */
export function framesAfter(page, peer, after, count) {
  return waitFor(
    () => page.evaluate(([peer, after]) => (window.__frames[peer] ?? []).filter((t) => t > after).length, [peer, after]).then((n) => n >= count),
    { timeout: 20_000, what: `${count} frames of ${peer} after the switch` },
  );
}

/** The longest pause between two frames of `peer`'s picture since `since` (page clock, ms). */
export function longestPause(page, peer, since) {
  return page.evaluate(([peer, since]) => {
    const times = (window.__frames[peer] ?? []).filter((t) => t >= since);
    let longest = 0;
    for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, times[i] - times[i - 1]);
    return { longest: Math.round(longest), frames: times.length };
  }, [peer, since]);
}

/** The page's clock now (ms). */
export const now = (page) => page.evaluate(() => performance.now());

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
