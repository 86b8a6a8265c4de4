// A call's life on the page: Join (checks, then the signaling client and the call), what the
// call reports while joining and during it (people, chat, reconnects, hub errors in plain
// words), knocking, and leaving. Also what the app's home screen calls: joinCall, leaveCall.
import { $, el, announce } from './dom.js';
import { S, store } from './state.js';
import { showScreen, showBanner, hideBanner } from './screens.js';
import { checkName, readAddress, showAddress, showProblem, clearProblem, updateJoinLabel, setToken, setJoinTarget, watchRoom } from './prejoin.js';
import { renderLocal, renderRemote, removeRemoteTiles, removeAllTiles, updateCount, detachPlayers } from './tiles.js';
import { startPreview, stopLocalTracks } from './devices.js';
import { stopScreen } from './share.js';
import { stopRecording, renderRecIndicator, onHostRecording } from './record.js';
import { openPanel, onChat, refreshStatsIfOpen } from './panels.js';
import { startFiles } from './files.js';
import { renderInvite, renderPeople, resetInvite } from './people.js';
import { onReaction, renderHand } from './reactions.js';
import { SignalingClient } from '../lib/signaling.js';
import { transportFor } from '../lib/transport-for.js';
import { takeWarm, dropWarm, warmUp } from './warm.js';
import { Call } from '../lib/call.js';
import { ROOM_RE, TOKEN_RE } from '../lib/link.js';
import { browserPeerConnectionFactory, makeCertificate } from '../lib/peer-factory.js';
import { bridgePeerConnectionFactory } from '../rtc/rtc-bridge.js';

const HUB_ERRORS = {
  'wrong-token': ['This link does not open the room.', 'Its token is wrong or out of date. Ask the host for a new link or QR code.'],
  'unknown-room': ['There is no such room on this host.', 'Check the room name, or ask the host for a new link.'],
  'room-full': ['The room is full.', 'Try again in a while, or ask the host to allow more people.'],
  'invalid-name': ['That name cannot be used.', 'Use 1 to 64 characters, without control characters.'],
  'invalid-field': ['The room name is not valid.', 'Room names use letters, digits, dots, dashes and underscores.'],
  'missing-field': ['Something is missing to join.', 'Check the room and your name.'],
  'rate-limited': ['Too many tries.', 'Wait a minute, then try again.'],
  refused: ['The host did not let you in.', 'Ask them for the link, or try again later.'],
  'already-knocking': ['You already asked to join.', 'Wait for the host to answer.'],
};

/**
 * Join as the pre-join card says (the Join button), after checking the name and the address;
 * `knock` asks the host to let us in instead of using a token.
 * @param {{knock?: boolean}} [opts]
 */
export function submitJoin({ knock: knocking = false } = {}) {
  if (S.phase !== 'prejoin') return;
  if (!S.ready) {
    // A click is a promise: before the camera and microphone are open, remember it and keep it
    // once they are (a Join dropped here left people waiting on a page that did nothing).
    S.queuedJoin = { knock: knocking };
    updateJoinLabel();
    return;
  }
  clearProblem();
  const nameCheck = checkName($('name').value);
  $('name').setAttribute('aria-invalid', String(!!nameCheck.error));
  if (nameCheck.error) {
    showProblem(nameCheck.error, '', [], 'warn');
    $('name').focus();
    return;
  }
  const { host, room, token } = readAddress();
  if (!host || !room) {
    if (document.documentElement.classList.contains('in-app')) {
      // The app has one place for where to join: its home screen's list and link field.
      showProblem('Which call?', 'Pick a call on this network above, paste its link, or host one.', [], 'warn');
      $('join-address')?.focus();
      return;
    }
    showAddress(true);
    showProblem('Where is the call?', 'Enter the host address (shown in the host app) and the room name.', [], 'warn');
    (host ? $('room') : $('host')).focus();
    return;
  }
  if (!ROOM_RE.test(room)) {
    showAddress(true);
    showProblem('The room name is not valid.', 'Room names use letters, digits, dots, dashes and underscores.', [], 'warn');
    return;
  }
  if (token && !TOKEN_RE.test(token)) {
    showAddress(true);
    showProblem('The token does not look right.', 'It is 32 characters, 0–9 and a–f, as in the link the host shared.', [], 'warn');
    return;
  }
  // No RTCPeerConnection in the app's webview (Debian's WebKitGTK): the app's Rust side gives
  // the call one with the same surface (rtc-bridge.js).
  const factory = browserPeerConnectionFactory() ?? bridgePeerConnectionFactory();
  if (!factory) {
    showProblem('This browser cannot make calls.', 'It has no WebRTC. Open the link in a current Chrome, Edge, Firefox or Safari.');
    return;
  }
  S.name = /** @type {string} */ (nameCheck.name);
  store.set('name', S.name);
  join({ host, room, token, name: S.name, createPeerConnection: factory, knock: knocking });
}

