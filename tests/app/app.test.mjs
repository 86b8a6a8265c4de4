// The lancall app end to end: home screen, hosting from the UI, a browser joining by the link,
// discovery of a lancall-host and joining it through the pinned path, a wrong fingerprint
// refused, the call controls, no share button where no screen can be captured, recordings saved
// to the Downloads folder, and settings that survive a restart.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runnable, startApp, homeReady, startHost, launchChromium, joinLink, APP_ADDR, HOST_ADDR, sleep, shot } from './lib/harness.js';
import { measure, problems } from '../browser/lib/layout-check.js';


describe('the lancall app', runnable(), () => {
  let app;
  let host;
  let browser;
  let s;

  before(async () => {
    // lancall-host first: it is on the network before the app looks.
    host = await startHost({ open: true, name: 'Kitchen' });
    // "Search this network" probes the port Kitchen listens on (any free one, here).
    app = await startApp({ env: { LANCALL_SCAN_PORT: String(host.port) } });
    s = app.session;
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
    await host?.stop().catch(() => {});
  });

  test('starts and shows its home screen', async () => {
    await homeReady(s);
    assert.equal(await s.execute(() => document.documentElement.dataset.homeReady), 'true');
    assert.equal(await s.execute(() => !document.querySelector('[data-testid="home"]').hidden), true);
    assert.match(await s.text('[data-testid="host-call"]'), /Host a call/);
    // The version people see is the one the packages carry: the workspace's, in Cargo.toml.
    const version = readFileSync(new URL('../../Cargo.toml', import.meta.url), 'utf8').match(/\[workspace\.package\][^[]*?\nversion = "([^"]+)"/)[1];
    assert.equal(await s.text('[data-testid="app-version"]'), `lancall ${version}`);
    // This webview (Debian's WebKitGTK) has no RTCPeerConnection, but it has WebCodecs: the
    // app's Rust side runs the connections, so there is no "cannot take part" note and the
    // host can join its own call.
    const note = await s.execute(() => document.querySelector('[data-testid="webview-note"]').hidden ? '' : document.querySelector('[data-testid="webview-note"]').textContent);
    assert.equal(note, '');
    assert.equal(await s.execute(() => document.querySelector('[data-testid="join-own-call"]').disabled), false);
    await shot(s, '1-home');
  });

  test('the local preview plays (mock camera)', async () => {
    const state = await s.waitFor(() => {
      const v = document.querySelector('[data-testid="preview"]');
      return v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused ? { w: v.videoWidth, h: v.videoHeight } : null;
    }, { timeout: 20_000, what: 'the preview to play' });
    assert.ok(state.w > 0 && state.h > 0);
  });

  test('hosts a call from the UI and shows the join link', async () => {
    await s.type('[data-testid="name"]', 'Ada');
    await s.click('[data-testid="host-call"]');
    const link = await s.waitFor(() => {
      const el = document.querySelector('[data-testid="join-link"]');
      return el && el.textContent.startsWith('https://') ? el.textContent : null;
    }, { what: 'the join link' });
    assert.match(link, new RegExp(`^https://${APP_ADDR.replaceAll('.', '\\.')}:\\d+/#room=call&token=[0-9a-f]{32}&fp=[0-9a-f]{64}$`));
    const qr = await s.execute(() => document.querySelectorAll('[data-testid="join-qr"] svg path').length);
    assert.equal(qr, 1, 'the QR code is drawn');
    app.joinLink = link;
    // Hosting puts the host in its own call at once, under its name, alone with the invitation.
    await s.waitFor(() => !document.querySelector('[data-testid="hangup"]')?.closest('[hidden]'), { what: 'the app in its own call' });
    assert.equal(await s.execute(() => window.lancall.name), 'Ada');
    const invite = await s.waitFor(() => {
      const card = document.querySelector('[data-testid="invite-card"]');
      return card && !card.hidden && card.querySelector('[data-testid="invite-qr"] svg path') ? card.querySelector('[data-testid="invite-link"]').textContent : null;
    }, { what: 'the invitation with its QR code' });
    assert.equal(invite, link, 'the invitation carries the host\'s full link');
    await shot(s, '2-hosting-alone-with-invite');
  });

  test('a browser joins by the link and appears in the participant list', async () => {
    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    app.guest = page;
    await page.goto(app.joinLink);
    // The words on the app's hosting screen are those of the CA its trust page offers a phone.
    const words = await s.execute(() => document.querySelector('[data-testid="hosting-words"]').textContent);
    assert.match(words, /^[a-z]+ [a-z]+ [a-z]+ [a-z]+$/);
    const health = await page.evaluate(() => fetch('/healthz').then((r) => r.json()));
    assert.equal(health.ca_words, words);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    const names = await s.waitFor(() => {
      const items = [...document.querySelectorAll('[data-testid="participants"] [data-testid="participant"]')];
      return items.some((li) => li.textContent === 'Grace') ? items.map((li) => li.textContent) : null;
    }, { what: 'Grace in the participant list' });
    // The host is in its own call (since Host a call), then Grace.
    assert.deepEqual(names, ['Ada', 'Grace']);
    assert.equal(await s.execute(() => document.querySelector('[data-testid="participant-total"]').textContent), '2');
    await shot(s, '3-guest-joined');
  });

  test('the call\'s layout holds in WebKitGTK: a call of two, three people, a shared screen', async () => {
    // Every tile's picture has its size, and the layout has been redone with it. A third person
    // moves the room (auto) to the SFU: each picture's stream is replaced once its frames come
    // that way, and the new one has no size until its first frame is drawn, so nobody may still
    // be switching.
    const settled = async (what) => {
      await s.waitFor(
        () =>
          !(window.lancall?.call?.participants ?? []).some((r) => r.switching) &&
          [...document.querySelectorAll('#grid .tile')].every((t) => t.classList.contains('video-off') || t.classList.contains('presenting-tile') || t.querySelector('video').videoWidth > 0),
        { timeout: 30_000, what: `${what}: nobody switching, every picture sized` },
      );
      await s.run(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      return s.execute(measure);
    };
    // A picture's size can change at any time (the sender steps up to full size 2 s after its
    // connection is up; a camera may switch): WebKit updates videoWidth before the `resize` event
    // that redoes the layout reaches the page. A reading taken in between is not what anyone sees
    // for more than a frame, so the rules must hold on a reading that lasts: read again until
    // they do, and fail with the last reading if they never do.
    const check = async (what, want, shotName) => {
      const end = Date.now() + 10_000;
      let m = await settled(what);
      while (problems(m, want).length && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        m = await settled(what);
      }
      await shot(s, shotName);
      assert.deepEqual(problems(m, want), [], `${what} at ${m.viewport.width}x${m.viewport.height}: ${JSON.stringify(m.tiles.map((t) => [t.name, t.box, `${t.videoWidth}x${t.videoHeight}`]))}`);
    };
    await s.waitFor(() => document.querySelectorAll('#grid [data-testid="remote-tile"]').length === 1, { what: "Grace's tile in the app" });
    await check('a call of two', { people: 2, screen: false }, '3a-layout-two');
    // A third person (Chromium), then Grace shares her screen.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const cy = await context.newPage();
    await cy.goto(app.joinLink);
    await cy.fill('[data-testid="name"]', 'Cy');
    await cy.click('[data-testid="join"]');
    await cy.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    await s.waitFor(() => document.querySelectorAll('#grid [data-testid="remote-tile"]').length === 2, { timeout: 20_000, what: "Cy's tile in the app" });
    await check('three people', { people: 3, screen: false }, '3b-layout-three');
    await app.guest.click('[data-testid="share-screen"]');
    await s.waitFor(() => document.querySelector('#grid [data-testid="remote-screen-tile"]'), { timeout: 20_000, what: "Grace's screen in the app" });
    await check('a shared screen', { people: 3, screen: true }, '3c-layout-screen');
    await app.guest.click('[data-testid="share-screen"]');
    await context.close();
    await s.waitFor(() => !document.querySelector('#grid [data-testid="remote-screen-tile"]') && document.querySelectorAll('#grid [data-testid="remote-tile"]').length === 1, { timeout: 20_000, what: 'back to a call of two' });
  });

  test('someone without the link knocks: the host lets them in, or refuses, from the app', async () => {
    const base = app.joinLink.split('#')[0];
    const knockFrom = async (name) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      // The address and room (as found by mDNS or typed), but no token.
      await page.goto(`${base}#room=call`);
      await page.fill('[data-testid="name"]', name);
      await page.click('[data-testid="join"]');
      await page.getByTestId('knock').click({ timeout: 15_000 });
      const id = await s.waitFor((who) => {
        const li = [...document.querySelectorAll('[data-testid="knocks"] [data-testid="knock"]')].find((k) => k.textContent.includes(who));
        return li ? li.dataset.knockId : null;
      }, { what: `${name}'s knock in the app` }, name);
      return { context, page, id };
    };

    // The host is in its call: the prompt over the call answers (the home screen is hidden).
    const welcome = await knockFrom('Knocker');
    await s.click(`[data-testid="call-knocks"] [data-knock-id="${welcome.id}"] [data-testid="admit-knock"]`);
    await welcome.page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    await s.waitFor(() => [...document.querySelectorAll('[data-testid="participants"] [data-testid="participant"]')].some((li) => li.textContent === 'Knocker'), { what: 'Knocker in the participant list' });

    const unwelcome = await knockFrom('Stranger');
    await s.click(`[data-testid="call-knocks"] [data-knock-id="${unwelcome.id}"] [data-testid="refuse-knock"]`);
    await unwelcome.page.getByText('The host did not let you in.', { exact: true }).waitFor({ timeout: 15_000 });
    await s.waitFor(() => !document.querySelector('[data-testid="knocks"] [data-testid="knock"]'), { what: 'no knock left waiting' });
    await welcome.context.close();
    await unwelcome.context.close();
  });

  test('a knock while the host is in its own call shows over the call, and Let in admits the guest', async () => {
    await s.waitFor(() => !document.querySelector('[data-testid="hangup"]')?.closest('[hidden]'), { what: 'the app in its own call' });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${app.joinLink.split('#')[0]}#room=call`);
    await page.fill('[data-testid="name"]', 'Latecomer');
    await page.click('[data-testid="join"]');
    await page.getByTestId('knock').click({ timeout: 15_000 });
    // The home screen (and its list of knocks) is hidden during the call: the prompt is over it.
    const id = await s.waitFor(() => {
      const li = [...document.querySelectorAll('[data-testid="call-knocks"] [data-testid="knock"]')].find((k) => k.textContent.includes('Latecomer'));
      return li && !li.closest('[hidden]') && li.getBoundingClientRect().width > 0 ? li.dataset.knockId : null;
    }, { what: "Latecomer's knock over the call" });
    await shot(s, '3b-knock-in-call');
    await s.click(`[data-testid="call-knocks"] [data-knock-id="${id}"] [data-testid="admit-knock"]`);
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    await s.waitFor(() => document.querySelector('[data-testid="call-knocks"]').hidden, { what: 'the prompt to go once answered' });
    await context.close();
    // Leave: the app says it still hosts, and Back to home leads home (and to the pre-join card
    // for the tests that follow).
    await s.click('[data-testid="hangup"]');
    const ended = await s.waitFor(() => {
      const card = document.querySelector('#ended');
      return card && !card.hidden && !document.querySelector('[data-testid="back-home"]').hidden ? card.textContent : null;
    }, { what: 'the ended screen with Back to home' });
    assert.match(ended, /still hosting/);
    await s.click('[data-testid="back-home"]');
    await s.waitFor(() => !document.querySelector('[data-testid="home"]').hidden && !document.querySelector('[data-testid="prejoin-mute-audio"]')?.closest('[hidden]'), { what: 'home and the pre-join card again' });
    assert.equal(await s.execute(() => !document.querySelector('[data-testid="hosting"]').hidden), true, 'still hosting');
  });

  test('mute and camera choice work in the app', async () => {
    await s.click('[data-testid="prejoin-mute-audio"]');
    await s.waitFor(() => {
      const b = document.querySelector('[data-testid="prejoin-mute-audio"]');
      return b.getAttribute('aria-pressed') === 'true' && window.lancall.tracks.audio && window.lancall.tracks.audio.enabled === false;
    }, { what: 'the microphone to be muted' });
    await s.click('[data-testid="prejoin-mute-audio"]');
    await s.waitFor(() => window.lancall.tracks.audio?.enabled === true, { what: 'the microphone to be on again' });

    const cameras = await s.execute(() => [...document.querySelectorAll('[data-testid="camera-select"] option')].map((o) => ({ value: o.value, label: o.textContent })));
    assert.ok(cameras.length >= 1, 'the camera list is filled');
    const current = await s.execute(() => window.lancall.tracks.video?.getSettings().deviceId ?? '');
    const other = cameras.find((c) => c.value && c.value !== current) ?? cameras[0];
    await s.execute((value) => {
      const sel = document.querySelector('[data-testid="camera-select"]');
      sel.value = value;
      sel.dispatchEvent(new Event('change', { bubbles: true }));
    }, other.value);
    await s.waitFor((value) => window.lancall.tracks.video?.getSettings().deviceId === value && window.lancall.tracks.video.readyState === 'live', { what: `camera ${other.label}` }, other.value);
    // The choice is saved in the app's settings.
    const settings = await s.run(async () => (await window.__TAURI__.core.invoke('app_info')).settings);
    assert.equal(settings.camera_id, other.value);
  });

  test('ending the call tells the guest and returns to the home screen', async () => {
    await s.click('[data-testid="stop-hosting"]');
    await s.waitFor(() => document.querySelector('[data-testid="hosting"]').hidden && !document.querySelector('[data-testid="host-call"]').hidden, { what: 'hosting to end' });
    // The guest is told (the hub's `closing`: "The host ended the call."), then keeps trying to
    // reconnect; whichever banner is up when we look says the call is gone.
    await app.guest.waitForFunction(
      () => /ended the call|Lost the connection to the host/.test(document.querySelector('[data-testid="banner"]')?.textContent ?? ''),
      null,
      { timeout: 10_000 },
    );
    assert.equal(await s.execute(() => document.querySelectorAll('[data-testid="participant"]').length), 0);
  });

  test('a typed link joins another host through the pinned path (IPC, no TLS in the webview)', async () => {
    const link = joinLink(host);
    await s.type('[data-testid="join-address"]', link);
    await s.click('[data-testid="join-address-go"]');
    await s.waitFor((want) => document.getElementById('host').value === want, { what: 'the pre-join card to point at the host' }, `${HOST_ADDR}:${host.port}`);
    assert.equal(await s.execute(() => document.querySelector('[data-testid="home-problem"]').hidden), true);
    const welcome = await s.run(async (target) => {
      const { IpcTransport } = await import('./js/lib/transport-ipc.js');
      const t = new IpcTransport(target);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no welcome within 8 s')), 8000);
        t.addEventListener('open', () => t.send({ type: 'join', room: 'call', name: 'App tester' }));
        t.addEventListener('message', (ev) => {
          if (ev.detail.type === 'welcome') {
            clearTimeout(timer);
            t.send({ type: 'leave' });
            setTimeout(() => t.close(), 200);
            resolve({ name: ev.detail.self.name, room: ev.detail.room });
          } else if (ev.detail.type === 'error') reject(new Error(ev.detail.code));
        });
        t.addEventListener('close', (ev) => reject(new Error(`closed: ${ev.detail.reason}`)));
      });
    }, `${HOST_ADDR}:${host.port}`);
    assert.deepEqual(welcome, { name: 'App tester', room: 'call' });
    for (let i = 0; i < 50 && !host.events.some((e) => JSON.stringify(e).includes('App tester')); i += 1) await sleep(100);
    assert.ok(host.events.some((e) => e.event === 'peer-joined' && JSON.stringify(e).includes('App tester')), 'lancall-host saw the app join');
  });

  test('a wrong fingerprint is refused with the identity-changed message', async () => {
    const wrong = 'ab'.repeat(32);
    await s.type('[data-testid="join-address"]', `https://${HOST_ADDR}:${host.port}/#room=call&fp=${wrong}`);
    await s.click('[data-testid="join-address-go"]');
    const problem = await s.waitFor(() => {
      const box = document.querySelector('[data-testid="home-problem"]');
      return box.hidden ? null : { code: box.dataset.code, text: box.textContent };
    }, { what: 'the problem box' });
    assert.equal(problem.code, 'identity-changed');
    assert.match(problem.text, /identity changed/);
    // And the signaling path refuses it too: no pin, no session.
    const closed = await s.run(async (target) => {
      const { IpcTransport } = await import('./js/lib/transport-ipc.js');
      const t = new IpcTransport(target);
      return new Promise((resolve) => t.addEventListener('close', (ev) => resolve({ open: ev.detail.wasOpen, error: t.error })));
    }, `${HOST_ADDR}:1`);
    assert.deepEqual(closed, { open: false, error: 'no-fingerprint' });
    await shot(s, '4-identity-changed');
  });

  test('a lancall-host on the network is listed and choosing it pins its fingerprint', async () => {
    const entry = await s.waitFor((fp) => {
      const li = document.querySelector(`[data-testid="hosts"] [data-testid="host-entry"][data-fingerprint="${fp}"]`);
      return li ? { addresses: li.dataset.addresses.split(' '), text: li.textContent } : null;
    }, { timeout: 15_000, what: 'lancall-host in the list of hosts' }, host.fingerprint);
    // The host may announce every LAN address while it listens on one: the app tries them in turn.
    const listening = `${HOST_ADDR}:${host.port}`;
    assert.ok(entry.addresses.includes(listening), `${listening} is among ${entry.addresses}`);
    assert.match(entry.text, /Kitchen/);
    // The four words the list shows are those the host prints for its CA (what it pins).
    assert.match(host.ready.ca_words, /^[a-z]+ [a-z]+ [a-z]+ [a-z]+$/);
    assert.ok(entry.text.includes(host.ready.ca_words), `${entry.text} shows ${host.ready.ca_words}`);
    await s.execute(() => {
      document.getElementById('host').value = '';
    });
    await s.click(`[data-testid="host-entry"][data-fingerprint="${host.fingerprint}"] button`);
    await s.waitFor((want) => document.getElementById('host').value === want, { what: 'the chosen host in the pre-join card' }, listening);
    assert.equal(await s.execute(() => document.querySelector('[data-testid="home-problem"]').hidden), true);
    // The card names the host as the list does, not by its address.
    assert.match(await s.execute(() => document.getElementById('where-text').textContent), /Room call on Kitchen/);
    assert.equal(await s.execute(() => document.querySelector('[data-testid="host-words"]').textContent), host.ready.ca_words);
    await shot(s, '5-discovered');
  });

  test('"Search this network" asks the subnet and finds the same host, with the same fingerprint', async () => {
    await s.click('[data-testid="scan-network"]');
    const status = await s.waitFor(() => {
      const t = document.querySelector('[data-testid="scan-status"]').textContent;
      return /^Found|no call|Asked|already|off/.test(t) && !/Searching/.test(t) ? t : null;
    }, { timeout: 30_000, what: 'the search to end' });
    assert.match(status, /^Found a call by asking \d+ addresses\.$/);
    const entry = await s.waitFor((fp) => {
      const li = document.querySelector(`[data-testid="host-entry"][data-fingerprint="${fp}"]`);
      return li?.dataset.foundBy === 'mdns-and-scan' ? li.textContent : null;
    }, { what: 'Kitchen found by mDNS and by the search' }, host.fingerprint);
    assert.match(entry, /Kitchen/);
    assert.equal(await s.execute(() => document.querySelectorAll('[data-testid="host-entry"]').length), 1, 'one entry, not two');
    await shot(s, '6-searched');
  });
});

