// The call's layout engine: where each tile goes on the stage. Pure functions of numbers (no DOM),
// so that the layout does not depend on what CSS the webview supports (WebKitGTK 2.50 ignores
// the tiles' `aspect-ratio`) and can be tested under node:test (tests/browser/layout-engine.test.mjs).
// tiles.js measures the stage, calls layoutStage, and gives each tile its rectangle in pixels.
//
// The rules:
// - grid (no screen shared, nothing pinned, 1 person or 3+): the rows x columns whose tiles, each at its own
//   picture's aspect ratio, cover the most area; the block is centred, an incomplete last row too.
//   No long single file: rows and columns differ by at most 2 (4 people on a phone are 2 x 2,
//   upright or sideways, rather than 4 small tiles in a line).
// - pair (you and one other person, no screen, no pin): the other person fills the stage (at their
//   picture's ratio, letterboxed); you are a small thumbnail in a corner of the stage (the one the
//   person chose, `corner`; bottom-right unless they moved it).
// - spotlight (a tile is pinned, or someone shares a screen; the pin wins, then another's screen
//   before yours): that tile large, everyone else in a strip below it or beside it, whichever
//   covers more of the stage (below unless beside covers 5 % more); the strip is at least 16 % of
//   the stage (all the room the large tile leaves, if more) and grows until its tiles are 60 px
//   tall while the large tile keeps 80 % of the stage's width or height, and shrinks (not below
//   16 %) while one of its tiles would be larger than the large one; the strip is a grid of its own.
// - the thumbnail's corner: where a dragged thumbnail is let go picks the corner (nearestCorner).

/** A camera picture's ratio when the real one is not known yet. */
export const DEFAULT_ASPECT = 16 / 9;

/** @typedef {'tl'|'tr'|'bl'|'br'} Corner a corner of the stage: top or bottom, left or right */

/** The corners in the order "Move to another corner" visits them (clockwise from bottom-right). */
export const CORNERS = /** @type {Corner[]} */ (['br', 'bl', 'tl', 'tr']);

/**
 * @param {any} c
 * @returns {Corner} `c` when it is a corner, else bottom-right (a stored value may be anything)
 */
export const asCorner = (c) => (CORNERS.includes(c) ? c : 'br');

/** @param {Corner} c @returns {Corner} the next corner, clockwise */
export const nextCorner = (c) => CORNERS[(CORNERS.indexOf(asCorner(c)) + 1) % CORNERS.length];

/**
 * The corner of a `width` x `height` stage nearest to a rectangle (where a dragged thumbnail
 * was let go): the quarter its centre is in.
 * @param {number} width @param {number} height @param {{x: number, y: number, width: number, height: number}} rect
 * @returns {Corner}
 */
export function nearestCorner(width, height, rect) {
  const top = rect.y + rect.height / 2 < height / 2;
  const left = rect.x + rect.width / 2 < width / 2;
  return /** @type {Corner} */ (`${top ? 't' : 'b'}${left ? 'l' : 'r'}`);
}

/**
 * @typedef {object} Grid
 * @property {number} rows
 * @property {number} cols
 * @property {number} width a tile's width (px)
 * @property {number} height a tile's height (px)
 */

/**
 * The rows x columns that give `count` tiles of one aspect ratio the largest size inside
 * `width` x `height` with `gap` between tiles. Fewer columns win a tie (wider tiles).
 * @param {number} width
 * @param {number} height
 * @param {number} count
 * @param {number} [aspect] width / height of a tile
 * @param {number} [gap]
 * @returns {Grid}
 */
export function bestGrid(width, height, count, aspect = DEFAULT_ASPECT, gap = 10) {
  let best = { rows: 0, cols: 0, width: 0, height: 0 };
  if (!(count > 0 && width > 0 && height > 0 && aspect > 0)) return best;
  for (let cols = 1; cols <= count; cols += 1) {
    const rows = Math.ceil(count / cols);
    const cw = (width - gap * (cols - 1)) / cols;
    const ch = (height - gap * (rows - 1)) / rows;
    if (cw <= 0 || ch <= 0) continue;
    const w = Math.min(cw, ch * aspect);
    if (w > best.width + 1e-9) best = { rows, cols, width: w, height: w / aspect };
  }
  return best;
}

