// Recording a call in the host (lancall-host --topology sfu): started on the host's stdin and by
// a participant from the Record menu (--allow-recording). Everyone sees who records, a joiner
// too; the files (one per person, in the host's recordings folder) are read back by Debian's
// ffprobe (VP8 and Opus, a duration within 5 % of the time recorded) and played in a Chromium
// <video> that must decode their pictures. Real host, real Chromium pages, in the namespace.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runnable, startHost, launchBrowser, joinCall, waitForVideo, closeAll, waitFor } from './lib/harness.js';

/** What Debian's ffprobe reads of a file: its codecs and duration in seconds. */
function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', file]);
  const json = JSON.parse(out.toString());
  return { codecs: json.streams.map((s) => s.codec_name), duration: Number(json.format.duration) };
}

function haveFfprobe() {
  try {
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The REC sign's text on a page ('' when hidden). */
function recSign(page) {
  return page.evaluate(() => {
    const ind = document.getElementById('rec-indicator');
    return ind && !ind.hidden ? document.getElementById('rec-text')?.textContent ?? '' : '';
  });
}

/** Pictures a Chromium <video> decodes of `file` (played muted, at most `ms`). */
async function decodedInChromium(browser, file, ms = 6000) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const b64 = readFileSync(file).toString('base64');
    return await page.evaluate(
      async ({ b64, ms }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const video = document.createElement('video');
        video.muted = true;
        video.src = URL.createObjectURL(new Blob([bytes], { type: 'video/webm' }));
        document.body.append(video);
        let error = null;
        video.onerror = () => (error = video.error?.message || `media error ${video.error?.code}`);
        await video.play().catch((e) => (error = String(e)));
        const end = Date.now() + ms;
        while (!error && !video.ended && Date.now() < end && video.getVideoPlaybackQuality().totalVideoFrames < 30) {
          await new Promise((r) => setTimeout(r, 100));
        }
        const q = video.getVideoPlaybackQuality();
        return { frames: q.totalVideoFrames - q.droppedVideoFrames, width: video.videoWidth, error };
      },
      { b64, ms },
    );
  } finally {
    await context.close();
  }
}

describe('recording the call in the host', runnable(), () => {
  let host;
  let browser;
  let dir;
  const peers = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lancall-recordings-'));
    host = await startHost({ topology: 'sfu', stdin: true, extraArgs: ['--allow-recording', '--recordings', dir] });
    browser = await launchBrowser();
    for (const name of ['Ada', 'Bob']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '360p' }));
    const [ada, bob] = peers;
    await waitForVideo(ada.page, bob.id, { timeout: 30_000, frames: 5 });
    await waitForVideo(bob.page, ada.id, { timeout: 30_000, frames: 5 });
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the host records from its stdin, everyone (and a joiner) sees it, each person gets a file that plays', async (t) => {
    const [ada, bob] = peers;
    const from = host.events.length;
    host.send({ record: 'call' });
    await host.event((e) => e.event === 'recording' && e.active === true, { from, what: 'the recording event' });
    const started = Date.now();
    for (const p of peers) {
      await waitFor(async () => (await recSign(p.page)).includes('Recorded by the host'), { what: `${p.name}'s REC sign` });
    }
    // Someone who joins while it records is told at once.
    const cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p' });
    peers.push(cy);
    await waitFor(async () => (await recSign(cy.page)).includes('Recorded by the host'), { what: "Cy's REC sign" });
    await waitForVideo(cy.page, ada.id, { timeout: 30_000, frames: 5 });
    await waitForVideo(ada.page, cy.id, { timeout: 30_000, frames: 5 });
    // A few seconds more of everyone.
    await new Promise((r) => setTimeout(r, 4000));

    const stopFrom = host.events.length;
    host.send({ 'stop-recording': 'call' });
    const stopped = await host.event((e) => e.event === 'recording' && e.active === false, { from: stopFrom, what: 'the end of the recording' });
    const recorded = (Date.now() - started) / 1000;
    for (const p of peers) await waitFor(async () => (await recSign(p.page)) === '', { what: `${p.name}'s REC sign to go` });

    assert.equal(stopped.error, null);
    const files = stopped.files;
    t.diagnostic(`recorded ${recorded.toFixed(1)} s: ${files.join(', ')}`);
    for (const name of ['Ada', 'Bob', 'Cy']) {
      assert.ok(files.some((f) => path.basename(f).startsWith(`call_${name}_`)), `a file for ${name}: ${files.join(', ')}`);
    }
    assert.ok(files.every((f) => path.dirname(f) === dir), `every file is in the recordings folder: ${files}`);
    if (!haveFfprobe()) {
      t.diagnostic('ffprobe is not installed: the files are not read back');
      return;
    }
    for (const file of files) {
      const p = probe(file);
      t.diagnostic(`${path.basename(file)}: ${p.codecs.join('+')} ${p.duration.toFixed(2)} s`);
      assert.ok(p.codecs.includes('vp8') && p.codecs.includes('opus'), `${file}: ${p.codecs}`);
      const decoded = await decodedInChromium(browser, file);
      assert.equal(decoded.error, null, `${file} plays in Chromium`);
      assert.ok(decoded.frames >= 10 && decoded.width > 0, `${file}: Chromium decoded ${JSON.stringify(decoded)}`);
    }
    // Ada and Bob were there from start to stop: their files last the time recorded.
    for (const name of ['Ada', 'Bob']) {
      const mine = files.filter((f) => path.basename(f).startsWith(`call_${name}_`));
      const total = mine.reduce((sum, f) => sum + probe(f).duration, 0);
      assert.ok(Math.abs(total - recorded) <= recorded * 0.05 + 0.3, `${name}: ${total.toFixed(2)} s recorded of ${recorded.toFixed(2)} s`);
    }
  });

  test('a participant starts the host recording from the Record menu; the others see who; the host stops it', async () => {
    const [ada, bob] = peers;
    const from = host.events.length;
    await ada.page.getByTestId('record').click();
    await ada.page.getByTestId('record-on-host').click();
    const ev = await host.event((e) => e.event === 'recording' && e.active === true, { from, what: "Ada's recording" });
    assert.equal(ev.by, 'Ada');
    await waitFor(async () => (await recSign(bob.page)).includes('Recorded on the host by Ada'), { what: "Bob's REC sign naming Ada" });
    await waitFor(async () => (await recSign(ada.page)).includes('Recorded on the host by you'), { what: "Ada's REC sign" });
    const stopFrom = host.events.length;
    host.send({ 'stop-recording': 'call' });
    await host.event((e) => e.event === 'recording' && e.active === false, { from: stopFrom, what: 'the end' });
    await waitFor(async () => (await recSign(bob.page)) === '', { what: "Bob's REC sign to go" });
  });

  test('a stop for a room that is not recorded is refused with a sentence, and the host goes on', async () => {
    const from = host.events.length;
    host.send({ 'stop-recording': 'call' });
    const e = await host.event((x) => x.event === 'error' && x.command === 'stop-recording', { from, what: 'the refusal' });
    assert.match(e.message, /not being recorded/);
    host.send({ record: 'no-such-room' });
    const e2 = await host.event((x) => x.event === 'error' && x.command === 'record', { from, what: 'the refusal' });
    assert.match(e2.message, /no room "no-such-room"/);
    const res = await peers[0].page.evaluate(async (url) => (await fetch(url)).status, `${host.httpsUrl}healthz`);
    assert.equal(res, 200);
  });
});
