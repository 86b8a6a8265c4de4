// Through the host's SFU, each page gets each picture at the size it shows it: a small tile the
// low simulcast layer, a large one the high layer, a hidden page nothing; and a publisher whose
// top layer nobody shows stops encoding it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  runnable, startHost, launchBrowser, joinCall, waitForVideo, closeAll, waitFor, sleep, makeRemoteNamespace,
} from './lib/harness.js';

/** The heights of the layers `page` sends now (outbound-rtp with frames going out), by rid. */
function layersSent(page) {
  return page.evaluate(async () => {
    const before = new Map();
    const read = async () => {
      const out = new Map();
      (await window.lancall.call.sfu.pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) out.set(s.rid, { frames: s.framesSent ?? 0, height: s.frameHeight ?? 0 });
      });
      return out;
    };
    for (const [rid, v] of await read()) before.set(rid, v.frames);
    await new Promise((r) => setTimeout(r, 1000));
    const sending = {};
    for (const [rid, v] of await read()) if (v.frames > (before.get(rid) ?? 0)) sending[rid] = v.height;
    return sending;
  });
}

/** The height of `peerId`'s camera picture as `page` decodes it, and frames decoded. */
function receivedLayer(page, peerId) {
  return page.evaluate(async (peerId) => {
    const call = window.lancall.call;
    const remote = call.remotes.get(peerId);
    const track = remote?.mainStream.getVideoTracks()[0];
    let out = { height: 0, frames: 0 };
    if (!track) return out;
    (await call.sfu.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.trackIdentifier === track.id) out = { height: s.frameHeight ?? 0, frames: s.framesDecoded ?? 0 };
    });
    return out;
  }, peerId);
}

/** Pins `name`'s tile on `page` (tile menu), so that it fills the stage. */
async function pin(page, name) {
  const tile = page.locator('[data-testid=remote-tile]', { hasText: name });
  await tile.getByTestId('tile-menu-button').click();
  await page.getByTestId('tile-pin').click();
}

