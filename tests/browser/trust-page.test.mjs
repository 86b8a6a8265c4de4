// The plain-HTTP trust page keeps the call (issue 13, broken item 7): "Continue to the call"
// carries the link's #room=…&token=…&fp=… (a fragment never reaches a server, so the page's
// own script passes it on) and lands on a pre-join card that knows the call; opened without a
// call, it says how to get back in. On a phone the fingerprint wraps between blocks of bytes,
// never inside a byte.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, waitFor, closeAll, HOST_ADDR } from './lib/harness.js';

describe('the trust page', runnable(), () => {
  let host;
  let browser;
  const open = [];

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
  });

  /** The trust page in a fresh profile (not the call page: nothing to wait for). */
  async function openTrustPage(url, viewport = { width: 960, height: 640 }) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    open.push({ context });
    const page = await context.newPage();
    await page.goto(url);
    return { context, page };
  }

  after(async () => {
    await closeAll(...open.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('Continue to the call keeps the link and lands in the call, and the fingerprint never breaks a byte', async () => {
    assert.ok(host.httpPort > 0, 'the host serves its plain-HTTP page');
    const fragment = new URL(host.joinUrl).hash;
    const { page } = await openTrustPage(`http://${HOST_ADDR}:${host.httpPort}/${fragment}`, { width: 390, height: 844 });
    const blocks = await page.evaluate(() => [...document.querySelectorAll('.fpg')].map((b) => ({ text: b.textContent, lines: b.getClientRects().length, right: b.getBoundingClientRect().right })));
    assert.equal(blocks.length, 8, 'eight blocks of four bytes');
    for (const b of blocks) {
      assert.match(b.text, /^([0-9A-F]{2}:){3}[0-9A-F]{2}$/);
      assert.equal(b.lines, 1, `block ${b.text} is on one line`);
      assert.ok(b.right <= 390, `block ${b.text} fits the screen`);
    }
    assert.equal(blocks.map((b) => b.text.replaceAll(':', '')).join('').toLowerCase(), host.ready.ca_sha256, 'the fingerprint is the CA\'s');
    assert.ok(await page.locator('#no-call').isHidden(), 'no "scan again" note when the link is there');
    await page.locator('a[data-continue]').first().click();
    await page.waitForURL((u) => u.protocol === 'https:', { timeout: 10_000 });
    assert.equal(new URL(page.url()).hash, fragment, 'the call link came along');
    await waitFor(() => page.evaluate(() => !!window.lancall), { what: 'the call page' });
    const where = await page.evaluate(() => ({ room: document.getElementById('room').value, addressHidden: document.getElementById('address').hidden }));
    assert.deepEqual(where, { room: 'call', addressHidden: true }, 'the card knows the call: no empty "Where to join" form');
  });

  test('opened without a call, it says how to get back into one', async () => {
    const bare = await openTrustPage(`http://${HOST_ADDR}:${host.httpPort}/`);
    await bare.page.locator('#no-call').waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await bare.page.locator('#no-call').innerText(), /scan the host's\s+QR code again/);
  });
});
