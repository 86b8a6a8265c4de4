// What a person meets before and right after joining (issue 13's broken items 4, 5 and 11):
// - a problem on the pre-join card appears at its top, is brought into view and focused (on a
//   phone the sticky Join button used to hide it below the fold, and Join seemed to do nothing);
// - a Join pressed before the camera and microphone are open is kept, not dropped;
// - "Click anywhere to hear the others" shows only when the browser really refused to play
//   sound (not on an AbortError while sound plays), and the first tap clears it and starts sound.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, openPage, joinCall, waitFor, waitForVideo, closeAll } from './lib/harness.js';

/** Every text the call banner showed, kept by the page from its first moment. */
const RECORD_BANNERS = () => {
  window.__banners = [];
  const watch = () => {
    const text = document.getElementById('banner-text');
    if (!text) return void requestAnimationFrame(watch);
    new MutationObserver(() => {
      if (!document.getElementById('banner')?.hidden) window.__banners.push(text.textContent);
    }).observe(document.getElementById('banner'), { attributes: true, childList: true, subtree: true, characterData: true });
  };
  watch();
};

describe('pre-join problems, an early Join, and the sound banner', runnable(), () => {
  let host;
  let browser;
  const open = [];

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(...open.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('a problem shows at the top of the card, in view and focused, on a phone', async () => {
    const phone = await openPage(browser, host.joinUrl, { viewport: { width: 390, height: 844 } });
    open.push(phone);
    const { page } = phone;
    await page.getByTestId('name').fill('\u200b\u200b'); // invisible: refused by the page
    await page.getByTestId('join').click();
    const problem = page.getByTestId('problem');
    await problem.waitFor({ state: 'visible', timeout: 5000 });
    const geometry = await page.evaluate(() => {
      const box = document.querySelector('[data-testid=problem]').getBoundingClientRect();
      const join = document.querySelector('[data-testid=join]').getBoundingClientRect();
      const card = document.querySelector('#join-form').getBoundingClientRect();
      return { top: box.top, bottom: box.bottom, joinTop: join.top, cardTop: card.top, viewport: innerHeight };
    });
    assert.ok(geometry.top < geometry.joinTop, `the problem is above the Join button: ${JSON.stringify(geometry)}`);
    assert.ok(geometry.top - geometry.cardTop < 120, `the problem is at the top of the card: ${JSON.stringify(geometry)}`);
    await waitFor(
      () => page.evaluate(() => {
        const r = document.querySelector('[data-testid=problem]').getBoundingClientRect();
        return r.top >= 0 && r.bottom <= innerHeight;
      }),
      { what: 'the problem scrolled into view', timeout: 5000 },
    );
    // Focused, or the name field it asks to fix is (either way a screen reader reads it: role=alert).
    const focused = await page.evaluate(() => document.activeElement?.dataset.testid ?? document.activeElement?.id);
    assert.ok(['problem', 'name'].includes(focused), `focus is on ${focused}`);
  });

  test('a Join pressed before the camera is open is kept and goes ahead once it is', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    open.push({ context });
    // Hold the camera back: getUserMedia waits until the test lets it go.
    await context.addInitScript(() => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      const gate = new Promise((resolve) => { window.__release = resolve; });
      navigator.mediaDevices.getUserMedia = async (c) => { await gate; return real(c); };
    });
    const page2 = await context.newPage();
    await page2.goto(host.joinUrl);
    await page2.getByTestId('name').fill('Early');
    await page2.getByTestId('join').click();
    // Not dropped: it says it is joining while the camera opens.
    await waitFor(() => page2.getByTestId('join').innerText().then((t) => /Joining/.test(t)), { what: 'the Join to be taken', timeout: 5000 });
    assert.equal(await page2.evaluate(() => window.lancall.phase), 'prejoin', 'nothing joins before the camera is open');
    await page2.evaluate(() => window.__release());
    await page2.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
    assert.ok(await page2.evaluate(() => !!window.lancall.tracks.video), 'the call has the camera');
    await page2.getByTestId('hangup').click();
  });

  test('sound that plays raises no "click to hear" banner', async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    await ctx.addInitScript(RECORD_BANNERS);
    const ada = await joinCall(browser, host.joinUrl, 'Ada');
    open.push(ada);
    const page = await ctx.newPage();
    open.push({ context: ctx });
    await page.goto(host.joinUrl);
    await page.getByTestId('name').fill('Bea');
    await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
    await page.getByTestId('join').click();
    await page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
    await waitForVideo(page, ada.id);
    // Several sources replace each other on the tiles as the call starts (AbortError territory).
    await waitFor(() => page.evaluate(() => [...document.querySelectorAll('[data-testid=remote-tile] video')].some((v) => !v.paused)), { what: 'a remote player playing' });
    const banners = await page.evaluate(() => window.__banners);
    assert.ok(!banners.some((t) => /hear the others/.test(t)), `banners shown: ${JSON.stringify(banners)}`);
    await page.getByTestId('hangup').click();
    await ada.page.getByTestId('hangup').click();
  });

  test('a real autoplay refusal asks once, and the first tap clears it and starts the sound', async () => {
    const ada = await joinCall(browser, host.joinUrl, 'Ada again');
    open.push(ada);
    // Headless Chromium cannot be made to refuse here (the page counts as activated whatever the
    // autoplay flag), so this page's play() refuses as a browser's does before the person's
    // first tap: NotAllowedError for anything with sound.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    open.push({ context });
    await context.addInitScript(() => {
      let gesture = false;
      addEventListener('pointerdown', () => { gesture = true; }, true);
      const play = HTMLMediaElement.prototype.play;
      window.__refused = 0;
      HTMLMediaElement.prototype.play = function () {
        if (!this.muted && !gesture) {
          window.__refused += 1;
          return Promise.reject(new DOMException('play() can only be initiated by a user gesture.', 'NotAllowedError'));
        }
        return play.call(this);
      };
    });
    const page = await context.newPage();
    await page.goto(host.joinUrl);
    await page.getByTestId('name').fill('Cy');
    await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
    // Keyboard, not a click on the page: Enter in the name field submits the form.
    await page.getByTestId('name').press('Enter');
    await page.getByTestId('hangup').waitFor({ state: 'visible', timeout: 10_000 });
    const banner = page.getByTestId('banner');
    await waitFor(() => banner.innerText().then((t) => /anywhere to hear the others/.test(t)).catch(() => false), { what: 'the banner asking for a click', timeout: 15_000 });
    assert.ok(await page.evaluate(() => window.__refused > 0), 'a player with sound was refused');
    // The first tap anywhere (here: on the stage, not on the banner's button).
    await page.mouse.click(200, 300);
    await waitFor(() => banner.isHidden(), { what: 'the banner to go', timeout: 5000 });
    const playing = () => page.evaluate(() => [...document.querySelectorAll('[data-testid=remote-tile] video')].filter((v) => !v.muted).every((v) => !v.paused));
    await waitFor(playing, { what: 'every player with sound to play', timeout: 5000 });
    await ada.page.getByTestId('hangup').click();
  });
});