describe('simulcast layers by tile size, through the SFU', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;
  let cy;

  before(async () => {
    host = await startHost({ topology: 'sfu' });
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    // Bob shows Ada large; Cy, in a small window, small.
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p', viewport: { width: 1280, height: 900 } });
    cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p', viewport: { width: 420, height: 300 } });
    for (const a of [ada, bob, cy]) for (const b of [ada, bob, cy]) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
    await pin(bob.page, 'Ada');
  });

  after(async () => {
    await closeAll(...[ada, bob, cy].filter(Boolean).map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('a small tile gets the low layer, a large one the high layer', async () => {
    // Ada's 360p camera goes out as two layers (180p, 360p); how many Chromium sends at a time depends on
    // its bandwidth estimate and CPU. Whatever it sends, Cy (small) gets the lowest and Bob
    // (large) the highest.
    let seen = '';
    await waitFor(async () => {
      const sent = await layersSent(ada.page);
      const heights = Object.values(sent).filter((h) => h > 0);
      const [atBob, atCy] = [await receivedLayer(bob.page, ada.id), await receivedLayer(cy.page, ada.id)];
      seen = JSON.stringify({ sent, atBob, atCy });
      return heights.length >= 2 && atCy.height === Math.min(...heights) && atBob.height === Math.max(...heights);
    }, { timeout: 60_000, interval: 500, what: () => `Cy on the lowest layer and Bob on the highest (${seen})` });
    console.log(`layers: ${seen}`);
  });

  test('a hidden page gets no video, and gets it again when shown', async () => {
    const hide = (hidden) => cy.page.evaluate((hidden) => {
      Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await hide(true);
    // No frames for a stretch: the host stopped sending (not one fixed sleep; frames on their way drain).
    let last = await receivedLayer(cy.page, ada.id);
    await waitFor(async () => {
      await sleep(1500);
      const now = await receivedLayer(cy.page, ada.id);
      const stopped = now.frames === last.frames;
      last = now;
      return stopped;
    }, { timeout: 20_000, interval: 0, what: 'Ada\'s picture to stop at hidden Cy' });
    await hide(false);
    await waitForVideo(cy.page, ada.id, { frames: 5 });
  });

  test('when nobody shows Ada large, her top layer stops being encoded', async () => {
    const active = () => ada.page.evaluate(() =>
      window.lancall.call.sfu.tx.video.sender.getParameters().encodings.map((e) => `${e.rid}:${e.active !== false}`).join(' '));
    // Bob shows Ada large: the top layer is wanted.
    await waitFor(async () => (await active()).includes('f:true'), { timeout: 20_000, what: async () => `f active (${await active()})` });
    // Bob unpins: every tile of Ada is small now.
    await pin(bob.page, 'Ada');
    await bob.page.setViewportSize({ width: 420, height: 300 });
    let seen = '';
    await waitFor(async () => {
      seen = await active();
      return seen.includes('f:false') && seen.includes('h:true');
    }, { timeout: 20_000, what: () => `f paused, h kept (${seen})` });
    // And back when someone shows her large again.
    await bob.page.setViewportSize({ width: 1280, height: 900 });
    await pin(bob.page, 'Ada');
    await waitFor(async () => (await active()).includes('f:true'), { timeout: 20_000, what: 'f active again' });
  });
});

describe('a person on a slow link gets lower layers; the others keep the high one', runnable(), () => {
  // Bob's browser sits in a namespace of its own behind one veth pair, whose direction towards
  // him is then held to 400 kbit/s (tbf): the SFU's bandwidth estimate for him falls.
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
    const big = { width: 1280, height: 900 };
    cy = await joinCall(here, host.joinUrl, 'Cy', { quality: '360p' });
    ada = await joinCall(here, host.joinUrl, 'Ada', { quality: '360p', viewport: big });
    bob = await joinCall(there, host.joinUrl, 'Bob', { quality: '360p', viewport: big });
    for (const a of [ada, bob, cy]) for (const b of [ada, bob, cy]) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
    // Ada and Bob both show Cy large.
    await pin(ada.page, 'Cy');
    await pin(bob.page, 'Cy');
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, cy?.context, browsers);
    await host?.stop();
    host?.cleanup();
    ns?.remove();
  });

  test('Bob on 400 kbit/s gets Cy\'s lower layer while Ada keeps the higher one', async (t) => {
    if (!ns) {
      t.skip('needs root to make a second network namespace (ip netns)');
      return;
    }
    let seen = '';
    // First both get Cy's top layer (whatever Chromium sends as its top).
    await waitFor(async () => {
      const sent = Object.values(await layersSent(cy.page)).filter((h) => h > 0);
      const [atAda, atBob] = [await receivedLayer(ada.page, cy.id), await receivedLayer(bob.page, cy.id)];
      seen = JSON.stringify({ sent, atAda, atBob });
      return sent.length >= 2 && atAda.height === Math.max(...sent) && atBob.height === Math.max(...sent);
    }, { timeout: 60_000, interval: 500, what: () => `both on Cy's top layer (${seen})` });
    ns.limit('400kbit');
    try {
      await waitFor(async () => {
        const sent = Object.values(await layersSent(cy.page)).filter((h) => h > 0);
        const [atAda, atBob] = [await receivedLayer(ada.page, cy.id), await receivedLayer(bob.page, cy.id)];
        seen = JSON.stringify({ sent, atAda, atBob });
        return atBob.height > 0 && atBob.height < atAda.height && atAda.height === Math.max(...sent);
      }, { timeout: 60_000, interval: 500, what: () => `Bob lower than Ada (${seen})` });
      console.log(`slow link: ${seen}`);
      // Bob still sees Cy, just smaller.
      await waitForVideo(bob.page, cy.id, { frames: 5 });
    } finally {
      ns.unlimit();
    }
  });
});