describe('app settings', runnable(), () => {
  test('with no camera and no screen-sharing portal it says so and offers no share button', async () => {
    // Real capture devices (none here) and no session bus, so no desktop portal.
    const bare = await startApp({ env: { LANCALL_NO_MDNS: '1', LANCALL_TEST_MOCK_CAPTURE: '0' } });
    try {
      await homeReady(bare.session);
      assert.equal(await bare.session.execute(() => !!document.querySelector('[data-testid="share-screen"]')), false, 'no share button that can only fail');
      await bare.session.waitFor(() => document.querySelector('[data-testid="camera-select"]')?.textContent.includes('No camera found'), { what: 'the camera menu to say there is none' });
    } finally {
      await bare.stop();
    }
    // (With WebKit's mock screen the button is there: native-call.test.mjs shares through it.)
  });

  test('a recording is saved to the Downloads folder; an empty one or a bad name is refused with a reason', async () => {
    const { readFileSync, existsSync, readdirSync } = await import('node:fs');
    const app = await startApp({ env: { LANCALL_NO_MDNS: '1' } });
    try {
      await homeReady(app.session);
      // What recorder.js hands over when a recording stops: the file's bytes and its name.
      const bytes = [0, 0, 0, 24, 102, 116, 121, 112, 105, 115, 111, 109, 0, 0, 2, 0, 105, 115, 111, 109, 109, 112, 52, 49];
      const save = (name, body) =>
        app.session.run(async (n, b) => {
          try {
            return { path: await window.__TAURI__.core.invoke('save_recording', new Uint8Array(b), { headers: { 'lancall-filename': n } }) };
          } catch (err) {
            return { error: err?.message ?? String(err) };
          }
        }, name, body);
      const first = await save('lancall_2026-11-22_12-00-00_Grace.mp4', bytes);
      assert.equal(first.path, `${app.home}/Downloads/lancall_2026-11-22_12-00-00_Grace.mp4`, JSON.stringify(first));
      assert.deepEqual([...readFileSync(first.path)], bytes, 'the bytes on disk are the recording');
      const again = await save('lancall_2026-11-22_12-00-00_Grace.mp4', bytes);
      assert.equal(again.path, `${app.home}/Downloads/lancall_2026-11-22_12-00-00_Grace (2).mp4`, 'a second file does not overwrite the first');
      assert.match((await save('lancall_x.mp4', [])).error, /empty/);
      assert.match((await save('../../.bashrc', bytes)).error, /not a recording's file name/);
      assert.deepEqual(readdirSync(`${app.home}/Downloads`).sort(), ['lancall_2026-11-22_12-00-00_Grace (2).mp4', 'lancall_2026-11-22_12-00-00_Grace.mp4']);
      assert.equal(existsSync(`${app.home}/.bashrc`), false);
    } finally {
      await app.stop();
    }
  });

  test('survive a restart', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/lancall-app-restart-`);
    try {
      let app = await startApp({ dataDir: dir, env: { LANCALL_NO_MDNS: '1' } });
      await homeReady(app.session);
      await app.session.type('[data-testid="name"]', 'Ada Lovelace');
      await app.session.execute(() => document.querySelector('[data-testid="name"]').dispatchEvent(new Event('change', { bubbles: true })));
      const first = await app.session.waitFor(async () => {
        const info = await window.__TAURI__.core.invoke('app_info');
        return info.settings.display_name === 'Ada Lovelace' ? info.settings : null;
      }, { what: 'the name to be saved' });
      await app.stop({ keepData: true });
      app = await startApp({ dataDir: dir, env: { LANCALL_NO_MDNS: '1' } });
      try {
        await homeReady(app.session);
        assert.equal(await app.session.execute(() => document.querySelector('[data-testid="name"]').value), 'Ada Lovelace');
        const again = await app.session.run(async () => (await window.__TAURI__.core.invoke('app_info')).settings);
        assert.equal(again.host_id, first.host_id, 'the host id is stable');
        // mDNS off: the app says so instead of searching forever.
        assert.match(await app.session.text('[data-testid="finder-status"]'), /switched off/);
      } finally {
        await app.stop({ keepData: true });
      }
    } finally {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      } catch {
        /* WebKit may still be writing its cache: leave the temporary folder */
      }
    }
  });
});

describe('hosts joined before', runnable(), () => {
  test('a host joined is marked; another device with its name and another CA is flagged and needs a yes; a host can be forgotten', async () => {
    const kitchen = await startHost({ open: true, name: 'Kitchen' });
    const app = await startApp();
    let rogue;
    try {
      const s = app.session;
      await homeReady(s);
      const entryOf = (fp) => s.execute((f) => {
        const li = document.querySelector(`[data-testid="host-entry"][data-fingerprint="${f}"]`);
        return li ? { trust: li.dataset.trust, text: li.textContent } : null;
      }, fp);
      await s.waitFor((fp) => !!document.querySelector(`[data-testid="host-entry"][data-fingerprint="${fp}"]`), { timeout: 15_000, what: 'Kitchen listed' }, kitchen.fingerprint);
      assert.equal((await entryOf(kitchen.fingerprint)).trust, 'new');

      // Joined once, through the list: from then on it is known.
      await s.type('[data-testid="name"]', 'Ada');
      await s.click(`[data-testid="host-entry"][data-fingerprint="${kitchen.fingerprint}"] button`);
      await s.waitFor((want) => document.getElementById('host').value === want, { what: 'the pre-join card on Kitchen' }, `${HOST_ADDR}:${kitchen.port}`);
      await s.click('[data-testid="join"]');
      await s.waitFor(() => !document.querySelector('[data-testid="hangup"]')?.closest('[hidden]'), { timeout: 20_000, what: 'the app in Kitchen\'s call' });
      await s.waitFor((fp) => document.querySelector(`[data-testid="host-entry"][data-fingerprint="${fp}"]`)?.dataset.trust === 'known', { what: 'Kitchen marked as joined before' }, kitchen.fingerprint);
      await s.click('[data-testid="hangup"]');
      assert.match((await entryOf(kitchen.fingerprint)).text, /Joined before/);

      // Another device calls itself Kitchen with its own CA: flagged, and not joined without a yes.
      rogue = await startHost({ open: true, name: 'Kitchen' });
      assert.notEqual(rogue.fingerprint, kitchen.fingerprint);
      await s.waitFor((fp) => document.querySelector(`[data-testid="host-entry"][data-fingerprint="${fp}"]`)?.dataset.trust === 'not-the-same', { timeout: 15_000, what: 'the other Kitchen flagged' }, rogue.fingerprint);
      assert.match((await entryOf(rogue.fingerprint)).text, /Not the Kitchen you joined before/);
      assert.equal((await entryOf(kitchen.fingerprint)).trust, 'known', 'the real one is still marked known');
      // (No screenshot here: a WebDriver screenshot soon after leaving a call hangs in WebKitGTK,
      // as it did before: known limit, cause not found.)
      await s.execute(() => document.querySelector('[data-testid="back-home"]')?.click());
      await s.click(`[data-testid="host-entry"][data-fingerprint="${rogue.fingerprint}"] button`);
      const problem = await s.waitFor(() => {
        const box = document.querySelector('[data-testid="home-problem"]');
        return box && !box.hidden ? { code: box.dataset.code, anyway: !!box.querySelector('[data-testid="join-anyway"]') } : null;
      }, { what: 'the warning' });
      assert.deepEqual(problem, { code: 'not-the-same-host', anyway: true });
      assert.notEqual(await s.execute(() => document.getElementById('host').value), `${HOST_ADDR}:${rogue.port}`, 'not pointed at it without a yes');
      await s.click('[data-testid="join-anyway"]');
      await s.waitFor((want) => document.getElementById('host').value === want, { what: 'pointed at it after the yes' }, `${HOST_ADDR}:${rogue.port}`);

      // Forgotten, Kitchen is new again (and the other Kitchen no longer contradicts anything).
      await s.click(`[data-testid="host-entry"][data-fingerprint="${kitchen.fingerprint}"] [data-testid="forget-host"]`);
      await s.waitFor((fp) => document.querySelector(`[data-testid="host-entry"][data-fingerprint="${fp}"]`)?.dataset.trust === 'new', { what: 'Kitchen forgotten' }, kitchen.fingerprint);
      assert.equal((await entryOf(rogue.fingerprint)).trust, 'new');
    } finally {
      await app.stop().catch(() => {});
      await rogue?.stop().catch(() => {});
      await kitchen.stop().catch(() => {});
    }
  });
});
