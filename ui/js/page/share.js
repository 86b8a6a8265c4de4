// Sharing our screen: the Share button, the browser's screen picker, and stopping (by the button
// or the browser's own "Stop sharing").
import { $, announce } from './dom.js';
import { S } from './state.js';
import { showBanner } from './screens.js';
import { renderLocal } from './tiles.js';
import { canShareScreen, explainMediaError } from '../lib/media.js';

function renderShareButton() {
  const share = $('share-screen');
  share?.setAttribute('aria-pressed', String(!!S.screen));
  share?.setAttribute('aria-label', S.screen ? 'Stop sharing your screen' : 'Share your screen');
}

/** Whether screen sharing is offered here (the button is there and shown). */
export function canShare() {
  const share = $('share-screen');
  return !!share && !share.hidden;
}

/** Takes the Share button away where sharing can only fail (no getDisplayMedia, no desktop portal). */
export function removeShareButton() {
  $('share-screen')?.remove();
}

export async function toggleScreen() {
  if (S.screen) {
    stopScreen();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (err) {
    const p = explainMediaError(err, 'screen');
    if (p.code !== 'denied') showBanner(`${p.title} ${p.detail}`, 'error', 8000);
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if ('contentHint' in track) track.contentHint = 'detail';
  // The browser's own "Stop sharing" control ends the track.
  track.addEventListener('ended', () => {
    if (S.screen?.track === track) stopScreen();
  });
  S.screen = { track, stream };
  S.call?.startScreen(track, stream);
  announce('You are sharing your screen');
  renderLocal();
  renderShareButton();
}

export function stopScreen() {
  if (!S.screen) return;
  const { stream } = S.screen;
  S.screen = null;
  S.call?.stopScreen();
  for (const t of stream.getTracks()) t.stop();
  announce('Screen sharing stopped');
  renderLocal();
  renderShareButton();
}

export function initShare() {
  if (!canShareScreen()) removeShareButton();
  $('share-screen')?.addEventListener('click', toggleScreen);
  $('stop-presenting').addEventListener('click', () => {
    if (S.screen) toggleScreen();
  });
}
