// Your thumbnail in a call of two (layout.js's pair: the other person fills the stage, you are in
// a corner): drag it with a mouse, a finger or a pen and let go, and it goes to the nearest corner
// of the stage; that corner is remembered (prefs.thumbCorner) for the next call. The tile menu's
// "Move to another corner" is the way without a pointer (setThumbCorner, nextCorner).
import { $, announce } from './dom.js';
import { prefs, savePrefs } from './state.js';
import { layoutGrid } from './tiles.js';
import { asCorner, nearestCorner } from './layout.js';

/** @type {Record<import('./layout.js').Corner, string>} */
const CORNER_NAMES = { tl: 'top left', tr: 'top right', bl: 'bottom left', br: 'bottom right' };

/** A press moves this far (px) before it is a drag: a tap or a click stays one. */
const DRAG_FROM = 6;

/**
 * Puts your thumbnail in `corner` of the stage and remembers it.
 * @param {import('./layout.js').Corner} corner
 */
export function setThumbCorner(corner) {
  prefs.thumbCorner = asCorner(corner);
  savePrefs();
  layoutGrid();
  announce(`Your picture is in the ${CORNER_NAMES[prefs.thumbCorner]} corner`);
}

/** @param {number} v @param {number} lo @param {number} hi */
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), Math.max(lo, hi));

/**
 * A press on the thumbnail (not on its menu): it follows the pointer inside the stage until let
 * go, then snaps to the nearest corner. layoutGrid leaves a tile marked tile--dragging alone.
 * @param {PointerEvent} ev
 */
function onPointerDown(ev) {
  if (ev.button !== 0 || !(ev.target instanceof Element)) return;
  const tile = /** @type {HTMLElement|null} */ (ev.target.closest('.tile--thumb'));
  if (!tile || ev.target.closest('button, .menu')) return;
  const grid = $('grid');
  const start = { x: ev.clientX, y: ev.clientY, left: parseFloat(tile.style.left) || 0, top: parseFloat(tile.style.top) || 0 };
  let dragging = false;
  const done = new AbortController();
  tile.setPointerCapture?.(ev.pointerId);
  /** @param {PointerEvent} e */
  const move = (e) => {
    const dx = e.clientX - start.x;
    const dy = e.clientY - start.y;
    if (!dragging && Math.hypot(dx, dy) < DRAG_FROM) return;
    dragging = true;
    tile.classList.add('tile--dragging');
    tile.style.left = `${clamp(start.left + dx, 0, grid.clientWidth - tile.offsetWidth).toFixed(2)}px`;
    tile.style.top = `${clamp(start.top + dy, 0, grid.clientHeight - tile.offsetHeight).toFixed(2)}px`;
  };
  const end = () => {
    done.abort();
    if (!dragging) return;
    tile.classList.remove('tile--dragging');
    const rect = { x: parseFloat(tile.style.left), y: parseFloat(tile.style.top), width: tile.offsetWidth, height: tile.offsetHeight };
    setThumbCorner(nearestCorner(grid.clientWidth, grid.clientHeight, rect));
  };
  tile.addEventListener('pointermove', move, { signal: done.signal });
  tile.addEventListener('pointerup', end, { signal: done.signal });
  tile.addEventListener('pointercancel', end, { signal: done.signal });
}

export function initThumb() {
  $('grid').addEventListener('pointerdown', onPointerDown);
}
