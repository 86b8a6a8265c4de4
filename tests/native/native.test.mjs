// A browser (headless Chromium with the real web UI) and a native peer (lancall-peer: webrtc-rs,
// VP8/Opus encoded in Rust) in one call: each decodes the other's video and hears the other's
// audio, chat goes both ways, mute and hang-up show on both sides.
//
// Run inside the namespace that tests/browser/run.sh makes:
//   tests/browser/run.sh test native/native.test.mjs
// lancall-peer comes from target/debug (built by `cargo build -p lancall-peer` or `cargo test`),
// or LANCALL_PEER_BIN.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {
  repoRoot, whyNotRunnable, startHost, launchBrowser, joinCall, waitFor, waitForVideo, waitForAudio, waitForMediaToStop,
  closeAll,
} from '../browser/lib/harness.js';

const PEER_BIN = process.env.LANCALL_PEER_BIN || path.join(repoRoot, 'target/debug/lancall-peer');

function runnable() {
  const why = whyNotRunnable() ?? (existsSync(PEER_BIN) ? null : `needs ${PEER_BIN} (cargo build -p lancall-peer)`);
  return why ? { skip: why } : {};
}

/** lancall-peer with --json: its events, and a way to send it commands. */
function startNative(joinUrl, name, extra = []) {
  const proc = spawn(PEER_BIN, ['--join', joinUrl, '--name', name, '--json', ...extra], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LANCALL_PEER_LOG: process.env.LANCALL_PEER_LOG ?? 'warn' },
  });
  const events = [];
  const stderr = [];
  proc.stderr.on('data', (d) => {
    stderr.push(d.toString());
    if (process.env.LANCALL_TEST_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  });
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      const ev = JSON.parse(line);
      ev.receivedAt = Date.now();
      events.push(ev);
      if (process.env.LANCALL_TEST_VERBOSE) console.error(`[${name}] ${line.slice(0, 300)}`);
    } catch {
      /* not an event */
    }
  });
  const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    events,
    exited,
    stderr,
    send(cmd) {
      proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    },
    /** Wait for an event matching `pred` (among all so far, or only those after `since`). */
    async event(what, pred, { timeout = 15_000, since = 0 } = {}) {
      return waitFor(() => events.find((e) => e.receivedAt >= since && pred(e)), {
        timeout,
        interval: 50,
        what: `${name}: ${what} (stderr: ${stderr.join('').slice(-500)})`,
      });
    },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

// Politeness follows the session ids (the lower one is polite): pin the bot's to run the call
// once with the native peer making the offer and laying out the connection, once answering.
const ROLES = [
  ['the native peer offers (impolite)', 'f'.repeat(32)],
  ['Chromium offers (the native peer is polite)', '0'.repeat(32)],
];

