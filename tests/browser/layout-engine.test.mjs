// The layout engine (ui/js/page/layout.js) on its own: pure functions of numbers, no browser.
// Runs with the browser tests (tests/browser/run.sh picks up browser/*.test.mjs) or alone:
//   node --test tests/browser/layout-engine.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestGrid, fit, gridIn, layoutStage, nearestCorner, nextCorner, asCorner, CORNERS, DEFAULT_ASPECT } from '../../ui/js/page/layout.js';

const EPS = 1e-6;

/** @param {{x:number,y:number,width:number,height:number}} a @param {{x:number,y:number,width:number,height:number}} b */
const overlap = (a, b) => a.x < b.x + b.width - EPS && b.x < a.x + a.width - EPS && a.y < b.y + b.height - EPS && b.y < a.y + a.height - EPS;

/** Every rule the browser test checks, on the numbers alone. */
function checkLayout(width, height, tiles, gap = 10, corner = undefined) {
  const L = layoutStage({ width, height, tiles, gap, corner });
  const what = `${width}x${height} ${tiles.map((t) => t.kind).join(',')} -> ${L.mode}`;
  assert.equal(L.rects.length, tiles.length, what);
  L.rects.forEach((r, i) => {
    assert.ok(r.width > 0 && r.height > 0, `${what}: tile ${i} has a size`);
    assert.ok(r.x >= -EPS && r.y >= -EPS && r.x + r.width <= width + EPS && r.y + r.height <= height + EPS, `${what}: tile ${i} inside the stage ${JSON.stringify(r)}`);
    const aspect = tiles[i].aspect ?? DEFAULT_ASPECT;
    assert.ok(Math.abs(r.width / r.height / aspect - 1) < 1e-9, `${what}: tile ${i} keeps its ratio`);
  });
  for (let i = 0; i < L.rects.length; i += 1) {
    for (let j = i + 1; j < L.rects.length; j += 1) {
      if (i === L.thumb || j === L.thumb) continue;
      assert.ok(!overlap(L.rects[i], L.rects[j]), `${what}: tiles ${i} and ${j} overlap`);
    }
  }
  return L;
}

test('bestGrid: one tile fills the limiting side, 4 tiles on a wide stage are 2 x 2', () => {
  assert.deepEqual(bestGrid(1600, 900, 1, 16 / 9, 0), { rows: 1, cols: 1, width: 1600, height: 900 });
  const g = bestGrid(1280, 720, 4, 16 / 9, 10);
  assert.equal(g.rows, 2);
  assert.equal(g.cols, 2);
  assert.ok(Math.abs(g.height - 355) < 1e-9);
  assert.equal(bestGrid(0, 100, 3).cols, 0);
  assert.equal(bestGrid(100, 100, 0).cols, 0);
});

test('bestGrid: a tall stage stacks, a wide one lines up', () => {
  assert.deepEqual([bestGrid(400, 1000, 3).rows, bestGrid(400, 1000, 3).cols], [3, 1]);
  assert.deepEqual([bestGrid(2000, 300, 3).rows, bestGrid(2000, 300, 3).cols], [1, 3]);
});

test('fit: the largest rectangle of a ratio inside a box', () => {
  assert.deepEqual(fit(1000, 1000, 2), { width: 1000, height: 500 });
  assert.deepEqual(fit(1000, 100, 2), { width: 200, height: 100 });
  assert.deepEqual(fit(0, 100, 2), { width: 0, height: 0 });
});

test('gridIn: tiles of different ratios each keep theirs, an incomplete last row is centred', () => {
  const g = gridIn({ x: 0, y: 0, width: 1000, height: 600 }, [16 / 9, 4 / 3, 16 / 9], 10);
  assert.equal(g.rects.length, 3);
  assert.ok(Math.abs(g.rects[1].width / g.rects[1].height - 4 / 3) < 1e-9);
  if (g.rows === 2) {
    const last = g.rects[2];
    assert.ok(Math.abs(last.x + last.width / 2 - 500) < 1e-6, 'the last row is centred');
  }
});

test('a call of two: the other fills the stage, you are a thumbnail in the corner', () => {
  for (const [w, h] of [[1256, 660], [374, 728], [820, 250], [904, 660]]) {
    const L = checkLayout(w, h, [{ kind: 'self' }, { kind: 'person', aspect: 4 / 3 }]);
    assert.equal(L.mode, 'pair');
    assert.equal(L.main, 1);
    assert.equal(L.thumb, 0);
    const m = L.rects[1];
    assert.ok(Math.abs(m.width - w) < 1e-6 || Math.abs(m.height - h) < 1e-6, 'the other person touches two sides');
    const t = L.rects[0];
    assert.ok(t.width * t.height < 0.2 * m.width * m.height, 'the thumbnail is small');
    // It does not cover the other's name (their tile's bottom-left corner).
    const label = { x: m.x, y: m.y + m.height - 40, width: Math.min(200, m.width * 0.45), height: 40 };
    assert.ok(!overlap(label, t), `${w}x${h}: the thumbnail leaves the name visible`);
  }
});

