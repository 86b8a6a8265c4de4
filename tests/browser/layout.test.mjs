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
import { runnable, startHost, launchBrowser, joinCall, waitFor, waitForVideo, closeAll } from './lib/harness.js';

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

/** Everything the checks need, read in the page. */
function measure() {
  const grid = /** @type {HTMLElement} */ (document.getElementById('grid'));
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  };
  const panel = document.getElementById('sidepanel');
  const overlayPanel = panel && !panel.hidden && getComputedStyle(panel).position === 'fixed' ? box(panel) : null;
  const tiles = [...grid.querySelectorAll('.tile')].map((el) => {
    const video = el.querySelector('video');
    const label = el.querySelector('figcaption');
    const lb = box(label);
    // What a person would see at the middle of the name: the name itself, not something over it.
    const hit = document.elementFromPoint(lb.x + lb.width / 2, lb.y + lb.height / 2);
    return {
      name: el.querySelector('.name').textContent,
      box: box(el),
      label: lb,
      labelOnTop: !!hit && label.contains(hit) || hit === label,
      hitWhat: hit ? `${hit.tagName}.${hit.className}` : null,
      thumb: el.classList.contains('tile--thumb'),
      main: el.classList.contains('tile--main'),
      videoOff: el.classList.contains('video-off'),
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
    };
  });
  const cs = getComputedStyle(grid);
  return {
    layout: grid.dataset.layout,
    strip: grid.dataset.strip ?? null,
    stage: box(grid),
    gridScroll: { sw: grid.scrollWidth, cw: grid.clientWidth, sh: grid.scrollHeight, ch: grid.clientHeight, overflow: cs.overflow },
    toolbar: box(/** @type {HTMLElement} */ (document.querySelector('.toolbar'))),
    overlayPanel,
    viewport: { width: innerWidth, height: innerHeight },
    pageScrollWidth: document.scrollingElement.scrollWidth,
    tiles,
  };
}

const inside = (a, b, tol = 1) => a.x >= b.x - tol && a.y >= b.y - tol && a.x + a.width <= b.x + b.width + tol && a.y + a.height <= b.y + b.height + tol;
const overlaps = (a, b, tol = 0.5) => a.x < b.x + b.width - tol && b.x < a.x + a.width - tol && a.y < b.y + b.height - tol && b.y < a.y + a.height - tol;

/** Every rule, on one measured state; returns the list of what is wrong. */
function problems(m, { people, screen }) {
  const out = [];
  const expected = screen ? 'spotlight' : people === 2 ? 'pair' : 'grid';
  if (m.layout !== expected) out.push(`layout is ${m.layout}, expected ${expected}`);
  if (m.tiles.length !== people + (screen ? 1 : 0)) out.push(`${m.tiles.length} tiles for ${people} people${screen ? ' and a screen' : ''}`);
  const S = m.stage;
  for (const t of m.tiles) {
    if (!(t.box.width > 0 && t.box.height > 0)) out.push(`${t.name}: no size`);
    if (!inside(t.box, S)) out.push(`${t.name}: outside the stage ${JSON.stringify(t.box)} vs ${JSON.stringify(S)}`);
    if (!t.videoOff && t.videoWidth > 0) {
      const want = t.videoWidth / t.videoHeight;
      const got = t.box.width / t.box.height;
      if (Math.abs(got / want - 1) > 0.02) out.push(`${t.name}: ratio ${got.toFixed(3)} for a ${t.videoWidth}x${t.videoHeight} picture`);
    } else if (!t.videoOff) {
      out.push(`${t.name}: its video has no size yet`);
    }
    // The name: on screen, above the toolbar, inside its tile, and not covered (a phone's chat
    // sheet covers the stage on purpose: names under it are not asked to show).
    const L = t.label;
    if (!(L.x >= 0 && L.y >= 0 && L.x + L.width <= m.viewport.width + 0.5 && L.y + L.height <= m.viewport.height + 0.5)) out.push(`${t.name}: name off screen ${JSON.stringify(L)}`);
    if (L.y + L.height > m.toolbar.y + 0.5) out.push(`${t.name}: name under the toolbar`);
    if (!inside(L, t.box, 0.5)) out.push(`${t.name}: name cut by its tile ${JSON.stringify(L)} in ${JSON.stringify(t.box)}`);
    const underSheet = m.overlayPanel && overlaps(L, m.overlayPanel);
    if (!t.labelOnTop && !underSheet) out.push(`${t.name}: name covered by ${t.hitWhat}`);
  }
  for (let i = 0; i < m.tiles.length; i += 1) {
    for (let j = i + 1; j < m.tiles.length; j += 1) {
      const a = m.tiles[i];
      const b = m.tiles[j];
      if (a.thumb || b.thumb) {
        // The one exception: your thumbnail over the other person, never over their name.
        const other = a.thumb ? b : a;
        if (overlaps(a.thumb ? a.box : b.box, other.label)) out.push(`thumbnail covers ${other.name}'s name`);
        continue;
      }
      if (overlaps(a.box, b.box)) out.push(`${a.name} and ${b.name} overlap`);
    }
  }
  const thumbs = m.tiles.filter((t) => t.thumb);
  if (expected === 'pair' && thumbs.length !== 1) out.push(`${thumbs.length} thumbnails in a call of two`);
  if (expected !== 'pair' && thumbs.length) out.push('a thumbnail outside a call of two');
  // The stage is used: the tiles together span 60 % of it along one side; a call of two's other
  // person and a spotlight's screen alone 80 %.
  const xs = m.tiles.map((t) => t.box);
  const spanW = (Math.max(...xs.map((b) => b.x + b.width)) - Math.min(...xs.map((b) => b.x))) / S.width;
  const spanH = (Math.max(...xs.map((b) => b.y + b.height)) - Math.min(...xs.map((b) => b.y))) / S.height;
  if (Math.max(spanW, spanH) < 0.6) out.push(`tiles span ${(100 * spanW).toFixed(0)} % x ${(100 * spanH).toFixed(0)} % of the stage`);
  if (expected !== 'grid') {
    const main = m.tiles.find((t) => t.main);
    if (!main) out.push('no main tile');
    else {
      const f = Math.max(main.box.width / S.width, main.box.height / S.height);
      if (f < 0.8) out.push(`main tile spans ${(100 * f).toFixed(0)} % of the stage`);
    }
  }
  if (m.pageScrollWidth > m.viewport.width) out.push(`the page scrolls sideways (${m.pageScrollWidth} > ${m.viewport.width})`);
  if (m.gridScroll.sw > m.gridScroll.cw + 1) out.push(`the stage scrolls sideways (${m.gridScroll.sw} > ${m.gridScroll.cw})`);
  if (m.gridScroll.sh > m.gridScroll.ch + 1) out.push(`the stage overflows downwards (${m.gridScroll.sh} > ${m.gridScroll.ch})`);
  return out;
}

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
            // The layout settles within a few frames; measure until two readings agree.
            const m = await waitFor(async () => {
              const a = await page.evaluate(measure);
              await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
              const b = await page.evaluate(measure);
              return JSON.stringify(a.tiles.map((t) => t.box)) === JSON.stringify(b.tiles.map((t) => t.box)) ? b : null;
            }, { timeout: 5000, what: 'a settled layout' });
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