for (const [role, session] of ROLES) describe(`a browser and a native peer in one call: ${role}`, runnable(), () => {
  let host;
  let browser;
  let ada;
  let cy;
  let bot;
  let botId;

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada');
    bot = startNative(host.joinUrl, 'Bot', ['--session', session]);
    const joined = await bot.event('joined', (e) => e.event === 'joined');
    botId = joined.self_id;
  });

  after(async () => {
    await bot?.stop();
    await closeAll(ada?.context, cy?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('Chromium decodes the native peer\'s video and hears its tone', async () => {
    const atAda = await waitForVideo(ada.page, botId);
    assert.equal(atAda.videoWidth, 640);
    assert.equal(atAda.videoHeight, 480);
    await waitForAudio(ada.page, botId);
    const tile = ada.page.locator(`[data-testid=remote-tile][data-peer="${botId}"]`);
    assert.match(await tile.innerText(), /Bot/);
  });

  test('the native peer decodes Chromium\'s camera and hears its microphone', async () => {
    const first = await bot.event('first decoded frame', (e) => e.event === 'first-frame' && e.kind === 'video');
    assert.ok(first.width > 0 && first.height > 0, JSON.stringify(first));
    await bot.event('pictures that change', (e) => e.event === 'media' && e.video_decoded >= 5 && e.video_changing >= 3);
    // Chromium's fake microphone beeps: some second has sound in it.
    await bot.event('sound', (e) => e.event === 'media' && e.audio_rms > 0.01, { timeout: 20_000 });
    const connected = bot.events.find((e) => e.event === 'peer-connected');
    assert.equal(connected?.name, 'Ada');
    const added = bot.events.find((e) => e.event === 'remote-added' && e.name === 'Ada');
    assert.equal(added?.polite, session === '0'.repeat(32));
  });

  test('chat goes both ways over the data channel', async () => {
    await ada.page.getByTestId('open-chat').click();
    await ada.page.getByTestId('chat-input').fill('hello from Ada');
    await ada.page.getByTestId('chat-send').click();
    await bot.event('Ada\'s line', (e) => e.event === 'chat' && e.text === 'hello from Ada' && e.name === 'Ada');
    // The bot answers on its own, and says what it is told to.
    await ada.page.getByTestId('chat-log').getByText('got: hello from Ada (from Ada)').waitFor({ timeout: 5000 });
    bot.send({ cmd: 'chat', text: 'hello from Bot' });
    await ada.page.getByTestId('chat-log').getByText('hello from Bot').waitFor({ timeout: 5000 });
  });

  test('mute shows on both sides', async () => {
    const tileAtAda = ada.page.locator(`[data-testid=remote-tile][data-peer="${botId}"]`);
    // The bot turns its microphone and camera off: Ada sees the marks, and its media stops.
    bot.send({ cmd: 'mute', kind: 'audio', muted: true });
    bot.send({ cmd: 'mute', kind: 'video', muted: true });
    await tileAtAda.getByTestId('remote-audio-muted').waitFor({ state: 'visible', timeout: 5000 });
    await waitFor(async () => (await tileAtAda.getAttribute('class')).includes('video-off'), { what: 'camera-off tile' });
    // Its media stops (next to no sound: a muted sender may still send a little).
    await waitForMediaToStop(ada.page, botId, (a, b) => b.framesDecoded - a.framesDecoded <= 2 && b.audioBytes - a.audioBytes < 500);
    // And back on.
    bot.send({ cmd: 'mute', kind: 'audio', muted: false });
    bot.send({ cmd: 'mute', kind: 'video', muted: false });
    await tileAtAda.getByTestId('remote-audio-muted').waitFor({ state: 'hidden', timeout: 5000 });
    await waitForVideo(ada.page, botId);

    // Ada mutes: the bot is told.
    const since = Date.now();
    await ada.page.getByTestId('mute-audio').click();
    await ada.page.getByTestId('mute-video').click();
    await bot.event('Ada muted', (e) => e.event === 'remote-updated' && e.name === 'Ada' && e.muted.audio && e.muted.video, { since });
    await ada.page.getByTestId('mute-audio').click();
    await ada.page.getByTestId('mute-video').click();
    await bot.event('Ada unmuted', (e) => e.event === 'remote-updated' && !e.muted.audio && !e.muted.video, { since: Date.now() - 50 });
  });

  test('hang-up shows on both sides at once', async () => {
    // Ada hangs up: the bot drops her at once.
    let since = Date.now();
    await ada.page.getByTestId('hangup').click();
    const removed = await bot.event('Ada gone', (e) => e.event === 'remote-removed' && e.name === 'Ada', { since, timeout: 15_000 });
    // 'left': told at once (her goodbye on the data channel or the hub's peer-left), not found
    // out by a timeout. (How fast is benchmarked, not asserted here.)
    assert.equal(removed.reason, 'left');

    // Cy joins; the bot connects to her and she sees it.
    since = Date.now();
    cy = await joinCall(browser, host.joinUrl, 'Cy');
    await bot.event('Cy connected', (e) => e.event === 'peer-connected' && e.name === 'Cy', { since });
    await waitForVideo(cy.page, botId);

    // The bot hangs up: Cy's tile goes at once, and the bot exits cleanly.
    since = Date.now();
    bot.send({ cmd: 'hangup' });
    // Well before the 30 s a connection is kept for a peer that may come back: it said goodbye.
    await cy.page.locator(`[data-testid=remote-video][data-peer="${botId}"]`).waitFor({ state: 'detached', timeout: 15_000 });
    console.log(`# Cy saw the bot leave after ${Date.now() - since} ms`);
    assert.equal(await bot.exited, 0);
    assert.equal(await cy.page.getByTestId('participant-count').innerText(), '1');
  });
});
