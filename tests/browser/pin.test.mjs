// Pinning a tile, a tile's own full screen, and moving your thumbnail in a call of two, as a person
// sees them in Chromium: the pinned tile (from its ⋮ menu, by double-click, from the keyboard) is
// the large one with the others in a strip, on a desktop and a phone; a pin wins over a shared
// screen; unpinning, or the pinned person leaving, gives the grid back; "Full screen" puts that
// tile in full screen and the item again leaves it; your thumbnail dragged to the top-left corner
// goes there and is still there in the next call. Every state also keeps the layout rules of
// lib/layout-check.js. Two real pages in a real call; the other people in the larger layouts are
// canvas-fed tiles (window.lancall.test.addFakeTile). Screenshots go to $SHOTS_DIR or
// /tmp/lancall-pin-shots.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runnable, startHost, launchBrowser, joinCall, waitFor, waitForVideo, closeAll } from './lib/harness.js';
import { problems, settledLayout } from './lib/layout-check.js';

const SHOTS = process.env.SHOTS_DIR || '/tmp/lancall-pin-shots';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** The tile whose name is `name`. */
const tileNamed = (page, name) => page.locator('#grid .tile').filter({ has: page.locator('.name').getByText(name, { exact: true }) });

/** Opens the tile's ⋮ menu the way a mouse user does (it shows on hover) and picks `item`; `shot` names a screenshot of the open menu. */
async function pickFromMenu(page, name, item, shot = '') {
  const tile = tileNamed(page, name);
  await tile.hover();
  await tile.getByTestId('tile-menu-button').click();
  if (shot) await page.screenshot({ path: path.join(SHOTS, `${shot}.png`) });
  await tile.getByTestId(item).click();
}

/** The layout once `ok(m)` holds for it and it has settled. */
async function layoutWhen(page, ok, what) {
  return waitFor(async () => {
    const m = await settledLayout(page);
    return ok(m) ? m : null;
  }, { timeout: 8000, what });
}

/** The tile of `name` in a measured layout. */
const measured = (m, name) => m.tiles.find((t) => t.name === name);
const area = (b) => b.width * b.height;

/** A spotlight on `name`: it is pinned, the large tile, at least as large as any other; the rest are in the strip. */
function assertPinned(m, name, { people, screen = false, stageShare = 0 }) {
  assert.deepEqual(problems(m, { people, screen, pinned: true }), [], JSON.stringify(m.tiles.map((t) => [t.name, t.box])));
  const main = measured(m, name);
  assert.ok(main?.pinned && main.main, `${name} is pinned and large`);
  assert.ok(m.strip, 'the others are in a strip');
  for (const t of m.tiles) if (t !== main) assert.ok(area(t.box) <= area(main.box) + 1, `${t.name} is not larger than ${name}`);
  if (stageShare) {
    const share = area(main.box) / area(m.stage);
    assert.ok(share >= stageShare, `${name} covers ${(100 * share).toFixed(0)} % of the stage`);
  }
}

