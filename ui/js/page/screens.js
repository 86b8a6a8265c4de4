// Which screen is shown (pre-join, call, ended) and the call screen's banner: one line of news
// with an optional action button.
import { $ } from './dom.js';

/** @typedef {'prejoin'|'incall'|'ended'} Screen */

/** @type {Set<(screen: Screen) => void>} */
const screenListeners = new Set();

/** @param {Screen} name */
export function showScreen(name) {
  for (const id of ['prejoin', 'incall', 'ended']) $(id).hidden = id !== name;
  for (const fn of screenListeners) fn(name);
}

/** Calls `fn` with the screen's name whenever the page changes screen (the app's home steps aside during a call). */
export function onScreenChange(fn) {
  screenListeners.add(fn);
}

/** @type {any} */
let bannerTimer = null;

/**
 * @param {string} text
 * @param {'ok'|'warn'|'error'} [tone]
 * @param {number} [ms] hide after this long (0: stays)
 * @param {[string, () => void] | null} [action] a button's label and what it does
 */
export function showBanner(text, tone = 'warn', ms = 0, action = null) {
  const b = $('banner');
  b.className = `banner ${tone}`;
  $('banner-text').textContent = text;
  const a = $('banner-action');
  a.hidden = !action;
  if (action) {
    a.textContent = action[0];
    a.onclick = () => {
      hideBanner();
      action[1]();
    };
  }
  b.hidden = false;
  clearTimeout(bannerTimer);
  if (ms) bannerTimer = setTimeout(hideBanner, ms);
}

/** Hides the banner; with `onlyIf`, only while it still says that (a newer message stays). */
export function hideBanner(onlyIf) {
  if (onlyIf !== undefined && $('banner-text').textContent !== onlyIf) return;
  $('banner').hidden = true;
}
