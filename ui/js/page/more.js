// The More menu (⋮) and what lives in it: full screen, picture-in-picture, the keyboard shortcut
// sheet (also on `?`), and on a phone, where the toolbar has room for fewer buttons, Share,
// Record, Statistics and Settings. What an engine lacks is absent, not broken.
import { $, el, menuItems } from './dom.js';
import { S } from './state.js';
import { showBanner } from './screens.js';
import { canShare, toggleScreen } from './share.js';
import { canRecord, toggleRecordMenu } from './record.js';
import { togglePanel } from './panels.js';

/** What each key does (keyboard.js acts on them; the sheet lists them). */
export const SHORTCUTS = [
  ['M', 'Turn the microphone on or off'],
  ['V', 'Turn the camera on or off'],
  ['S', 'Share your screen, or stop'],
  ['H', 'Raise or lower your hand'],
  ['E', 'Send a reaction'],
  ['R', 'Record, or stop and save'],
  ['C', 'Chat'],
  ['P', 'People and invitation'],
  ['I', 'Connection statistics'],
  ['F', 'Full screen'],
  ['?', 'This list'],
  ['Esc', 'Close a menu or panel'],
  ['Shift+H', 'Leave the call'],
];

/** A phone held upright: the toolbar shows fewer buttons and the More menu the rest. */
const narrow = () => matchMedia('(max-width: 440px)').matches;

/** Whether this engine can put an element in full screen (the menu items are absent where not). */
export const canFullscreen = () => !!document.fullscreenEnabled && !!document.documentElement.requestFullscreen;

/**
 * Full screen for `target` (by default the whole call: the stage and its controls; the tile menu
 * passes one tile), or back: out of full screen when `target` is what is in it, or when the whole
 * call is asked for while anything is.
 * @param {HTMLElement} [target]
 */
export async function toggleFullscreen(target) {
  if (!canFullscreen()) return;
  const whole = $('incall');
  const which = target ?? whole;
  try {
    if (document.fullscreenElement && (document.fullscreenElement === which || which === whole)) await document.exitFullscreen();
    else await which.requestFullscreen();
  } catch (err) {
    showBanner(`Full screen is not available here: ${/** @type {any} */ (err)?.message ?? err}`, 'warn', 5000);
  }
}

/** The video picture-in-picture would show: a shared screen, else whoever spoke or is large. */
function pipVideo() {
  const tiles = [...S.tiles.values()].filter((t) => !t.local && t.video.videoWidth > 0);
  const pick = tiles.find((t) => t.kind === 'screen') ?? tiles.find((t) => t.tile.classList.contains('speaking')) ?? tiles.find((t) => t.tile.classList.contains('tile--main')) ?? tiles[0];
  return pick?.video ?? null;
}

const canPip = () => !!document.pictureInPictureEnabled && 'requestPictureInPicture' in HTMLVideoElement.prototype;

/** Picture-in-picture of the most relevant remote picture, or back. */
export async function togglePip() {
  try {
    if (document.pictureInPictureElement) {
      await document.exitPictureInPicture();
      return;
    }
    const video = pipVideo();
    if (!video) {
      showBanner('Picture-in-picture needs someone else\'s picture: nobody is sending one yet.', 'warn', 5000);
      return;
    }
    await video.requestPictureInPicture();
  } catch (err) {
    showBanner(`Picture-in-picture did not start: ${/** @type {any} */ (err)?.message ?? err}`, 'warn', 5000);
  }
}

/** Opens the keyboard shortcut sheet. */
export function showShortcuts() {
  const d = /** @type {HTMLDialogElement} */ ($('shortcuts'));
  if (d.open) return;
  if (typeof d.showModal === 'function') d.showModal();
  else d.setAttribute('open', '');
  $('shortcuts-close').focus();
}

export function closeShortcuts() {
  const d = /** @type {HTMLDialogElement} */ ($('shortcuts'));
  if (!d.open) return false;
  if (typeof d.close === 'function') d.close();
  else d.removeAttribute('open');
  return true;
}

/** Whether the More menu is open. */
export function moreMenuOpen() {
  return !$('more-menu').hidden;
}

/** @param {boolean} [force] */
export function toggleMoreMenu(force) {
  const menu = $('more-menu');
  const open = force ?? menu.hidden;
  $('more').setAttribute('aria-expanded', String(open));
  if (!open) {
    menu.hidden = true;
    return;
  }
  /** @type {Array<[string, () => void, string]>} */
  const items = [];
  if (narrow()) {
    if (canShare()) items.push([S.screen ? 'Stop sharing your screen' : 'Share your screen', toggleScreen, 'more-share']);
    if (canRecord()) items.push([S.recording ? 'Stop recording and save' : 'Record…', () => toggleRecordMenu(true), 'more-record']);
    items.push(['Connection statistics', () => togglePanel('stats'), 'more-stats']);
    items.push(['Camera and microphone settings', () => togglePanel('settings'), 'more-settings']);
  }
  if (canFullscreen()) items.push([document.fullscreenElement ? 'Leave full screen' : 'Full screen', toggleFullscreen, 'more-fullscreen']);
  if (canPip()) items.push([document.pictureInPictureElement ? 'Close picture-in-picture' : 'Picture-in-picture', togglePip, 'more-pip']);
  items.push(['Keyboard shortcuts', showShortcuts, 'more-shortcuts']);
  // The record menu opens where this one was: menuItems keeps that click from closing it again.
  menu.replaceChildren(...menuItems(items, () => toggleMoreMenu(false)));
  menu.hidden = false;
  menu.querySelector('button')?.focus();
}

export function initMore() {
  const list = $('shortcut-list');
  for (const [key, what] of SHORTCUTS) list.append(el('dt', {}, el('kbd', { text: key })), el('dd', { text: what }));
  $('shortcuts-close').addEventListener('click', closeShortcuts);
  $('more').addEventListener('click', () => toggleMoreMenu());
  document.addEventListener('click', (ev) => {
    if (moreMenuOpen() && !(/** @type {Element} */ (ev.target)).closest?.('.menu-anchor')) toggleMoreMenu(false);
  });
}
