// The call's layout in Chromium, as a person sees it: for 1, 2, 3, 4, 6 and 8 people, with and
// without a shared screen, with the chat open and closed, on desktop and phone viewports, every
// tile is on the stage, none overlaps another (but your own thumbnail in a call of two), each
// keeps its picture's ratio, every name is readable, the stage is used, nothing scrolls sideways.
//
// One real page joins the call (Chromium's fake camera); the other people and the shared screen
// are tiles made by the page's test hook (window.lancall.test.addFakeTile: a canvas's
// captureStream in a <video>, laid out exactly as a remote's tile), so that 8 people cost one
// browser page. Screenshots of every state go to $SHOTS_DIR or /tmp/lancall-layout-shots.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runnable, startHost, launchBrowser, joinCall, waitForVideo, closeAll } from './lib/harness.js';
import { measure, problems, settledLayout } from './lib/layout-check.js';

const SHOTS = process.env.SHOTS_DIR || '/tmp/lancall-layout-shots';
const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
  { width: 800, height: 600 },
  { width: 390, height: 844 },
  { width: 844, height: 390 },
];
const COUNTS = [1, 2, 3, 4, 6, 8];
/** The made-up people's pictures: landscape, 4:3, and a phone held upright. */
const PICTURES = [[640, 360], [480, 360], [360, 640]];

describe('layout', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    host = await startHost();
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada Lovelace', { quality: '360p', viewport: VIEWPORTS[0] });
    await ada.page.waitForFunction(() => document.querySelector('[data-testid=local-tile] video')?.videoWidth > 0, null, { timeout: 10_000 });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  /** Make `people - 1` others and maybe a screen, wait until every picture is measured and laid out. */
  async function setUp(page, people, screen) {
    await page.evaluate(({ people, screen, pictures }) => {
      const t = window.lancall.test;
      t.removeFakeTiles();
      const names = ['Bob', 'Cy Young', 'Dee', 'Eve Longname-Smith', 'Fay', 'Gus', 'Hal'];
      for (let i = 0; i < people - 1; i += 1) {
        const [width, height] = pictures[i % pictures.length];
        t.addFakeTile({ name: names[i], width, height });
      }
      if (screen) t.addFakeTile({ name: 'Bob', screen: true, width: 1280, height: 800 });
    }, { people, screen, pictures: PICTURES });
    // Every picture has its size and the layout has been redone with it (two frames later).
    await page.waitForFunction(() => [...document.querySelectorAll('#grid .tile video')].every((v) => v.videoWidth > 0), null, { timeout: 10_000 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  }

  test('every tile on the stage, none overlapping, ratios kept, names readable, nothing scrolls sideways', async () => {
    const page = ada.page;
    const failures = [];
    let states = 0;
    const modes = {};
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      for (const chat of [false, true]) {
        const open = (await page.getByTestId('open-chat').getAttribute('aria-pressed')) === 'true';
        if (open !== chat) await page.getByTestId('open-chat').click();
        for (const screen of [false, true]) {
          for (const people of COUNTS) {
            await setUp(page, people, screen);
            const m = await settledLayout(page);
            const name = `${vp.width}x${vp.height}-${people}p${screen ? '-screen' : ''}${chat ? '-chat' : ''}`;
            await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
            states += 1;
            modes[`${m.layout}${m.strip ? `/${m.strip}` : ''}`] = (modes[`${m.layout}${m.strip ? `/${m.strip}` : ''}`] ?? 0) + 1;
            for (const p of problems(m, { people, screen })) failures.push(`${name}: ${p}`);
          }
        }
      }
    }
    console.log(`layout: ${states} states checked, layouts ${JSON.stringify(modes)}, screenshots in ${SHOTS}`);
    assert.deepEqual(failures, [], `${failures.length} problems:\n${failures.join('\n')}`);
    assert.deepEqual(await page.evaluate(() => window.lancall.errors), []);
  });

  test('a tile that leaves gives its room back (the layout follows tiles coming and going)', async () => {
    const page = ada.page;
    await page.setViewportSize(VIEWPORTS[0]);
    await setUp(page, 4, false);
    const before4 = await page.evaluate(measure);
    assert.equal(before4.layout, 'grid');
    await setUp(page, 2, false);
    const after2 = await page.evaluate(measure);
    assert.equal(after2.layout, 'pair');
    const main = after2.tiles.find((t) => t.main);
    assert.ok(main.box.width * main.box.height > 2 * Math.max(...before4.tiles.map((t) => t.box.width * t.box.height)));
    await page.evaluate(() => window.lancall.test.removeFakeTiles());
  });

  test('a real call of two (a second page): the other person large, you in the corner', async () => {
    const page = ada.page;
    await page.evaluate(() => window.lancall.test.removeFakeTiles());
    await page.setViewportSize(VIEWPORTS[0]);
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p', viewport: VIEWPORTS[3] });
    await waitForVideo(page, bob.id);
    for (const [p, vp] of [[page, VIEWPORTS[0]], [bob.page, VIEWPORTS[3]]]) {
      await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const m = await p.evaluate(measure);
      assert.deepEqual(problems(m, { people: 2, screen: false }), [], `${vp.width}x${vp.height}`);
      assert.equal(await p.locator('[data-testid=remote-tile]').getAttribute('class').then((c) => c.includes('tile--main')), true);
      assert.equal(await p.locator('[data-testid=local-tile]').getAttribute('class').then((c) => c.includes('tile--thumb')), true);
      await p.screenshot({ path: path.join(SHOTS, `real-pair-${vp.width}x${vp.height}.png`) });
    }
  });
});