/**
 * @typedef {object} Rect
 * @property {number} x from the stage's left edge (px)
 * @property {number} y from the stage's top edge (px)
 * @property {number} width
 * @property {number} height
 */

/**
 * The largest rectangle of ratio `aspect` inside `width` x `height`.
 * @param {number} width @param {number} height @param {number} aspect
 * @returns {{width: number, height: number}}
 */
export function fit(width, height, aspect) {
  if (!(width > 0 && height > 0 && aspect > 0)) return { width: 0, height: 0 };
  const w = Math.min(width, height * aspect);
  return { width: w, height: w / aspect };
}

/**
 * Tiles of possibly different ratios in a grid inside a box: every cell has one size (that of
 * the ratio that covers the most), each tile is the largest of its own ratio inside its cell.
 * @param {Rect} box
 * @param {number[]} aspects
 * @param {number} gap
 * @param {boolean} [balanced] rows and columns differ by at most 2 (not for a strip)
 * @returns {{rows: number, cols: number, rects: Rect[]}}
 */
export function gridIn(box, aspects, gap, balanced = true) {
  const n = aspects.length;
  if (!n) return { rows: 0, cols: 0, rects: [] };
  const candidates = [...new Set(aspects)];
  let best = { rows: 0, cols: 0, cw: 0, ch: 0, area: -1 };
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    // More columns for as many rows only makes cells narrower.
    if (cols > 1 && Math.ceil(n / (cols - 1)) === rows) continue;
    if (balanced && Math.abs(rows - cols) > 2) continue;
    const freeW = (box.width - gap * (cols - 1)) / cols;
    const freeH = (box.height - gap * (rows - 1)) / rows;
    if (freeW <= 0 || freeH <= 0) continue;
    for (const cellAspect of candidates) {
      const cell = fit(freeW, freeH, cellAspect);
      let area = 0;
      for (const a of aspects) {
        const t = fit(cell.width, cell.height, a);
        area += t.width * t.height;
      }
      if (area > best.area * (1 + 1e-9)) best = { rows, cols, cw: cell.width, ch: cell.height, area };
    }
  }
  const { rows, cols, cw, ch } = best;
  if (!rows) return { rows: 0, cols: 0, rects: aspects.map(() => ({ x: box.x, y: box.y, width: 0, height: 0 })) };
  const blockH = rows * ch + gap * (rows - 1);
  const top = box.y + (box.height - blockH) / 2;
  /** @type {Rect[]} */
  const rects = [];
  for (let i = 0; i < n; i += 1) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - cols * (rows - 1) : cols;
    const col = i - row * cols;
    const rowW = inRow * cw + gap * (inRow - 1);
    const cellX = box.x + (box.width - rowW) / 2 + col * (cw + gap);
    const cellY = top + row * (ch + gap);
    const t = fit(cw, ch, aspects[i]);
    rects.push({ x: cellX + (cw - t.width) / 2, y: cellY + (ch - t.height) / 2, width: t.width, height: t.height });
  }
  return { rows, cols, rects };
}

/**
 * @typedef {object} TileSpec
 * @property {'self'|'person'|'screen'} kind your camera, someone else's, or a shared screen
 * @property {number} [aspect] the picture's width / height when known (DEFAULT_ASPECT otherwise)
 * @property {boolean} [local] a screen that you share (another's is preferred for the spotlight)
 * @property {boolean} [pinned] the person pinned this tile: it is the spotlight's (one at a time)
 */

