// A call survives a cut network path (ICE restart, no rejoin) and a host restart (clients rejoin
// the hub by themselves; media between browsers keeps flowing meanwhile).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  runnable, startHost, launchBrowser, joinCall, received, waitFor, waitForVideo, waitForAudio, closeAll, makeRemoteNamespace,
} from './lib/harness.js';

const selfId = (p) => p.page.evaluate(() => window.lancall.call.selfId);
const tileState = (p, peerId) =>
  p.page.locator(`[data-testid=remote-tile][data-peer="${peerId}"]`).getAttribute('data-connection');

describe('a cut network path', runnable(), () => {
  // Bob's browser sits in a namespace of its own whose only way out is one veth pair: cutting it
  // cuts Bob's media and his signaling, as a Wi-Fi drop would.
  let host;
  let browsers = [];
  let ns = null;
  let ada;
  let bob;

  before(async () => {
    ns = makeRemoteNamespace();
    if (!ns) return;
    host = await startHost();
    const here = await launchBrowser();
    const there = await launchBrowser({ executablePath: ns.chromium });
    browsers = [here, there];
    ada = await joinCall(here, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(there, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id);
    await waitForVideo(bob.page, ada.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browsers);
    await host?.stop();
    host?.cleanup();
    ns?.remove();
  });

  test('media resumes after the path comes back, with nobody rejoining', async (t) => {
    if (!ns) {
      t.skip('needs root to make a second network namespace (ip netns)');
      return;
    }
    ns.cut();
    try {
      // Both sides notice, and say so on the tile.
      await waitFor(async () => ['disconnected', 'failed'].includes(await tileState(ada, bob.id)), { timeout: 20_000, what: 'Ada sees the path down' });
      await ada.page.locator(`[data-testid=remote-tile][data-peer="${bob.id}"]`).getByText('Reconnecting').waitFor();
      await waitFor(async () => ['disconnected', 'failed'].includes(await tileState(bob, ada.id)), { timeout: 20_000, what: 'Bob sees the path down' });
    } finally {
      ns.restore();
    }
    await waitForVideo(ada.page, bob.id, { timeout: 45_000 });
    await waitForVideo(bob.page, ada.id, { timeout: 45_000 });
    await waitForAudio(ada.page, bob.id, { timeout: 20_000 });
    await waitFor(async () => (await tileState(ada, bob.id)) === 'connected', { what: 'connected again' });
    // Same peer ids on the hub: neither page had to rejoin.
    assert.equal(await selfId(ada), ada.id);
    assert.equal(await selfId(bob), bob.id);
  });
});

describe('a host restart', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    // A room with a token: the host keeps it in its data folder, so the link still works after
    // the restart.
    host = await startHost();
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id);
    await waitForVideo(bob.page, ada.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('the host restarts on the same port: both rejoin by themselves and the call goes on', async () => {
    const port = host.port;
    const httpPort = host.httpPort;
    const dataDir = host.dataDir;
    await host.stop(); // SIGTERM: the hub says `closing` first
    // The host's own sentence stays while the page waits to reconnect (it used to be replaced at
    // once by a generic one), with a countdown to the next try that ticks, and Retry now.
    const banner = ada.page.getByTestId('banner');
    await banner.getByText(/Trying again in \d+ s/).waitFor({ timeout: 10_000 });
    assert.match(await banner.innerText(), /shutting down/i);
    const secs = async () => Number((await banner.innerText()).match(/Trying again in (\d+) s/)?.[1] ?? NaN);
    await waitFor(async () => (await secs()) >= 2, { timeout: 20_000, what: 'a retry 2 s or more away' });
    const from = await secs();
    await waitFor(async () => (await secs()) < from, { timeout: 5000, what: 'the countdown ticks' });
    assert.match(await banner.innerText(), /shutting down/i, 'still the host\'s reason');
    assert.equal(await banner.getByRole('button', { name: 'Retry now' }).count(), 1);
    // Media between the browsers does not need the host, and a tile over live video does not
    // say Reconnecting (the peer's hub link is down, its picture is not).
    const during = await received(bob.page, ada.id);
    await waitFor(async () => (await received(bob.page, ada.id)).framesDecoded > during.framesDecoded + 10, { what: 'frames while the host is down' });
    assert.equal(await bob.page.locator(`[data-testid=remote-tile][data-peer="${ada.id}"] .tile-state`).isVisible(), false);
    const token = host.token;
    host = await startHost({ port, httpPort, dataDir });
    assert.equal(host.token, token, 'the restarted host kept the room token');
    // Retry now tries at once (whichever try comes first, Ada is back).
    await banner.getByRole('button', { name: 'Retry now' }).click().catch(() => {});
    const [ada2, bob2] = await Promise.all([
      waitFor(async () => { const id = await selfId(ada); return id !== ada.id && id; }, { timeout: 30_000, what: 'Ada rejoined' }),
      waitFor(async () => { const id = await selfId(bob); return id !== bob.id && id; }, { timeout: 30_000, what: 'Bob rejoined' }),
    ]);
    // Each finds the other again under the new id, on the same tile, still decoding.
    await bob.page.locator(`[data-testid=remote-video][data-peer="${ada2}"]`).waitFor({ timeout: 15_000 });
    await ada.page.locator(`[data-testid=remote-video][data-peer="${bob2}"]`).waitFor({ timeout: 15_000 });
    await waitForVideo(bob.page, ada2);
    await waitForVideo(ada.page, bob2);
    assert.equal(await bob.page.getByTestId('remote-tile').count(), 1);
    assert.equal(await ada.page.getByTestId('participant-count').innerText(), '2');
    // Signaling works again: a mute reaches the other side.
    await ada.page.getByTestId('mute-audio').click();
    await bob.page.locator(`[data-testid=remote-tile][data-peer="${ada2}"]`).getByTestId('remote-audio-muted').waitFor({ timeout: 5000 });
  });
});
