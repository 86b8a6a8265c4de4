// Who is in the call and how to bring others in: the People panel (everyone with their mute,
// camera, hand, recording and connection signs; for the app's host, who is asking to join), the
// invitation shown on the stage while nobody else is here (link, Copy, QR code), and the QR
// codes themselves (made by the Rust side: the host's `/qr` for a browser, `qr_code` in the app).
import { $, el, announce, initials } from './dom.js';
import { S } from './state.js';
import { inApp, invoke } from '../lib/tauri.js';

const svgEl = (/** @type {string} */ tag, /** @type {Record<string, any>} */ attrs) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
};

/**
 * Draws a QR code (`{size, modules}`: `size * size` characters, `1` dark) into `box` as SVG, with
 * the 4-module quiet zone a reader needs.
 * @param {Element} box
 * @param {{size: number, modules: string}|null} qr
 */
export function drawQr(box, qr) {
  box.replaceChildren();
  if (!qr) return;
  const n = qr.size;
  const quiet = 4;
  let d = '';
  for (let y = 0; y < n; y += 1) {
    for (let x = 0; x < n; x += 1) {
      if (qr.modules[y * n + x] === '1') d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
    }
  }
  const svg = svgEl('svg', { viewBox: `0 0 ${n + 2 * quiet} ${n + 2 * quiet}`, 'shape-rendering': 'crispEdges' });
  svg.append(svgEl('rect', { width: n + 2 * quiet, height: n + 2 * quiet, class: 'qr-light' }), svgEl('path', { d, class: 'qr-dark' }));
  box.append(svg);
}

/** The link that brings others into this call (set by the app's home screen when it hosts it). */
let hostedLink = /** @type {{host: string, url: string}|null} */ (null);

/**
 * The app hosts the call at `host` and knows its full join link (with every fingerprint): the
 * invitation uses it while we are in that call.
 * @param {{host: string, url: string}|null} link
 */
export function setHostedLink(link) {
  hostedLink = link;
  renderInvite();
}

/** The join link of the call we are in: room, token and, where known, the host's fingerprint. */
export function inviteLink() {
  const a = S.address;
  if (!a) return '';
  if (hostedLink && hostedLink.host === a.host) return hostedLink.url;
  const params = new URLSearchParams({ room: a.room });
  if (a.token) params.set('token', a.token);
  const fp = S.link.host === a.host ? S.link.fingerprint : null;
  if (fp) params.set('fp', fp);
  return `https://${a.host}/#${params.toString().replace(/%3A/gi, ':')}`;
}

/** @type {Map<string, Promise<{size: number, modules: string}|null>>} */
const qrCache = new Map();

/**
 * The QR code of `text`, from the Rust side (null when it cannot be made: the page says so).
 * @param {string} text
 */
function qrOf(text) {
  let p = qrCache.get(text);
  if (!p) {
    p = (inApp()
      ? invoke('qr_code', { text })
      : fetch(`/qr?text=${encodeURIComponent(text)}`, { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null))
    ).catch((/** @type {any} */ err) => {
      console.warn('lancall: no QR code', err);
      qrCache.delete(text);
      return null;
    });
    qrCache.set(text, p);
  }
  return p;
}

/**
 * Fills a QR box with the code of `text`, or a line saying to share the link instead.
 * @param {HTMLElement} box
 * @param {string} text
 */
async function fillQr(box, text) {
  if (box.dataset.text === text) return;
  box.dataset.text = text;
  const qr = text ? await qrOf(text) : null;
  if (box.dataset.text !== text) return;
  if (qr) drawQr(box, qr);
  else box.replaceChildren(el('p', { class: 'hint', text: 'No QR code here: share the link.' }));
}

/** @param {HTMLElement} button */
async function copyLink(button) {
  const link = inviteLink();
  const label = button.querySelector('span') ?? button;
  const was = label.textContent;
  try {
    await navigator.clipboard.writeText(link);
    label.textContent = 'Copied';
    announce('Link copied');
  } catch {
    // No clipboard (plain http, or refused): select the link so that the person can copy it.
    const code = button.closest('.invite-card, .people-invite')?.querySelector('.join-link');
    if (code) getSelection()?.selectAllChildren(code);
    label.textContent = 'Selected: copy it';
  }
  setTimeout(() => (label.textContent = was), 2500);
}

/** Whether the person closed the invitation for this call. */
let inviteDismissed = false;

/** Shows the invitation on the stage while nobody else is in the call, and the panel's link. */
export function renderInvite() {
  const link = inviteLink();
  // Alone: nobody else in the call and nothing else on the stage (a screen, a test's tile), so
  // the card never covers another tile's name.
  const alone = S.phase === 'incall' && (S.call?.participants.length ?? 0) === 0 && S.tiles.size <= 1;
  const card = $('invite-card');
  card.hidden = !alone || inviteDismissed || !link;
  for (const code of document.querySelectorAll('[data-testid=invite-link], [data-testid=people-link]')) code.textContent = link;
  if (!card.hidden) fillQr(card.querySelector('.invite-qr'), link);
  const panelQr = $('people-panel').querySelector('.people-qr');
  if (!panelQr.hidden) fillQr(panelQr, link);
}