/**
 * @typedef {object} Layout
 * @property {'empty'|'grid'|'pair'|'spotlight'} mode
 * @property {Rect[]} rects one a tile, in the order of the tiles given
 * @property {number} main the index of the large tile (pair, spotlight), or -1
 * @property {number} thumb the index of the thumbnail drawn over the main tile (pair), or -1
 * @property {'below'|'beside'|null} strip where the others are in a spotlight
 * @property {Corner|null} corner where the thumbnail is (pair)
 * @property {number} rows the grid's (or the strip's) rows
 * @property {number} cols the grid's (or the strip's) columns
 */

/**
 * Where every tile goes on a `width` x `height` stage; `corner` is where your thumbnail goes in a
 * call of two.
 * @param {{width: number, height: number, tiles: TileSpec[], gap?: number, corner?: Corner}} stage
 * @returns {Layout}
 */
export function layoutStage({ width, height, tiles, gap = 10, corner = 'br' }) {
  const aspects = tiles.map((t) => (t.aspect && t.aspect > 0 && Number.isFinite(t.aspect) ? t.aspect : DEFAULT_ASPECT));
  const stage = { x: 0, y: 0, width: Math.max(0, width), height: Math.max(0, height) };
  /** @type {Layout} */
  const out = { mode: 'empty', rects: [], main: -1, thumb: -1, strip: null, corner: null, rows: 0, cols: 0 };
  if (!tiles.length || stage.width <= 0 || stage.height <= 0) {
    out.rects = tiles.map(() => ({ x: 0, y: 0, width: 0, height: 0 }));
    return out;
  }
  const pinned = tiles.findIndex((t) => t.pinned);
  if (pinned >= 0) return spotlight(stage, aspects, pinned, gap);
  const screens = tiles.map((t, i) => (t.kind === 'screen' ? i : -1)).filter((i) => i >= 0);
  if (screens.length) {
    const main = screens.find((i) => !tiles[i].local) ?? screens[0];
    return spotlight(stage, aspects, main, gap);
  }
  const self = tiles.findIndex((t) => t.kind === 'self');
  if (tiles.length === 2 && self >= 0) return pair(stage, aspects, 1 - self, self, asCorner(corner));
  const g = gridIn(stage, aspects, gap);
  return { ...out, mode: 'grid', rects: g.rects, rows: g.rows, cols: g.cols };
}

/**
 * @param {Rect} box @param {number} aspect
 * @returns {Rect} the largest rectangle of that ratio, centred in the box
 */
function centred(box, aspect) {
  const f = fit(box.width, box.height, aspect);
  return { x: box.x + (box.width - f.width) / 2, y: box.y + (box.height - f.height) / 2, ...f };
}

/**
 * @param {Rect} stage @param {number[]} aspects @param {number} main @param {number} thumb
 * @param {Corner} corner
 * @returns {Layout}
 */
function pair(stage, aspects, main, thumb, corner) {
  const rects = aspects.map(() => ({ x: 0, y: 0, width: 0, height: 0 }));
  rects[main] = centred(stage, aspects[main]);
  const margin = Math.min(12, stage.width * 0.03);
  let w = Math.min(280, Math.max(96, Math.max(stage.width, stage.height) * 0.2), stage.width * 0.4);
  let h = w / aspects[thumb];
  if (h > stage.height * 0.3) {
    h = stage.height * 0.3;
    w = h * aspects[thumb];
  }
  rects[thumb] = {
    x: corner[1] === 'l' ? margin : stage.width - w - margin,
    y: corner[0] === 't' ? margin : stage.height - h - margin,
    width: w,
    height: h,
  };
  return { mode: 'pair', rects, main, thumb, strip: null, corner, rows: 1, cols: 1 };
}

/** A strip's tiles are at least this tall when the strip may grow that far. */
const STRIP_TILE_MIN = 60;

/**
 * One way to place a spotlight: the strip below or beside the main tile.
 * @param {Rect} stage @param {number[]} aspects @param {number} main @param {number[]} others
 * @param {number} gap @param {boolean} beside
 * @returns {{rects: Rect[], area: number, rows: number, cols: number}}
 */
