// Files between a browser and the Linux app. Received: the app's Rust-backed data channel writes
// the bytes straight into the file (src-tauri/src/commands/files.rs), hashing them as it goes; the
// page checks the SHA-256, and the file lands in the Downloads folder under a safe name that takes
// no existing file's place. Sent: the app's page hands its bytes to Rust in batched IPC calls
// (rtc-bridge.js), and the browser gets the same bytes. The test reads the files written.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runnable, startApp, homeReady, startHost, launchChromium, joinByLink, sampleAppMemory, APP_BIN, HOST_ADDR } from './lib/harness.js';

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/**
 * The large file each way, in MB (LANCALL_APP_FILE_MB to choose): 200 with a release app (about
 * 30 s each way here), 2 with a debug one, whose unoptimised SCTP in webrtc-rs moves ~1.5 MB/s.
 */
const BIG_MB = Number(process.env.LANCALL_APP_FILE_MB) || (/\/release\/|^\/usr\//.test(APP_BIN) ? 200 : 2);
/** How long the large file may take, each way. */
const BIG_TIMEOUT_MS = 600_000;

describe('files between a browser and the Linux app', runnable(), () => {
  let app;
  let host;
  let browser;
  let s;
  let page;

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

  /** Grace sends `files` ({name, buffer}) to Ada (the app), and the app accepts each; resolves to what the app's cards say. */
  async function sendToApp(files) {
    const done = [];
    for (const f of files) {
      const before = await s.execute(() => document.querySelectorAll('[data-testid=file-card][data-direction=in]').length);
      // Playwright takes at most 50 MB as a buffer: a larger file goes from disk.
      await page.getByTestId('file-input').setInputFiles(f.path ?? { name: f.name, mimeType: 'application/octet-stream', buffer: f.buffer });
      await s.waitFor((n) => document.querySelectorAll('[data-testid=file-card][data-direction=in]')[n]?.dataset.state === 'offered', { timeout: 20_000, what: 'the offer in the app' }, before);
      await s.execute((n) => document.querySelectorAll('[data-testid=file-card][data-direction=in]')[n].querySelector('[data-testid=file-accept]').click(), before);
      const card = await s.waitFor((n) => {
        const c = document.querySelectorAll('[data-testid=file-card][data-direction=in]')[n];
        return c && ['done', 'failed', 'cancelled'].includes(c.dataset.state) ? { state: c.dataset.state, status: c.querySelector('[data-testid=file-status]').textContent, hash: c.querySelector('[data-testid=file-hash]').textContent } : null;
      }, { timeout: BIG_TIMEOUT_MS, interval: 500, what: `${f.name} received by the app` }, before).catch(async (err) => {
        const there = await s.execute((n) => document.querySelectorAll('[data-testid=file-card][data-direction=in]')[n]?.textContent, before);
        const here = await page.locator('[data-testid=file-card][data-direction=out]').last().innerText();
        throw new Error(`${err.message}; the app's card: ${there}; Grace's card: ${here}`);
      });
      assert.equal(card.state, 'done', card.status);
      done.push(card);
    }
    return done;
  }

  test('the file lands in the app\'s Downloads folder with its bytes, under a safe name, never over another file', async (t) => {
    const hasRtc = await s.execute(() => typeof RTCPeerConnection === 'function');
    if (hasRtc) {
      t.skip('this webview has WebRTC: the Rust-backed connection is not used');
      return;
    }
    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    page = await context.newPage();
    await page.goto(`https://${HOST_ADDR}:${host.port}/#room=call`);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 15_000 });
    await joinByLink(s, 'Ada', host);
    // Grace's chat channel to the app is open: the call is up.
    await page.waitForFunction(() => window.lancall.call?.participants.find((r) => r.name === 'Ada')?.dc?.readyState === 'open', null, { timeout: 30_000 });
    await s.execute(() => document.querySelector('[data-testid=open-chat]').click());
    await page.evaluate(() => document.querySelector('[data-testid=open-chat]').click());
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=file-to] option')].some((o) => o.textContent === 'Ada'), null, { timeout: 60_000 }).catch(async (err) => {
      throw new Error(`${err.message}: Grace's page at ${page.url()} offers ${JSON.stringify(await page.evaluate(() => [...document.querySelectorAll('[data-testid=file-to] option')].map((o) => o.textContent)))}`);
    });
    await page.getByTestId('file-to').selectOption({ label: 'Ada' });

    const bigMb = BIG_MB;
    const big = randomBytes(bigMb * 1_000_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'lancall-app-files-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'two.bin'), big);
    const small = randomBytes(1_000_000);
    const sent = [
      { name: '../../.bashrc', buffer: small, saved: 'bashrc' },
      { name: '../../.bashrc', buffer: randomBytes(1000), saved: 'bashrc (2)' },
      { name: 'two.bin', buffer: big, path: path.join(dir, 'two.bin'), saved: 'two.bin' },
    ];
    const memory = sampleAppMemory(app.pgid);
    const cards = await sendToApp(sent);
    const mem = memory.stop();
    const downloads = path.join(app.home, 'Downloads');
    for (const [i, f] of sent.entries()) {
      const file = path.join(downloads, f.saved);
      assert.ok(existsSync(file), `${f.saved} in Downloads (there: ${readdirSync(downloads).join(', ')})`);
      assert.equal(sha256(readFileSync(file)), sha256(f.buffer), `${f.saved} holds the bytes sent`);
      assert.equal(cards[i].hash, `SHA-256 ${sha256(f.buffer)}`);
      assert.match(cards[i].status, new RegExp(`Saved to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.`));
    }
    console.log(`# [files] the app received ${bigMb} MB: ${cards[2].status} The app's memory (app and WebKit processes): ${mem.before} MB before, ${mem.peak} MB at most, ${mem.after} MB after`);
    // Nothing outside Downloads, no part files left.
    assert.ok(!existsSync(path.join(app.home, '.bashrc')), 'no .bashrc in the home folder');
    assert.deepEqual(readdirSync(downloads).sort(), sent.map((f) => f.saved).sort());
    // Grace saw each done, with the same hash.
    const graceSays = await page.locator('[data-testid=file-card][data-direction=out][data-state=done] [data-testid=file-hash]').allInnerTexts();
    assert.deepEqual(graceSays, sent.map((f) => `SHA-256 ${sha256(f.buffer)}`));
  });

  test('the app sends a file: picked in its chat, accepted in the browser, the same bytes arrive', async (t) => {
    if (!page) {
      t.skip('the call above did not start');
      return;
    }
    const mb = BIG_MB;
    const bytes = randomBytes(mb * 1_000_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'lancall-app-send-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'from the app.bin');
    writeFileSync(file, bytes);
    // Ada picks the file in her chat's file picker (WebDriver types a path into a file input).
    await s.execute(() => {
      const select = document.querySelector('[data-testid=file-to]');
      const grace = [...select.options].find((o) => o.textContent === 'Grace');
      if (grace) select.value = grace.value;
    });
    const input = await s.find('[data-testid=file-input]');
    await s.cmd('POST', `/element/${input}/value`, { text: file });
    // Grace is offered it and accepts.
    const offer = page.locator('[data-testid=file-card][data-direction=in][data-state=offered]').filter({ hasText: 'from the app.bin' });
    await offer.waitFor({ timeout: 20_000 });
    const downloading = page.waitForEvent('download', { timeout: BIG_TIMEOUT_MS });
    const started = Date.now();
    const memory = sampleAppMemory(app.pgid);
    await offer.getByTestId('file-accept').click();
    const card = page.locator('[data-testid=file-card][data-direction=in]').filter({ hasText: 'from the app.bin' });
    await card.and(page.locator('[data-state=done], [data-state=failed], [data-state=cancelled]')).waitFor({ timeout: BIG_TIMEOUT_MS }).catch(async (err) => {
      const there = await s.execute(() => [...document.querySelectorAll('[data-testid=file-card][data-direction=out]')].map((c) => c.textContent).join(' | '));
      throw new Error(`${err.message}; Grace's card: ${await card.innerText()}; the app's cards: ${there}`);
    });
    const mem = memory.stop();
    assert.equal(await card.getAttribute('data-state'), 'done', await card.innerText());
    const seconds = (Date.now() - started) / 1000;
    const download = await downloading;
    const saved = await download.path();
    assert.equal(sha256(readFileSync(saved)), sha256(bytes), 'Grace got the bytes the app sent');
    assert.equal(await card.getByTestId('file-hash').innerText(), `SHA-256 ${sha256(bytes)}`);
    // The app shows it done, with the same SHA-256.
    const appCard = await s.waitFor(() => {
      const c = [...document.querySelectorAll('[data-testid=file-card][data-direction=out]')].find((x) => x.textContent.includes('from the app.bin'));
      return c?.dataset.state === 'done' ? c.querySelector('[data-testid=file-hash]').textContent : null;
    }, { timeout: 15_000, what: "the app's card to say done" }).catch(async (err) => {
      const there = await s.execute(() => {
        const c = [...document.querySelectorAll('[data-testid=file-card][data-direction=out]')].find((x) => x.textContent.includes('from the app.bin'));
        const t = [...(window.lancall?.files?.transfers?.values() ?? [])].find((x) => x.direction === 'out');
        return { state: c?.dataset.state, text: c?.textContent, transfer: t && { state: t.state, bytes: t.bytes, size: t.size, sha: !!t.sha256, channel: t.channel?.readyState ?? null, resumedAt: t.resumedAt } };
      }).catch((e) => e.message);
      throw new Error(`${err.message}; the app's card and transfer: ${JSON.stringify(there)}`);
    });
    assert.equal(appCard, `SHA-256 ${sha256(bytes)}`);
    console.log(`# [files] the app sent ${mb} MB to Chromium in ${seconds.toFixed(1)} s from Accept (${(mb / seconds).toFixed(1)} MB/s); the app's memory: ${mem.before} MB before, ${mem.peak} MB at most, ${mem.after} MB after`);
  });
});