/**
 * Joins the call at `target` with the name and devices on the pre-join card, as pressing Join
 * would (the app's home screen calls this for "Join my call").
 * @param {{host: string, room?: string|null, token?: string|null}} target
 */
export function joinCall(target) {
  setJoinTarget(target, { scroll: false });
  submitJoin();
}

/** Ask the host to let us in (no token, or a token that no longer works). */
function knock() {
  clearProblem();
  setToken(null);
  submitJoin({ knock: true });
}

function join({ host, room, token, name, createPeerConnection, knock: knocking = false }) {
  S.phase = 'connecting';
  S.address = { host, room, token };
  $('join').disabled = true;
  updateJoinLabel();
  const signaling = new SignalingClient({
    // The first try uses the connection the pre-join card opened, if it is still there.
    connect: () => takeWarm(host) ?? transportFor(host),
    room,
    token,
    name,
  });
  const call = new Call({ signaling, createPeerConnection });
  S.signaling = signaling;
  S.call = call;
  startFiles(call, signaling, createPeerConnection);
  call.setMuted('audio', !S.micOn || !S.tracks.audio);
  call.setMuted('video', !S.camOn || !S.tracks.video);
  if (S.tracks.audio) call.setLocalTrack('audio', S.tracks.audio);
  if (S.tracks.video) call.setLocalTrack('video', S.tracks.video);

  call.addEventListener('joined', (ev) => onJoined(ev.detail));
  call.addEventListener('status', (ev) => onStatus(ev.detail));
  call.addEventListener('fatal', (ev) => onFatal(ev.detail));
  call.addEventListener('closing', (ev) => {
    closingMessage = String(ev.detail.message || 'The host is shutting down.');
    showBanner(`${closingMessage} You will be reconnected when it is back.`, 'warn');
  });
  call.addEventListener('remote-added', (ev) => {
    renderRemote(ev.detail.remote);
    refreshStatsIfOpen();
    peopleChanged();
    announce(`${ev.detail.remote.name} joined`);
  });
  call.addEventListener('remote-updated', (ev) => {
    const r = ev.detail.remote;
    const before = handsUp.has(r);
    if (r.status.hand && !before) {
      handsUp.add(r);
      announce(`${r.name} raised their hand`);
    } else if (!r.status.hand && before) handsUp.delete(r);
    renderRemote(r);
    refreshStatsIfOpen();
    peopleChanged();
  });
  call.addEventListener('remote-removed', (ev) => {
    handsUp.delete(ev.detail.remote);
    removeRemoteTiles(ev.detail.remote);
    peopleChanged();
    if (ev.detail.reason !== 'hangup') announce(`${ev.detail.remote.name} left`);
  });
  call.addEventListener('host-recording', () => onHostRecording());
  call.addEventListener('host-recording-error', (ev) => showBanner(ev.detail.message, 'error', 12000));
  call.addEventListener('chat', (ev) => onChat(ev.detail));
  call.addEventListener('reaction', (ev) => onReaction(ev.detail));
  call.addEventListener('knock-wait', () => {
    showProblem('Waiting for the host to let you in…', 'The host sees your name and decides.', [['Cancel', () => abortJoin(), 'stop-trying']], 'warn');
  });
  call.addEventListener('admitted', (ev) => {
    setToken(ev.detail.token);
    S.address.token = ev.detail.token ?? null;
    clearProblem();
  });
  call.start({ knock: knocking });
}

