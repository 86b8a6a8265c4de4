// Changing what is sent mid-call: another camera, a shared screen, a local recording.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import {
  runnable, startHost, launchBrowser, joinCall, received, waitFor, waitForVideo, closeAll,
} from './lib/harness.js';

describe('media during a call', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    host = await startHost();
    // Three fake cameras (and microphones): Chromium makes the second one a depth camera (Y16,
    // which encoders do not take), so the test switches from the first to the third. The screen
    // picker chooses the whole screen by itself.
    browser = await launchBrowser({
      fakeDevices: 'device-count=3',
      extra: ['--auto-select-desktop-capture-source=Entire screen'],
    });
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(bob.page, ada.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  const cameraId = (page) => page.evaluate(() => window.lancall.tracks.video?.getSettings().deviceId);

  test('switching camera mid-call keeps the connection and the picture', async () => {
    await ada.page.getByTestId('open-settings').click();
    const options = await ada.page.getByTestId('camera-select').locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.equal(options.length, 3, 'the fake device offers three cameras');
    const before = await cameraId(ada.page);
    assert.equal(before, options[0]);
    const other = options[2];
    const pcBefore = await bob.page.evaluate((id) => window.lancall.call.remotes.get(id).pc.currentRemoteDescription.sdp, ada.id);
    await ada.page.getByTestId('camera-select').selectOption(other);
    await waitFor(async () => (await cameraId(ada.page)) === other, { what: 'second camera in use' });
    // The same connection (no rejoin, no new offer) carries on decoding.
    const r = await waitForVideo(bob.page, ada.id, { frames: 15 });
    assert.equal(r.connection, 'connected');
    const pcAfter = await bob.page.evaluate((id) => window.lancall.call.remotes.get(id).pc.currentRemoteDescription.sdp, ada.id);
    assert.equal(pcAfter, pcBefore, 'replaceTrack needs no renegotiation');
    // The old camera was let go.
    assert.equal(await ada.page.evaluate(() => window.lancall.call.local.stream.getVideoTracks().length), 1);
    await ada.page.getByTestId('open-settings').click();
  });

  test('changing quality live applies new constraints to the camera', async () => {
    await ada.page.getByTestId('open-settings').click();
    await ada.page.getByTestId('quality-select').selectOption('720p');
    await waitFor(async () => (await ada.page.evaluate(() => window.lancall.tracks.video.getSettings().height)) === 720, { what: '720p camera' });
    await waitFor(async () => (await received(bob.page, ada.id)).videoHeight > 360, { timeout: 20_000, what: 'bigger picture at Bob' });
    await ada.page.getByTestId('open-settings').click();
  });

  test('screen share on and off, seen by the other side without rejoining', async () => {
    await ada.page.getByTestId('share-screen').click();
    await waitFor(async () => (await received(bob.page, ada.id)).screenWidth > 0, { timeout: 15_000, what: 'screen at Bob' });
    assert.equal(await bob.page.getByTestId('remote-screen-tile').count(), 1);
    const f1 = (await received(bob.page, ada.id)).screenFrames;
    await waitFor(async () => (await received(bob.page, ada.id)).screenFrames > f1, { what: 'screen frames' });
    // The camera keeps going alongside.
    await waitForVideo(bob.page, ada.id, { frames: 5 });
    await ada.page.getByTestId('share-screen').click();
    await bob.page.getByTestId('remote-screen-tile').waitFor({ state: 'detached', timeout: 10_000 });
    // Share again, then stop it the way the browser's own "Stop sharing" button does (track ends).
    await ada.page.getByTestId('share-screen').click();
    await bob.page.getByTestId('remote-screen-tile').waitFor({ state: 'attached', timeout: 10_000 });
    await ada.page.evaluate(() => {
      const t = window.lancall.screen.track;
      t.stop();
      t.dispatchEvent(new Event('ended'));
    });
    await bob.page.getByTestId('remote-screen-tile').waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal(await ada.page.getByTestId('share-screen').getAttribute('aria-pressed'), 'false');
    await waitForVideo(bob.page, ada.id, { frames: 5 });
  });

  test('recording a remote tile downloads a non-empty file of a supported type', async () => {
    await bob.page.getByTestId('record').click();
    await bob.page.locator(`[data-testid=record-source][data-source="${ada.id}"]`).click();
    await bob.page.getByTestId('recording-indicator').waitFor({ state: 'visible' });
    assert.match(await bob.page.getByTestId('recording-indicator').innerText(), /You are recording Ada/);
    // Ada is told, by name, for as long as Bob records (issue 13, broken 6).
    await ada.page.getByTestId('recording-indicator').getByText('Bob is recording this call').waitFor({ timeout: 5000 });
    await bob.page.waitForTimeout(2500);
    const [download] = await Promise.all([bob.page.waitForEvent('download'), bob.page.getByTestId('record').click()]);
    const name = download.suggestedFilename();
    assert.match(name, /^lancall_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_Ada\.(webm|mp4)$/);
    const file = await download.path();
    assert.ok(statSync(file).size > 1000, 'the file has content');
    // WebM files start with the EBML magic number.
    assert.deepEqual([...readFileSync(file).subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3]);
    await bob.page.getByTestId('recording-indicator').waitFor({ state: 'hidden' });
    await ada.page.getByTestId('recording-indicator').waitFor({ state: 'hidden', timeout: 5000 });
  });

  test('recording yourself works too', async () => {
    await ada.page.getByTestId('record').click();
    await ada.page.locator('[data-testid=record-source][data-source="local"]').click();
    await ada.page.waitForTimeout(1500);
    const [download] = await Promise.all([ada.page.waitForEvent('download'), ada.page.getByTestId('record').click()]);
    assert.ok(statSync(await download.path()).size > 1000);
  });
});