/** A new call: the invitation may show again. */
export function resetInvite() {
  inviteDismissed = false;
  renderInvite();
}

/** The signal-bar words a tile and the panel use. */
export const QUALITY_LABEL = { good: 'Good connection', fair: 'Fair connection', poor: 'Poor connection' };

/**
 * One row of the People list.
 * @param {{name: string, you?: boolean, muted: boolean, cameraOff: boolean, hand: boolean, recording: boolean, quality?: string|null, state?: string, id?: string|null}} p
 */
function personRow(p) {
  const signs = [];
  if (p.hand) signs.push(el('span', { class: 'sign hand-sign', role: 'img', 'aria-label': 'Hand raised', text: '✋' }));
  if (p.recording) signs.push(el('span', { class: 'sign rec-sign', text: 'REC', title: 'Recording' }));
  if (p.muted) signs.push(el('span', { class: 'sign', role: 'img', 'aria-label': 'Microphone muted', title: 'Microphone muted' }, icon('i-mic-off')));
  if (p.cameraOff) signs.push(el('span', { class: 'sign', role: 'img', 'aria-label': 'Camera off', title: 'Camera off' }, icon('i-cam-off')));
  if (p.quality) {
    const q = /** @type {keyof typeof QUALITY_LABEL} */ (p.quality);
    signs.push(el('span', { class: `quality q-${q}`, role: 'img', 'aria-label': QUALITY_LABEL[q], title: QUALITY_LABEL[q] }, el('i'), el('i'), el('i')));
  }
  return el(
    'li',
    { class: 'person', 'data-testid': 'person', 'data-peer': p.id ?? '', 'data-hand': String(p.hand), 'data-muted': String(p.muted) },
    el('span', { class: 'person-avatar', 'aria-hidden': 'true', text: initials(p.name) }),
    el('span', { class: 'person-name' }, el('span', { class: 'name', text: p.name }), p.you ? el('span', { class: 'muted', text: ' (you)' }) : null,
      p.state ? el('span', { class: 'person-state', text: p.state }) : null),
    el('span', { class: 'person-signs' }, ...signs),
  );
}

/** @param {string} id */
function icon(id) {
  const svg = svgEl('svg', { class: 'icon' });
  svg.append(svgEl('use', { href: `#${id}` }));
  return svg;
}

/** The People panel's list: us first, then everyone else in join order. */
export function renderPeople() {
  const call = S.call;
  const rows = [
    personRow({
      name: S.name,
      you: true,
      muted: !S.micOn || !S.tracks.audio,
      cameraOff: !S.camOn || !S.tracks.video,
      hand: !!call?.status.hand,
      recording: !!S.recording,
    }),
  ];
  for (const r of call?.participants ?? []) {
    const reconnecting = r.id === null || r.connectionState === 'disconnected' || r.connectionState === 'failed';
    rows.push(
      personRow({
        id: r.id,
        name: r.name,
        muted: r.state.muted.audio,
        cameraOff: r.state.muted.video,
        hand: r.status.hand,
        recording: r.status.recording,
        quality: r.quality ?? null,
        state: reconnecting ? 'reconnecting' : r.connectionState === 'connected' ? '' : 'connecting',
      }),
    );
  }
  $('people-list').replaceChildren(...rows);
  $('people-list-title').textContent = `In the call (${rows.length})`;
}

/**
 * People asking to join (the app's host in its own call): in the People panel too, with the same
 * answers as the prompt over the call.
 * @param {Array<{id: string, name: string}>} knocks
 * @param {(id: string, admit: boolean) => void} answer
 */
export function renderPanelKnocks(knocks, answer) {
  const ul = $('people-knocks');
  ul.replaceChildren(
    ...knocks.map((k) => {
      const admit = el('button', { type: 'button', class: 'secondary', 'data-testid': 'panel-admit-knock', text: 'Let in', onclick: () => answer(k.id, true) });
      const refuse = el('button', { type: 'button', class: 'secondary', 'data-testid': 'panel-refuse-knock', text: 'Refuse', onclick: () => answer(k.id, false) });
      return el('li', { class: 'person knock' }, el('span', { class: 'person-avatar', 'aria-hidden': 'true', text: initials(k.name) }),
        el('span', { class: 'person-name name', text: k.name }), el('span', { class: 'knock-actions' }, admit, refuse));
    }),
  );
  ul.hidden = !knocks.length;
  $('people-knocks-title').hidden = !knocks.length;
}

export function initPeople() {
  $('invite-close').addEventListener('click', () => {
    inviteDismissed = true;
    renderInvite();
  });
  $('invite-card').querySelector('.invite-copy').addEventListener('click', (/** @type {any} */ ev) => copyLink(ev.currentTarget));
  $('people-copy').addEventListener('click', (/** @type {any} */ ev) => copyLink(ev.currentTarget));
  $('people-show-qr').addEventListener('click', () => {
    const box = $('people-panel').querySelector('.people-qr');
    box.hidden = !box.hidden;
    $('people-show-qr').setAttribute('aria-expanded', String(!box.hidden));
    $('people-show-qr').textContent = box.hidden ? 'Show QR code' : 'Hide QR code';
    renderInvite();
  });
}
