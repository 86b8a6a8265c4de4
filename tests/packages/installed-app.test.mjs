// The desktop package as a person installs it: the app that `apt-get install ./lancall_….deb` put
// at /usr/bin/lancall (tests/packages/run.sh installs it and runs this file through
// tests/app/run.sh, which gives it Xvfb, tauri-driver and a network namespace). It shows its home
// screen with the package's version, hosts a call, a Chromium joins by the link, and each sees
// the other's camera moving.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runnable, startApp, homeReady, launchChromium, APP_BIN, APP_ADDR, sleep } from '../app/lib/harness.js';

const INSTALLED = '/usr/bin/lancall';
const onlyInstalled = () => {
  const r = runnable();
  if (r.skip) return r;
  return APP_BIN === INSTALLED ? {} : { skip: `tests the installed app (LANCALL_APP_BIN=${INSTALLED}), not ${APP_BIN}` };
};

describe('the installed desktop package', onlyInstalled(), () => {
  let app;
  let browser;
  let page;
  let s;

  before(async () => {
    app = await startApp();
    s = app.session;
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
  });

  test('starts to its home screen and shows the version the package carries', async () => {
    await homeReady(s);
    assert.equal(await s.execute(() => !document.querySelector('[data-testid="home"]').hidden), true);
    const version = process.env.LANCALL_PACKAGE_VERSION
      ?? readFileSync(new URL('../../Cargo.toml', import.meta.url), 'utf8').match(/\[workspace\.package\][^[]*?\nversion = "([^"]+)"/)[1];
    assert.equal(await s.text('[data-testid="app-version"]'), `lancall ${version}`);
  });

  test('hosts a call, a browser joins by the link, and each sees the other', async () => {
    await s.type('[data-testid="name"]', 'Ada');
    await s.click('[data-testid="host-call"]');
    const link = await s.waitFor(() => {
      const el = document.querySelector('[data-testid="join-link"]');
      return el && el.textContent.startsWith('https://') ? el.textContent : null;
    }, { timeout: 20_000, what: 'the join link' });
    assert.match(link, new RegExp(`^https://${APP_ADDR.replaceAll('.', '\\.')}:\\d+/#room=call&token=[0-9a-f]{32}&fp=[0-9a-f]{64}$`));

    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    page = await context.newPage();
    await page.goto(link);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });

    // The app shows Grace's (fake) camera, and it moves.
    const graceVideo = () => {
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Grace'));
      const v = tile?.querySelector('video');
      return v && v.videoWidth > 0 && v.readyState >= 2 ? { w: v.videoWidth, t: v.currentTime } : null;
    };
    const first = await s.waitFor(graceVideo, { timeout: 30_000, what: "Grace's video in the installed app" });
    // Chromium shows the app's (mock) camera, decoded.
    const adaVideo = () =>
      page.evaluate(() => {
        const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Ada'));
        const v = tile?.querySelector('video');
        return v && v.videoWidth > 0 && v.readyState >= 2 ? { w: v.videoWidth, t: v.currentTime } : null;
      });
    let seen = null;
    for (let i = 0; i < 150 && !seen; i += 1) {
      seen = await adaVideo();
      if (!seen) await sleep(200);
    }
    assert.ok(seen, "Chromium shows the installed app's camera");
    await sleep(1500);
    const later = await s.execute(graceVideo);
    assert.ok(later && later.t > first.t, `Grace's picture moves in the app (${first.t} -> ${later?.t})`);
    const adaLater = await adaVideo();
    assert.ok(adaLater && adaLater.t > seen.t, `Ada's picture moves in Chromium (${seen.t} -> ${adaLater?.t})`);
  });
});
