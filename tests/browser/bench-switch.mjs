// Benchmark, not a test (run.sh bench switch): the gap in each person's pictures when an `auto`
// room moves from direct to the SFU (a third person joins) and back (the third leaves).
//
// Ada and Bob stay in the call; Cy joins and hangs up BENCH_SWITCHES times (default 10). For
// each switch, both Ada's view of Bob and Bob's view of Ada are watched (requestVideoFrameCallback
// on the remote <video>): the gap is the longest pause between two frames from just before the
// switch until five frames have come the new way. Writes a section of bench/sfu.md.
import os from 'node:os';
import path from 'node:path';
import { startHost, launchBrowser, joinCall, waitForVideo, closeAll, waitFor, whyNotRunnable, repoRoot, route, recordFrames, framesAfter, longestPause, now, HOST_BIN } from './lib/harness.js';
import { pct, setSection, machineState, codeState } from './bench/report.js';

const SWITCHES = Number(process.env.BENCH_SWITCHES ?? 10);
const why = whyNotRunnable();
if (why) {
  console.log(`benchmark skipped: ${why}`);
  process.exit(0);
}

const context = { loadAtStart: os.loadavg()[0], state: machineState(), code: codeState(repoRoot) };
const host = await startHost({ topology: 'auto' });
const browser = await launchBrowser();
const gaps = { toSfu: [], toDirect: [] };
let ada;
let bob;
try {
  ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
  bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
  await waitForVideo(ada.page, bob.id, { frames: 5, timeout: 30_000 });
  await waitForVideo(bob.page, ada.id, { frames: 5, timeout: 30_000 });
  await recordFrames(ada.page);
  await recordFrames(bob.page);
  const settled = (topology, direct) =>
    Promise.all(
      [ada, bob].map((p) =>
        waitFor(async () => {
          const r = await route(p.page);
          return r.topology === topology && (topology === 'sfu' ? r.sfu === 'connected' && r.direct.length === 0 : r.sfu === null && r.direct.length === direct);
        }, { timeout: 45_000, what: () => `${p.name} ${topology}` }),
      ),
    );
  const measure = async (into, since) => {
    await framesAfter(ada.page, bob.id, await now(ada.page), 5);
    await framesAfter(bob.page, ada.id, await now(bob.page), 5);
    into.push((await longestPause(ada.page, bob.id, since.ada)).longest, (await longestPause(bob.page, ada.id, since.bob)).longest);
  };
  for (let i = 0; i < SWITCHES; i += 1) {
    let since = { ada: await now(ada.page), bob: await now(bob.page) };
    const cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p' });
    await settled('sfu');
    await measure(gaps.toSfu, since);
    since = { ada: await now(ada.page), bob: await now(bob.page) };
    await cy.page.getByTestId('hangup').click();
    await settled('mesh', 1);
    await measure(gaps.toDirect, since);
    await cy.context.close();
    console.log(`switch ${i + 1}/${SWITCHES}: to the SFU ${gaps.toSfu.slice(-2).join('/')} ms, back ${gaps.toDirect.slice(-2).join('/')} ms`);
  }
} finally {
  await closeAll(...[ada, bob].filter(Boolean).map((p) => p.context), browser);
  await host.stop();
  host.cleanup();
}

const day = new Date().toISOString().slice(0, 10);
const row = (name, xs) => `| ${name} | ${pct(xs, 50)} ms | ${pct(xs, 95)} ms | ${Math.min(...xs)} ms | ${Math.max(...xs)} ms | ${xs.length} |`;
setSection(
  process.env.BENCH_SFU_OUT ?? path.join(repoRoot, 'bench/sfu.md'),
  'switch',
  `## The switch between direct and SFU (auto)

${day}, \`tests/browser/run.sh bench switch\` (lancall-host ${HOST_BIN.includes('/release/') ? 'release' : 'debug'} build, ${context.code}): in an \`auto\` room Ada
and Bob talk at 360p; Cy joins (everyone moves to the SFU) and hangs up (Ada and Bob go back to a
direct connection), ${SWITCHES} times. The gap is the longest pause between two frames of the
other's picture, from just before the switch until five frames came the new way (each switch
gives two: Bob at Ada's, Ada at Bob's; a picture runs at ~30 frames a second, so ~33 ms is no gap).
Load average (1 min) at the start: ${context.loadAtStart.toFixed(2)}; ${context.state}. Target (issue 14): < 1 s.

| switch | p50 | p95 | min | max | samples |
|---|---|---|---|---|---|
${row('direct → SFU (a third joins)', gaps.toSfu)}
${row('SFU → direct (the third leaves)', gaps.toDirect)}`,
  '# The SFU: measurements (issue 14)\n',
);
console.log(`direct -> SFU p50 ${pct(gaps.toSfu, 50)} p95 ${pct(gaps.toSfu, 95)}; SFU -> direct p50 ${pct(gaps.toDirect, 50)} p95 ${pct(gaps.toDirect, 95)}`);