test('a grid for 1, 3+ people: inside the stage, no overlap, 4 on a phone are 2 x 2', () => {
  const stages = [[1256, 660], [904, 660], [1896, 940], [776, 456], [374, 728], [820, 250], [468, 250]];
  for (const [w, h] of stages) {
    for (const n of [1, 3, 4, 5, 6, 8, 12]) {
      const tiles = [{ kind: 'self' }, ...Array.from({ length: n - 1 }, (_, i) => ({ kind: 'person', aspect: i % 3 === 1 ? 4 / 3 : 16 / 9 }))];
      const L = checkLayout(w, h, /** @type {any} */ (tiles));
      assert.equal(L.mode, 'grid');
      assert.ok(Math.abs(L.rows - L.cols) <= 2, `${w}x${h} n=${n}: ${L.rows}x${L.cols} is not a long single file`);
      const bw = Math.max(...L.rects.map((r) => r.x + r.width)) - Math.min(...L.rects.map((r) => r.x));
      const bh = Math.max(...L.rects.map((r) => r.y + r.height)) - Math.min(...L.rects.map((r) => r.y));
      assert.ok(Math.max(bw / w, bh / h) >= 0.6, `${w}x${h} n=${n}: the tiles span 60 % of the stage`);
    }
  }
  for (const [w, h] of [[374, 728], [820, 250]]) {
    const L = layoutStage({ width: w, height: h, tiles: [{ kind: 'self' }, { kind: 'person' }, { kind: 'person' }, { kind: 'person' }], gap: 6 });
    assert.deepEqual([L.rows, L.cols], [2, 2], `4 people on a ${w}x${h} phone stage`);
  }
});

test('a shared screen: spotlight, the screen large and the others in a strip', () => {
  const stages = [[1256, 660], [904, 660], [1896, 940], [776, 456], [374, 728], [820, 250], [468, 250]];
  for (const [w, h] of stages) {
    for (const n of [1, 2, 3, 4, 6, 8]) {
      const tiles = [{ kind: 'self' }, ...Array.from({ length: n - 1 }, () => ({ kind: 'person' })), { kind: 'screen', aspect: 16 / 10 }];
      const L = checkLayout(w, h, /** @type {any} */ (tiles));
      assert.equal(L.mode, 'spotlight');
      assert.equal(L.main, tiles.length - 1);
      const m = L.rects[L.main];
      assert.ok(Math.max(m.width / w, m.height / h) >= 0.8, `${w}x${h} n=${n}: the screen spans 80 % of the stage`);
      for (let i = 0; i < tiles.length - 1; i += 1) assert.ok(L.rects[i].width * L.rects[i].height < m.width * m.height, 'people are smaller than the screen');
    }
  }
  // Wide desktop stage: the strip goes beside; a phone upright: below.
  assert.equal(layoutStage({ width: 1256, height: 660, tiles: [{ kind: 'self' }, { kind: 'screen' }] }).strip, 'beside');
  assert.equal(layoutStage({ width: 374, height: 728, tiles: [{ kind: 'self' }, { kind: 'screen' }] }).strip, 'below');
  // Another's screen is the main one rather than your own.
  const two = layoutStage({ width: 1256, height: 660, tiles: [{ kind: 'screen', local: true }, { kind: 'self' }, { kind: 'screen' }] });
  assert.equal(two.main, 2);
});

test('an empty or unmeasured stage gives empty rectangles, never NaN', () => {
  assert.equal(layoutStage({ width: 0, height: 0, tiles: [{ kind: 'self' }] }).mode, 'empty');
  assert.deepEqual(layoutStage({ width: 800, height: 600, tiles: [] }).rects, []);
  const L = layoutStage({ width: 800, height: 600, tiles: [{ kind: 'self', aspect: NaN }, { kind: 'person', aspect: 0 }] });
  for (const r of L.rects) for (const v of Object.values(r)) assert.ok(Number.isFinite(v));
});

const STAGES = [[1256, 660], [904, 660], [1896, 940], [776, 456], [374, 728], [820, 250], [468, 250]];

test('a pinned tile: spotlight, it is large and the others are in the strip, whoever it is', () => {
  for (const [w, h] of STAGES) {
    for (const n of [1, 2, 3, 4, 6, 8]) {
      for (const at of new Set([0, Math.min(1, n - 1), n - 1])) {
        const tiles = [{ kind: 'self' }, ...Array.from({ length: n - 1 }, (_, i) => ({ kind: 'person', aspect: i % 2 ? 4 / 3 : 16 / 9 }))]
          .map((t, i) => ({ ...t, pinned: i === at }));
        const L = checkLayout(w, h, /** @type {any} */ (tiles));
        const what = `${w}x${h} n=${n} pinned ${at}`;
        assert.equal(L.mode, 'spotlight', what);
        assert.equal(L.main, at, what);
        assert.equal(L.thumb, -1, `${what}: no thumbnail`);
        const m = L.rects[at];
        assert.ok(Math.max(m.width / w, m.height / h) >= 0.8, `${what}: the pinned tile spans 80 % of the stage`);
        // None is larger (a phone held upright can give two pictures of one ratio its whole width each).
        for (let i = 0; i < n; i += 1) if (i !== at) assert.ok(L.rects[i].width * L.rects[i].height <= m.width * m.height + EPS, `${what}: tile ${i} is not larger`);
      }
    }
  }
  // On a desktop stage the pinned tile has most of it.
  const four = [{ kind: 'self' }, { kind: 'person' }, { kind: 'person', pinned: true }, { kind: 'person' }];
  const L = layoutStage({ width: 1256, height: 660, tiles: /** @type {any} */ (four) });
  assert.ok((L.rects[2].width * L.rects[2].height) / (1256 * 660) >= 0.6);
});