/** Whose hand we last saw raised (to say it once when it goes up). */
const handsUp = new WeakSet();

/** Someone came, went or changed: the People panel, the invitation and the REC sign follow. */
function peopleChanged() {
  if (S.panel === 'people') renderPeople();
  renderInvite();
  renderRecIndicator();
}

/** What the host said when it went away (its `closing` message), until we are back. */
let closingMessage = /** @type {string|null} */ (null);
/** @type {ReturnType<typeof setInterval> | undefined} the reconnect countdown's ticker */
let countdown;

/**
 * The banner while the hub is away: why (the host's own words if it said any), that the call
 * goes on between those already in it, and when the next try is, counting down, with Retry now.
 * @param {number|null} nextTryAt Date.now() of the next try, or null while a try is under way
 */
function showReconnecting(nextTryAt) {
  clearInterval(countdown);
  const lead = `${closingMessage ?? 'Lost the connection to the host.'} People already in the call can still see and hear you.`;
  const say = () => {
    const secs = nextTryAt === null ? 0 : Math.ceil((nextTryAt - Date.now()) / 1000);
    const when = nextTryAt === null || secs <= 0 ? ' Reconnecting…' : ` Trying again in ${secs} s.`;
    showBanner(`${lead}${when}`, 'warn', 0, nextTryAt === null ? null : ['Retry now', () => S.signaling?.retryNow()]);
    if (secs <= 0) clearInterval(countdown);
  };
  say();
  if (nextTryAt !== null) countdown = setInterval(say, 1000);
}

/** The longest the call waits to be drawn for its first connections to be negotiated. */
const DRAW_WAIT_MAX_MS = 300;

function onJoined({ room, rejoined, starting }) {
  clearInterval(countdown);
  closingMessage = null;
  if (rejoined) {
    showBanner('Reconnected to the host.', 'ok', 3000);
    return;
  }
  S.phase = 'incall';
  $('join').disabled = false;
  $('room-name').textContent = room;
  if (!starting) {
    drawCall(room);
    return;
  }
  // Drawing the call screen the first time keeps the page busy for tens of milliseconds; done
  // while the first offers and answers are being made, it held them up (~50 ms of the first
  // picture, bench/first-picture.md). So it is drawn once they are out, while ICE and DTLS run
  // elsewhere, or after DRAW_WAIT_MAX_MS at most.
  const call = S.call;
  let drawn = false;
  const draw = () => {
    if (drawn || S.call !== call) return;
    drawn = true;
    clearTimeout(timer);
    drawCall(room);
  };
  const timer = setTimeout(draw, DRAW_WAIT_MAX_MS);
  call?.addEventListener('under-way', draw, { once: true });
}

/** The call screen, drawn once per call. @param {string} room */
function drawCall(room) {
  if (S.phase !== 'incall') return;
  showScreen('incall');
  // The device menus go into the call's Settings panel, quality and frame rate unfolded there.
  $('settings-panel').append($('device-settings'));
  /** @type {HTMLDetailsElement} */ ($('more-settings')).open = true;
  renderLocal();
  updateCount();
  renderHand();
  resetInvite();
  renderRecIndicator();
  hideBanner();
  announce(`Joined ${room}`);
}

