// A call through the host's SFU (lancall-host --topology sfu): each page has one connection, to
// the host, and decodes everyone else through it; chat, mute and screen share work as in a mesh.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  runnable, startHost, launchBrowser, joinCall, waitForVideo, waitForAudio, closeAll, waitFor, received, HOST_ADDR, sfuPath,
} from './lib/harness.js';

/** What the host's /healthz says about its SFU. */
async function media(page, host) {
  return page.evaluate(async (url) => (await (await fetch(url)).json()).media, `${host.httpsUrl}healthz`);
}

/** The page's peer connections, as the call sees them: the SFU's and any to a peer. */
function connections(page) {
  return page.evaluate(() => {
    const call = window.lancall.call;
    return {
      topology: call.topology,
      sfu: call.sfu ? call.sfu.pc.connectionState : null,
      peerConnections: call.participants.filter((r) => r.pc).length,
    };
  });
}

describe('a call through the host (SFU)', runnable(), () => {
  let host;
  let browser;
  const peers = [];

  before(async () => {
    host = await startHost({ topology: 'sfu' });
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('the host says its media goes through it', () => {
    assert.equal(host.ready.topology, 'sfu');
    assert.ok(host.ready.media_port > 0, `media port ${host.ready.media_port}`);
  });

  test('three pages each decode and hear both others, over one connection to the host', async () => {
    for (const name of ['Ada', 'Bob', 'Cy']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '720p' }));
    for (const a of peers) {
      for (const b of peers) {
        if (a === b) continue;
        await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
        await waitForAudio(a.page, b.id, { timeout: 30_000 });
      }
    }
    for (const p of peers) {
      const c = await connections(p.page);
      assert.deepEqual(c, { topology: 'sfu', sfu: 'connected', peerConnections: 0 }, `${p.name}: ${JSON.stringify(c)}`);
      const path = await sfuPath(p.page);
      assert.deepEqual({ address: path?.address, port: path?.port }, { address: HOST_ADDR, port: host.ready.media_port }, `${p.name} talks to the host's media port`);
      assert.equal(await p.page.getByTestId('participant-count').innerText(), '3');
    }
    const m = await media(peers[0].page, host);
    assert.ok(m.frames_forwarded > 0, `the SFU forwarded frames: ${JSON.stringify(m)}`);
  });

  test('chat and mute reach everyone through the host', async () => {
    const [ada, bob, cy] = peers;
    await ada.page.evaluate(() => window.lancall.call.sendChat('hello through the host'));
    for (const p of [bob, cy]) {
      await waitFor(() => p.page.evaluate(() => document.body.innerText.includes('hello through the host')), { what: `chat at ${p.name}` });
    }
    await bob.page.getByTestId('mute-audio').click();
    for (const p of [ada, cy]) {
      await waitFor(
        () => p.page.evaluate((id) => window.lancall.call.remotes.get(id)?.state.muted.audio === true, bob.id),
        { what: `Bob muted, at ${p.name}` },
      );
    }
    await bob.page.getByTestId('mute-audio').click();
  });

  test('the speaking outline works through the host (Chromium\'s fake microphone beeps)', async () => {
    const [ada, bob] = peers;
    const tile = ada.page.locator(`[data-testid=remote-tile][data-peer="${bob.id}"]`);
    try {
      await waitFor(async () => /\bspeaking\b/.test((await tile.getAttribute('class')) ?? ''), { interval: 50, timeout: 15_000, what: 'Bob outlined as speaking at Ada' });
    } catch (err) {
      // What Ada's page knew of Bob's voice then: muted or not, and the last level it heard.
      const seen = await ada.page.evaluate((id) => {
        const r = window.lancall.call.remotes.get(id);
        const src = (r?.tx.audio?.receiver ?? r?.audioReceiver)?.getSynchronizationSources?.()[0];
        return { muted: r?.state.muted.audio, level: src?.audioLevel, ageMs: src ? Math.round(performance.now() - src.timestamp) : null };
      }, bob.id);
      throw new Error(`${err.message}; Ada's view of Bob's voice: ${JSON.stringify(seen)}`);
    }
    // The host says who the (at most three) loudest are: the voices it forwards.
    await waitFor(() => ada.page.evaluate(() => window.lancall.call.speakers.length > 0), { timeout: 15_000, what: 'speakers from the host' });
    const speakers = await ada.page.evaluate(() => window.lancall.call.speakers);
    assert.ok(speakers.length <= 3 && speakers.every((id) => peers.some((p) => p.id === id)), JSON.stringify(speakers));
  });

  test('the stats panel says the media comes through the host, and which layers go out', async () => {
    const [ada, bob] = peers;
    await ada.page.getByTestId('open-stats').click();
    const section = ada.page.locator(`[data-testid=peer-stats][data-peer="${bob.id}"]`);
    await section.getByText('through the host (SFU)').waitFor({ timeout: 10_000 });
    // A 720p camera is published as three layers, low to high (how many Chromium sends at a
    // time depends on its bandwidth estimate and CPU: the panel lists those).
    const rids = await ada.page.evaluate(() => window.lancall.call.sfu.tx.video.sender.getParameters().encodings.map((e) => e.rid));
    assert.deepEqual(rids, ['q', 'h', 'f']);
    await section.getByText('Layers out').waitFor({ timeout: 20_000 });
    console.log(`Ada's stats for Bob: ${(await section.innerText()).replace(/\n/g, ' ')}`);
    await ada.page.getByTestId('open-stats').click();
  });

  test('a shared screen arrives as its own tile, and goes when the share stops', async () => {
    const [ada, bob, cy] = peers;
    await ada.page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const g = canvas.getContext('2d');
      let n = 0;
      setInterval(() => {
        g.fillStyle = `hsl(${(n += 7) % 360} 60% 50%)`;
        g.fillRect(0, 0, 640, 360);
      }, 50);
      const stream = canvas.captureStream(20);
      window.lancall.call.startScreen(stream.getVideoTracks()[0], stream);
    });
    for (const p of [bob, cy]) {
      await waitFor(async () => (await received(p.page, ada.id)).screenWidth > 0, { timeout: 20_000, what: `Ada's screen at ${p.name}` });
      // The camera is still the camera.
      await waitForVideo(p.page, ada.id, { frames: 5 });
    }
    await ada.page.evaluate(() => window.lancall.call.stopScreen());
    for (const p of [bob, cy]) {
      await p.page.locator(`[data-testid=remote-screen][data-peer="${ada.id}"]`).waitFor({ state: 'detached', timeout: 20_000 });
    }
  });

  test('one hangs up: the others drop them and go on', async () => {
    const leaver = peers.splice(1, 1)[0];
    await leaver.page.getByTestId('hangup').click();
    for (const p of peers) {
      await p.page.locator(`[data-testid=remote-video][data-peer="${leaver.id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    }
    await leaver.context.close();
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { frames: 5 });
  });
});

describe('two rooms through one SFU stay apart', runnable(), () => {
  let host;
  let browser;
  const peers = [];

  before(async () => {
    host = await startHost({ topology: 'sfu', moreRooms: ['other:sfu'] });
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('each page receives the people of its own room only', async () => {
    const other = host.ready.rooms.find((r) => r.room === 'other').join_url;
    const [ada, bob] = [await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' }), await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' })];
    const [cy, dee] = [await joinCall(browser, other, 'Cy', { quality: '360p' }), await joinCall(browser, other, 'Dee', { quality: '360p' })];
    peers.push(ada, bob, cy, dee);
    await waitForVideo(ada.page, bob.id, { timeout: 30_000, frames: 5 });
    await waitForVideo(bob.page, ada.id, { timeout: 30_000, frames: 5 });
    await waitForVideo(cy.page, dee.id, { timeout: 30_000, frames: 5 });
    await waitForVideo(dee.page, cy.id, { timeout: 30_000, frames: 5 });
    const owners = (p) => p.page.evaluate(() => [...new Set(window.lancall.call.sfu.received().map((x) => x.owner))].sort());
    assert.deepEqual(await owners(ada), [bob.id]);
    assert.deepEqual(await owners(bob), [ada.id]);
    assert.deepEqual(await owners(cy), [dee.id]);
    assert.deepEqual(await owners(dee), [cy.id]);
    assert.equal(await ada.page.getByTestId('participant-count').innerText(), '2');
  });
});
