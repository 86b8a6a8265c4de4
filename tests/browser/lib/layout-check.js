// The call page's layout rules, checked on what is on screen: shared by the Chromium layout test
// (tests/browser/layout.test.mjs) and the Linux app's (tests/app/app.test.mjs, WebKitGTK).
// `measure` runs in the page (it is sent as source: no imports, no outside names).

/** Everything the checks need, read in the page. */
export function measure() {
  const grid = /** @type {HTMLElement} */ (document.getElementById('grid'));
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  };
  const panel = document.getElementById('sidepanel');
  const overlayPanel = panel && !panel.hidden && getComputedStyle(panel).position === 'fixed' ? box(panel) : null;
  const tiles = [...grid.querySelectorAll('.tile')].map((el) => {
    const video = el.querySelector('video');
    const label = el.querySelector('figcaption');
    const lb = box(label);
    // What a person would see at the middle of the name: the name itself, not something over it.
    const hit = document.elementFromPoint(lb.x + lb.width / 2, lb.y + lb.height / 2);
    return {
      name: el.querySelector('.name').textContent,
      box: box(el),
      label: lb,
      labelOnTop: !!hit && label.contains(hit) || hit === label,
      hitWhat: hit ? `${hit.tagName}.${hit.className}` : null,
      thumb: el.classList.contains('tile--thumb'),
      main: el.classList.contains('tile--main'),
      pinned: el.classList.contains('tile--pinned'),
      videoOff: el.classList.contains('video-off') || el.classList.contains('presenting-tile'),
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
    };
  });
  const cs = getComputedStyle(grid);
  return {
    layout: grid.dataset.layout,
    strip: grid.dataset.strip ?? null,
    corner: grid.dataset.corner ?? null,
    stage: box(grid),
    gridScroll: { sw: grid.scrollWidth, cw: grid.clientWidth, sh: grid.scrollHeight, ch: grid.clientHeight, overflow: cs.overflow },
    toolbar: box(/** @type {HTMLElement} */ (document.querySelector('.toolbar'))),
    overlayPanel,
    viewport: { width: innerWidth, height: innerHeight },
    pageScrollWidth: document.scrollingElement.scrollWidth,
    tiles,
  };
}

/**
 * The layout once it has settled (it does within a few frames): measures in a Playwright page
 * until two readings a frame apart agree.
 * @param {any} page a Playwright page
 * @param {number} [timeout] ms
 */
export async function settledLayout(page, timeout = 5000) {
  const end = Date.now() + timeout;
  const boxes = (m) => JSON.stringify(m.tiles.map((t) => t.box));
  for (;;) {
    const a = await page.evaluate(measure);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
    const b = await page.evaluate(measure);
    if (boxes(a) === boxes(b)) return b;
    if (Date.now() > end) throw new Error(`the layout did not settle in ${timeout} ms: ${boxes(b)}`);
  }
}

export const inside = (a, b, tol = 1) => a.x >= b.x - tol && a.y >= b.y - tol && a.x + a.width <= b.x + b.width + tol && a.y + a.height <= b.y + b.height + tol;
export const overlaps = (a, b, tol = 0.5) => a.x < b.x + b.width - tol && b.x < a.x + a.width - tol && a.y < b.y + b.height - tol && b.y < a.y + a.height - tol;

/**
 * Every rule, on one measured state; returns the list of what is wrong. `pinned`: a tile is
 * pinned, so it is the spotlight's large tile.
 */