function onStatus({ state, reason, everJoined, retryInMs }) {
  if (state === 'reconnecting' && !everJoined && S.phase === 'connecting' && reason === 'unreachable') {
    const host = S.address.host;
    const detail = [
      'Make sure the host app is running and that this device is on the same network. Still trying…',
    ];
    if (host !== location.host) {
      detail.push(
        el('br'),
        'If this browser has not used this host before, open ',
        el('a', { href: `https://${host}/`, target: '_blank', rel: 'noopener', text: `https://${host}/` }),
        ' once and accept its certificate.',
      );
    }
    showProblem(`Cannot reach the host at ${host}.`, detail, [['Stop trying', () => abortJoin(), 'stop-trying']], 'warn');
  } else if (state === 'reconnecting' && S.phase === 'incall') {
    showReconnecting(retryInMs ? Date.now() + retryInMs : null);
  }
}

function onFatal({ code, message }) {
  const [title, advice] = HUB_ERRORS[code] ?? ['Could not join.', 'Try again, or ask the host for a new link.'];
  if (S.phase === 'connecting') {
    teardownCall();
    S.phase = 'prejoin';
    $('join').disabled = false;
    updateJoinLabel();
    if (code !== 'wrong-token' && code !== 'rate-limited') watchRoom();
    if (code === 'wrong-token' || code === 'unknown-room' || code === 'invalid-field') showAddress(true);
    const actions =
      code === 'room-full' || code === 'rate-limited'
        ? [['Try again', () => submitJoin(), 'retry-join']]
        : code === 'wrong-token' || code === 'refused'
          ? [[code === 'refused' ? 'Ask again' : 'Ask the host to let me in', knock, 'knock']]
          : [];
    showProblem(title, message || advice, actions);
    if (code === 'invalid-name') $('name').focus();
  } else if (S.phase === 'incall') {
    showBanner(`${title} ${message || advice}`, 'error', 0, ['Try again', () => S.signaling?.start()]);
  }
}

function abortJoin() {
  teardownCall();
  S.phase = 'prejoin';
  $('join').disabled = false;
  clearProblem();
  updateJoinLabel();
  watchRoom();
}

function teardownCall() {
  S.call?.hangup();
  S.call = null;
  S.signaling = null;
}

/** Leave the call (Hang up): save a recording, stop every player, then every track. */
export async function hangup() {
  if (S.phase !== 'incall') return;
  S.phase = 'leaving';
  clearInterval(countdown);
  closingMessage = null;
  await stopRecording();
  await detachPlayers();
  await S.call?.hangup();
  stopScreen();
  stopLocalTracks();
  S.call = null;
  S.signaling = null;
  removeAllTiles();
  openPanel(null);
  $('preview-col').append($('device-settings'));
  /** @type {HTMLDetailsElement} */ ($('more-settings')).open = false;
  S.phase = 'ended';
  hideBanner();
  showScreen('ended');
  document.title = 'lancall';
  announce('You left the call');
  $('rejoin').focus();
}

/** Leaves the call if we are in one (the app's home screen ends hosting). */
export function leaveCall() {
  return hangup();
}

/** Whether a call is on screen. */
export function inCall() {
  return S.phase === 'incall';
}

/** From the ended screen back to the pre-join card (Rejoin; the app's Back to home). */
export async function backToPrejoin() {
  S.phase = 'prejoin';
  $('join').disabled = false;
  showScreen('prejoin');
  renderLocal();
  watchRoom();
  await startPreview();
}

/** The camera and microphone have been opened (or have failed): a Join waiting goes ahead. */
export function pageReady() {
  S.ready = true;
  warmUp(readAddress().host);
  makeCertificate();
  const waiting = S.queuedJoin;
  S.queuedJoin = null;
  updateJoinLabel();
  if (waiting) submitJoin(waiting);
}

export function initJoin() {
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitJoin();
  });
  $('join').disabled = false;
  $('hangup').addEventListener('click', hangup);
  $('rejoin').addEventListener('click', backToPrejoin);
  window.addEventListener('pagehide', () => {
    S.call?.hangup();
    dropWarm();
  });
}