test('a pin wins over a shared screen, which is then in the strip; unpinned, the screen is large again', () => {
  const tiles = [{ kind: 'self' }, { kind: 'person' }, { kind: 'screen', aspect: 16 / 10 }, { kind: 'person', aspect: 4 / 3 }];
  for (const [w, h] of STAGES) {
    const pinned = checkLayout(w, h, /** @type {any} */ (tiles.map((t, i) => ({ ...t, pinned: i === 3 }))));
    assert.equal(pinned.main, 3, `${w}x${h}`);
    const r = pinned.rects[2];
    assert.ok(r.width * r.height < pinned.rects[3].width * pinned.rects[3].height, `${w}x${h}: the screen is in the strip`);
    assert.equal(checkLayout(w, h, /** @type {any} */ (tiles)).main, 2, `${w}x${h}: no pin, the screen`);
  }
  // Your own screen pinned wins over another's.
  const two = layoutStage({ width: 1256, height: 660, tiles: [{ kind: 'screen', local: true, pinned: true }, { kind: 'self' }, { kind: 'screen' }] });
  assert.equal(two.main, 0);
});

test('a call of two with a pin: the pinned one large (you, or the other), no thumbnail', () => {
  for (const at of [0, 1]) {
    const L = checkLayout(904, 660, [{ kind: 'self', pinned: at === 0 }, { kind: 'person', pinned: at === 1 }]);
    assert.equal(L.mode, 'spotlight');
    assert.equal(L.main, at);
    assert.equal(L.thumb, -1);
  }
});

test('the thumbnail goes to the corner asked for, and leaves the other\'s name visible there', () => {
  for (const [w, h] of [[1256, 660], [374, 728], [820, 250], [904, 660]]) {
    for (const corner of CORNERS) {
      const L = checkLayout(w, h, [{ kind: 'self' }, { kind: 'person', aspect: 4 / 3 }], 10, corner);
      assert.equal(L.mode, 'pair');
      assert.equal(L.corner, corner);
      const t = L.rects[0];
      const m = L.rects[1];
      const margin = Math.min(12, w * 0.03);
      const top = Math.abs(t.y - margin) < 1e-6;
      const bottom = Math.abs(t.y + t.height - (h - margin)) < 1e-6;
      const left = Math.abs(t.x - margin) < 1e-6;
      const right = Math.abs(t.x + t.width - (w - margin)) < 1e-6;
      assert.ok(corner[0] === 't' ? top : bottom, `${w}x${h} ${corner}: top or bottom ${JSON.stringify(t)}`);
      assert.ok(corner[1] === 'l' ? left : right, `${w}x${h} ${corner}: left or right ${JSON.stringify(t)}`);
      // The other's name: bottom left of their tile, bottom right when you are bottom left (app.css).
      const lw = Math.min(200, m.width * 0.45);
      const label = { x: corner === 'bl' ? m.x + m.width - lw : m.x, y: m.y + m.height - 40, width: lw, height: 40 };
      assert.ok(!overlap(label, t), `${w}x${h} ${corner}: the thumbnail leaves the name visible`);
    }
  }
  // Anything else (an old or broken stored value) is bottom-right.
  assert.equal(layoutStage({ width: 800, height: 600, tiles: [{ kind: 'self' }, { kind: 'person' }], corner: /** @type {any} */ ('middle') }).corner, 'br');
});

test('nearestCorner: the quarter of the stage the thumbnail\'s centre is in; nextCorner goes round all four', () => {
  assert.equal(nearestCorner(1000, 600, { x: 10, y: 10, width: 200, height: 110 }), 'tl');
  assert.equal(nearestCorner(1000, 600, { x: 700, y: 20, width: 200, height: 110 }), 'tr');
  assert.equal(nearestCorner(1000, 600, { x: 30, y: 400, width: 200, height: 110 }), 'bl');
  assert.equal(nearestCorner(1000, 600, { x: 780, y: 480, width: 200, height: 110 }), 'br');
  // Let go just left of the middle and a little low: bottom left.
  assert.equal(nearestCorner(1000, 600, { x: 380, y: 260, width: 200, height: 110 }), 'bl');
  const seen = new Set();
  let c = /** @type {import('../../ui/js/page/layout.js').Corner} */ ('br');
  for (let i = 0; i < 4; i += 1) {
    seen.add(c);
    c = nextCorner(c);
  }
  assert.equal(c, 'br');
  assert.equal(seen.size, 4);
  assert.equal(asCorner('tl'), 'tl');
  assert.equal(asCorner(null), 'br');
});
