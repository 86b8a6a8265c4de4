// Files in the call, as people see them: picked in the chat panel, offered, accepted or declined,
// sent peer to peer over a data channel of their own (mesh), or over a direct connection made
// for them (SFU call), with progress, a SHA-256 checked and shown at both ends, and a download
// whose bytes are the file's. Also: a cancel from either side, files queued, the host's size
// cap, hostile names saved safely, lying offers refused without harm, and a cut link mid-file
// that resumes. Real host, real Chromium pages.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, writeSync, closeSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runnable, startHost, launchBrowser, joinCall, waitFor, closeAll, makeRemoteNamespace, waitForVideo } from './lib/harness.js';

const MB = 1_000_000;
const dir = mkdtempSync(path.join(tmpdir(), 'lancall-files-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** A file of `size` random bytes; resolves to its path and SHA-256. */
function makeFile(name, size) {
  const file = path.join(dir, name);
  const fd = openSync(file, 'w');
  const hash = createHash('sha256');
  for (let left = size; left > 0;) {
    const block = randomBytes(Math.min(left, 4 * 1024 * 1024));
    writeSync(fd, block);
    hash.update(block);
    left -= block.length;
  }
  closeSync(fd);
  return { file, size, sha256: hash.digest('hex') };
}

/** The SHA-256 of a file on disk, streamed. */
function sha256Of(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

const card = (page, direction, nth = 0) => page.locator(`[data-testid=file-card][data-direction=${direction}]`).nth(nth);

/** Open the chat panel if it is closed. */
async function openChat(page) {
  if (await page.getByTestId('file-pick').isVisible()) return;
  await page.getByTestId('open-chat').click();
  await page.getByTestId('file-pick').waitFor();
}

/** Pick files in a chat panel for the person named `to` (or everyone). */
async function pick(page, files, to = 'Everyone') {
  await openChat(page);
  await page.getByTestId('file-to').selectOption({ label: to });
  await page.getByTestId('file-input').setInputFiles(files);
}

/** Wait for a card to reach `state` (data-state), with its status text in the error. */
async function waitState(c, state, timeout = 60_000) {
  await waitFor(async () => (await c.getAttribute('data-state')) === state, {
    timeout,
    what: () => `a file card in state ${state}`,
  }).catch(async (err) => {
    const text = await c.innerText().catch(() => '(no card)');
    throw new Error(`${err.message}; the card says: ${text}`);
  });
}

/**
 * Sends `f` from `from` to `to` (accepting it there) and checks what both see and the bytes
 * downloaded; resolves to the receiver's card.
 */
async function sendAndCheck(from, to, f) {
  await openChat(to.page);
  await openChat(from.page);
  const count = (page, direction) => page.locator(`[data-testid=file-card][data-direction=${direction}]`).count();
  const [nthIn, nthOut] = [await count(to.page, 'in'), await count(from.page, 'out')];
  await pick(from.page, f.file, to.name);
  const incoming = card(to.page, 'in', nthIn);
  await waitState(incoming, 'offered', 20_000);
  assert.match(await incoming.innerText(), new RegExp(`${from.name} → you`));
  assert.match(await incoming.getByTestId('file-name').innerText(), new RegExp(path.basename(f.file).replace('.', '\\.')));
  const downloaded = to.page.waitForEvent('download', { timeout: 180_000 });
  await incoming.getByTestId('file-accept').click();
  const outgoing = card(from.page, 'out', nthOut);
  await waitState(incoming, 'done', 180_000);
  await waitState(outgoing, 'done', 30_000);
  // Both show the hash they checked: the file's.
  assert.equal(await incoming.getByTestId('file-hash').innerText(), `SHA-256 ${f.sha256}`);
  assert.equal(await outgoing.getByTestId('file-hash').innerText(), `SHA-256 ${f.sha256}`);
  const download = await downloaded;
  assert.equal(download.suggestedFilename(), path.basename(f.file));
  assert.equal(await sha256Of(await download.path()), f.sha256, 'the downloaded bytes are the file');
  return incoming;
}

describe('files in a mesh call', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    host = await startHost({ extraArgs: ['--max-file-mb', '500'] });
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('a 1 MB file goes to the person chosen, who accepts it; both see done and its SHA-256; the download is the file', async () => {
    await sendAndCheck(ada, bob, makeFile('one-megabyte.bin', MB));
  });

  test('a 200 MB file arrives whole, with progress and speed shown on the way', async () => {
    const f = makeFile('two-hundred.bin', 200 * MB);
    await pick(ada.page, f.file, 'Bob');
    const incoming = card(bob.page, 'in', 1);
    await waitState(incoming, 'offered', 20_000);
    const downloaded = bob.page.waitForEvent('download', { timeout: 300_000 });
    await incoming.getByTestId('file-accept').click();
    // On the way, both sides say how far and how fast.
    await waitFor(async () => /Receiving · .* of 200 MB · .*\/s/.test(await incoming.getByTestId('file-status').innerText()), { timeout: 60_000, interval: 50, what: 'the receiver shows progress and speed' });
    await waitFor(async () => /Sending · .* of 200 MB/.test(await card(ada.page, 'out', 1).getByTestId('file-status').innerText().catch(() => '')), { timeout: 60_000, interval: 50, what: 'the sender shows progress' }).catch(async () => {
      // A fast transfer may be past sending already: it must then be done.
      assert.match(await card(ada.page, 'out', 1).getAttribute('data-state'), /checking|done/);
    });
    await waitState(incoming, 'done', 300_000);
    await waitState(card(ada.page, 'out', 1), 'done', 30_000);
    assert.equal(await incoming.getByTestId('file-hash').innerText(), `SHA-256 ${f.sha256}`);
    const download = await downloaded;
    assert.equal(await sha256Of(await download.path()), f.sha256);
  });

  test('a declined file is not sent, and the sender is told', async () => {
    const f = makeFile('not-wanted.txt', 1000);
    await pick(ada.page, f.file, 'Bob');
    const incoming = card(bob.page, 'in', 2);
    await waitState(incoming, 'offered', 20_000);
    await incoming.getByTestId('file-decline').click();
    await waitState(card(ada.page, 'out', 2), 'declined');
    assert.match(await card(ada.page, 'out', 2).getByTestId('file-status').innerText(), /Bob declined/);
  });

  test('files picked together queue; a cancel from the receiver and one from the sender each stop one, and the rest arrive', async () => {
    const files = [makeFile('q1.bin', 60 * MB), makeFile('q2.bin', 60 * MB), makeFile('q3.bin', 2 * MB)];
    await pick(ada.page, files.map((f) => f.file), 'Bob');
    const cards = [3, 4, 5].map((i) => card(bob.page, 'in', i));
    for (const c of cards) await waitState(c, 'offered', 20_000);
    const names = await Promise.all(cards.map((c) => c.getByTestId('file-name').innerText()));
    const index = (n) => names.indexOf(n);
    const [c1, c2, c3] = ['q1.bin', 'q2.bin', 'q3.bin'].map((n) => cards[index(n)]);
    const out = (n) => card(ada.page, 'out', 3 + index(n));
    for (const c of [c1, c2, c3]) await c.getByTestId('file-accept').click();
    // One at a time to Bob: while the first goes, the others wait their turn.
    await waitFor(async () => (await c1.getAttribute('data-state')) === 'receiving' && Number(await c1.getAttribute('data-bytes')) > 0, { timeout: 30_000, interval: 20, what: 'q1 flowing' });
    const waiting = await out('q2.bin').getAttribute('data-state');
    assert.ok(['queued', 'sending'].includes(waiting), `q2 waits its turn (${waiting})`);
    // Bob cancels the first mid-way; Ada sees it.
    await c1.getByTestId('file-cancel').click();
    await waitState(c1, 'cancelled');
    await waitState(out('q1.bin'), 'cancelled');
    // Ada cancels the second once it is under way; Bob sees it.
    await waitFor(async () => (await out('q2.bin').getAttribute('data-state')) === 'sending', { timeout: 30_000, interval: 20, what: 'q2 sending' });
    await out('q2.bin').getByTestId('file-cancel').click();
    await waitState(c2, 'cancelled');
    // The third arrives whole.
    await waitState(c3, 'done', 60_000);
    const downloaded = bob.page.waitForEvent('download');
    await c3.getByTestId('file-save').click();
    const d = await downloaded;
    assert.equal(d.suggestedFilename(), 'q3.bin');
    assert.equal(await sha256Of(await d.path()), files[2].sha256);
    assert.equal(await c1.getByTestId('file-save').count(), 0, 'nothing cancelled can be saved');
  });

  test('hostile names are shown without their tricks and saved as a plain name in Downloads', async () => {
    const hostile = [
      ['../../.bashrc', 'bashrc'],
      [`${'n'.repeat(296)}.txt`, `${'n'.repeat(116)}.txt`],
      ['bell\u0007line\nbreak\ttab.txt', 'belllinebreaktab.txt'],
      ['invoice\u202Etxt.exe', 'invoicetxt.exe'],
    ];
    await openChat(ada.page);
    await ada.page.getByTestId('file-to').selectOption({ label: 'Bob' });
    for (const [name, safe] of hostile) {
      const before = await bob.page.locator('[data-testid=file-card][data-direction=in]').count();
      const contents = `contents of ${JSON.stringify(name)}`;
      await ada.page.getByTestId('file-input').setInputFiles({ name, mimeType: 'text/plain', buffer: Buffer.from(contents) });
      const c = card(bob.page, 'in', before);
      await waitState(c, 'offered', 20_000);
      const shown = await c.getByTestId('file-name').innerText();
      assert.doesNotMatch(shown, /[\u0000-\u001f\u202a-\u202e]/, 'no controls shown');
      await c.getByTestId('file-accept').click();
      await waitState(c, 'done');
      // Saved (again, from its card: a browser may hold back a download it did not see clicked).
      const downloaded = bob.page.waitForEvent('download');
      await c.getByTestId('file-save').click();
      const d = await downloaded;
      assert.equal(d.suggestedFilename(), safe, `what ${JSON.stringify(name)} is saved as`);
      assert.equal(await sha256Of(await d.path()), createHash('sha256').update(contents).digest('hex'));
    }
  });

  test('a lying or malformed offer gets a clear error, nothing is saved, and the call goes on', async () => {
    const before = await bob.page.locator('[data-testid=file-card][data-direction=in]').count();
    // Ada's page plays a hostile peer: raw file channels with offers that lie.
    const lie = (offer, bytes, done) =>
      ada.page.evaluate(({ offer, bytes, done }) => {
        const r = window.lancall.call.participants.find((x) => x.name === 'Bob');
        const dc = r.pc.createDataChannel('lancall-file', { ordered: true });
        dc.onopen = () => dc.send(JSON.stringify(offer));
        dc.onmessage = (ev) => {
          const msg = JSON.parse(ev.data);
          if (msg.type !== 'file-accept') return;
          dc.send(new Uint8Array(bytes));
          if (done) dc.send(JSON.stringify({ type: 'file-done', id: offer.id, size: offer.size, sha256: done }));
        };
      }, { offer, bytes, done });
    const id = () => randomBytes(16).toString('hex');
    const downloads = [];
    bob.page.on('download', (d) => downloads.push(d));
    // A negative size: refused at once, with why.
    await lie({ type: 'file-offer', id: id(), name: 'negative.bin', size: -5 }, 0, null);
    const neg = card(bob.page, 'in', before);
    await waitState(neg, 'failed', 20_000);
    assert.match(await neg.getByTestId('file-status').innerText(), /Ada offered a file that cannot be taken: .*not a number of bytes/);
    // More than the host allows (500 MB here).
    await lie({ type: 'file-offer', id: id(), name: 'huge.bin', size: 9e15 }, 0, null);
    const huge = card(bob.page, 'in', before + 1);
    await waitState(huge, 'failed', 20_000);
    assert.match(await huge.getByTestId('file-status').innerText(), /this host takes files up to 500 MB/);
    // More bytes than announced.
    await lie({ type: 'file-offer', id: id(), name: 'more.bin', size: 10 }, 20, null);
    const more = card(bob.page, 'in', before + 2);
    await waitState(more, 'offered', 20_000);
    await more.getByTestId('file-accept').click();
    await waitState(more, 'failed');
    assert.match(await more.getByTestId('file-status').innerText(), /sent more than the 10 B announced/);
    // A hash that is not the bytes'.
    await lie({ type: 'file-offer', id: id(), name: 'damaged.bin', size: 4 }, 4, '0'.repeat(64));
    const bad = card(bob.page, 'in', before + 3);
    await waitState(bad, 'offered', 20_000);
    await bad.getByTestId('file-accept').click();
    await waitState(bad, 'failed');
    assert.match(await bad.getByTestId('file-status').innerText(), /damaged.bin arrived damaged \(its SHA-256 is not the one Ada sent\)/);
    assert.equal(downloads.length, 0, 'nothing lying was saved');
    // The call goes on: a chat line and a real file still pass.
    await openChat(bob.page);
    await ada.page.getByTestId('chat-input').fill('still here');
    await ada.page.getByTestId('chat-send').click();
    await bob.page.getByTestId('chat-log').getByText('still here').waitFor();
    await sendAndCheck(ada, bob, makeFile('after-the-lies.bin', 300_000));
  });

  test('a file over the host\'s cap is refused by the sender with a sentence saying so', async () => {
    const big = path.join(dir, 'too-big.iso');
    writeFileSync(big, '');
    truncateSync(big, 501 * MB); // sparse: nothing is read before the refusal
    const cards = await ada.page.locator('[data-testid=file-card][data-direction=out]').count();
    await pick(ada.page, big, 'Bob');
    await ada.page.getByText('too-big.iso is 501 MB: this host takes files up to 500 MB. Send a smaller file, or ask the host to allow larger ones.').waitFor();
    assert.equal(await ada.page.locator('[data-testid=file-card][data-direction=out]').count(), cards, 'nothing offered');
  });
});

describe('files in an SFU call', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;

  before(async () => {
    host = await startHost({ topology: 'sfu' });
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id, { timeout: 30_000 });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('1 MB and 200 MB files go over a direct connection between the two, never through the host', async () => {
    await sendAndCheck(ada, bob, makeFile('sfu-one.bin', MB));
    // The bytes went on a data-only connection between Ada and Bob, not the one to the SFU.
    const direct = await ada.page.evaluate(() => {
      const files = window.lancall.files;
      const r = window.lancall.call.participants.find((x) => x.name === 'Bob');
      return { relay: r.relay, state: files.direct.get(r)?.pc.connectionState ?? null };
    });
    assert.deepEqual(direct, { relay: true, state: 'connected' });
    await sendAndCheck(bob, ada, makeFile('sfu-two-hundred.bin', 200 * MB));
  });
});

describe('a cut link in the middle of a file', runnable(), () => {
  let host;
  let browsers = [];
  let ns = null;
  let ada;
  let bob;

  before(async () => {
    ns = makeRemoteNamespace();
    if (!ns) return;
    host = await startHost();
    const here = await launchBrowser();
    const there = await launchBrowser({ executablePath: ns.chromium });
    browsers = [here, there];
    ada = await joinCall(here, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(there, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, browsers);
    await host?.stop();
    host?.cleanup();
    ns?.remove();
  });

  test('the transfer resumes where it was when the link comes back, and the file arrives whole', async (t) => {
    if (!ns) {
      t.skip('needs root to make a second network namespace (ip netns)');
      return;
    }
    const f = makeFile('through-a-cut.bin', 60 * MB);
    // A slow link (about 5 MB/s) so that the cut lands mid-file on any machine.
    ns.limit('40mbit');
    try {
      await pick(ada.page, f.file, 'Bob');
      await openChat(bob.page);
      const incoming = card(bob.page, 'in');
      await waitState(incoming, 'offered', 20_000);
      const downloaded = bob.page.waitForEvent('download', { timeout: 180_000 });
      await incoming.getByTestId('file-accept').click();
      await waitFor(async () => Number(await incoming.getAttribute('data-bytes')) > 20 * MB, { timeout: 60_000, interval: 50, what: 'a third of the file at Bob' });
      const atCut = Number(await incoming.getAttribute('data-bytes'));
      ns.cut();
      try {
        // Ada's page sees the path to Bob go down (the transfer stalls or its channel closes).
        await waitFor(() => ada.page.evaluate(() => ['disconnected', 'failed'].includes(window.lancall.call.participants.find((x) => x.name === 'Bob')?.pc?.connectionState)), { timeout: 20_000, what: 'Ada sees the path down' });
      } finally {
        ns.restore();
      }
      await waitState(incoming, 'done', 180_000);
      await waitState(card(ada.page, 'out'), 'done', 30_000);
      assert.equal(await incoming.getByTestId('file-hash').innerText(), `SHA-256 ${f.sha256}`);
      const download = await downloaded;
      assert.equal(await sha256Of(await download.path()), f.sha256);
      // Not started over: Ada sent the file once, plus at most what was in flight at the cut.
      const sent = await ada.page.evaluate(() => [...window.lancall.files.transfers.values()].find((x) => x.direction === 'out')?.sentTotal);
      assert.ok(atCut > 20 * MB && sent < f.size + 16 * MB, `sent ${sent} bytes for a ${f.size}-byte file cut at ${atCut}`);
      const how = await ada.page.evaluate(() => [...window.lancall.files.transfers.values()].find((x) => x.direction === 'out')?.resumedAt);
      console.error(`[files] the cut at ${atCut} bytes: ${how.length ? `resumed at ${how.join(', ')} on a new channel` : 'the channel survived (SCTP retransmitted after the ICE restart)'}`);
    } finally {
      ns.unlimit();
    }
  });
});

describe('a file whose connection is replaced mid-way (an auto room moves to the SFU)', runnable(), () => {
  let host;
  let browsers = [];
  let ns = null;
  let ada;
  let bob;
  let cy;

  before(async () => {
    ns = makeRemoteNamespace();
    if (!ns) return;
    host = await startHost({ topology: 'auto' });
    const here = await launchBrowser();
    const there = await launchBrowser({ executablePath: ns.chromium });
    browsers = [here, there];
    ada = await joinCall(here, host.joinUrl, 'Ada', { quality: '360p' });
    bob = await joinCall(there, host.joinUrl, 'Bob', { quality: '360p' });
    await waitForVideo(ada.page, bob.id);
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, cy?.context, browsers);
    await host?.stop();
    host?.cleanup();
    ns?.remove();
  });

  test('the sender offers it again on the direct connection, the receiver says how much it has, and it goes on from there', async (t) => {
    if (!ns) {
      t.skip('needs root to make a second network namespace (ip netns)');
      return;
    }
    const f = makeFile('across-the-switch.bin', 100 * MB);
    // A slow link to Bob (about 5 MB/s), so that the switch lands mid-file on any machine.
    ns.limit('40mbit');
    try {
      await pick(ada.page, f.file, 'Bob');
      await openChat(bob.page);
      const incoming = card(bob.page, 'in');
      await waitState(incoming, 'offered', 20_000);
      const downloaded = bob.page.waitForEvent('download', { timeout: 240_000 });
      await incoming.getByTestId('file-accept').click();
      await waitFor(async () => Number(await incoming.getAttribute('data-bytes')) > 5 * MB, { timeout: 60_000, interval: 50, what: '5 MB at Bob' });
      // A third person: the room moves to the SFU, and the mesh connection carrying the file closes.
      cy = await joinCall(browsers[0], host.joinUrl, 'Cy', { quality: '360p' });
      await waitFor(() => ada.page.evaluate(() => window.lancall.call.participants.find((x) => x.name === 'Bob')?.relay === true), { timeout: 30_000, what: "Ada's media to Bob through the SFU" });
      await waitState(incoming, 'done', 240_000);
      await waitState(card(ada.page, 'out'), 'done', 30_000);
      assert.equal(await incoming.getByTestId('file-hash').innerText(), `SHA-256 ${f.sha256}`);
      assert.equal(await sha256Of(await (await downloaded).path()), f.sha256);
      const out = await ada.page.evaluate(() => {
        const x = [...window.lancall.files.transfers.values()].find((y) => y.direction === 'out');
        return { resumedAt: x.resumedAt, sentTotal: x.sentTotal };
      });
      assert.ok(out.resumedAt.length >= 1 && out.resumedAt[0] > 5 * MB, `resumed at ${out.resumedAt.join(', ')}`);
      assert.ok(out.sentTotal < f.size + 24 * MB, `sent ${out.sentTotal} bytes for ${f.size}: not started over`);
      assert.match(await incoming.getByTestId('file-status').innerText(), /resumed once|resumed \d+ times/);
      console.error(`[files] the switch: resumed at ${out.resumedAt.join(', ')}; ${out.sentTotal} bytes sent for ${f.size}`);
    } finally {
      ns.unlimit();
    }
  });
});
