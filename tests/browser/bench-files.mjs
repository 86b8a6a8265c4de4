// Benchmark, not a test (run.sh bench files): a 200 MB file sent in a call, Chromium to Chromium
// over the mesh connection's data channel, beside an HTTPS upload of the same file from the same
// Chromium to this namespace's host address on the same path (the ceiling: one TLS stream, no
// WebRTC). While the file goes, the receiver's memory is sampled: its browser's resident memory
// (every process of it, from /proc) and its page's JavaScript heap.
//
// The HTTPS sink is bench-only, in node, with the host's own leaf certificate and key: it reads
// the body, counts and hashes it, and answers; lancall-host takes no uploads.
//
// Prints a Markdown table and writes it to bench/files-latest.md (bench/files.md quotes it).
// The receiver's browser has a profile on disk (launchPersistent), as a person's does: in an
// off-the-record context its origin-private file system, where the file is written as it comes,
// lives in memory, and its RSS grew by the file's size.
// Env: BENCH_FILE_MB (200), BENCH_RUNS (3), BENCH_OFF_THE_RECORD=1 (the receiver off the record).
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startHost, launchBrowser, launchPersistent, joinCall, waitForVideo, closeAll, whyNotRunnable, repoRoot, HOST_ADDR, waitFor } from './lib/harness.js';

const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 200);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MB = 1_000_000;

const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'lancall-bench-files-'));
function makeFile(size) {
  const file = path.join(dir, `bench-${size}.bin`);
  const fd = openSync(file, 'w');
  const hash = createHash('sha256');
  for (let left = size; left > 0;) {
    const block = randomBytes(Math.min(left, 4 * 1024 * 1024));
    writeSync(fd, block);
    hash.update(block);
    left -= block.length;
  }
  closeSync(fd);
  return { file, size, sha256: hash.digest('hex') };
}

/** Resident memory (kB) of the process tree under the browser process whose command line has `mark`. */
function treeRss(mark) {
  const procs = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      procs.push({ pid: Number(pid), ppid, cmd, rss });
    } catch {
      /* gone */
    }
  }
  const root = procs.find((p) => p.cmd.includes(mark) && !p.cmd.includes('--type='));
  if (!root) return 0;
  const inTree = new Set([root.pid]);
  for (let changed = true; changed;) {
    changed = false;
    for (const p of procs) if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
      inTree.add(p.pid);
      changed = true;
    }
  }
  return procs.filter((p) => inTree.has(p.pid)).reduce((s, p) => s + p.rss, 0);
}

