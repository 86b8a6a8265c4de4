// The pre-join card gets out of the way (issue 13): your name and a big Join come first, the
// preview and the device menus under them (beside them on a wide screen), quality and frame rate
// behind "More settings"; the card names the host, not its address, and says who is already in
// the call, following people as they come and go; a link that does not open the room says
// nothing about who is in it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, openPage, joinCall, waitFor, closeAll, pageScriptsReady, openMoreSettings } from './lib/harness.js';

const boxOf = (page, sel) => page.locator(sel).first().evaluate((e) => {
  const r = e.getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
});

describe('the pre-join card', runnable(), () => {
  let host;
  let browser;
  const open = [];

  before(async () => {
    host = await startHost({ name: "Ada's laptop" });
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(...open.map((p) => p.context), browser);
    await host?.stop();
    host?.cleanup();
  });

  test('on a phone, name and Join come first, in view without scrolling; the preview is under them', async () => {
    const phone = await openPage(browser, host.joinUrl, { viewport: { width: 390, height: 844 } });
    open.push(phone);
    const { page } = phone;
    const join = await boxOf(page, '[data-testid=join]');
    const name = await boxOf(page, '[data-testid=name]');
    const preview = await boxOf(page, '#preview-box');
    assert.ok(name.bottom <= join.top, `name above Join: ${JSON.stringify({ name, join })}`);
    assert.ok(join.bottom <= preview.top, `Join above the preview: ${JSON.stringify({ join, preview })}`);
    assert.ok(join.bottom <= 844, `Join in view at once: ${JSON.stringify(join)}`);
    assert.equal(await page.evaluate(() => scrollY), 0);
  });

  test('on a desktop, the preview is beside name and Join, all in view', async () => {
    const desk = await openPage(browser, host.joinUrl, { viewport: { width: 1280, height: 800 } });
    open.push(desk);
    const { page } = desk;
    const join = await boxOf(page, '[data-testid=join]');
    const preview = await boxOf(page, '#preview-box');
    assert.ok(preview.right <= join.left, `the preview left of Join: ${JSON.stringify({ preview, join })}`);
    assert.ok(join.bottom <= 800 && preview.bottom <= 800, 'both in view');
  });

  test('quality and frame rate wait behind "More settings"; camera and microphone are at hand', async () => {
    const { page } = await openPage(browser, host.joinUrl);
    open.push({ context: page.context() });
    assert.ok(await page.getByTestId('camera-select').isVisible());
    assert.ok(await page.getByTestId('mic-select').isVisible());
    assert.equal(await page.getByTestId('quality-select').isVisible(), false);
    assert.equal(await page.getByTestId('noise-suppression').isVisible(), false);
    await page.getByTestId('prejoin-more-settings').getByText('More settings').click();
    await page.getByTestId('quality-select').waitFor({ state: 'visible', timeout: 2000 });
    assert.ok(await page.getByTestId('fps-select').isVisible());
  });

  test('a quality chosen while the camera is still opening is the one it sends', async () => {
    // The camera is held opening (getUserMedia waits for the test) while 360p is chosen: the
    // change finds no camera yet, and the camera opened for the old choice must take it up.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    open.push({ context });
    await context.addInitScript(() => {
      const md = navigator.mediaDevices;
      const real = md.getUserMedia.bind(md);
      const gate = new Promise((resolve) => { window.__openCamera = resolve; });
      md.getUserMedia = async (c) => {
        await gate;
        return real(c);
      };
    });
    const { page } = await openPage(context, host.joinUrl);
    await pageScriptsReady(page);
    await openMoreSettings(page);
    await page.getByTestId('quality-select').selectOption('360p');
    assert.equal(await page.evaluate(() => document.querySelector('[data-testid=preview]')?.videoHeight ?? 0), 0, 'no camera yet');
    await page.evaluate(() => window.__openCamera());
    const seen = await page
      .waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoHeight === 360, null, { timeout: 10_000 })
      .then(() => null, () => page.evaluate(() => `${document.querySelector('[data-testid=preview]')?.videoHeight} lines; note: ${document.getElementById('camera-note')?.textContent}`));
    assert.equal(seen, null, `the preview should be 360 lines tall once the camera opens (it is ${seen})`);
    assert.match(await page.locator('#camera-note').textContent(), /640×360/);
  });

  test("the card names the host and says who is in the call, as people come and go", async () => {
    const bob = await openPage(browser, host.joinUrl);
    open.push(bob);
    const who = bob.page.getByTestId('who-is-here');
    await waitFor(async () => (await who.isVisible()) && (await who.innerText()) === 'Nobody else is here yet.', { what: 'an empty call said' });
    const where = await bob.page.locator('#where-text').innerText();
    assert.match(where, /Room call on Ada's laptop/);
    assert.doesNotMatch(where, /10\.99\.1\.1/, 'the name, not the address');

    const ada = await joinCall(browser, host.joinUrl, 'Ada');
    open.push(ada);
    await waitFor(async () => (await who.innerText()) === 'Ada is in the call.', { timeout: 15_000, what: "Ada's arrival on Bob's card" });
    const cy = await joinCall(browser, host.joinUrl, '<img src=x onerror=alert(1)>');
    open.push(cy);
    await waitFor(async () => (await who.innerText()) === 'Ada and <img src=x onerror=alert(1)> are in the call.', { timeout: 15_000, what: 'a hostile name shown as text' });
    assert.equal(await bob.page.locator('#who-is-here img').count(), 0);
    await ada.page.getByTestId('hangup').click();
    await waitFor(async () => (await who.innerText()) === '<img src=x onerror=alert(1)> is in the call.', { timeout: 15_000, what: "Ada's leaving on Bob's card" });
  });

  test('a link with a wrong token says nothing about who is in the call', async () => {
    const wrong = host.joinUrl.replace(/token=[0-9a-f]{32}/, `token=${'0'.repeat(32)}`);
    assert.notEqual(wrong, host.joinUrl);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    open.push({ context });
    const page = await context.newPage();
    const asked = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/room') asked.push(r.status());
    });
    await page.goto(wrong);
    await page.getByTestId('name').fill('Eve');
    await page.getByTestId('join').click();
    await page.getByTestId('problem').waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await page.getByTestId('who-is-here').isVisible(), false);
    // It did ask, and the host refused to say.
    assert.ok(asked.length >= 1 && asked.every((s) => s === 403), `asked /room: ${asked}`);
    assert.doesNotMatch(await page.locator('#prejoin').innerText(), /in the call\./);
  });
});
