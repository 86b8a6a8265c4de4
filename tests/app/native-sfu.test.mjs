// The Linux app in a call through the host's SFU (lancall-host --topology sfu), although its
// webview (WebKitGTK) has no RTCPeerConnection: call.js's SFU connection (sfu-link.js) is the
// Rust-backed one (ui/js/rtc/rtc-bridge.js), which publishes the camera as one layer (webrtc-rs
// sends no simulcast) and decodes every forwarded track in the webview. Two Chromium pages are in
// the same room; each of the three sees (pictures decoded) and hears the two others.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startApp, homeReady, startHost, launchChromium, joinByLink, HOST_ADDR, sleep } from './lib/harness.js';

/**
 * In a page (the app's or Chromium's): what it receives of the person called `name`, as a person
 * notices it (a tile with a picture) and as the call's stats for that person say it (frames
 * decoded from their camera, bytes of their sound). Null while that person is not in the call.
 */
async function receivedFrom(name) {
  const call = window.lancall.call;
  const r = call?.participants.find((p) => p.name === name);
  if (!r) return null;
  const video = document.querySelector(`[data-testid=remote-video][data-peer="${r.id}"]`);
  const out = { w: video?.videoWidth ?? 0, h: video?.videoHeight ?? 0, frames: 0, audioBytes: 0, relay: !!r.relay, pc: !!r.pc };
  const stats = await call.getStats(r);
  const main = r.mainStream.getVideoTracks()[0]?.id;
  stats?.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video' && s.trackIdentifier === main) out.frames = s.framesDecoded ?? 0;
    if (s.kind === 'audio') out.audioBytes = s.bytesReceived ?? 0;
  });
  return out;
}

/** In a page: its SFU connection, as the call sees it. */
function sfuState() {
  const call = window.lancall.call;
  const link = call?.sfu;
  return {
    topology: call?.topology,
    sfu: link ? link.pc.connectionState : null,
    peerConnections: call?.participants.filter((r) => r.pc).length,
    received: link ? link.received().map((x) => ({ owner: x.owner, kind: x.track.kind, mid: x.mid })) : [],
    transceivers: link ? link.pc.getTransceivers().map((t) => ({ mid: t.mid, d: t.direction, c: t.currentDirection })) : [],
    signaling: link?.pc.signalingState,
    marks: link?.pc.marks,
  };
}

describe('the app in a call through the host (SFU) without WebRTC in its webview', runnable(), () => {
  let app;
  let host;
  let browser;
  let s;
  const pages = [];

  before(async () => {
    host = await startHost({ open: true, name: 'Kitchen', topology: 'sfu' });
    app = await startApp();
    s = app.session;
    await homeReady(s);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
    await host?.stop().catch(() => {});
  });

  test('the app and two browsers each see and hear both others', async (t) => {
    const hasRtc = await s.execute(() => typeof RTCPeerConnection === 'function');
    if (hasRtc) {
      t.skip('this webview has WebRTC: the Rust-backed connection is not used');
      return;
    }
    assert.equal(host.ready.topology, 'sfu');
    browser = await launchChromium();
    for (const name of ['Grace', 'Hedy']) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'warning' || m.type() === 'error') console.log(`# [${name}'s page] ${m.text()}`);
      });
      await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
      await page.fill('[data-testid="name"]', name);
      await page.click('[data-testid="join"]');
      await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
      pages.push({ name, page });
    }
    const clicked = await joinByLink(s, 'Ada', host);

    const everyone = ['Ada', ...pages.map((p) => p.name)];
    const inApp = (name) => s.run(receivedFrom, name);
    const inPage = (p, name) => p.page.evaluate(receivedFrom, name);
    const states = async () =>
      JSON.stringify({
        Ada: await s.execute(sfuState),
        ...Object.fromEntries(await Promise.all(pages.map(async (p) => [p.name, await p.page.evaluate(sfuState)]))),
      });

    /** Waits until `look(name)` says pictures from `name` are decoded and shown, and sound arrives. */
    const waitSeen = async (who, look, name) => {
      const end = Date.now() + 45_000;
      let last = null;
      for (;;) {
        last = await look(name).catch((err) => ({ error: String(err?.message ?? err) }));
        if (last?.frames > 0 && last.w > 0 && last.audioBytes > 0) return last;
        if (Date.now() > end) throw new Error(`${who} does not see and hear ${name}: ${JSON.stringify(last)}; connections ${await states()}`);
        await sleep(250);
      }
    };

    const first = {};
    for (const other of pages) first[`Ada<-${other.name}`] = await waitSeen('Ada (the app)', inApp, other.name);
    console.log(`# app in an SFU call: the app shows both browsers ${Date.now() - clicked} ms after Join`);
    for (const p of pages) {
      for (const name of everyone) {
        if (name !== p.name) first[`${p.name}<-${name}`] = await waitSeen(p.name, (n) => inPage(p, n), name);
      }
    }

    // The pictures keep coming, everyone's through the one connection to the host.
    await sleep(2000);
    for (const other of pages) {
      const now = await inApp(other.name);
      const before = first[`Ada<-${other.name}`];
      assert.ok(now.frames > before.frames, `the app keeps decoding ${other.name} (${before.frames} -> ${now.frames} frames)`);
      console.log(`# app in an SFU call: the app decodes ${other.name} at ${now.w}x${now.h}, ${((now.frames - before.frames) / 2).toFixed(1)} frames/s or more`);
    }
    for (const p of pages) {
      const now = await inPage(p, 'Ada');
      const before = first[`${p.name}<-Ada`];
      assert.ok(now.frames > before.frames, `${p.name} keeps decoding the app (${before.frames} -> ${now.frames} frames)`);
      console.log(`# app in an SFU call: ${p.name} decodes the app at ${now.w}x${now.h}`);
    }
    const app = await s.execute(sfuState);
    assert.equal(app.topology, 'sfu');
    assert.equal(app.sfu, 'connected', await states());
    assert.equal(app.peerConnections, 0, 'the app has no connection but the one to the host');
    for (const p of pages) {
      const st = await p.page.evaluate(sfuState);
      assert.deepEqual([st.topology, st.sfu, st.peerConnections], ['sfu', 'connected', 0], `${p.name}: ${JSON.stringify(st)}`);
    }
    // The app publishes one camera layer (webrtc-rs sends no simulcast): the browsers get it.
    const layers = await s.execute(() => window.lancall.call.sfu.tx.video.sender.getParameters().encodings.length);
    assert.equal(layers, 1);

    // Hedy leaves: her tracks go from the app's connection, Grace's stay.
    const hedy = pages.pop();
    await hedy.page.click('[data-testid="hangup"]');
    await s.waitFor(() => !window.lancall.call.participants.some((p) => p.name === 'Hedy'), { timeout: 15_000, what: 'Hedy gone from the app' });
    const after1 = await inApp('Grace');
    await sleep(1500);
    const after2 = await inApp('Grace');
    assert.ok(after2.frames > after1.frames, `Grace still decoded in the app after Hedy left (${after1.frames} -> ${after2.frames})`);
  });
});
