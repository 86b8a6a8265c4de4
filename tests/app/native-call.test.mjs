// The Linux app in a call although its webview (WebKitGTK) has no RTCPeerConnection: the peer
// connection runs in the app's Rust side (src-tauri/src/native_call.rs) and what arrives is
// decoded in the webview (ui/js/native-call.js, native-media.js). A Chromium with a fake camera
// is in the same call; the app's tile for it must show moving pictures.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startApp, homeReady, startHost, launchChromium, HOST_ADDR, sleep } from './lib/harness.js';

describe('the app in a call without WebRTC in its webview', runnable(), () => {
  let app;
  let host;
  let browser;
  let s;

  before(async () => {
    host = await startHost({ open: true, name: 'Kitchen' });
    app = await startApp();
    s = app.session;
    await homeReady(s);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
    await host?.stop().catch(() => {});
  });

  test('the app and a browser see each other and the browser hears the app', async (t) => {
    const hasRtc = await s.execute(() => typeof RTCPeerConnection === 'function');
    if (hasRtc) {
      t.skip('this webview has WebRTC: the native call is not used');
      return;
    }
    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });

    await s.type('[data-testid="name"]', 'Ada');
    await s.type('[data-testid="join-address"]', `https://${HOST_ADDR}:${host.port}/#room=call&fp=${host.fingerprint}`);
    await s.click('[data-testid="join-address-go"]');
    await s.waitFor((want) => document.getElementById('host').value === want, { what: 'the pre-join card to point at the host' }, `${HOST_ADDR}:${host.port}`);
    const clicked = Date.now();
    await s.click('[data-testid="join"]');

    // What a person sees: Grace's tile, with her (fake) camera moving.
    const first = await s.waitFor(() => {
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Grace'));
      const v = tile?.querySelector('video');
      return v && v.videoWidth > 0 && v.readyState >= 2 ? { w: v.videoWidth, h: v.videoHeight, t: v.currentTime } : null;
    }, { timeout: 30_000, what: "Grace's video in the app" });
    const firstFrameMs = Date.now() - clicked;
    assert.ok(first.w > 0 && first.h > 0);
    const senderEarly = await s.execute(() => {
      const v = window.lancall.call.senders?.video;
      return v ? { sent: v.sent, busyMs: Math.round(v.busyMs), drawMs: Math.round(v.drawMs), sendMs: Math.round(v.sendMs) } : null;
    });
    console.log(`# native call: the app's camera sender at first frame ${JSON.stringify(senderEarly)}`);
    const decodedBefore = await s.execute(() => window.lancall?.call?.participants?.[0]?.video?.decoded ?? -1);
    await sleep(2000);
    const later = await s.execute(() => {
      const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Grace'));
      const v = tile.querySelector('video');
      return { t: v.currentTime, paused: v.paused, decoded: window.lancall?.call?.participants?.[0]?.video?.decoded ?? -1 };
    });
    assert.ok(later.t > first.t, `the video plays (currentTime ${first.t} -> ${later.t})`);
    assert.equal(later.paused, false);
    if (decodedBefore >= 0) {
      const fps = (later.decoded - decodedBefore) / 2;
      console.log(`# native call: first remote frame ${firstFrameMs} ms after Join; ${fps.toFixed(1)} fps decoded`);
      assert.ok(fps >= 10, `frames keep coming (${fps} fps)`);
    } else {
      console.log(`# native call: first remote frame ${firstFrameMs} ms after Join`);
    }

    // Grace sees and hears the app: its (mock) camera decoded in Chromium, its microphone heard.
    const inbound = () =>
      page.evaluate(async () => {
        const r = window.lancall.call.participants.find((p) => p.name === 'Ada');
        if (!r) return null;
        const out = { video: null, audio: null };
        (await r.pc.getStats()).forEach((st) => {
          if (st.type === 'inbound-rtp' && st.kind === 'video') out.video = { frames: st.framesDecoded ?? 0, w: st.frameWidth ?? 0, h: st.frameHeight ?? 0 };
          if (st.type === 'inbound-rtp' && st.kind === 'audio') out.audio = { samples: st.totalSamplesReceived ?? 0, energy: st.totalAudioEnergy ?? 0 };
        });
        const tile = [...document.querySelectorAll('[data-testid="remote-tile"]')].find((el) => el.textContent.includes('Ada'));
        const v = tile?.querySelector('video');
        out.tile = v ? { w: v.videoWidth, t: v.currentTime, muted: tile.dataset.videoMuted } : null;
        return out;
      });
    let a1 = null;
    for (let i = 0; i < 100; i += 1) {
      a1 = await inbound();
      if (a1?.video?.frames > 0 && a1.tile?.w > 0) break;
      await sleep(200);
    }
    assert.ok(a1?.video?.frames > 0 && a1.tile?.w > 0, `Chromium decodes the app's camera: ${JSON.stringify(a1)}`);
    assert.equal(a1.tile.muted, 'false');
    await sleep(2000);
    const a2 = await inbound();
    const sender = await s.execute(() => {
      const v = window.lancall.call.senders?.video;
      return v ? { sent: v.sent, busyMs: Math.round(v.busyMs), drawMs: Math.round(v.drawMs), sendMs: Math.round(v.sendMs), size: v.size, frames: v.useFrames } : null;
    });
    console.log(`# native call: the app's camera sender ${JSON.stringify(sender)}`);
    const sentFps = (a2.video.frames - a1.video.frames) / 2;
    console.log(`# native call: Chromium decodes the app's camera at ${a2.video.w}x${a2.video.h}, ${sentFps.toFixed(1)} fps; audio energy ${a2.audio?.energy}`);
    assert.ok(a2.video.frames > a1.video.frames, 'the app keeps sending pictures');
    assert.ok(a2.tile.t > a1.tile.t, "the app's tile plays in Chromium");
    assert.ok(a2.audio && a2.audio.samples > a1.audio.samples, `Chromium receives the app's sound: ${JSON.stringify(a2.audio)}`);
    assert.ok(a2.audio.energy > 0, 'and it is not silence');

    // Hang-up: Grace sees the app leave.
    await s.click('[data-testid="hangup"]');
    await page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="remote-tile"]')].some((el) => el.textContent.includes('Ada')), null, { timeout: 5000 });
  });
});
