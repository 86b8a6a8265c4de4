// The pre-join card's form: where to join (host, room, token), your name, the Join button's
// label, and the problem box under it. Joining itself is join.js's; the preview is tiles.js's.
import { $, el } from './dom.js';
import { S, preferenceChanged } from './state.js';
import { parseTypedAddress } from '../lib/link.js';

/** The room a home-screen choice joins when its link names none. */
export const DEFAULT_ROOM = 'call';

/** A display name as the hub accepts it (docs/PROTOCOL.md): trimmed, 1–64 characters, no controls. */
export function checkName(raw) {
  const name = raw.trim();
  if (!name) return { error: 'Enter your name so others know who you are.' };
  if ([...name].length > 64) return { error: 'Use at most 64 characters for your name.' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return { error: 'Your name has characters that cannot be shown.' };
  return { name };
}

/** The name field as typed, trimmed. */
export function typedName() {
  return $('name').value.trim();
}

/** Fills the name field unless the person typed one already. */
export function offerName(name) {
  if (!$('name').value) $('name').value = name;
}

// ---- where to join -------------------------------------------------------------------------

/** @returns {{host: string, room: string, token: string|null}} */
export function readAddress() {
  return { host: $('host').value.trim(), room: $('room').value.trim(), token: $('token').value.trim() || null };
}

function renderWhere() {
  const { host, room } = readAddress();
  const w = $('where-text');
  if (host && room) {
    w.replaceChildren('Room ', el('b', { text: room }), ' on ', el('b', { text: host }));
  } else {
    w.replaceChildren('Enter the host address and room, or open the link the host shared.');
  }
}

/** Opens (or closes) the address fields. */
export function showAddress(open) {
  $('address').hidden = !open;
  $('edit-address').setAttribute('aria-expanded', String(open));
  $('edit-address').textContent = open ? 'Done' : 'Change';
}

/** Sets the token field (cleared to knock; the host's token once it lets us in). */
export function setToken(token) {
  $('token').value = token ?? '';
}

/**
 * Points the card at a call (the app's home screen does, for a host found or a link pasted):
 * the address fields are filled and folded away; `scroll` brings the card and its Join button
 * into view.
 * @param {{host: string, room?: string|null, token?: string|null}} target
 * @param {{scroll?: boolean}} [opts]
 */
export function setJoinTarget({ host, room, token }, { scroll = true } = {}) {
  $('host').value = host ?? '';
  $('room').value = room || DEFAULT_ROOM;
  $('token').value = token || '';
  renderWhere();
  if (!$('address').hidden) showAddress(false);
  if (scroll) $('prejoin').scrollIntoView({ block: 'start', behavior: 'smooth' });
  if (scroll) $('join').focus({ preventScroll: true });
}

// ---- problems and the Join button ----------------------------------------------------------

export function clearProblem() {
  $('prejoin-problem').hidden = true;
}

/**
 * @param {string} title
 * @param {string | Array<Node|string>} detail
 * @param {Array<[string, () => void, string?]>} [actions] label, what it does, test id
 * @param {'error'|'warn'} [tone]
 */
export function showProblem(title, detail, actions = [], tone = 'error') {
  const box = $('prejoin-problem');
  box.classList.toggle('warn', tone === 'warn');
  $('problem-title').textContent = title;
  const d = $('problem-detail');
  d.replaceChildren(...(Array.isArray(detail) ? detail : [detail]));
  $('problem-actions').replaceChildren(
    ...actions.map(([label, fn, testid]) =>
      el('button', { type: 'button', class: 'secondary', text: label, onclick: fn, 'data-testid': testid ?? 'problem-action' }),
    ),
  );
  box.hidden = false;
  // At the top of the card, brought into view and focused: on a phone the sticky Join button
  // used to hide it below the fold, and Join seemed to do nothing.
  box.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  box.focus({ preventScroll: true });
}

/** "Join", "Joining…", or "Join without camera and microphone". */
export function updateJoinLabel() {
  const btn = $('join');
  if (S.phase === 'connecting' || S.queuedJoin) {
    btn.textContent = 'Joining…';
    return;
  }
  const missing = [];
  if (!S.tracks.video && S.camOn) missing.push('camera');
  if (!S.tracks.audio) missing.push('microphone');
  btn.textContent = missing.length ? `Join without ${missing.join(' and ')}` : 'Join';
}

/** Fills the card from the page's link and saved name, and follows what is typed. */
export function initPrejoin() {
  $('host').value = S.link.host;
  $('room').value = S.link.room;
  $('token').value = S.link.token ?? '';
  $('name').value = S.name;
  showAddress(!S.link.host || !S.link.room);
  renderWhere();
  $('edit-address').addEventListener('click', () => showAddress($('address').hidden));
  for (const id of ['host', 'room', 'token']) $(id).addEventListener('input', renderWhere);
  $('host').addEventListener('change', () => {
    const typed = parseTypedAddress($('host').value);
    $('host').value = typed.host;
    if (typed.room) $('room').value = typed.room;
    if (typed.token) $('token').value = typed.token;
    renderWhere();
  });
  $('name').addEventListener('change', () => preferenceChanged({ name: $('name').value }));
}
