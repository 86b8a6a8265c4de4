// The pre-join card's form: where to join (host, room, token) and who is there already, your
// name, the Join button's label, and the problem box. Joining itself is join.js's; the preview is tiles.js's.
import { $, el } from './dom.js';
import { S, preferenceChanged } from './state.js';
import { parseTypedAddress } from '../lib/link.js';
import { warmUp } from './warm.js';
import { inApp } from '../lib/tauri.js';

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

/** Where the card points, as one key ("host/room"), for what was learnt about it. */
function addressKey() {
  const { host, room } = readAddress();
  return `${host}/${room}`;
}

/** @returns {{host: string, room: string, token: string|null}} */
export function readAddress() {
  return { host: $('host').value.trim(), room: $('room').value.trim(), token: $('token').value.trim() || null };
}

function renderWhere() {
  const { host, room } = readAddress();
  const w = $('where-text');
  if (host && room) {
    // The host's name once it said it (`/room`, or the app's list of hosts), its address until then.
    const key = addressKey();
    const named = roomInfo?.for === key && roomInfo.host ? roomInfo.host : knownName?.for === key ? knownName.name : null;
    w.replaceChildren('Room ', el('b', { text: room }), ' on ', el('b', { text: named || host, title: host }));
  } else if (inApp()) {
    w.replaceChildren('Pick a call on this network above, paste its link, or host one.');
  } else {
    w.replaceChildren('Enter the host address and room, or open the link the host shared.');
  }
  watchRoom();
}

// ---- who is in the call --------------------------------------------------------------------

/** The host's name as the app's home screen knows it (discovery, or hosting). @type {{for: string, name: string} | null} */
let knownName = null;

/** How often the card asks again who is in the call, while it is on screen. */
const WHO_EVERY_MS = 5_000;
/** @type {{for: string, host: string, people: string[], capacity: number} | null} what `/room` said last */
let roomInfo = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let whoTimer;

/**
 * "Ada and Bob are in the call", from a list of names.
 * @param {string[]} people oldest first
 * @param {number} capacity
 */
export function whoIsHereText(people, capacity) {
  if (!people.length) return 'Nobody else is here yet.';
  if (people.length >= capacity) return `The call is full (${capacity} people).`;
  const shown = people.length > 3 ? [...people.slice(0, 2), `${people.length - 2} others`] : people;
  const list = shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
  return `${list} ${people.length === 1 ? 'is' : 'are'} in the call.`;
}

/**
 * While the pre-join card shows a call on the host that served this page, says who is in it and
 * the host's name (`GET /room`, which checks the link's token as a join would). Another host
 * (the app's home screen) is not asked: its page is not this one's origin. A link that does not
 * open the room is not asked again (each wrong token counts against this device at the host);
 * Join then says what is wrong, as before.
 */
export function watchRoom() {
  clearTimeout(whoTimer);
  const { host, room, token } = readAddress();
  const key = addressKey();
  if (roomInfo?.for !== key) {
    roomInfo = null;
    $('who-is-here').hidden = true;
  }
  if (host && room) warmUp(host);
  if (!host || !room || host !== location.host || S.phase !== 'prejoin') return;
  const ask = async () => {
    if (S.phase !== 'prejoin' || addressKey() !== key) return;
    let info = null;
    try {
      const resp = await fetch(`/room?room=${encodeURIComponent(room)}&token=${encodeURIComponent(token ?? '')}`, { cache: 'no-store' });
      if (resp.ok) info = await resp.json();
    } catch {
      /* the host is away: Join says so */
    }
    if (!info || !Array.isArray(info.people) || addressKey() !== key) return;
    const people = info.people.filter((/** @type {unknown} */ n) => typeof n === 'string');
    roomInfo = { for: key, host: typeof info.host === 'string' ? info.host : '', people, capacity: Number(info.capacity) || 0 };
    const who = $('who-is-here');
    who.textContent = whoIsHereText(people, roomInfo.capacity || Infinity);
    who.classList.toggle('empty', !people.length);
    who.hidden = false;
    const w = $('where-text').querySelector('b:last-of-type');
    if (w && roomInfo.host) w.textContent = roomInfo.host;
    if (!document.hidden) whoTimer = setTimeout(ask, WHO_EVERY_MS);
  };
  ask();
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
 * @param {{host: string, room?: string|null, token?: string|null, name?: string|null, words?: string|null}} target name: the host's, when known; words: its CA's four words (the app's list)
 * @param {{scroll?: boolean}} [opts]
 */
export function setJoinTarget({ host, room, token, name = null, words = null }, { scroll = true } = {}) {
  $('host').value = host ?? '';
  $('room').value = room || DEFAULT_ROOM;
  $('token').value = token || '';
  knownName = name ? { for: addressKey(), name } : null;
  // The four words of the certificate the app pinned for this host, to compare with its screen.
  $('host-words').textContent = words ?? '';
  $('host-words-line').hidden = !words;
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
  // Asked again when the page comes back into view (a hidden page stops asking).
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) watchRoom();
  });
}
