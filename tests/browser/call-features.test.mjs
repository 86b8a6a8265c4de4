// What a call offers beyond pictures and sound, as the people in it see it: the invitation while
// alone (link, Copy, QR code), the People panel, raising a hand, reactions (and a peer that
// floods or sends what is not a reaction), the shortcut sheet, and the REC sign a late joiner
// sees while someone records. Real host, real Chromium pages, real data channels.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, joinCall, waitFor, closeAll } from './lib/harness.js';

const tileOf = (page, peerId) => page.locator(`[data-testid=remote-tile][data-peer="${peerId}"]`);

describe('call features', runnable(), () => {
  let host;
  let browser;
  let ada;
  let bob;
  let cy;

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
    ada = await joinCall(browser, host.joinUrl, 'Ada', { quality: '360p' });
  });

  after(async () => {
    await closeAll(ada?.context, bob?.context, cy?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('alone, the call offers its link and QR code; Copy puts the link on the clipboard', async () => {
    const { page, context } = ada;
    const card = page.getByTestId('invite-card');
    await card.waitFor({ state: 'visible' });
    const link = await card.getByTestId('invite-link').innerText();
    const want = new URL(host.joinUrl);
    const got = new URL(link);
    assert.equal(got.host, want.host);
    const params = new URLSearchParams(got.hash.slice(1));
    const wantParams = new URLSearchParams(want.hash.slice(1));
    assert.equal(params.get('room'), wantParams.get('room'));
    assert.equal(params.get('token'), wantParams.get('token'), 'the link lets others in');
    // The QR code is drawn from the host's /qr for exactly this link.
    await card.locator('[data-testid=invite-qr] svg path').waitFor();
    const qr = await page.evaluate(async (text) => (await fetch(`/qr?text=${encodeURIComponent(text)}`)).json(), link);
    assert.equal(qr.modules.length, qr.size * qr.size);
    const drawn = await card.locator('[data-testid=invite-qr] svg').getAttribute('viewBox');
    assert.equal(drawn, `0 0 ${qr.size + 8} ${qr.size + 8}`);
    // A text the host will not encode gets a clear 400, not a crash.
    const bad = await page.evaluate(async () => {
      const r = await fetch(`/qr?text=${'x'.repeat(2000)}`);
      return [r.status, await r.text()];
    });
    assert.equal(bad[0], 400);
    assert.match(bad[1], /percent-encoded text/);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await card.getByTestId('invite-copy').click();
    await card.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  });

  test('the invitation goes away when someone joins, and the People panel lists both', async () => {
    bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p' });
    await ada.page.getByTestId('invite-card').waitFor({ state: 'hidden', timeout: 10_000 });
    assert.equal(await bob.page.getByTestId('invite-card').isVisible(), false);
    await ada.page.locator('body').click({ position: { x: 5, y: 5 } });
    await ada.page.keyboard.press('p');
    const list = ada.page.getByTestId('people-list');
    await waitFor(async () => (await list.getByTestId('person').count()) === 2, { what: 'two people listed' });
    assert.match(await list.innerText(), /Ada \(you\)[\s\S]*Bob/);
    // Bob mutes: his row says so.
    await bob.page.getByTestId('mute-audio').click();
    await list.locator(`[data-testid=person][data-peer="${bob.id}"][data-muted=true]`).waitFor({ timeout: 5000 });
  });

  test('a raised hand shows on the tile and in the list of the others, until lowered', async () => {
    await bob.page.getByTestId('raise-hand').click();
    assert.equal(await bob.page.getByTestId('raise-hand').getAttribute('aria-pressed'), 'true');
    const hand = tileOf(ada.page, bob.id).getByTestId('hand');
    await hand.waitFor({ state: 'visible', timeout: 5000 });
    await ada.page.locator(`[data-testid=person][data-peer="${bob.id}"][data-hand=true]`).waitFor();
    // H lowers it again.
    await bob.page.locator('body').click({ position: { x: 5, y: 5 } });
    await bob.page.keyboard.press('h');
    await hand.waitFor({ state: 'hidden', timeout: 5000 });
  });

  test('a reaction floats over the sender\'s tile for the others', async () => {
    await bob.page.getByTestId('react').click();
    await bob.page.getByRole('menuitem', { name: 'Send thumbs up' }).click();
    const shown = tileOf(ada.page, bob.id).getByTestId('reaction');
    await shown.first().waitFor({ timeout: 5000 });
    assert.equal(await shown.first().innerText(), '👍');
    // ... and over Bob's own tile on his screen.
    assert.equal(await bob.page.getByTestId('local-tile').getByTestId('reaction').count(), 1);
  });

  test('a peer that floods reactions or sends other text over the tile is held back', async () => {
    await ada.page.evaluate(() => {
      window.__reactions = [];
      window.lancall.call.addEventListener('reaction', (ev) => window.__reactions.push(ev.detail.emoji));
    });
    // Bob's page sends straight on the data channel, past its own buttons.
    await bob.page.evaluate(() => {
      const dc = window.lancall.call.participants[0].dc;
      dc.send(JSON.stringify({ type: 'reaction', emoji: '<img src=x onerror=alert(1)>' }));
      dc.send(JSON.stringify({ type: 'reaction', emoji: 'PAY ME' }));
      dc.send('not json');
      for (let i = 0; i < 30; i += 1) dc.send(JSON.stringify({ type: 'reaction', emoji: '🎉' }));
      // The channel is ordered: once this status arrives, everything above has been handled.
      dc.send(JSON.stringify({ type: 'status', hand: true, recording: false }));
    });
    await tileOf(ada.page, bob.id).getByTestId('hand').waitFor({ state: 'visible', timeout: 5000 });
    const got = await ada.page.evaluate(() => window.__reactions);
    assert.ok(got.every((e) => e === '🎉'), `only listed reactions: ${got}`);
    assert.ok(got.length >= 1 && got.length <= 6, `a burst is cut to 6 per 3 s: ${got.length} shown`);
    assert.ok((await tileOf(ada.page, bob.id).getByTestId('reaction').count()) <= 5, 'at most 5 float at once');
    assert.deepEqual(await ada.page.evaluate(() => window.lancall.errors), []);
    await bob.page.evaluate(() => window.lancall.call.setStatus({ hand: false }));
  });

  test('someone who joins while another records sees the REC sign naming who records', async () => {
    await bob.page.getByTestId('record').click();
    await bob.page.locator('[data-testid=record-source][data-source="local"]').click();
    await ada.page.getByTestId('recording-indicator').getByText('Bob is recording this call').waitFor({ timeout: 5000 });
    cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p' });
    await cy.page.getByTestId('recording-indicator').getByText('Bob is recording this call').waitFor({ timeout: 15_000 });
    // Bob stops (the file downloads): the sign goes away everywhere.
    await Promise.all([bob.page.waitForEvent('download'), bob.page.getByTestId('record').click()]);
    await cy.page.getByTestId('recording-indicator').waitFor({ state: 'hidden', timeout: 5000 });
    await ada.page.getByTestId('recording-indicator').waitFor({ state: 'hidden', timeout: 5000 });
  });

  test('? shows the keyboard shortcuts; Esc closes them', async () => {
    const { page } = cy;
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('?');
    const sheet = page.getByTestId('shortcuts');
    await sheet.waitFor({ state: 'visible' });
    assert.match(await sheet.innerText(), /Raise or lower your hand/);
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'hidden' });
  });
});
