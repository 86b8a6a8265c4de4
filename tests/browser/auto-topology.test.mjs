// A room the host set to `auto` (lancall-host --topology auto): two people talk directly; the
// third moves everyone to the host's SFU, live; when the third leaves, the two go back to a
// direct connection. Nobody rejoins, and each person's pictures keep coming through both
// switches (the longest pause between two frames is printed: bench/sfu.md measures it).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  runnable, startHost, launchBrowser, joinCall, waitForVideo, waitForAudio, closeAll, waitFor, route, recordFrames, framesAfter, longestPause, now,
} from './lib/harness.js';

describe('auto topology: direct for two, through the host from three', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;
  let cy;

  before(async () => {
    host = await startHost({ topology: 'auto' });
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(...[ada, bob, cy].filter(Boolean).map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('two people talk directly', async () => {
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id, { frames: 5 });
    await waitForVideo(bob.page, ada.id, { frames: 5 });
    for (const p of [ada, bob]) assert.deepEqual(await route(p.page), { topology: 'mesh', sfu: null, direct: ['connected'] }, p.name);
  });

  test('a third person moves everyone to the SFU, with pictures continuing', async () => {
    await recordFrames(ada.page);
    await recordFrames(bob.page);
    const [adaSince, bobSince] = [await now(ada.page), await now(bob.page)];
    cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p' });
    for (const p of [ada, bob, cy]) {
      await waitFor(async () => {
        const r = await route(p.page);
        return r.topology === 'sfu' && r.sfu === 'connected' && r.direct.length === 0;
      }, { timeout: 30_000, what: () => `${p.name} through the SFU only` });
    }
    for (const a of [ada, bob, cy]) {
      for (const b of [ada, bob, cy]) if (a !== b) await waitForVideo(a.page, b.id, { timeout: 30_000, frames: 5 });
    }
    await waitForAudio(ada.page, bob.id);
    // The same picture elements keep showing frames after the move (the cause, not a count of
    // frames in a window of some length).
    await framesAfter(ada.page, bob.id, await now(ada.page), 5);
    await framesAfter(bob.page, ada.id, await now(bob.page), 5);
    const gaps = { bobAtAda: await longestPause(ada.page, bob.id, adaSince), adaAtBob: await longestPause(bob.page, ada.id, bobSince) };
    console.log(`direct -> SFU: longest pause between frames ${JSON.stringify(gaps)}`);
    const switched = host.events.filter((e) => e.event === 'topology').map((e) => e.topology);
    assert.deepEqual(switched, ['sfu']);
  });

  test('when the third leaves, the two go back to talking directly', async () => {
    const [adaSince, bobSince] = [await now(ada.page), await now(bob.page)];
    await cy.page.getByTestId('hangup').click();
    for (const p of [ada, bob]) {
      await waitFor(async () => {
        const r = await route(p.page);
        return r.topology === 'mesh' && r.sfu === null && r.direct.length === 1 && r.direct[0] === 'connected';
      }, { timeout: 30_000, what: () => `${p.name} direct again` });
    }
    await waitForVideo(ada.page, bob.id, { frames: 5 });
    await waitForVideo(bob.page, ada.id, { frames: 5 });
    await waitForAudio(bob.page, ada.id);
    await framesAfter(ada.page, bob.id, await now(ada.page), 5);
    await framesAfter(bob.page, ada.id, await now(bob.page), 5);
    const gaps = { bobAtAda: await longestPause(ada.page, bob.id, adaSince), adaAtBob: await longestPause(bob.page, ada.id, bobSince) };
    console.log(`SFU -> direct: longest pause between frames ${JSON.stringify(gaps)}`);
    await waitFor(async () => host.events.filter((e) => e.event === 'topology').length === 2, { what: 'the host said so' });
    assert.deepEqual(host.events.filter((e) => e.event === 'topology').map((e) => e.topology), ['sfu', 'mesh']);
  });
});
