// Where the keyboard is, and where a field is, can be seen (issue 13, broken item 10): a field
// focused from the keyboard has a visible outline (a page rule `input:focus {outline: none}` used
// to win over `:focus-visible`, leaving a 1 px border colour), and field borders stand out from
// the card at 3:1 or more (they were 1.5:1).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, openPage, closeAll } from './lib/harness.js';

/** WCAG contrast ratio of two `rgb(...)` colours. */
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('focus and field borders', runnable(), () => {
  let host;
  let browser;
  let opened;

  before(async () => {
    host = await startHost();
    browser = await launchBrowser();
    opened = await openPage(browser, host.joinUrl);
  });

  after(async () => {
    await closeAll(opened?.context, browser);
    await host?.stop();
    host?.cleanup();
  });

  test('a field reached with Tab shows an outline of at least 2 px', async () => {
    const { page } = opened;
    await page.getByTestId('name').focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const style = await page.evaluate(() => {
      const el = document.activeElement;
      const s = getComputedStyle(el);
      return { id: el.id, outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    assert.notEqual(style.outline, 'none', `the focused field (${style.id}) has an outline`);
    assert.ok(style.width >= 2, `outline ${style.width}px`);
  });

  test('field borders stand out from the card at 3:1 or more', async () => {
    const { page } = opened;
    const colours = await page.evaluate(() => {
      // Unfocused: a focused field's border takes the accent colour.
      /** @type {HTMLElement} */ (document.activeElement)?.blur();
      const field = getComputedStyle(document.querySelector('[data-testid=name]'));
      return { border: field.borderTopColor, background: field.backgroundColor };
    });
    const ratio = contrast(colours.border, colours.background);
    assert.ok(ratio >= 3, `border ${colours.border} on ${colours.background}: ${ratio.toFixed(2)}:1`);
  });
});
