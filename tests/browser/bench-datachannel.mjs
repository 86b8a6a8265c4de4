// Benchmark, not a test (run.sh bench datachannel): how fast Chromium moves bytes over WebRTC
// data channels between two browsers on this machine, with nothing of lancall in the way, and
// whether more channels or more connections in parallel move more. It answers whether files in
// the call (issue 15: at least half of an HTTPS upload's rate) could get there by splitting a
// file over several channels or connections.
//
// Two Chromium processes (sender, receiver), each a page in a lancall call inside the test
// namespace (a blank page gathers no ICE candidates there: no default route, and no media
// permission to lift Chromium's default-route-only rule); the experiment's own connections are
// made beside the call's, their offer and answer through this script (no trickle: the
// description once gathering is done). The machine's CPU use over each transfer (all cores,
// from /proc/stat) says whether the rate is what the CPU allows or something else's limit.
// The sender fills each channel up to 4 MiB buffered and refills on `bufferedamountlow`
// (threshold 1 MiB), as lancall's files do; the receiver counts bytes. Each layout sends
// BENCH_DC_MB (default 200) MB in all, split evenly over its channels, twice; the faster run
// is kept. Prints a Markdown table.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { startHost, launchBrowser, joinCall, waitForVideo, closeAll, whyNotRunnable } from './lib/harness.js';

const TOTAL_MB = Number(process.env.BENCH_DC_MB ?? 200);
const MB = 1_000_000;

const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}

/** In a page: makes `count` connections, each with `channels` data channels, and returns the offers. */
async function makeOffers({ count, channels, sending }) {
  window.__pcs = [];
  window.__received = 0;
  const offers = [];
  for (let i = 0; i < count; i += 1) {
    const pc = new RTCPeerConnection();
    window.__pcs.push(pc);
    pc.__channels = [];
    if (sending) {
      for (let c = 0; c < channels; c += 1) {
        const ch = pc.createDataChannel(`bulk-${c}`, { ordered: true });
        ch.binaryType = 'arraybuffer';
        ch.bufferedAmountLowThreshold = 1 << 20;
        pc.__channels.push(ch);
      }
    }
    pc.ondatachannel = ({ channel }) => {
      channel.binaryType = 'arraybuffer';
      channel.onmessage = (ev) => {
        window.__received += ev.data.byteLength;
      };
    };
    if (sending) {
      await pc.setLocalDescription();
      await new Promise((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
      offers.push(pc.localDescription.toJSON());
    }
  }
  return offers;
}

/** In the receiving page: answers each offer. */
async function answer(offers) {
  const answers = [];
  for (let i = 0; i < offers.length; i += 1) {
    const pc = window.__pcs[i];
    await pc.setRemoteDescription(offers[i]);
    await pc.setLocalDescription();
    await new Promise((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
    answers.push(pc.localDescription.toJSON());
  }
  return answers;
}

/** In the sending page: takes the answers and waits until every channel is open. */
async function connect(answers) {
  for (let i = 0; i < answers.length; i += 1) await window.__pcs[i].setRemoteDescription(answers[i]);
  const all = window.__pcs.flatMap((pc) => pc.__channels);
  await Promise.all(all.map((ch) => (ch.readyState === 'open' ? null : new Promise((r) => ch.addEventListener('open', r, { once: true })))));
}

/** In the sending page: sends `bytesEach` on every channel at once in `size`-byte messages. */
async function send({ bytesEach, size }) {
  const chunk = new Uint8Array(size);
  crypto.getRandomValues(chunk.subarray(0, Math.min(size, 65536)));
  const all = window.__pcs.flatMap((pc) => pc.__channels);
  await Promise.all(
    all.map(
      (ch) =>
        new Promise((resolve) => {
          let left = bytesEach;
          const pump = () => {
            while (left > 0 && ch.bufferedAmount < 4 << 20) {
              const n = Math.min(size, left);
              ch.send(n === size ? chunk : chunk.subarray(0, n));
              left -= n;
            }
            if (left <= 0) resolve();
          };
          ch.onbufferedamountlow = pump;
          pump();
        }),
    ),
  );
}

/** Busy and total jiffies of all cores so far (/proc/stat). */
function cpuJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
/** Cores busy (all processes) during the last transfer. */
let lastCores = 0;

async function layout(sender, receiver, { count, channels, size }) {
  const offers = await sender.evaluate(makeOffers, { count, channels, sending: true });
  await receiver.evaluate(makeOffers, { count, channels, sending: false });
  const answers = await receiver.evaluate(answer, offers);
  await sender.evaluate(connect, answers);
  const total = TOTAL_MB * MB;
  const bytesEach = Math.floor(total / (count * channels));
  const expected = bytesEach * count * channels;
  const cpu0 = cpuJiffies();
  const started = Date.now();
  await sender.evaluate(send, { bytesEach, size });
  await receiver.waitForFunction((n) => window.__received >= n, expected, { timeout: 600_000, polling: 20 });
  const seconds = (Date.now() - started) / 1000;
  const cpu1 = cpuJiffies();
  lastCores = (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total) * os.cpus().length;
  await sender.evaluate(() => window.__pcs.forEach((pc) => pc.close()));
  await receiver.evaluate(() => window.__pcs.forEach((pc) => pc.close()));
  return expected / MB / seconds;
}

const host = await startHost();
const senderBrowser = await launchBrowser();
const receiverBrowser = await launchBrowser();
const rows = [];
const load = os.loadavg()[0];
try {
  const ada = await joinCall(senderBrowser, host.joinUrl, 'Ada', { quality: '360p' });
  const bob = await joinCall(receiverBrowser, host.joinUrl, 'Bob', { quality: '360p' });
  await waitForVideo(ada.page, bob.id);
  const sender = ada.page;
  const receiver = bob.page;
  for (const [count, channels] of [[1, 1], [1, 4], [2, 1], [4, 1]]) {
    for (const size of [64 * 1024]) {
      let best = 0;
      let cores = 0;
      for (let run = 0; run < 2; run += 1) {
        const rate = await layout(sender, receiver, { count, channels, size });
        if (rate > best) [best, cores] = [rate, lastCores];
      }
      const row = `| ${count} | ${channels} | ${size / 1024} KiB | ${best.toFixed(1)} MB/s | ${cores.toFixed(2)} of ${os.cpus().length} |`;
      console.log(row);
      rows.push(row);
    }
  }
} finally {
  await closeAll(senderBrowser, receiverBrowser);
  await host.stop();
}
console.log(`\n${TOTAL_MB} MB, two Chromium processes in a call in the test namespace (its camera and microphone running), load ${load.toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end\n`);
console.log('| connections | channels each | message | rate | cores busy (whole machine) |\n|---|---|---|---|---|');
for (const r of rows) console.log(r);
