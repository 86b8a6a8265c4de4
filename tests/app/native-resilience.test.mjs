// A bridged call (the Linux app's Rust-backed connection) survives a cut network path: Grace's
// Chromium sits in a namespace of its own whose only way to the app and the host is one veth
// pair; cutting it for a few seconds cuts her media and signaling, as a Wi-Fi drop would. Both
// sides show the connection down, then pictures flow again both ways after an ICE restart through
// the bridge, with nobody rejoining.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startApp, homeReady, startHost, launchChromium, remoteNamespace, joinByLink, HOST_ADDR, sleep } from './lib/harness.js';

describe('a bridged call over a cut network path', runnable(), () => {
  let ns;
  let app;
  let host;
  let browser;
  let s;

  before(async () => {
    ns = remoteNamespace();
    host = await startHost({ open: true, name: 'Kitchen' });
    app = await startApp({ env: { LANCALL_NO_MDNS: '1' } });
    s = app.session;
    await homeReady(s);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
    await host?.stop().catch(() => {});
    ns?.remove();
  });

  /** The app's view of Grace: its tile's connection state and pictures decoded. */
  const appSide = () =>
    s.execute(() => {
      const r = window.lancall.call?.participants.find((p) => p.name === 'Grace');
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Grace'));
      return { state: tile?.dataset.connection ?? null, decoded: r?.tx.video?.receiver.sink?.decoded ?? 0, text: tile?.textContent ?? '' };
    });

  /** Grace's view of the app: its tile's connection state and pictures decoded. */
  const graceSide = (page) =>
    page.evaluate(async () => {
      const r = window.lancall.call?.participants.find((p) => p.name === 'Ada');
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Ada'));
      let decoded = 0;
      if (r) {
        (await r.pc.getStats()).forEach((x) => {
          if (x.type === 'inbound-rtp' && x.kind === 'video') decoded += x.framesDecoded ?? 0;
        });
      }
      return { state: tile?.dataset.connection ?? null, decoded };
    });

  const until = async (what, fn, timeout) => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await sleep(250);
    }
  };

  test('pictures flow again both ways after the path comes back, nobody rejoining', async (t) => {
    if (!ns) {
      t.skip('needs the namespace tests/app/run.sh makes');
      return;
    }
    if (await s.execute(() => typeof RTCPeerConnection === 'function')) {
      t.skip('this webview has WebRTC: the Rust-backed connection is not used');
      return;
    }
    browser = await launchChromium({ executablePath: ns.chromium });
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    // What the page went through, said if it never gets ready (once its Join button stayed
    // disabled for 30 s: the page's scripts had not started).
    const pageLog = [];
    page.on('pageerror', (err) => pageLog.push(`page error: ${err.message}`));
    page.on('console', (m) => pageLog.push(`console ${m.type()}: ${m.text()}`));
    page.on('requestfailed', (r) => pageLog.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => r.status() >= 400 && pageLog.push(`HTTP ${r.status()}: ${r.url()}`));
    await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.waitForSelector('[data-testid="join"]:enabled', { timeout: 30_000 }).catch(async (err) => {
      const pending = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => `${e.name.split('/').pop()} ${Math.round(e.duration)} ms`).join(', ')).catch(() => '?');
      throw new Error(`${err.message}\nthe page's scripts never made it ready; what it logged:\n${pageLog.join('\n') || '(nothing)'}\nwhat it loaded: ${pending}`);
    });
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });

    await joinByLink(s, 'Ada', host);
    await until('pictures both ways', async () => (await appSide()).decoded > 10 && (await graceSide(page)).decoded > 10, 30_000);
    const ids = { app: await s.execute(() => window.lancall.call.selfId), grace: await page.evaluate(() => window.lancall.call.selfId) };

    ns.cut();
    const cutAt = Date.now();
    try {
      // Both sides notice, and the app says so on Grace's tile.
      const down = await until('the app to show the path down', async () => {
        const a = await appSide();
        return ['disconnected', 'failed'].includes(a.state) ? a : null;
      }, 20_000);
      console.log(`# cut path: the app shows Grace's connection ${down.state} ${Date.now() - cutAt} ms after the cut`);
      assert.match(down.text, /Reconnecting/, 'the tile says it is reconnecting');
      await until('Grace to see the path down', async () => ['disconnected', 'failed'].includes((await graceSide(page)).state), 20_000);
    } finally {
      ns.restore();
    }
    const restoredAt = Date.now();
    const before = { app: (await appSide()).decoded, grace: (await graceSide(page)).decoded };
    await until('pictures again both ways', async () => {
      const [a, g] = [await appSide(), await graceSide(page)];
      return a.state === 'connected' && a.decoded > before.app + 10 && g.decoded > before.grace + 10;
    }, 45_000).catch(async (err) => {
      throw new Error(`${err.message}: app ${JSON.stringify(await appSide())}, Grace ${JSON.stringify(await graceSide(page))}`);
    });
    console.log(`# cut path: pictures both ways again ${Date.now() - restoredAt} ms after the path came back`);
    // Same peer ids on the hub: neither side had to rejoin.
    assert.equal(await s.execute(() => window.lancall.call.selfId), ids.app);
    assert.equal(await page.evaluate(() => window.lancall.call.selfId), ids.grace);
  });
});
