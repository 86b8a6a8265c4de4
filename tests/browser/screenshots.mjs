// Screenshots of the UI as a person sees it (desktop and phone), for review: `run.sh shots`.
// Writes PNGs to $SHOTS_DIR (default /tmp/lancall-shots).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startHost, launchBrowser, joinCall, openPage, waitForVideo, closeAll, whyNotRunnable, sleep } from './lib/harness.js';

const why = whyNotRunnable();
if (why) {
  console.log(`screenshots skipped: ${why}`);
  process.exit(0);
}
const dir = process.env.SHOTS_DIR || '/tmp/lancall-shots';
mkdirSync(dir, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(dir, `${name}.png`) }).then(() => console.log(`wrote ${name}.png`));

const host = await startHost({ name: "Ada's laptop", topology: 'auto' });
const browser = await launchBrowser();
try {
  const pre = await openPage(browser, host.joinUrl, { viewport: { width: 1280, height: 800 } });
  await pre.page.getByTestId('name').fill('Ada Lovelace');
  await pre.page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0);
  await sleep(500);
  await shot(pre.page, 'prejoin-desktop');
  await pre.context.close();

  const phonePre = await openPage(browser, host.joinUrl, { viewport: { width: 390, height: 844 } });
  await phonePre.page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0);
  await shot(phonePre.page, 'prejoin-phone');
  await phonePre.context.close();

  const bad = await openPage(browser, host.joinUrl.replace(/token=[0-9a-f]+/, `token=${'0'.repeat(32)}`), { viewport: { width: 390, height: 844 } });
  await bad.page.getByTestId('name').fill('Mallory');
  await bad.page.getByTestId('join').click();
  await bad.page.getByTestId('problem').waitFor();
  await bad.page.getByTestId('problem').scrollIntoViewIfNeeded();
  await shot(bad.page, 'error-wrong-token-phone');
  await bad.context.close();

  const ada = await joinCall(browser, host.joinUrl, 'Ada Lovelace', { quality: '360p', viewport: { width: 1280, height: 800 } });
  // Alone: the invitation (link, Copy, QR code), on a desktop and a phone (light theme there).
  await ada.page.locator('[data-testid=invite-qr] svg').waitFor();
  await shot(ada.page, 'alone-invite-desktop');
  // The same on a phone, in the light theme.
  await ada.page.setViewportSize({ width: 390, height: 844 });
  await ada.page.emulateMedia({ colorScheme: 'light' });
  await sleep(400);
  await shot(ada.page, 'alone-invite-phone-light');
  await ada.page.setViewportSize({ width: 1280, height: 800 });
  await ada.page.emulateMedia({ colorScheme: 'dark' });
  const bob = await joinCall(browser, host.joinUrl, 'Bob', { quality: '360p', viewport: { width: 390, height: 844 } });
  const cy = await joinCall(browser, host.joinUrl, 'Cy', { quality: '360p', viewport: { width: 1280, height: 800 } });
  await waitForVideo(ada.page, bob.id);
  await waitForVideo(ada.page, cy.id);
  await cy.page.getByTestId('mute-audio').click();
  await bob.page.getByTestId('raise-hand').click();
  await sleep(2500);
  await cy.page.getByTestId('react').click();
  await cy.page.getByTestId('reaction-choice').first().click();
  await sleep(700);
  await shot(ada.page, 'call-3-desktop');
  await shot(bob.page, 'call-3-phone');
  // Cy pins Bob (double click): Bob large, the others in a strip.
  await cy.page.locator(`[data-testid=remote-tile][data-peer="${bob.id}"]`).dblclick();
  await sleep(400);
  await shot(cy.page, 'call-pinned-desktop');
  await cy.page.locator(`[data-testid=remote-tile][data-peer="${bob.id}"]`).dblclick();
  // Dee's pre-join card, with three people in the call.
  const dee = await openPage(browser, host.joinUrl, { viewport: { width: 1280, height: 800 } });
  await dee.page.getByTestId('name').fill('Dee');
  await dee.page.getByTestId('who-is-here').getByText('are in the call').waitFor({ timeout: 15_000 });
  await dee.page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.videoWidth > 0);
  await shot(dee.page, 'prejoin-3-in-call-desktop');
  await dee.context.close();
  await ada.page.getByTestId('open-people').click();
  await sleep(300);
  await shot(ada.page, 'call-people-desktop');
  await bob.page.getByTestId('more').click();
  await sleep(200);
  await shot(bob.page, 'call-more-phone');
  await bob.page.keyboard.press('Escape');
  await ada.page.keyboard.press('?');
  await sleep(200);
  await shot(ada.page, 'call-shortcuts');
  await ada.page.keyboard.press('Escape');
  await ada.page.getByTestId('open-chat').click();
  await ada.page.getByTestId('chat-input').fill('Can everyone see my screen?');
  await ada.page.getByTestId('chat-send').click();
  await bob.page.getByTestId('open-chat').click();
  await sleep(500);
  await shot(ada.page, 'call-chat-desktop');
  await shot(bob.page, 'call-chat-phone');
  await ada.page.getByTestId('open-stats').click();
  await sleep(2500);
  await shot(ada.page, 'call-stats-desktop');
  await ada.page.getByTestId('open-settings').click();
  await sleep(300);
  await shot(ada.page, 'call-settings-desktop');
  await ada.page.getByTestId('record').click();
  await sleep(200);
  await shot(ada.page, 'call-record-menu');
  await ada.page.getByTestId('hangup').click();
  await sleep(300);
  await shot(ada.page, 'ended');
  await closeAll(ada.context, bob.context, cy.context);
} finally {
  await closeAll(browser);
  await host.stop();
  host.cleanup();
}
