// A call through the host's SFU under bad conditions: hostile datagrams on the media port while
// the call runs, and one person's network cut and restored (no rejoin; the others never stop).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  runnable, startHost, launchBrowser, joinCall, waitFor, waitForVideo, waitForAudio, closeAll, makeRemoteNamespace, received, HOST_ADDR,
} from './lib/harness.js';

/** The host's /healthz, read from a page (it trusts the host's CA through the link). */
const health = (page, host) => page.evaluate(async (url) => (await fetch(url)).json(), `${host.httpsUrl}healthz`);

/** Bounded hostile traffic: what a broken or malicious device might send to the media port. */
function hostileDatagrams() {
  const out = [];
  for (let i = 0; i < 300; i += 1) out.push(randomBytes(1 + (i % 200))); // random bytes
  for (let i = 0; i < 200; i += 1) out.push(Buffer.from([0x00, 0x01, 0x00, 0x50, 0x21, 0x12, 0xa4, 0x42])); // truncated STUN binding request
  for (let i = 0; i < 200; i += 1) out.push(Buffer.concat([Buffer.from([0x16, 0xfe, 0xfd]), randomBytes(60)])); // DTLS-looking garbage
  for (let i = 0; i < 300; i += 1) out.push(Buffer.concat([Buffer.from([0x80, 0x60]), randomBytes(170)])); // RTP for unknown SSRCs
  for (let i = 0; i < 500; i += 1) out.push(Buffer.concat([Buffer.from([0x81, 0xc9, 0x00, 0x07]), randomBytes(28)])); // an RTCP storm
  return out;
}

async function send(port, datagrams) {
  const socket = dgram.createSocket('udp4');
  try {
    for (const [i, d] of datagrams.entries()) {
      await new Promise((resolve, reject) => socket.send(d, port, HOST_ADDR, (err) => (err ? reject(err) : resolve())));
      // ~2,000 datagrams a second: a storm, bounded in count and time.
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    socket.close();
  }
}

describe('a call through the SFU under hostile datagrams', runnable(), () => {
  let host;
  let browser;
  const peers = [];

  before(async () => {
    host = await startHost({ topology: 'sfu' });
    browser = await launchBrowser();
    for (const name of ['Ada', 'Bob', 'Cy']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '360p' }));
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('the call goes on, and the host drops and counts what it could not use', async () => {
    const before = (await health(peers[0].page, host)).media;
    const datagrams = hostileDatagrams();
    const sending = send(host.ready.media_port, datagrams);
    // Pictures keep moving while the storm lasts and after it.
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { frames: 10 });
    await sending;
    for (const a of peers) for (const b of peers) if (a !== b) await waitForVideo(a.page, b.id, { frames: 10 });
    await waitForAudio(peers[1].page, peers[0].id);
    const after = (await health(peers[0].page, host)).media;
    assert.ok(after.datagrams_dropped - before.datagrams_dropped >= datagrams.length * 0.9, `dropped ${JSON.stringify({ before, after, sent: datagrams.length })}`);
    assert.equal(after.panics_contained, 0);
    assert.equal(after.participants_failed, 0, 'nobody lost their media connection');
  });
});

describe('one person\'s network cut and restored in an SFU call', runnable(), () => {
  // Bob's browser sits in a namespace of its own whose only way out is one veth pair.
  let host;
  let browsers = [];
  let ns = null;
  let ada;
  let bob;
  let cy;

  before(async () => {
    ns = makeRemoteNamespace();
    if (!ns) return;
    host = await startHost({ topology: 'sfu' });
    const here = await launchBrowser();
    const there = await launchBrowser({ executablePath: ns.chromium });
    browsers = [here, there];
    ada = await joinCall(here, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(there, host.joinUrl, 'Bob', { quality: '360p' });
    cy = await joinCall(here, host.joinUrl, 'Cy', { quality: '360p' });
    for (const a of [ada, bob, cy]) for (const b of [ada, bob, cy]) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, cy?.context, browsers);
    await host?.stop();
    host?.cleanup();
    ns?.remove();
  });

  test('Bob comes back without rejoining, and Ada and Cy never stop', async (t) => {
    if (!ns) {
      t.skip('needs root to make a second network namespace (ip netns)');
      return;
    }
    const ids = [ada.id, bob.id, cy.id];
    await bob.page.evaluate(() => {
      window.__sfuBefore = window.lancall.call.sfu;
    });
    ns.cut();
    try {
      await waitFor(async () => ['disconnected', 'failed'].includes(await bob.page.evaluate(() => window.lancall.call.sfu?.pc.connectionState)), {
        timeout: 20_000,
        what: 'Bob sees his path to the host down',
      });
      // Meanwhile the other two keep seeing and hearing each other.
      await waitForVideo(ada.page, cy.id, { frames: 20 });
      await waitForVideo(cy.page, ada.id, { frames: 20 });
    } finally {
      ns.restore();
    }
    for (const [a, b] of [[ada, bob], [bob, ada], [cy, bob], [bob, cy]]) await waitForVideo(a.page, b.id, { timeout: 45_000, frames: 5 });
    await waitForAudio(ada.page, bob.id, { timeout: 20_000 });
    // Same peer ids on the hub: nobody rejoined.
    assert.deepEqual([await ada.page.evaluate(() => window.lancall.call.selfId), await bob.page.evaluate(() => window.lancall.call.selfId), await cy.page.evaluate(() => window.lancall.call.selfId)], ids);
    assert.ok((await received(ada.page, bob.id)).framesDecoded > 0);
    // A short cut is mended by an ICE restart on the same connection (a new one is only for
    // a connection the host gave up on).
    assert.ok(await bob.page.evaluate(() => window.__sfuBefore === window.lancall.call.sfu), 'Bob kept his connection to the SFU');
  });
});