/** A bench-only HTTPS sink with the host's certificate: counts and hashes what is POSTed. */
function startSink(dataDir) {
  const key = readFileSync(path.join(dataDir, 'leaf.key'));
  const cert = readFileSync(path.join(dataDir, 'leaf.crt'));
  const server = https.createServer({ key, cert }, (req, res) => {
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': 'POST' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (d) => {
      bytes += d.length;
      hash.update(d);
    });
    req.on('end', () => res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
  });
  return new Promise((resolve) => server.listen(0, HOST_ADDR, () => resolve(server)));
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const host = await startHost();
  const sink = await startSink(host.dataDir);
  const sinkUrl = `https://${HOST_ADDR}:${sink.address().port}/upload`;
  const senderBrowser = await launchBrowser({ extra: ['--lancall-bench=sender'] });
  const profile = mkdtempSync(path.join(os.tmpdir(), 'lancall-bench-profile-'));
  const persistent = process.env.BENCH_OFF_THE_RECORD !== '1';
  const receiverBrowser = persistent
    ? await launchPersistent(profile, { extra: ['--lancall-bench=receiver'] })
    : await launchBrowser({ extra: ['--lancall-bench=receiver'] });
  const ada = await joinCall(senderBrowser, host.joinUrl, 'Ada', { quality: '360p' });
  const bob = await joinCall(receiverBrowser, host.joinUrl, 'Bob', { quality: '360p' });
  await waitForVideo(ada.page, bob.id);
  const f = makeFile(FILE_MB * MB);
  await ada.page.getByTestId('open-chat').click();
  await bob.page.getByTestId('open-chat').click();
  const rows = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      // 1. HTTPS upload of the same file from Ada's page, on the same path.
      // The file as a File in the page: set on a second input of our own (not sent to anyone).
      await ada.page.evaluate(() => {
        if (document.getElementById('bench-input')) return;
        const i = document.createElement('input');
        i.type = 'file';
        i.id = 'bench-input';
        i.hidden = true;
        document.body.append(i);
      });
      await ada.page.locator('#bench-input').setInputFiles(f.file);
      const https = await ada.page.evaluate(async (url) => {
        const file = /** @type {HTMLInputElement} */ (document.getElementById('bench-input')).files[0];
        const t0 = performance.now();
        const res = await fetch(url, { method: 'POST', body: file, headers: { 'content-type': 'text/plain' } });
        const body = await res.json();
        return { ms: performance.now() - t0, ...body };
      }, sinkUrl);
      if (https.sha256 !== f.sha256) throw new Error(`the HTTPS sink got other bytes (${https.bytes})`);

      // 2. The same file in the call, Ada to Bob.
      const before = await bob.page.locator('[data-testid=file-card][data-direction=in]').count();
      await ada.page.getByTestId('file-to').selectOption({ label: 'Bob' });
      await ada.page.getByTestId('file-input').setInputFiles(f.file);
      const card = bob.page.locator('[data-testid=file-card][data-direction=in]').nth(before);
      await waitFor(async () => (await card.getAttribute('data-state')) === 'offered', { timeout: 20_000, what: 'the offer' });
      const downloaded = bob.page.waitForEvent('download', { timeout: 600_000 });
      const samples = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const heap = await bob.page.evaluate(() => /** @type {any} */ (performance).memory?.usedJSHeapSize ?? 0).catch(() => 0);
          samples.push({ at: Date.now(), rssKb: treeRss('--lancall-bench=receiver'), heap });
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const baseRss = treeRss('--lancall-bench=receiver');
      await card.getByTestId('file-accept').click();
      await waitFor(async () => ['done', 'failed'].includes(await card.getAttribute('data-state')), { timeout: 600_000, interval: 100, what: 'the file done' });
      sampling = false;
      await sampler;
      if ((await card.getAttribute('data-state')) !== 'done') throw new Error(`the transfer failed: ${await card.innerText()}`);
      const t = await bob.page.evaluate(() => {
        const x = [...window.lancall.files.transfers.values()].filter((y) => y.direction === 'in').pop();
        return { startedAt: x.startedAt, endedAt: x.endedAt, sink: x.sink?.kind ?? null, sha256: x.sha256 };
      });
      const download = await downloaded;
      await download.path();
      await download.delete();
      const seconds = (t.endedAt - t.startedAt) / 1000;
      const rss = samples.map((s) => s.rssKb / 1024);
      const heap = samples.map((s) => s.heap / 1e6);
      rows.push({
        run: run + 1,
        httpsMBs: f.size / MB / (https.ms / 1000),
        callMBs: f.size / MB / seconds,
        baseRssMB: baseRss / 1024,
        maxRssMB: Math.max(...rss),
        rssSpreadMB: Math.max(...rss) - Math.min(...rss),
        maxHeapMB: Math.max(...heap),
        sink: t.sink,
        ok: t.sha256 === f.sha256,
      });
      console.error(`[bench] run ${run + 1}: ${JSON.stringify(rows[rows.length - 1])}`);
    }
  } finally {
    await closeAll(ada?.context, persistent ? null : bob?.context, senderBrowser, receiverBrowser);
    rmSync(profile, { recursive: true, force: true });
    sink.close();
    await host.stop();
    host.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `${FILE_MB} MB file, ${RUNS} runs, receiver ${persistent ? 'with a profile on disk' : 'off the record'}, ${os.cpus().length} cores (${os.loadavg()[0].toFixed(1)} load at the end), ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| run | HTTPS upload MB/s | in the call MB/s | ratio | receiver RSS before → peak (MB) | RSS spread during (MB) | receiver JS heap peak (MB) | sink | SHA-256 ok |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.run} | ${fmt(r.httpsMBs)} | ${fmt(r.callMBs)} | ${fmt(r.callMBs / r.httpsMBs, 2)} | ${fmt(r.baseRssMB, 0)} → ${fmt(r.maxRssMB, 0)} | ${fmt(r.rssSpreadMB, 0)} | ${fmt(r.maxHeapMB, 0)} | ${r.sink} | ${r.ok ? 'yes' : 'NO'} |`),
    `| median | ${fmt(median(rows.map((r) => r.httpsMBs)))} | ${fmt(median(rows.map((r) => r.callMBs)))} | ${fmt(median(rows.map((r) => r.callMBs / r.httpsMBs)), 2)} | | | | | |`,
  ];
  const text = lines.join('\n');
  console.log(text);
  writeFileSync(path.join(repoRoot, 'bench/files-latest.md'), `${text}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
