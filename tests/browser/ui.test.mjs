// The page itself: works under the app's strict CSP, has keyboard shortcuts and accessible names,
// and fits a phone held upright.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runnable, startHost, launchBrowser, joinCall, waitForVideo, closeAll, repoRoot, waitFor } from './lib/harness.js';

const CSP = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' wss:";

test('ui/ has no inline scripts, inline styles or external resources', () => {
  const ui = path.join(repoRoot, 'ui');
  const html = readFileSync(path.join(ui, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<style/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
  for (const m of html.matchAll(/<script\b([^>]*)>/gi)) assert.match(m[1], /\ssrc=/, 'every script has a src');
  const scripts = readdirSync(path.join(ui, 'js'), { recursive: true }).filter((f) => f.endsWith('.js')).map((f) => `js/${f}`);
  const files = ['index.html', ...scripts, ...readdirSync(path.join(ui, 'css')).map((f) => `css/${f}`)];
  for (const f of files) {
    const text = readFileSync(path.join(ui, f), 'utf8');
    assert.doesNotMatch(text, /(src|href)=["']https?:\/\//i, `${f} loads nothing from the net`);
    assert.doesNotMatch(text, /@import\s+url\(["']?https?:/i, `${f} imports nothing from the net`);
  }
  // Only peer-factory.js constructs the global RTCPeerConnection (a Rust-backed one can be
  // injected instead), and the call module does not even look at it.
  for (const f of scripts) {
    if (f === 'js/lib/peer-factory.js') continue;
    const text = readFileSync(path.join(ui, f), 'utf8');
    assert.doesNotMatch(text, /new\s+(\(?\s*(globalThis|window|self)\.)?RTCPeerConnection\b/, `${f} constructs RTCPeerConnection`);
  }
  assert.doesNotMatch(readFileSync(path.join(ui, 'js/lib/call.js'), 'utf8'), /(globalThis|window|self)\.RTCPeerConnection\b/);
});

describe('the page', runnable(), () => {
  let host;
  let browser;
  const violations = [];
  let ada;
  let bob;

  before(async () => {
    host = await startHost();
    // The CSP header is added by intercepting the page's response; Chromium then treats the page
    // as coming from nowhere in particular and its Local Network Access check would block the
    // WebSocket to the host's private address. A page really served by the host is not affected.
    browser = await launchBrowser({ disableFeatures: ['LocalNetworkAccessChecks'] });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('a call works under the CSP the app uses (default-src \'self\')', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    await context.route(`${host.httpsUrl}`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
    });
    const page = await context.newPage();
    await page.exposeFunction('__cspViolation', (v) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(host.joinUrl);
    await page.getByTestId('name').fill('Phone');
    await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0);
    await page.getByTestId('join').click();
    await page.getByTestId('hangup').waitFor({ timeout: 10_000 }).catch(async (err) => {
      throw new Error(`${err.message}\nviolations: ${violations.join(', ')}\nproblem: ${await page.getByTestId('problem').innerText()}`);
    });
    ada = { page, context, id: await page.evaluate(() => window.lancall.call.selfId) };
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(page, bob.id);
    assert.deepEqual(violations, []);
  });

  test('on a phone held upright every control is on screen and nothing scrolls sideways', async () => {
    const { page } = ada;
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `page is ${width}px wide`);
    for (const id of ['mute-audio', 'mute-video', 'raise-hand', 'react', 'open-chat', 'more', 'hangup', 'open-people']) {
      const box = await page.getByTestId(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844, `${id} is on screen: ${JSON.stringify(box)}`);
      assert.ok(box.width >= 32 && box.height >= 32, `${id} is big enough to tap`);
    }
    // What has no room in the toolbar is in the More menu, on screen, and works from there.
    await page.getByTestId('more').click();
    for (const id of ['more-share', 'more-record', 'more-stats', 'more-settings', 'more-shortcuts']) {
      const box = await page.getByTestId(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390 && box.y >= 0 && box.y + box.height <= 844, `${id} is on screen: ${JSON.stringify(box)}`);
    }
    await page.getByTestId('more-record').click();
    const source = page.getByTestId('record-source').first();
    await source.waitFor({ state: 'visible' });
    const box = await source.boundingBox();
    assert.ok(box && box.y + box.height <= 844, 'the record menu opens on screen');
    await page.keyboard.press('Escape');
    await page.getByTestId('more').click();
    await page.getByTestId('more-stats').click();
    await page.getByTestId('stats').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
  });

  test('controls have names for screen readers and state for toggles', async () => {
    const { page } = ada;
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('#incall button')]
        .filter((b) => b.offsetParent !== null)
        .filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim()))
        .map((b) => b.id),
    );
    assert.deepEqual(unnamed, []);
    assert.equal(await page.getByRole('button', { name: 'Turn microphone off' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Leave the call' }).count(), 1);
    const remote = page.locator(`[data-testid=remote-video][data-peer="${bob.id}"]`);
    assert.match(await remote.getAttribute('aria-label'), /Bob/);
  });

  test('keyboard shortcuts: M mutes, V turns the camera off, Shift+H leaves', async () => {
    const { page } = bob;
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('m');
    await waitFor(async () => (await page.getByTestId('mute-audio').getAttribute('aria-pressed')) === 'true', { what: 'muted by M' });
    await page.keyboard.press('v');
    await waitFor(async () => (await page.getByTestId('mute-video').getAttribute('aria-pressed')) === 'true', { what: 'camera off by V' });
    // The other side sees it.
    const tile = ada.page.locator(`[data-testid=remote-tile][data-peer="${bob.id}"]`);
    await tile.getByTestId('remote-audio-muted').waitFor({ state: 'visible' });
    // Typing in the chat box does not trigger shortcuts.
    await page.keyboard.press('c');
    await page.getByTestId('chat-input').waitFor({ state: 'visible' });
    await page.getByTestId('chat-input').type('mvs');
    assert.equal(await page.getByTestId('mute-audio').getAttribute('aria-pressed'), 'true');
    await page.keyboard.press('Escape');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Shift+H');
    await page.getByTestId('rejoin').waitFor();
    await ada.page.locator(`[data-testid=remote-video][data-peer="${bob.id}"]`).waitFor({ state: 'detached', timeout: 1000 });
  });

  test('where the engine has no getDisplayMedia (Android WebView) there is no share button', async () => {
    // Chromium always has the API, so this one test takes it away before the page loads, as an
    // Android WebView ships without it. Everything else in the call is real.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.addInitScript(() => {
      delete MediaDevices.prototype.getDisplayMedia;
    });
    const page = await context.newPage();
    await page.goto(host.joinUrl);
    await page.getByTestId('name').fill('Android');
    await page.getByTestId('join').click();
    await page.getByTestId('hangup').waitFor();
    assert.equal(await page.getByTestId('share-screen').count(), 0);
    // S does nothing and breaks nothing.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('s');
    await page.keyboard.press('m');
    await waitFor(async () => (await page.getByTestId('mute-audio').getAttribute('aria-pressed')) === 'true', { what: 'still works' });
    await context.close();
  });
});