export function problems(m, { people, screen, pinned = false }) {
  const out = [];
  const expected = screen || pinned ? 'spotlight' : people === 2 ? 'pair' : 'grid';
  const pins = m.tiles.filter((t) => t.pinned);
  if (pins.length !== (pinned ? 1 : 0)) out.push(`${pins.length} pinned tiles, expected ${pinned ? 1 : 0}`);
  if (pinned && pins.length && !pins[0].main) out.push(`the pinned tile (${pins[0].name}) is not the large one`);
  if (m.layout !== expected) out.push(`layout is ${m.layout}, expected ${expected}`);
  if (m.tiles.length !== people + (screen ? 1 : 0)) out.push(`${m.tiles.length} tiles for ${people} people${screen ? ' and a screen' : ''}`);
  const S = m.stage;
  for (const t of m.tiles) {
    if (!(t.box.width > 0 && t.box.height > 0)) out.push(`${t.name}: no size`);
    if (!inside(t.box, S)) out.push(`${t.name}: outside the stage ${JSON.stringify(t.box)} vs ${JSON.stringify(S)}`);
    if (!t.videoOff && t.videoWidth > 0) {
      const want = t.videoWidth / t.videoHeight;
      const got = t.box.width / t.box.height;
      if (Math.abs(got / want - 1) > 0.02) out.push(`${t.name}: ratio ${got.toFixed(3)} for a ${t.videoWidth}x${t.videoHeight} picture`);
    } else if (!t.videoOff) {
      out.push(`${t.name}: its video has no size yet`);
    }
    // The name: on screen, above the toolbar, inside its tile, and not covered (a phone's chat
    // sheet covers the stage on purpose: names under it are not asked to show).
    const L = t.label;
    if (!(L.x >= 0 && L.y >= 0 && L.x + L.width <= m.viewport.width + 0.5 && L.y + L.height <= m.viewport.height + 0.5)) out.push(`${t.name}: name off screen ${JSON.stringify(L)}`);
    if (L.y + L.height > m.toolbar.y + 0.5) out.push(`${t.name}: name under the toolbar`);
    if (!inside(L, t.box, 0.5)) out.push(`${t.name}: name cut by its tile ${JSON.stringify(L)} in ${JSON.stringify(t.box)}`);
    const underSheet = m.overlayPanel && overlaps(L, m.overlayPanel);
    if (!t.labelOnTop && !underSheet) out.push(`${t.name}: name covered by ${t.hitWhat}`);
  }
  for (let i = 0; i < m.tiles.length; i += 1) {
    for (let j = i + 1; j < m.tiles.length; j += 1) {
      const a = m.tiles[i];
      const b = m.tiles[j];
      if (a.thumb || b.thumb) {
        // The one exception: your thumbnail over the other person, never over their name.
        const other = a.thumb ? b : a;
        if (overlaps(a.thumb ? a.box : b.box, other.label)) out.push(`thumbnail covers ${other.name}'s name`);
        continue;
      }
      if (overlaps(a.box, b.box)) out.push(`${a.name} and ${b.name} overlap`);
    }
  }
  const thumbs = m.tiles.filter((t) => t.thumb);
  if (expected === 'pair' && thumbs.length !== 1) out.push(`${thumbs.length} thumbnails in a call of two`);
  if (expected !== 'pair' && thumbs.length) out.push('a thumbnail outside a call of two');
  // The stage is used: the tiles together span 60 % of it along one side; a call of two's other
  // person and a spotlight's screen alone 80 %.
  const xs = m.tiles.map((t) => t.box);
  const spanW = (Math.max(...xs.map((b) => b.x + b.width)) - Math.min(...xs.map((b) => b.x))) / S.width;
  const spanH = (Math.max(...xs.map((b) => b.y + b.height)) - Math.min(...xs.map((b) => b.y))) / S.height;
  if (Math.max(spanW, spanH) < 0.6) out.push(`tiles span ${(100 * spanW).toFixed(0)} % x ${(100 * spanH).toFixed(0)} % of the stage`);
  if (expected !== 'grid') {
    const main = m.tiles.find((t) => t.main);
    if (!main) out.push('no main tile');
    else {
      const f = Math.max(main.box.width / S.width, main.box.height / S.height);
      if (f < 0.8) out.push(`main tile spans ${(100 * f).toFixed(0)} % of the stage`);
    }
  }
  if (m.pageScrollWidth > m.viewport.width) out.push(`the page scrolls sideways (${m.pageScrollWidth} > ${m.viewport.width})`);
  if (m.gridScroll.sw > m.gridScroll.cw + 1) out.push(`the stage scrolls sideways (${m.gridScroll.sw} > ${m.gridScroll.cw})`);
  if (m.gridScroll.sh > m.gridScroll.ch + 1) out.push(`the stage overflows downwards (${m.gridScroll.sh} > ${m.gridScroll.ch})`);
  return out;
}

