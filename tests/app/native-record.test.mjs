// Recording in the Linux app, whose webview cannot (WebKitGTK's MediaRecorder needs GStreamer's
// fmp4, which Debian 12 lacks): the app's Rust side records the call's frames into WebM in the
// Downloads folder (peer/src/ipc/record.rs, lancall-recorder). A Chromium with a fake camera and
// microphone is in the call; the app records her tile, then its own camera and microphone, and
// Debian's ffprobe reads each file.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startApp, homeReady, startHost, launchChromium, joinByLink, HOST_ADDR, sleep } from './lib/harness.js';

describe('recording in the app without WebRTC in its webview', runnable(), () => {
  let app;
  let host;
  let browser;
  let s;

  before(async () => {
    host = await startHost({ open: true, name: 'Kitchen' });
    app = await startApp();
    s = app.session;
    await homeReady(s);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
    await host?.stop().catch(() => {});
  });

  test('the app records a remote person and itself to WebM files in Downloads that play', async (t) => {
    if (await s.execute(() => typeof RTCPeerConnection === 'function')) {
      t.skip('this webview has WebRTC: the Rust-backed connection is not used');
      return;
    }
    browser = await launchChromium();
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    await joinByLink(s, 'Ada', host);
    await s.waitFor(() => {
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Grace'));
      const v = tile?.querySelector('video');
      return v && v.videoWidth > 0 && v.readyState >= 2;
    }, { timeout: 30_000, what: "Grace's video in the app" });
    // And Grace receives the app (so its camera and microphone are being encoded).
    await page.waitForFunction(() => {
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Ada'));
      const v = tile?.querySelector('video');
      return v && v.videoWidth > 0;
    }, null, { timeout: 30_000 });

    // Recording, made by the app's Rust side (WebKitGTK's MediaRecorder needs GStreamer's fmp4,
    // which Debian 12 lacks): Grace's tile (her VP8 and Opus as they arrive), then the app's own
    // camera and microphone (as its encoders make them). Each lands in Downloads as WebM that
    // ffprobe reads, with both streams and about the time recorded.
    assert.equal(await s.run(async () => (await window.__TAURI__.core.invoke('app_info')).recording), true, 'the app records');
    const record = async (who, seconds) => {
      await s.click('[data-testid="record"]');
      await s.waitFor((w) => [...document.querySelectorAll('[data-testid="record-source"]')].some((b) => b.textContent.includes(w)), { what: 'the record menu' }, who);
      await s.execute((w) => [...document.querySelectorAll('[data-testid="record-source"]')].find((b) => b.textContent.includes(w)).click(), who);
      await s.waitFor(() => document.querySelector('[data-testid="record"]')?.getAttribute('aria-pressed') === 'true', { what: 'the recording to start' });
      // Pictures the app decoded of that person meanwhile (what the file should hold about as many of).
      const shown = (w) => s.execute((n) => window.lancall.call.participants.find((p) => p.name === n)?.tx.video?.receiver.sink?.decoded ?? null, w);
      const shownBefore = await shown(who);
      // The page's own times of the start and the stop (WebDriver's round trips take up to a
      // second on a loaded machine).
      await s.execute(() => {
        window.__recording = window.lancall.recording;
      });
      await sleep(seconds * 1000);
      // A banner of an earlier recording may still show: wait for this one's.
      const before = await s.execute(() => document.getElementById('banner-text')?.textContent ?? '');
      await s.click('[data-testid="record"]');
      const shownDuring = shownBefore === null ? null : (await shown(who)) - shownBefore;
      const said = await s.waitFor((prev) => {
        const t = document.getElementById('banner-text')?.textContent ?? '';
        return t !== prev && /Recording saved to|could not be saved|stopped/.test(t) ? t : null;
      }, { timeout: 10_000, what: 'the app to say what became of the recording' }, before);
      assert.match(said, /^Recording saved to /, said);
      // One file, or one more each time the picture's size changed while recording (a new
      // file then is the recorder's rule; Chromium grows its picture 2 s into a call): the
      // banner names them all, joined by " and ".
      const files = said.replace('Recording saved to ', '').trim().split(' and ');
      const recorded = await s.execute(() => (window.__recording.stoppedAt - window.__recording.startedAt) / 1000);
      const { execFileSync } = await import('node:child_process');
      let duration = 0;
      let pictures = 0;
      const held = new Set();
      for (const file of files) {
        assert.ok(file.startsWith(`${app.home}/Downloads/lancall_`) && file.endsWith('.webm'), file);
        const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', file]).toString());
        const codecs = probe.streams.map((x) => x.codec_name);
        assert.ok(codecs.includes('vp8') && codecs.every((c) => c === 'vp8' || c === 'opus'), `${who}'s recording ${file} holds VP8 (and Opus): ${codecs}`);
        codecs.forEach((c) => held.add(c));
        duration += Number(probe.format.duration);
        pictures += Number(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]).toString().trim().replace(/,$/, ''));
      }
      console.log(`# bridged call: recording of ${who}: ${files.length} file(s), ${duration.toFixed(2)} s in them for ${recorded.toFixed(2)} s recorded, ${pictures} pictures decode${shownDuring === null ? '' : ` (the app showed ${shownDuring} meanwhile)`} (${files.join(', ')})`);
      assert.deepEqual([...held].sort(), ['opus', 'vp8'], `${who}'s recording holds VP8 and Opus`);
      // The files run from the first frame in after the start to the last one in by the stop, on
      // the senders' clocks (frames delayed on a loaded machine shift it by their delay).
      assert.ok(duration > recorded - 1.5 && duration <= recorded + 1, `${who}'s recording plays ${duration} s of ${recorded} s`);
      // As many pictures as came, less those before the first keyframe (a recording starts with
      // one, asked for at once; on a loaded machine Chromium sends few pictures a second).
      assert.ok(pictures >= 1 && (shownDuring === null || pictures >= shownDuring / 2 - 5), `${who}'s pictures decode: ${pictures} in ${duration} s (${shownDuring} shown)`);
      return files[0];
    };
    const graceFile = await record('Grace', 4);
    const ownFile = await record('Yourself', 3);
    assert.notEqual(graceFile, ownFile);

    await s.click('[data-testid="hangup"]');
  });
});
