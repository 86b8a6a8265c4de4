// The tile menu: a ⋮ button on every tile (shown on hover or keyboard focus, always on touch
// screens) opening Pin / Unpin, Full screen for that tile, and on your own thumbnail in a call of
// two, Move to another corner. Double-clicking a tile pins it, or unpins it. A pinned tile is the
// large one (layout.js's spotlight, over a shared screen); one at a time, only on this page (the
// others are not told); it comes off when its tile goes (tiles.js removeTile).
import { $, el, announce, menuItems } from './dom.js';
import { S, prefs } from './state.js';
import { layoutGrid } from './tiles.js';
import { canFullscreen, toggleFullscreen } from './more.js';
import { nextCorner } from './layout.js';
import { setThumbCorner } from './thumb.js';

/**
 * Pins the tile `key`, or unpins it when it is the pinned one.
 * @param {string} key
 */
export function togglePin(key) {
  const t = S.tiles.get(key);
  if (!t) return;
  S.pinned = S.pinned === key ? null : key;
  layoutGrid();
  announce(`${t.name.textContent} ${S.pinned ? 'pinned' : 'unpinned'}`);
}

/** The open tile menu and the button that opened it. @type {{menu: HTMLElement, button: HTMLElement}|null} */
let open = null;

/** Whether a tile menu is open. */
export function tileMenuOpen() {
  return !!open;
}

/**
 * Closes the tile menu, if one is open; `focus` gives the focus back to its button (Esc).
 * @param {{focus?: boolean}} [opts]
 * @returns {boolean} whether one was open
 */
export function closeTileMenu({ focus = false } = {}) {
  if (!open) return false;
  const { menu, button } = open;
  open = null;
  menu.remove();
  button.setAttribute('aria-expanded', 'false');
  if (focus) button.focus();
  return true;
}

/**
 * Puts the menu under its button, right-aligned with it, inside the window (above the button
 * when there is no room below). The menu is fixed to the window, so that the tile's rounded
 * frame does not cut it and it shows in the tile's own full screen too.
 * @param {HTMLElement} menu @param {HTMLElement} button
 */
function place(menu, button) {
  const b = button.getBoundingClientRect();
  const m = menu.getBoundingClientRect();
  const left = Math.min(Math.max(8, b.right - m.width), innerWidth - m.width - 8);
  let top = b.bottom + 4;
  if (top + m.height > innerHeight - 8) top = Math.max(8, b.top - m.height - 4);
  menu.style.left = `${Math.max(8, left)}px`;
  menu.style.top = `${top}px`;
}

/** @param {import('./state.js').Tile} t */
function openTileMenu(t) {
  closeTileMenu();
  const button = /** @type {HTMLElement} */ (t.tile.querySelector('.tile-menu-button'));
  /** @type {Array<[string, () => void, string]>} */
  const items = [[S.pinned === t.key ? 'Unpin' : 'Pin', () => togglePin(t.key), 'tile-pin']];
  if (canFullscreen()) {
    const full = document.fullscreenElement === t.tile;
    items.push([full ? 'Leave full screen' : 'Full screen', () => toggleFullscreen(t.tile), 'tile-fullscreen']);
  }
  if (t.tile.classList.contains('tile--thumb')) {
    items.push(['Move to another corner', () => setThumbCorner(nextCorner(prefs.thumbCorner)), 'tile-corner']);
  }
  const menu = el('div', { class: 'menu tile-menu', role: 'menu', 'aria-label': button.getAttribute('aria-label') ?? 'Options', 'data-testid': 'tile-menu' },
    ...menuItems(items, () => closeTileMenu({ focus: true })));
  t.tile.append(menu);
  place(menu, button);
  button.setAttribute('aria-expanded', 'true');
  open = { menu, button };
  /** @type {HTMLElement|null} */ (menu.querySelector('button'))?.focus();
}

/** @param {Element} tile @returns {import('./state.js').Tile|undefined} */
const tileOf = (tile) => [...S.tiles.values()].find((t) => t.tile === tile);

/** The ⋮ buttons (opening or closing their menu), and a click anywhere else closing it. */
function onClick(/** @type {MouseEvent} */ ev) {
  const target = /** @type {Element} */ (ev.target);
  const button = target.closest?.('.tile-menu-button');
  if (button && $('grid').contains(button)) {
    const again = open?.button === button;
    closeTileMenu();
    const t = again ? undefined : tileOf(/** @type {Element} */ (button.closest('.tile')));
    if (t) openTileMenu(t);
    return;
  }
  if (open && !open.menu.contains(target)) closeTileMenu();
}

/** A double click on a tile (not on a button, a menu or the presenting bar) pins or unpins it. */
function onDoubleClick(/** @type {MouseEvent} */ ev) {
  const target = /** @type {Element} */ (ev.target);
  if (target.closest?.('button, .menu, .presenting')) return;
  const tile = target.closest?.('.tile');
  const t = tile && tileOf(tile);
  if (!t) return;
  getSelection()?.removeAllRanges();
  togglePin(t.key);
}

/** Up and Down move through the menu's items. */
function onMenuKey(/** @type {KeyboardEvent} */ ev) {
  if (!open || (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp')) return;
  const items = /** @type {HTMLElement[]} */ ([...open.menu.querySelectorAll('button')]);
  const at = items.indexOf(/** @type {HTMLElement} */ (document.activeElement));
  if (at < 0) return;
  ev.preventDefault();
  items[(at + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length].focus();
}

export function initTileMenu() {
  document.addEventListener('click', onClick);
  $('grid').addEventListener('dblclick', onDoubleClick);
  $('grid').addEventListener('keydown', onMenuKey);
}