function spotlightAs(stage, aspects, main, others, gap, beside) {
  const along = beside ? stage.width : stage.height;
  const full = fit(stage.width, stage.height, aspects[main]);
  const leftover = along - (beside ? full.width : full.height) - gap;
  let strip = Math.max(along * 0.16, leftover);
  /** @param {number} s */
  const boxes = (s) => (beside
    ? [{ x: 0, y: 0, width: stage.width - s - gap, height: stage.height }, { x: 0, y: 0, width: s, height: stage.height }]
    : [{ x: 0, y: 0, width: stage.width, height: stage.height - s - gap }, { x: 0, y: 0, width: stage.width, height: s }]);
  let g = gridIn(boxes(strip)[1], others.map((i) => aspects[i]), gap, false);
  // It grows for its tiles' sake only while the main tile keeps 80 % of the stage's width or height.
  /** @param {number} s */
  const mainKeeps = (s) => {
    const m = fit(boxes(s)[0].width, boxes(s)[0].height, aspects[main]);
    return Math.max(m.width / stage.width, m.height / stage.height) >= 0.8;
  };
  while (Math.min(...g.rects.map((r) => r.height)) < STRIP_TILE_MIN && mainKeeps(strip + 4)) {
    strip += 4;
    g = gridIn(boxes(strip)[1], others.map((i) => aspects[i]), gap, false);
  }
  // Nor is a tile of the strip larger than the main one (a 4:3 picture under a 16:9 one on a
  // phone held upright was, with all the room the main tile leaves).
  /** @param {number} s */
  const mainArea = (s) => {
    const f = fit(boxes(s)[0].width, boxes(s)[0].height, aspects[main]);
    return f.width * f.height;
  };
  const largest = () => Math.max(...g.rects.map((r) => r.width * r.height));
  while (largest() > mainArea(strip) + 1e-6 && strip - 4 >= along * 0.16) {
    strip -= 4;
    g = gridIn(boxes(strip)[1], others.map((i) => aspects[i]), gap, false);
  }
  const [mainBox] = boxes(strip);
  const m = centred(mainBox, aspects[main]);
  // The main tile and the strip's tiles are centred together, the strip against the main tile.
  const rects = aspects.map(() => ({ x: 0, y: 0, width: 0, height: 0 }));
  const lo = beside ? Math.min(...g.rects.map((r) => r.x)) : Math.min(...g.rects.map((r) => r.y));
  const hi = beside ? Math.max(...g.rects.map((r) => r.x + r.width)) : Math.max(...g.rects.map((r) => r.y + r.height));
  const used = (beside ? m.width : m.height) + gap + (hi - lo);
  const start = (along - used) / 2;
  if (beside) m.x = start;
  else m.y = start;
  rects[main] = m;
  const stripStart = start + (beside ? m.width : m.height) + gap - lo;
  others.forEach((i, k) => {
    const r = g.rects[k];
    rects[i] = beside ? { ...r, x: r.x + stripStart } : { ...r, y: r.y + stripStart };
  });
  return { rects, area: rects.reduce((a, r) => a + r.width * r.height, 0), rows: g.rows, cols: g.cols };
}

/**
 * @param {Rect} stage @param {number[]} aspects @param {number} main @param {number} gap
 * @returns {Layout}
 */
function spotlight(stage, aspects, main, gap) {
  const others = aspects.map((_, i) => i).filter((i) => i !== main);
  if (!others.length) {
    const rects = aspects.map(() => ({ x: 0, y: 0, width: 0, height: 0 }));
    rects[main] = centred(stage, aspects[main]);
    return { mode: 'spotlight', rects, main, thumb: -1, strip: null, corner: null, rows: 0, cols: 0 };
  }
  const below = spotlightAs(stage, aspects, main, others, gap, false);
  const beside = spotlightAs(stage, aspects, main, others, gap, true);
  const pick = beside.area > below.area * 1.05 ? beside : below;
  return {
    mode: 'spotlight', rects: pick.rects, main, thumb: -1, strip: pick === beside ? 'beside' : 'below', corner: null, rows: pick.rows, cols: pick.cols,
  };
}
