// What a person sees when something is in the way, and that each message offers a way forward.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, openPage, joinCall, waitForVideo, closeAll } from './lib/harness.js';

const problem = (page) => page.getByTestId('problem');

describe('errors', runnable(), () => {
  let host;
  let full;
  let normal;
  let ada;
  const extra = [];

  before(async () => {
    host = await startHost();
    normal = await launchBrowser();
    ada = await joinCall(normal, host.joinUrl, 'Ada', { quality: '360p' });
  });

  after(async () => {
    await closeAll(extra, ada?.context, normal);
    await host?.stop();
    host?.cleanup();
    await full?.stop();
    full?.cleanup();
  });

  test('camera permission denied: says how to allow it, retries, or joins to watch', async () => {
    // No --use-fake-ui-for-media-stream and no permission granted: the browser refuses.
    const browser = await launchBrowser({ fakeUi: false });
    extra.push(browser);
    const { page, context } = await openPage(browser, host.joinUrl);
    await problem(page).getByText('access is blocked').waitFor({ timeout: 10_000 });
    assert.match(await problem(page).innerText(), /Allow/);
    assert.equal(await page.getByTestId('join').innerText(), 'Join without camera and microphone');
    // The person allows it in the browser, then presses Try again.
    await context.grantPermissions(['camera', 'microphone']);
    await page.getByTestId('retry-media').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0, null, { timeout: 10_000 });
    assert.equal(await page.getByTestId('join').innerText(), 'Join');
    await context.close();
  });

  test('no camera or microphone: says so, and the person joins to watch and listen', async () => {
    const browser = await launchBrowser({ fakeDevices: false });
    extra.push(browser);
    const { page } = await openPage(browser, host.joinUrl);
    await problem(page).getByText(/No (camera|microphone)/).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId('join').innerText(), 'Join without camera and microphone');
    await page.getByTestId('name').fill('Watcher');
    await page.getByTestId('join').click();
    await page.getByTestId('hangup').waitFor();
    await waitForVideo(page, ada.id);
    // Ada sees the watcher with camera and microphone off.
    const watcherId = await page.evaluate(() => window.lancall.call.selfId);
    const tile = ada.page.locator(`[data-testid=remote-tile][data-peer="${watcherId}"]`);
    await tile.getByTestId('remote-audio-muted').waitFor({ state: 'visible' });
    assert.match(await tile.getAttribute('class'), /video-off/);
    await page.getByTestId('hangup').click();
  });

  test('a wrong token says the link does not work and to ask for a new one', async () => {
    const url = host.joinUrl.replace(/token=[0-9a-f]+/, `token=${'0'.repeat(32)}`);
    const { page, context } = await openPage(normal, url);
    await page.getByTestId('name').fill('Mallory');
    await page.getByTestId('join').click();
    await problem(page).getByText('This link does not open the room.').waitFor({ timeout: 10_000 });
    assert.match(await problem(page).innerText(), /new link/i);
    assert.equal(await page.getByTestId('join').isEnabled(), true);
    await context.close();
  });

  test('without the token a person can knock: let in when the host admits, told when it refuses', async () => {
    for (const policy of ['admit', 'refuse']) {
      const knockHost = await startHost({ knock: policy });
      try {
        // The host's address and room, as found by mDNS or typed, without the token.
        const { page, context } = await openPage(normal, `${knockHost.httpsUrl}#room=call`);
        await page.getByTestId('name').fill(`Knocker ${policy}`);
        await page.getByTestId('join').click();
        await problem(page).getByText('This link does not open the room.').waitFor({ timeout: 10_000 });
        await page.getByTestId('knock').click();
        if (policy === 'admit') {
          await page.getByTestId('hangup').waitFor({ timeout: 10_000 });
          assert.equal(await page.getByTestId('token').inputValue(), knockHost.token);
        } else {
          await problem(page).getByText('The host did not let you in.', { exact: true }).waitFor({ timeout: 10_000 });
          assert.equal(await page.getByTestId('knock').innerText(), 'Ask again');
        }
        await context.close();
      } finally {
        await knockHost.stop();
        knockHost.cleanup();
      }
    }
  });

  test('an unknown room says so', async () => {
    const url = host.joinUrl.replace(/room=call/, 'room=nope');
    const { page, context } = await openPage(normal, url);
    await page.getByTestId('name').fill('Lost');
    await page.getByTestId('join').click();
    await problem(page).getByText('There is no such room on this host.').waitFor({ timeout: 10_000 });
    // The address fields open so the person can fix it.
    await page.getByTestId('room').waitFor({ state: 'visible' });
    await context.close();
  });

  test('a full room says so and offers to try again', async () => {
    full = await startHost({ capacity: 2 });
    const first = await joinCall(normal, full.joinUrl, 'First', { quality: '360p' });
    const second = await joinCall(normal, full.joinUrl, 'Second', { quality: '360p' });
    extra.push(first.context, second.context);
    const { page, context } = await openPage(normal, full.joinUrl);
    await page.getByTestId('name').fill('Third');
    await page.getByTestId('join').click();
    await problem(page).getByText('The room is full.').waitFor({ timeout: 10_000 });
    // When the first leaves, Try again gets in.
    await first.page.getByTestId('hangup').click();
    await page.getByTestId('retry-join').click();
    await page.getByTestId('hangup').waitFor({ timeout: 10_000 });
    await context.close();
  });

  test('an unreachable host says what to check and keeps trying until stopped', async () => {
    const { page, context } = await openPage(normal, host.joinUrl);
    await page.getByTestId('name').fill('Far');
    await page.getByText('Change').click();
    // A port where nothing listens.
    await page.getByTestId('host').fill('10.99.1.2:4433');
    await page.getByTestId('join').click();
    await problem(page).getByText('Cannot reach the host at 10.99.1.2:4433.').waitFor({ timeout: 10_000 });
    assert.match(await problem(page).innerText(), /same network/);
    await page.getByTestId('stop-trying').click();
    await problem(page).waitFor({ state: 'hidden' });
    assert.equal(await page.getByTestId('join').innerText(), 'Join');
    await context.close();
  });

  test('an empty name is caught before joining', async () => {
    const { page, context } = await openPage(normal, host.joinUrl);
    await page.getByTestId('name').fill('   ');
    await page.getByTestId('join').click();
    await problem(page).getByText('Enter your name').waitFor();
    assert.equal(await page.getByTestId('name').getAttribute('aria-invalid'), 'true');
    await context.close();
  });

  // A network change while the page loads (Chromium aborts requests in flight: ERR_NETWORK_CHANGED)
  // left it looking whole with none of its scripts running. Here one module fails to arrive, as
  // then: the page loads itself again and works.
  test('a script that did not arrive while the page loaded: the page loads again by itself', async () => {
    const context = await normal.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    let aborted = 0;
    await page.route('**/js/page/people.js', (route) => (aborted++ === 0 ? route.abort('internetdisconnected') : route.continue()));
    await page.goto(host.joinUrl);
    await page.waitForSelector('[data-testid="join"]:enabled', { timeout: 15_000 });
    assert.equal(aborted, 2, 'the module was asked for again');
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.type), 'reload');
    // The join link (its token is after the #) survived the reload.
    assert.match(page.url(), /#room=call&token=/);
    assert.equal(await page.getByTestId('boot-problem').count(), 0);
    await context.close();
  });

  test('scripts that never arrive: after two tries the page says so, and Reload works once they do', async () => {
    const context = await normal.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    let blocked = true;
    let asked = 0;
    await page.route('**/js/page/people.js', (route) => {
      asked += 1;
      return blocked ? route.abort('internetdisconnected') : route.continue();
    });
    await page.goto(host.joinUrl);
    const notice = page.getByTestId('boot-problem');
    await page.getByTestId('boot-reload').waitFor({ timeout: 15_000 });
    assert.equal(asked, 3, 'loaded three times in all, then stopped');
    assert.match(await notice.innerText(), /did not load completely.*reload/is);
    assert.ok(await notice.isVisible());
    blocked = false;
    await page.getByTestId('boot-reload').click();
    await page.waitForSelector('[data-testid="join"]:enabled', { timeout: 15_000 });
    assert.equal(await notice.count(), 0);
    await context.close();
  });
});
