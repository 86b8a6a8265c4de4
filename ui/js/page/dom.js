// Small DOM helpers every part of the page uses: find by id, build an element, a menu's items,
// tell screen-reader users, a person's initials, a toggle button's pressed state.

/** @param {string} id @returns {any} the element (every id the page asks for is in index.html or built by home.js) */
export const $ = (id) => document.getElementById(id);

/**
 * Builds an element: `class`, `text`, `data-*`, `aria-*`, `role` and `for` become attributes or
 * text, other props are set as properties; children null, undefined or false are skipped.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node|string|null|undefined|false)} children
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for') node.setAttribute(k, v);
    else /** @type {any} */ (node)[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/**
 * A menu's items (the More menu, the tile menu): buttons with role menuitem. Picking one closes
 * the menu first, then acts; its click goes no further (a menu the action opens stays open).
 * @param {Array<[string, () => void, string]>} items each its text, its action, its data-testid
 * @param {() => void} close
 * @returns {HTMLElement[]}
 */
export function menuItems(items, close) {
  return items.map(([text, fn, testid]) =>
    el('button', {
      type: 'button',
      role: 'menuitem',
      text,
      'data-testid': testid,
      onclick: (/** @type {Event} */ ev) => {
        ev.stopPropagation();
        close();
        fn();
      },
    }),
  );
}

/** Says `text` to screen-reader users (the live region #announcer). */
export function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  setTimeout(() => {
    a.textContent = text;
  }, 30);
}

/** "Ada Lovelace" -> "AL", "grace" -> "GR". */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

/** A microphone or camera button: pressed when `what` is off, named for what a press does. */
export function setPressed(button, off, what) {
  button.setAttribute('aria-pressed', String(off));
  button.setAttribute('aria-label', off ? `Turn ${what} on` : `Turn ${what} off`);
}
