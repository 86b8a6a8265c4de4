// Raise hand and reactions: the hand stays up (on our tile, in the People panel, on everyone
// else's screen) until lowered; a reaction floats up over the sender's tile for a few seconds.
// Both travel on the data channel (call.js setStatus / sendReaction; docs/PROTOCOL.md).
import { $, el, announce } from './dom.js';
import { S } from './state.js';
import { REACTIONS } from '../lib/call.js';
import { renderPeople } from './people.js';

/** How long a reaction floats over its tile. */
const FLOAT_MS = 4000;
/** At most this many reactions float over one tile at once (the oldest goes first). */
const MAX_FLOATING = 5;

const NAMES = { '👍': 'thumbs up', '👏': 'applause', '😂': 'laughter', '😮': 'surprise', '❤️': 'a heart', '🎉': 'a party popper' };

/** Shows our hand's state on our button and tile. */
export function renderHand() {
  const up = !!S.call?.status.hand;
  const b = $('raise-hand');
  b.setAttribute('aria-pressed', String(up));
  b.setAttribute('aria-label', up ? 'Lower your hand' : 'Raise your hand');
  b.title = up ? 'Lower hand (H)' : 'Raise hand (H)';
  const t = S.tiles.get('local');
  if (t) t.tile.querySelector('.hand').hidden = !up;
}

/** Raise or lower our hand (H). */
export function toggleHand() {
  if (!S.call || S.phase !== 'incall') return;
  const up = !S.call.status.hand;
  S.call.setStatus({ hand: up });
  renderHand();
  renderPeople();
  announce(up ? 'You raised your hand' : 'You lowered your hand');
}

/**
 * Floats `emoji` up over `tile`.
 * @param {HTMLElement} tile
 * @param {string} emoji
 */
function float(tile, emoji) {
  const layer = tile.querySelector('.reactions');
  if (!layer) return;
  while (layer.childElementCount >= MAX_FLOATING) layer.firstElementChild?.remove();
  const node = el('span', { class: 'reaction', 'data-testid': 'reaction', text: emoji });
  node.style.left = `${15 + Math.random() * 55}%`;
  layer.append(node);
  setTimeout(() => node.remove(), FLOAT_MS);
}

/**
 * Send a reaction to everyone, and show it over our own tile.
 * @param {string} emoji
 */
export function sendReaction(emoji) {
  if (!S.call || S.phase !== 'incall') return;
  S.call.sendReaction(emoji);
  const t = S.tiles.get('local');
  if (t) float(t.tile, emoji);
  toggleReactMenu(false);
}

/**
 * Someone's reaction (call.js's `reaction` event) over their tile.
 * @param {{remote: any, emoji: string}} detail
 */
export function onReaction({ remote, emoji }) {
  const tile = document.querySelector(`[data-testid=remote-tile][data-peer="${CSS.escape(remote.id ?? '')}"]`);
  if (tile instanceof HTMLElement) float(tile, emoji);
  announce(`${remote.name} sent ${NAMES[/** @type {keyof typeof NAMES} */ (emoji)] ?? emoji}`);
}

/** Whether the reactions menu is open. */
export function reactMenuOpen() {
  return !$('react-menu').hidden;
}

/** @param {boolean} [force] open (true), close (false), or the other way round */
export function toggleReactMenu(force) {
  const menu = $('react-menu');
  const open = force ?? menu.hidden;
  menu.hidden = !open;
  $('react').setAttribute('aria-expanded', String(open));
  if (open) menu.querySelector('button')?.focus();
}

export function initReactions() {
  const menu = $('react-menu');
  menu.replaceChildren(
    ...REACTIONS.map((emoji) =>
      el('button', {
        type: 'button',
        role: 'menuitem',
        class: 'emoji',
        text: emoji,
        'aria-label': `Send ${NAMES[/** @type {keyof typeof NAMES} */ (emoji)] ?? emoji}`,
        'data-testid': 'reaction-choice',
        onclick: () => sendReaction(emoji),
      }),
    ),
  );
  $('raise-hand').addEventListener('click', toggleHand);
  $('react').addEventListener('click', () => toggleReactMenu());
  document.addEventListener('click', (ev) => {
    if (reactMenuOpen() && !(/** @type {Element} */ (ev.target)).closest?.('.menu-anchor')) toggleReactMenu(false);
  });
}