describe('pin, full screen, movable thumbnail', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    host = await startHost();
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada Lovelace', { quality: '360p', viewport: DESKTOP });
    await ada.page.waitForFunction(() => document.querySelector('[data-testid=local-tile] video')?.videoWidth > 0, null, { timeout: 10_000 });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  /** Made-up people (and maybe Bob's screen) on Ada's stage, every picture measured; their tiles' keys. */
  async function fakes(page, names, screen = false) {
    const keys = await page.evaluate(({ names, screen }) => {
      const t = window.lancall.test;
      t.removeFakeTiles();
      const made = names.map((name, i) => t.addFakeTile({ name, width: i % 2 ? 480 : 640, height: 360 }));
      if (screen) made.push(t.addFakeTile({ name: 'Bob', screen: true, width: 1280, height: 800 }));
      return made;
    }, { names, screen });
    await page.waitForFunction(() => [...document.querySelectorAll('#grid .tile video')].every((v) => v.videoWidth > 0), null, { timeout: 10_000 });
    return keys;
  }

  test('pin from the tile menu or by double-click: that person is large, the others in the strip; unpin: the grid', async () => {
    const page = ada.page;
    for (const vp of [DESKTOP, PHONE]) {
      const at = `${vp.width}x${vp.height}`;
      await page.setViewportSize(vp);
      await fakes(page, ['Bob', 'Cy Young', 'Dee']);
      const grid = await layoutWhen(page, (m) => m.layout === 'grid', 'the grid of four');
      assert.deepEqual(problems(grid, { people: 4, screen: false }), [], at);

      await pickFromMenu(page, 'Cy Young', 'tile-pin', `menu-${at}`);
      let m = await layoutWhen(page, (x) => x.layout === 'spotlight', 'the spotlight');
      assertPinned(m, 'Cy Young', { people: 4, stageShare: vp === DESKTOP ? 0.6 : 0 });
      assert.equal(await tileNamed(page, 'Cy Young').getByTestId('pin-sign').isVisible(), true, `${at}: the pin sign`);
      assert.equal(await page.locator('[data-testid=pin-sign]:visible').count(), 1, `${at}: one pin sign`);
      await page.screenshot({ path: path.join(SHOTS, `pinned-menu-${at}.png`) });

      // The menu now offers Unpin; it gives the grid back.
      await pickFromMenu(page, 'Cy Young', 'tile-pin');
      m = await layoutWhen(page, (x) => x.layout === 'grid', 'the grid again');
      assert.deepEqual(problems(m, { people: 4, screen: false }), [], at);
      assert.equal(await page.locator('[data-testid=pin-sign]:visible').count(), 0);

      // A double click pins, another unpins.
      await tileNamed(page, 'Dee').dblclick();
      m = await layoutWhen(page, (x) => x.layout === 'spotlight', 'the spotlight after a double click');
      assertPinned(m, 'Dee', { people: 4, stageShare: vp === DESKTOP ? 0.6 : 0 });
      await page.screenshot({ path: path.join(SHOTS, `pinned-dblclick-${at}.png`) });
      await tileNamed(page, 'Dee').dblclick();
      m = await layoutWhen(page, (x) => x.layout === 'grid', 'the grid after a second double click');
      assert.deepEqual(problems(m, { people: 4, screen: false }), [], at);
    }
    await page.setViewportSize(DESKTOP);
    assert.deepEqual(await page.evaluate(() => window.lancall.errors), []);
  });

  test('the tile menu from the keyboard: Tab reaches ⋮ (shown while focused), Enter opens, Enter pins, Esc closes', async () => {
    const page = ada.page;
    await fakes(page, ['Bob', 'Cy Young']);
    await page.getByTestId('open-people').focus();
    const button = tileNamed(page, 'Bob').getByTestId('tile-menu-button');
    await waitFor(async () => {
      await page.keyboard.press('Tab');
      return button.evaluate((b) => b === document.activeElement);
    }, { timeout: 8000, interval: 0, what: 'Tab to reach Bob\'s ⋮' });
    assert.equal(await button.getAttribute('aria-label'), 'Options for Bob');
    await waitFor(() => button.evaluate((b) => getComputedStyle(b).opacity === '1'), { what: 'the focused ⋮ to show' });
    await page.keyboard.press('Enter');
    const pin = tileNamed(page, 'Bob').getByTestId('tile-pin');
    await waitFor(() => pin.evaluate((b) => b === document.activeElement), { what: 'the first item focused' });
    await page.keyboard.press('Enter');
    const m = await layoutWhen(page, (x) => x.layout === 'spotlight', 'the spotlight from the keyboard');
    assertPinned(m, 'Bob', { people: 3, stageShare: 0.6 });
    // The focus is back on ⋮; the menu opens again and Esc closes it, focus staying there.
    assert.equal(await button.evaluate((b) => b === document.activeElement), true);
    await page.keyboard.press('Enter');
    await page.getByTestId('tile-menu').waitFor();
    assert.equal(await pin.innerText(), 'Unpin');
    await page.keyboard.press('Escape');
    await page.getByTestId('tile-menu').waitFor({ state: 'detached' });
    assert.equal(await button.evaluate((b) => b === document.activeElement), true);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    await layoutWhen(page, (x) => x.layout === 'grid', 'unpinned from the keyboard');
  });

  test('a pin wins over a shared screen; unpinned, the screen is large again; a pinned screen, until it ends', async () => {
    const page = ada.page;
    const [, , screenKey] = await fakes(page, ['Bob', 'Cy Young'], true);
    let m = await layoutWhen(page, (x) => x.layout === 'spotlight', 'the screen in the spotlight');
    assert.equal(m.tiles.find((t) => t.main)?.name, 'Bob\'s screen');
    await tileNamed(page, 'Cy Young').dblclick();
    m = await layoutWhen(page, (x) => measured(x, 'Cy Young')?.main, 'Cy over the screen');
    assertPinned(m, 'Cy Young', { people: 3, screen: true, stageShare: 0.6 });
    await page.screenshot({ path: path.join(SHOTS, 'pinned-over-screen-1280x800.png') });
    await tileNamed(page, 'Cy Young').dblclick();
    m = await layoutWhen(page, (x) => measured(x, 'Bob\'s screen')?.main, 'the screen large again');
    assert.deepEqual(problems(m, { people: 3, screen: true }), []);
    await pickFromMenu(page, 'Bob\'s screen', 'tile-pin');
    m = await layoutWhen(page, (x) => measured(x, 'Bob\'s screen')?.pinned, 'the screen pinned');
    assertPinned(m, 'Bob\'s screen', { people: 3, screen: true, stageShare: 0.6 });
    // Pinning another moves the one pin there, and back.
    await tileNamed(page, 'Bob').dblclick();
    m = await layoutWhen(page, (x) => measured(x, 'Bob')?.pinned, 'the pin moved to Bob');
    assertPinned(m, 'Bob', { people: 3, screen: true });
    await tileNamed(page, 'Bob\'s screen').dblclick();
    await layoutWhen(page, (x) => measured(x, 'Bob\'s screen')?.pinned, 'the screen pinned again');
    // The sharer stops: the screen's tile goes, and its pin with it.
    await page.evaluate((key) => window.lancall.test.removeFakeTiles(key), screenKey);
    m = await layoutWhen(page, (x) => x.tiles.length === 3 && x.layout === 'grid', 'the grid once the screen is gone');
    assert.deepEqual(problems(m, { people: 3, screen: false }), []);
    assert.equal(await page.evaluate(() => window.lancall.pinned), null);
  });

  test('Full screen from the tile menu: that tile fills the screen; the item again leaves; absent where the engine has none', async () => {
    const page = ada.page;
    await fakes(page, ['Bob', 'Cy Young']);
    await pickFromMenu(page, 'Bob', 'tile-fullscreen');
    await page.waitForFunction(() => document.fullscreenElement?.querySelector('.name')?.textContent === 'Bob', null, { timeout: 5000 });
    const box = await tileNamed(page, 'Bob').boundingBox();
    assert.ok(box.width >= DESKTOP.width - 1 && box.height >= DESKTOP.height - 1, `the tile fills the screen: ${JSON.stringify(box)}`);
    await page.screenshot({ path: path.join(SHOTS, 'tile-fullscreen-1280x800.png') });
    await pickFromMenu(page, 'Bob', 'tile-fullscreen');
    await page.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000 });
    // In full screen, Esc leaves too.
    await pickFromMenu(page, 'Cy Young', 'tile-fullscreen');
    await page.waitForFunction(() => document.fullscreenElement?.querySelector('.name')?.textContent === 'Cy Young', null, { timeout: 5000 });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000 });
    const m = await layoutWhen(page, (x) => x.layout === 'grid', 'the grid after full screen');
    assert.deepEqual(problems(m, { people: 3, screen: false }), []);
    // An engine without full screen: the menu has no such item (Pin is there).
    await page.evaluate(() => Object.defineProperty(document, 'fullscreenEnabled', { value: false, configurable: true }));
    const tile = tileNamed(page, 'Bob');
    await tile.hover();
    await tile.getByTestId('tile-menu-button').click();
    await tile.getByTestId('tile-pin').waitFor();
    assert.equal(await tile.getByTestId('tile-fullscreen').count(), 0);
    await page.keyboard.press('Escape');
    await page.evaluate(() => delete document.fullscreenEnabled);
    await page.evaluate(() => window.lancall.test.removeFakeTiles());
  });

  test('a real call of two: your thumbnail dragged to the top-left corner goes there and stays there in the next call', async () => {
    const page = ada.page;
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p', viewport: PHONE });
    await waitForVideo(page, bob.id);
    let m = await layoutWhen(page, (x) => x.layout === 'pair' && x.tiles.every((t) => t.videoWidth > 0), 'a call of two');
    assert.deepEqual(problems(m, { people: 2, screen: false }), []);
    let thumb = m.tiles.find((t) => t.thumb);
    assert.equal(thumb.name, 'Ada Lovelace (you)');
    assert.ok(thumb.box.x + thumb.box.width > m.stage.x + m.stage.width - 20 && thumb.box.y + thumb.box.height > m.stage.y + m.stage.height - 20, 'bottom right at first');

    // Drag it by the middle, let go near the top-left corner.
    const from = { x: thumb.box.x + thumb.box.width / 2, y: thumb.box.y + thumb.box.height / 2 };
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(m.stage.x + m.stage.width * 0.3, m.stage.y + m.stage.height * 0.3, { steps: 12 });
    await page.mouse.up();
    const atTopLeft = (x) => {
      const t = x.tiles.find((tt) => tt.thumb);
      return x.layout === 'pair' && t && t.box.x - x.stage.x < 20 && t.box.y - x.stage.y < 20;
    };
    m = await layoutWhen(page, atTopLeft, 'the thumbnail in the top-left corner');
    assert.deepEqual(problems(m, { people: 2, screen: false }), []);
    assert.equal(m.corner, 'tl');
    await page.screenshot({ path: path.join(SHOTS, 'thumb-top-left-1280x800.png') });
    assert.equal(await page.evaluate(() => localStorage.getItem('lancall.thumbCorner')), '"tl"');

    // The next call (the page loaded again): still top left.
    await page.reload();
    await page.getByTestId('name').fill('Ada Lovelace');
    await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
    await page.getByTestId('join').click();
    await page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
    await waitForVideo(page, bob.id);
    m = await layoutWhen(page, (x) => atTopLeft(x) && x.tiles.every((t) => t.videoWidth > 0), 'the thumbnail still top left after a reload');
    assert.deepEqual(problems(m, { people: 2, screen: false }), []);

    // On Bob's phone: a finger drags his thumbnail up to the top-right corner (touch events, as
    // a phone sends them) ...
    let b = await layoutWhen(bob.page, (x) => x.layout === 'pair' && x.tiles.every((t) => t.videoWidth > 0), 'Bob\'s call of two');
    thumb = b.tiles.find((t) => t.thumb);
    const cdp = await bob.context.newCDPSession(bob.page);
    const touch = (type, x, y) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
    const start = { x: thumb.box.x + thumb.box.width / 2, y: thumb.box.y + thumb.box.height / 2 };
    await touch('touchStart', start.x, start.y);
    for (let i = 1; i <= 10; i += 1) await touch('touchMove', start.x, start.y - (start.y - b.stage.y - 60) * (i / 10));
    await touch('touchEnd');
    b = await layoutWhen(bob.page, (x) => x.corner === 'tr', 'Bob\'s thumbnail top right');
    assert.deepEqual(problems(b, { people: 2, screen: false }), []);
    thumb = b.tiles.find((t) => t.thumb);
    assert.ok(b.stage.x + b.stage.width - (thumb.box.x + thumb.box.width) < 20 && thumb.box.y - b.stage.y < 20, `top right: ${JSON.stringify(thumb.box)}`);
    await bob.page.screenshot({ path: path.join(SHOTS, 'thumb-top-right-390x844.png') });
    // ... and its menu's Move to another corner (the way without a pointer) takes it on, clockwise.
    await pickFromMenu(bob.page, 'Bob (you)', 'tile-corner', 'thumb-menu-390x844');
    b = await layoutWhen(bob.page, (x) => x.corner === 'br', 'Bob\'s thumbnail bottom right');
    assert.deepEqual(problems(b, { people: 2, screen: false }), []);
  });

  test('a real call: the pinned person leaves, the pin goes with them and the grid comes back', async () => {
    const page = ada.page;
    await fakes(page, ['Cy Young', 'Dee']);
    await tileNamed(page, 'Bob').dblclick();
    let m = await layoutWhen(page, (x) => measured(x, 'Bob')?.pinned && x.tiles.every((t) => t.videoWidth > 0), 'Bob pinned');
    assertPinned(m, 'Bob', { people: 4, stageShare: 0.6 });
    await bob.page.getByTestId('hangup').click();
    m = await layoutWhen(page, (x) => x.layout === 'grid' && x.tiles.length === 3, 'the grid without Bob');
    assert.deepEqual(problems(m, { people: 3, screen: false }), []);
    assert.equal(await page.evaluate(() => window.lancall.pinned), null);
    assert.deepEqual(await page.evaluate(() => window.lancall.errors), []);
  });
});
