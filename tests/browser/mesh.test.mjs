// Three and four people in a full mesh: everyone decodes everyone; one leaves, the rest go on.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, joinCall, waitForVideo, waitForAudio, closeAll, waitFor } from './lib/harness.js';

/** Every peer decodes video from, and hears, every other peer. */
async function assertFullMesh(peers) {
  for (const a of peers) {
    for (const b of peers) {
      if (a === b) continue;
      await waitForVideo(a.page, b.id, { timeout: 20_000, frames: 5 });
      await waitForAudio(a.page, b.id, { timeout: 20_000 });
    }
  }
}

describe('mesh', runnable(), () => {
  let host;
  let browser;
  const peers = [];

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('three peers each decode both others', async () => {
    for (const name of ['Ada', 'Bob', 'Cy']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '360p' }));
    await assertFullMesh(peers);
    for (const p of peers) assert.equal(await p.page.getByTestId('participant-count').innerText(), '3');
  });

  test('a fourth joins and all four decode all others', async () => {
    peers.push(await joinCall(browser, host.joinUrl, 'Dee', { quality: '360p' }));
    await assertFullMesh(peers);
  });

  test('one leaves and the other three go on', async () => {
    const leaver = peers.splice(1, 1)[0];
    await leaver.page.getByTestId('hangup').click();
    for (const p of peers) {
      await p.page.locator(`[data-testid=remote-video][data-peer="${leaver.id}"]`).waitFor({ state: 'detached', timeout: 1000 });
      await waitFor(async () => (await p.page.getByTestId('participant-count').innerText()) === '3', { what: 'count 3' });
    }
    await leaver.context.close();
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { frames: 5 });
  });

  test('closing a tab without hanging up: the others drop that person too', async () => {
    const closer = peers.pop();
    await closer.context.close();
    for (const p of peers) {
      await p.page.locator(`[data-testid=remote-video][data-peer="${closer.id}"]`).waitFor({ state: 'detached', timeout: 5000 });
    }
    await waitForVideo(peers[0].page, peers[1].id, { frames: 5 });
  });
});
