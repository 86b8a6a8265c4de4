// The page: pre-join screen, call screen, controls and panels. Talks to the call through
// call.js and to devices through media.js; knows nothing about the wire protocol.
import { SignalingClient } from './signaling.js';
import { transportFor } from './transport-ipc.js';
import { Call } from './call.js';
import { bridgePeerConnectionFactory, playsItself, bridgeSources, sourceCounts } from './rtc-bridge.js';
import { browserPeerConnectionFactory } from './peer-factory.js';
import * as media from './media.js';
import { summarize, statRows } from './stats.js';
import { Recording, save } from './recorder.js';
import { parseJoinLink, parseTypedAddress, ROOM_RE, TOKEN_RE } from './link.js';
import { LevelMeter } from './levels.js';

const $ = (id) => document.getElementById(id);

// ---- small helpers -------------------------------------------------------------------------

const store = {
  get(key, fallback) {
    try {
      const v = localStorage.getItem(`lancall.${key}`);
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(`lancall.${key}`, JSON.stringify(value));
    } catch {
      /* private mode: settings are not kept, nothing else changes */
    }
  },
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  setTimeout(() => {
    a.textContent = text;
  }, 30);
}

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

/** A display name as the hub accepts it (docs/PROTOCOL.md): trimmed, 1–64 characters, no controls. */
function checkName(raw) {
  const name = raw.trim();
  if (!name) return { error: 'Enter your name so others know who you are.' };
  if ([...name].length > 64) return { error: 'Use at most 64 characters for your name.' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return { error: 'Your name has characters that cannot be shown.' };
  return { name };
}

// ---- state ---------------------------------------------------------------------------------

const prefs = {
  cameraId: store.get('cameraId', ''),
  micId: store.get('micId', ''),
  speakerId: store.get('speakerId', ''),
  quality: store.get('quality', '720p'),
  frameRate: store.get('frameRate', 30),
  facing: store.get('facing', 'user'),
};
const savePrefs = () => {
  for (const [k, v] of Object.entries(prefs)) store.set(k, v);
};

const S = {
  phase: 'prejoin', // prejoin | connecting | incall | ended
  link: parseJoinLink(location.href, location.protocol === 'https:' ? location.host : ''),
  tracks: { audio: null, video: null },
  micOn: store.get('micOn', true),
  camOn: store.get('camOn', true),
  devices: { audioinput: [], videoinput: [], audiooutput: [] },
  problems: [],
  signaling: null,
  call: null,
  screen: null, // { track, stream }
  recording: null,
  recTimer: null,
  tiles: new Map(), // key -> { tile, video, ... }
  statsTimer: null,
  statsPrev: new Map(),
  panel: null,
  unread: 0,
  meter: null,
  name: store.get('name', ''),
  opening: null,
};
// For people debugging from the console (and the browser tests): the live state, read-only use.
window.lancall = S;
// What the Rust-backed connection sends, for the tests and the benchmark (see rtc-bridge.js).
S.bridge = { sources: bridgeSources, counts: sourceCounts };
// Errors nothing caught, kept for the console and the tests (window.lancall.errors).
S.errors = [];
const keepError = (what) => {
  S.errors.push(String(what).slice(0, 300));
  if (S.errors.length > 10) S.errors.shift();
};
window.addEventListener('error', (ev) => keepError(ev.error?.stack ?? ev.message));
window.addEventListener('unhandledrejection', (ev) => keepError(ev.reason?.stack ?? ev.reason));

// ---- local capture -------------------------------------------------------------------------

function videoWanted() {
  return media.videoConstraints({
    deviceId: prefs.cameraId && S.devices.videoinput.some((d) => d.deviceId === prefs.cameraId) ? prefs.cameraId : '',
    facingMode: prefs.cameraId ? undefined : prefs.facing,
    quality: prefs.quality,
    frameRate: Number(prefs.frameRate),
  });
}

function audioWanted() {
  const known = S.devices.audioinput.some((d) => d.deviceId === prefs.micId);
  return media.audioConstraints({ deviceId: known ? prefs.micId : '' });
}

/** Use `track` as our microphone or camera (null for none); the old one is stopped. */
async function setTrack(kind, track) {
  const old = S.tracks[kind];
  S.tracks[kind] = track;
  if (track && kind === 'audio') track.enabled = S.micOn;
  if (track) {
    track.addEventListener('ended', () => {
      // The device went away (unplugged, taken by the system).
      if (S.tracks[kind] !== track) return;
      setTrack(kind, null);
      showNote(`Your ${kind === 'audio' ? 'microphone' : 'camera'} stopped. Pick another one in Settings.`);
    });
  }
  if (S.call) await S.call.setLocalTrack(kind, track);
  if (old && old !== track) {
    // The players showing the old camera let go of it before it ends (see detachPlayers);
    // renderLocal gives them the new one.
    if (kind === 'video') await detachPlayers((v) => v.srcObject === previewStream);
    old.stop();
  }
  if (kind === 'audio') S.meter?.setTrack(track);
  renderLocal();
}

/** Open the camera and/or microphone as chosen; problems are shown, what works is kept. */
async function openCaptures({ audio, video }) {
  const want = { audio: audio ? audioWanted() : false, video: video ? videoWanted() : false };
  if (!want.audio && !want.video) return [];
  const res = await media.openCamera(want);
  if (res.audio) await setTrack('audio', res.audio);
  if (res.video) await setTrack('video', res.video);
  if (res.audio || res.video) await refreshDevices();
  for (const n of res.notes) showNote(n);
  return res.problems;
}

async function startPreview() {
  clearProblem();
  const problems = await openCaptures({ audio: !S.tracks.audio, video: S.camOn && !S.tracks.video });
  S.problems = problems;
  if (problems.length) showMediaProblems(problems);
  updateJoinLabel();
  renderLocal();
}

async function switchDevice(kind, deviceId) {
  const constraints =
    kind === 'video'
      ? media.videoConstraints({ deviceId, quality: prefs.quality, frameRate: Number(prefs.frameRate) })
      : media.audioConstraints({ deviceId });
  let res = await media.openCamera({ audio: kind === 'audio' && constraints, video: kind === 'video' && constraints });
  if (!res[kind] && res.problems[0]?.code === 'in-use' && S.tracks[kind]) {
    // Phones often cannot open a second camera while one is open: let go of the old one first.
    S.tracks[kind].stop();
    res = await media.openCamera({ audio: kind === 'audio' && constraints, video: kind === 'video' && constraints });
  }
  if (res[kind]) {
    await setTrack(kind, res[kind]);
    announce(`${kind === 'audio' ? 'Microphone' : 'Camera'} switched`);
  } else if (res.problems[0]) {
    showNote(`${res.problems[0].title} ${res.problems[0].detail}`);
  }
  for (const n of res.notes) showNote(n);
  await refreshDevices();
}

async function toggleMic() {
  if (!S.tracks.audio) {
    const problems = await openCaptures({ audio: true, video: false });
    if (problems.length) {
      showMediaProblems(problems);
      return;
    }
    S.micOn = true;
  } else {
    S.micOn = !S.micOn;
    S.tracks.audio.enabled = S.micOn;
  }
  store.set('micOn', S.micOn);
  S.call?.setMuted('audio', !S.micOn);
  announce(S.micOn ? 'Microphone on' : 'Microphone muted');
  renderLocal();
}

async function toggleCam() {
  if (S.camOn && S.tracks.video) {
    // Camera off means the device is released: the light goes out.
    S.camOn = false;
    await setTrack('video', null);
  } else {
    S.camOn = true;
    const problems = await openCaptures({ audio: false, video: true });
    if (problems.length) {
      S.camOn = false;
      showMediaProblems(problems);
    }
  }
  store.set('camOn', S.camOn);
  S.call?.setMuted('video', !S.camOn || !S.tracks.video);
  announce(S.camOn ? 'Camera on' : 'Camera off');
  renderLocal();
}

async function flipCamera() {
  prefs.facing = prefs.facing === 'environment' ? 'user' : 'environment';
  const dev = S.devices.videoinput.find((d) => d.facing === prefs.facing);
  prefs.cameraId = dev?.deviceId ?? '';
  savePrefs();
  if (!S.camOn) return;
  if (dev) {
    await switchDevice('video', dev.deviceId);
  } else {
    S.tracks.video?.stop();
    const res = await media.openCamera({ audio: false, video: videoWanted() });
    if (res.video) await setTrack('video', res.video);
  }
}

/** Apply the chosen size and rate to the live camera, within what it can do. */
async function applyQuality() {
  savePrefs();
  const track = S.tracks.video;
  if (!track) return;
  try {
    await track.applyConstraints(media.fitToCapabilities(track, { quality: prefs.quality, frameRate: Number(prefs.frameRate) }));
  } catch (err) {
    showNote(`Your camera cannot switch to that quality (${err.name}); it keeps its current one.`);
  }
  renderCameraNote();
}

function renderCameraNote() {
  const track = S.tracks.video;
  const note = $('camera-note');
  if (!track) {
    note.textContent = '';
    return;
  }
  const s = track.getSettings();
  const lim = media.cameraLimits(track);
  let text = `Camera sends ${s.width ?? '?'}×${s.height ?? '?'}`;
  if (s.frameRate) text += ` at ${Math.round(s.frameRate)} fps`;
  if (lim?.maxWidth) text += ` (it can do up to ${lim.maxWidth}×${lim.maxHeight}${lim.maxFrameRate ? ` at ${Math.round(lim.maxFrameRate)} fps` : ''})`;
  note.textContent = `${text}.`;
}

// ---- devices -------------------------------------------------------------------------------

function fillSelect(select, list, current, emptyLabel) {
  select.replaceChildren();
  if (!list.length) {
    select.append(el('option', { value: '', text: emptyLabel }));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  for (const d of list) select.append(el('option', { value: d.deviceId, text: d.label }));
  select.value = list.some((d) => d.deviceId === current) ? current : list[0].deviceId;
}

async function refreshDevices() {
  try {
    S.devices = await media.listDevices();
  } catch {
    return;
  }
  const camNow = S.tracks.video?.getSettings().deviceId || prefs.cameraId;
  const micNow = S.tracks.audio?.getSettings().deviceId || prefs.micId;
  fillSelect($('camera-select'), S.devices.videoinput, camNow, 'No camera found');
  fillSelect($('mic-select'), S.devices.audioinput, micNow, 'No microphone found');
  const speakers = media.canChooseSpeaker() && S.devices.audiooutput.length > 0;
  $('speaker-field').hidden = !speakers;
  if (speakers) fillSelect($('speaker-select'), S.devices.audiooutput, prefs.speakerId || 'default', 'Default');
  const facings = new Set(S.devices.videoinput.map((d) => d.facing).filter(Boolean));
  $('prejoin-flip').hidden = !(facings.has('user') && facings.has('environment'));
  renderCameraNote();
}

function fillQualityMenus() {
  const q = $('quality-select');
  for (const [value, { label }] of Object.entries(media.QUALITIES)) q.append(el('option', { value, text: label }));
  q.value = prefs.quality in media.QUALITIES ? prefs.quality : '720p';
  const f = $('fps-select');
  for (const n of media.FRAME_RATES) f.append(el('option', { value: String(n), text: `${n} fps` }));
  f.value = String(media.FRAME_RATES.includes(Number(prefs.frameRate)) ? prefs.frameRate : 30);
}

async function applySpeaker(video) {
  if (!media.canChooseSpeaker() || !prefs.speakerId) return;
  try {
    await video.setSinkId(prefs.speakerId);
  } catch (err) {
    console.warn('lancall: setSinkId failed', err);
  }
}

// ---- pre-join problems ---------------------------------------------------------------------

function clearProblem() {
  $('prejoin-problem').hidden = true;
}

function showProblem(title, detail, actions = [], tone = 'error') {
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
}

function showMediaProblems(problems) {
  if (S.phase === 'incall') {
    showBanner(`${problems[0].title} ${problems[0].detail}`, 'error');
    return;
  }
  const p = problems[0];
  const also = problems.slice(1).map((x) => ` ${x.title}`).join('');
  const actions = [['Try again', () => startPreview(), 'retry-media']];
  showProblem(p.title + also, p.detail, actions, p.code === 'denied' || p.code === 'insecure' ? 'error' : 'warn');
}

function updateJoinLabel() {
  const btn = $('join');
  if (S.phase === 'connecting') {
    btn.textContent = 'Joining…';
    return;
  }
  const missing = [];
  if (!S.tracks.video && S.camOn) missing.push('camera');
  if (!S.tracks.audio) missing.push('microphone');
  btn.textContent = missing.length ? `Join without ${missing.join(' and ')}` : 'Join';
}

let noteTimer = null;
function showNote(text) {
  if (S.phase === 'incall') {
    showBanner(text, 'warn', 8000);
    return;
  }
  $('camera-note').textContent = text;
  clearTimeout(noteTimer);
  noteTimer = setTimeout(renderCameraNote, 8000);
}

// ---- where to join -------------------------------------------------------------------------

function renderWhere() {
  const { host, room } = readAddress();
  const w = $('where-text');
  if (host && room) {
    w.replaceChildren('Room ', el('b', { text: room }), ' on ', el('b', { text: host }));
  } else {
    w.replaceChildren('Enter the host address and room, or open the link the host shared.');
  }
}

function readAddress() {
  return { host: $('host').value.trim(), room: $('room').value.trim(), token: $('token').value.trim() || null };
}

function showAddress(open) {
  $('address').hidden = !open;
  $('edit-address').setAttribute('aria-expanded', String(open));
  $('edit-address').textContent = open ? 'Done' : 'Change';
}

// ---- joining -------------------------------------------------------------------------------

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

function onJoinSubmit(ev) {
  ev.preventDefault();
  if (S.phase !== 'prejoin') return;
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
  S.name = nameCheck.name;
  store.set('name', S.name);
  join({ host, room, token, name: S.name, createPeerConnection: factory, knock: ev.knock === true });
}

/** Ask the host to let us in (no token, or a token that no longer works). */
function knock() {
  clearProblem();
  $('token').value = '';
  onJoinSubmit({ preventDefault() {}, knock: true });
}

function join({ host, room, token, name, createPeerConnection, knock: knocking = false }) {
  S.phase = 'connecting';
  S.address = { host, room, token };
  $('join').disabled = true;
  updateJoinLabel();
  const signaling = new SignalingClient({
    connect: () => transportFor(host),
    room,
    token,
    name,
  });
  const call = new Call({ signaling, createPeerConnection });
  S.signaling = signaling;
  S.call = call;
  call.setMuted('audio', !S.micOn || !S.tracks.audio);
  call.setMuted('video', !S.camOn || !S.tracks.video);
  if (S.tracks.audio) call.setLocalTrack('audio', S.tracks.audio);
  if (S.tracks.video) call.setLocalTrack('video', S.tracks.video);

  call.addEventListener('joined', (ev) => onJoined(ev.detail));
  call.addEventListener('status', (ev) => onStatus(ev.detail));
  call.addEventListener('fatal', (ev) => onFatal(ev.detail));
  call.addEventListener('closing', (ev) => {
    showBanner(`${ev.detail.message} You will be reconnected when it is back.`, 'warn');
  });
  call.addEventListener('remote-added', (ev) => {
    renderRemote(ev.detail.remote);
    announce(`${ev.detail.remote.name} joined`);
  });
  call.addEventListener('remote-updated', (ev) => renderRemote(ev.detail.remote));
  call.addEventListener('remote-removed', (ev) => {
    removeRemoteTiles(ev.detail.remote);
    if (ev.detail.reason !== 'hangup') announce(`${ev.detail.remote.name} left`);
  });
  call.addEventListener('chat', (ev) => onChat(ev.detail));
  call.addEventListener('knock-wait', () => {
    showProblem('Waiting for the host to let you in…', 'The host sees your name and decides.', [['Cancel', () => abortJoin(), 'stop-trying']], 'warn');
  });
  call.addEventListener('admitted', (ev) => {
    $('token').value = ev.detail.token ?? '';
    S.address.token = ev.detail.token ?? null;
    clearProblem();
  });
  call.start({ knock: knocking });
}

function onJoined({ room, rejoined }) {
  if (rejoined) {
    showBanner('Reconnected to the host.', 'ok', 3000);
    return;
  }
  S.phase = 'incall';
  $('join').disabled = false;
  $('room-name').textContent = room;
  showScreen('incall');
  $('settings-panel').append($('device-settings'));
  renderLocal();
  updateCount();
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
    const secs = retryInMs ? ` Trying again in ${Math.max(1, Math.round(retryInMs / 1000))} s.` : '';
    showBanner(`Lost the connection to the host. People already in the call can still see and hear you.${secs}`, 'warn');
  }
}

function onFatal({ code, message }) {
  const [title, advice] = HUB_ERRORS[code] ?? ['Could not join.', 'Try again, or ask the host for a new link.'];
  if (S.phase === 'connecting') {
    teardownCall();
    S.phase = 'prejoin';
    $('join').disabled = false;
    updateJoinLabel();
    if (code === 'wrong-token' || code === 'unknown-room' || code === 'invalid-field') showAddress(true);
    const actions =
      code === 'room-full' || code === 'rate-limited'
        ? [['Try again', () => $('join-form').requestSubmit(), 'retry-join']]
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
}

function teardownCall() {
  S.call?.hangup();
  S.call = null;
  S.signaling = null;
}

// ---- call screen ---------------------------------------------------------------------------

function showScreen(name) {
  for (const id of ['prejoin', 'incall', 'ended']) $(id).hidden = id !== name;
}

let bannerTimer = null;
function showBanner(text, tone = 'warn', ms = 0, action = null) {
  const b = $('banner');
  b.className = `banner ${tone}`;
  $('banner-text').textContent = text;
  const a = $('banner-action');
  a.hidden = !action;
  if (action) {
    a.textContent = action[0];
    a.onclick = () => {
      hideBanner();
      action[1]();
    };
  }
  b.hidden = false;
  clearTimeout(bannerTimer);
  if (ms) bannerTimer = setTimeout(hideBanner, ms);
}

function hideBanner() {
  $('banner').hidden = true;
}

function makeTile(key, { local = false, screen = false } = {}) {
  let t = S.tiles.get(key);
  if (t) return t;
  const tile = $('tile-template').content.firstElementChild.cloneNode(true);
  tile.classList.toggle('local', local);
  tile.classList.toggle('screen', screen);
  const video = tile.querySelector('video');
  if (local) video.muted = true;
  t = { tile, video, name: tile.querySelector('.name'), micOff: tile.querySelector('.mic-off'),
    avatar: tile.querySelector('.avatar'), state: tile.querySelector('.tile-state'), key };
  S.tiles.set(key, t);
  $('grid').append(tile);
  if (!local) applySpeaker(video);
  layoutGrid();
  return t;
}

function removeTile(key) {
  const t = S.tiles.get(key);
  if (!t) return;
  detachPlayer(t.video);
  t.tile.remove();
  S.tiles.delete(key);
  layoutGrid();
}

/** Stops a player and lets go of its stream (see detachPlayers for why the order matters). */
function detachPlayer(video) {
  if (!video.srcObject) return;
  video.pause();
  video.srcObject = null;
}

function setSource(video, stream) {
  if (!stream) {
    detachPlayer(video);
    return;
  }
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    video.play?.().catch(() => {
      // Autoplay with sound needs a click first on some browsers.
      if (!video.muted) showBanner('Click anywhere to hear the others.', 'warn', 0, ['Play', () => playAll()]);
    });
  }
}

function playAll() {
  for (const t of S.tiles.values()) t.video.play?.().catch(() => {});
}

let previewStream = null;
function renderLocal() {
  const video = S.tracks.video;
  if (!previewStream) previewStream = new MediaStream();
  for (const t of previewStream.getTracks()) if (t !== video) previewStream.removeTrack(t);
  if (video && !previewStream.getTracks().includes(video)) previewStream.addTrack(video);
  // Pre-join preview: it plays only on the pre-join screen (hidden during a call, a player
  // playing for nobody costs a core's share in WebKitGTK).
  const pv = $('preview');
  setSource(pv, S.phase === 'prejoin' || S.phase === 'connecting' ? previewStream : null);
  const camShown = !!video;
  $('preview-off').hidden = camShown;
  $('preview-off-text').textContent = S.camOn ? 'No camera picture' : 'Camera is off';
  setPressed($('prejoin-mic'), !S.micOn || !S.tracks.audio, 'microphone');
  setPressed($('prejoin-cam'), !camShown, 'camera');
  updateJoinLabel();
  if (S.phase !== 'incall') return;
  // In-call tile
  const t = makeTile('local', { local: true });
  t.tile.dataset.testid = 'local-tile';
  setSource(t.video, previewStream);
  t.name.textContent = `${S.name} (you)`;
  t.avatar.textContent = initials(S.name);
  t.tile.classList.toggle('video-off', !camShown);
  t.micOff.toggleAttribute('hidden', S.micOn && !!S.tracks.audio);
  setPressed($('mute-audio'), !S.micOn || !S.tracks.audio, 'microphone');
  setPressed($('mute-video'), !camShown, 'camera');
  // Local screen tile
  if (S.screen) {
    const st = makeTile('local-screen', { local: true, screen: true });
    setSource(st.video, S.screen.stream);
    st.name.textContent = 'Your screen';
    st.micOff.toggleAttribute('hidden', true);
  } else {
    removeTile('local-screen');
  }
  const share = $('share-screen');
  share?.setAttribute('aria-pressed', String(!!S.screen));
  share?.setAttribute('aria-label', S.screen ? 'Stop sharing your screen' : 'Share your screen');
}

function setPressed(button, off, what) {
  button.setAttribute('aria-pressed', String(off));
  button.setAttribute('aria-label', off ? `Turn ${what} on` : `Turn ${what} off`);
}

const remoteKeys = new WeakMap();
function keysOf(r) {
  let k = remoteKeys.get(r);
  if (!k) {
    k = { main: `r-${r.session ?? r.id}-${Math.random()}`, screen: null };
    k.screen = `${k.main}-screen`;
    remoteKeys.set(r, k);
  }
  return k;
}

function renderRemote(r) {
  if (r.closed) return;
  const keys = keysOf(r);
  const t = makeTile(keys.main);
  t.tile.dataset.testid = 'remote-tile';
  t.video.dataset.testid = 'remote-video';
  if (r.id) {
    t.tile.dataset.peer = r.id;
    t.video.dataset.peer = r.id;
  }
  // Sound the Rust-backed connection plays through Web Audio already must not play twice.
  t.video.muted = r.mainStream.getAudioTracks().some(playsItself);
  setSource(t.video, r.mainStream);
  t.name.textContent = r.name;
  t.avatar.textContent = initials(r.name);
  const videoMuted = r.state.muted.video;
  t.tile.classList.toggle('video-off', videoMuted);
  t.tile.dataset.audioMuted = String(r.state.muted.audio);
  t.tile.dataset.videoMuted = String(videoMuted);
  t.micOff.toggleAttribute('hidden', !r.state.muted.audio);
  t.micOff.dataset.testid = 'remote-audio-muted';
  t.video.setAttribute('aria-label', `${r.name}${videoMuted ? ', camera off' : ''}${r.state.muted.audio ? ', microphone muted' : ''}`);
  const reconnecting = r.id === null || r.connectionState === 'disconnected' || r.connectionState === 'failed';
  const connecting = r.connectionState === 'new' || r.connectionState === 'connecting';
  t.state.hidden = !(reconnecting || connecting);
  t.state.textContent = reconnecting ? 'Reconnecting…' : 'Connecting…';
  t.tile.dataset.connection = r.connectionState;
  if (r.screenStream) {
    const st = makeTile(keys.screen, { screen: true });
    st.tile.dataset.testid = 'remote-screen-tile';
    st.video.dataset.testid = 'remote-screen';
    st.video.muted = true;
    if (r.id) st.video.dataset.peer = r.id;
    setSource(st.video, r.screenStream);
    st.name.textContent = `${r.name}'s screen`;
    st.micOff.toggleAttribute('hidden', true);
  } else {
    removeTile(keys.screen);
  }
  updateCount();
  if (S.panel === 'stats') renderStats();
}

function removeRemoteTiles(r) {
  const keys = keysOf(r);
  removeTile(keys.main);
  removeTile(keys.screen);
  S.statsPrev.delete(r);
  updateCount();
}

function updateCount() {
  const n = (S.call?.participants.length ?? 0) + 1;
  $('participant-count').textContent = String(n);
  $('participant-count').setAttribute('aria-label', `${n} ${n === 1 ? 'person' : 'people'} in the call`);
  document.title = S.phase === 'incall' ? `${S.address.room} (${n}) – lancall` : 'lancall';
}

/** Pick the tile size that uses the most of the stage for this many tiles. */
function layoutGrid() {
  const grid = $('grid');
  const n = grid.children.length;
  if (!n) return;
  const cs = getComputedStyle(grid);
  const gap = parseFloat(cs.columnGap) || 10;
  const W = grid.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const H = grid.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  if (W <= 0 || H <= 0) return;
  let best = 0;
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * (16 / 9));
    if (w > best) best = w;
  }
  grid.style.setProperty('--tile-w', `${Math.floor(best) - 1}px`);
}

// ---- speaking indicators -------------------------------------------------------------------

function updateSpeaking() {
  if (S.phase !== 'incall' || !S.call) return;
  for (const r of S.call.participants) {
    const t = S.tiles.get(keysOf(r).main);
    const src = r.tx.audio?.receiver.getSynchronizationSources?.()[0];
    // `timestamp` is on the performance clock in current engines, on the epoch in older ones.
    const age = src ? (src.timestamp > 1e12 ? Date.now() : performance.now()) - src.timestamp : Infinity;
    const level = age < 1000 ? src.audioLevel ?? 0 : 0;
    t?.tile.classList.toggle('speaking', level > 0.04 && !r.state.muted.audio);
  }
  const lt = S.tiles.get('local');
  lt?.tile.classList.toggle('speaking', S.micOn && (S.meter?.level ?? 0) > 0.08);
}

// ---- screen share --------------------------------------------------------------------------

async function toggleScreen() {
  if (S.screen) {
    stopScreen();
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (err) {
    const p = media.explainMediaError(err, 'screen');
    if (p.code !== 'denied') showBanner(`${p.title} ${p.detail}`, 'error', 8000);
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if ('contentHint' in track) track.contentHint = 'detail';
  // The browser's own "Stop sharing" control ends the track.
  track.addEventListener('ended', () => {
    if (S.screen?.track === track) stopScreen();
  });
  S.screen = { track, stream };
  S.call?.startScreen(track, stream);
  announce('You are sharing your screen');
  renderLocal();
}

function stopScreen() {
  if (!S.screen) return;
  const { stream } = S.screen;
  S.screen = null;
  S.call?.stopScreen();
  for (const t of stream.getTracks()) t.stop();
  announce('Screen sharing stopped');
  renderLocal();
}

// ---- recording -----------------------------------------------------------------------------

function recordSources() {
  const list = [];
  const mine = new MediaStream([S.tracks.video, S.tracks.audio].filter(Boolean));
  if (mine.getTracks().length) list.push({ key: 'local', label: 'Yourself', name: S.name, stream: mine });
  if (S.screen) list.push({ key: 'local-screen', label: 'Your screen', name: `${S.name}-screen`, stream: S.screen.stream });
  for (const r of S.call?.participants ?? []) {
    if (r.mainStream.getTracks().length) list.push({ key: r.id ?? r.session, label: r.name, name: r.name, stream: r.mainStream });
    if (r.screenStream) list.push({ key: `${r.id}-screen`, label: `${r.name}'s screen`, name: `${r.name}-screen`, stream: r.screenStream });
  }
  return list;
}

function toggleRecordMenu(force) {
  const menu = $('record-menu');
  const open = force ?? menu.hidden;
  if (!open) {
    menu.hidden = true;
    $('record').setAttribute('aria-expanded', 'false');
    return;
  }
  const sources = recordSources();
  menu.replaceChildren(el('div', { class: 'menu-title', text: 'Record to a file on this device' }));
  if (!sources.length) menu.append(el('div', { class: 'menu-title', text: 'Nothing to record yet.' }));
  for (const s of sources) {
    menu.append(
      el('button', {
        type: 'button',
        role: 'menuitem',
        text: s.label,
        'data-testid': 'record-source',
        'data-source': s.key,
        onclick: () => {
          toggleRecordMenu(false);
          startRecording(s);
        },
      }),
    );
  }
  menu.hidden = false;
  $('record').setAttribute('aria-expanded', 'true');
  menu.querySelector('button')?.focus();
}

function onRecordButton() {
  if (S.recording) stopRecording();
  else toggleRecordMenu();
}

function startRecording(source) {
  let rec;
  try {
    rec = new Recording(source.stream, source.name);
  } catch (err) {
    showBanner(`Recording could not start: ${err.message}`, 'error', 8000);
    return;
  }
  S.recording = rec;
  const ind = $('rec-indicator');
  ind.hidden = false;
  const tick = () => {
    const secs = Math.floor((Date.now() - rec.startedAt.getTime()) / 1000);
    $('rec-text').textContent = `Recording ${source.label} · ${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
  };
  tick();
  S.recTimer = setInterval(tick, 1000);
  const b = $('record');
  b.setAttribute('aria-pressed', 'true');
  b.setAttribute('aria-label', 'Stop recording and save the file');
  announce(`Recording ${source.label}`);
}

async function stopRecording() {
  const rec = S.recording;
  if (!rec) return;
  S.recording = null;
  clearInterval(S.recTimer);
  $('rec-indicator').hidden = true;
  const b = $('record');
  b.setAttribute('aria-pressed', 'false');
  b.setAttribute('aria-label', 'Record');
  try {
    const file = await rec.stop();
    const where = await save(file);
    if (where) showBanner(`Recording saved to ${where}`, 'ok', 8000);
    announce(`Recording saved ${where ? `to ${where}` : `as ${file.filename}`}`);
  } catch (err) {
    showBanner(`The recording could not be saved: ${err?.message ?? err}`, 'error', 8000);
  }
}

// ---- side panels: chat, stats, settings ----------------------------------------------------

const PANELS = { chat: ['chat-panel', 'open-chat', 'Chat'], stats: ['stats-panel', 'open-stats', 'Statistics'], settings: ['settings-panel', 'open-settings', 'Settings'] };

function togglePanel(name) {
  openPanel(S.panel === name ? null : name);
}

function openPanel(name) {
  S.panel = name;
  for (const [key, [panelId, buttonId]] of Object.entries(PANELS)) {
    $(panelId).hidden = key !== name;
    $(buttonId).setAttribute('aria-pressed', String(key === name));
  }
  $('sidepanel').hidden = !name;
  clearInterval(S.statsTimer);
  if (name) $('panel-title').textContent = PANELS[name][2];
  if (name === 'chat') {
    S.unread = 0;
    $('chat-badge').hidden = true;
    $('chat-input').focus();
  }
  if (name === 'stats') {
    renderStats();
    S.statsTimer = setInterval(renderStats, 1000);
  }
  if (name === 'settings') refreshDevices();
  requestAnimationFrame(layoutGrid);
}

function chatLine({ who, text, mine = false, system = false, at = Date.now() }) {
  const time = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const li = el(
    'li',
    { class: system ? 'system' : mine ? 'mine' : '' },
    system ? null : el('span', { class: 'who', text: who }, el('time', { text: time })),
    el('span', { class: 'text', text }),
  );
  const log = $('chat-log');
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function onChatSubmit(ev) {
  ev.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || !S.call) return;
  const sent = S.call.sendChat(text);
  chatLine({ who: 'You', text, mine: true });
  if (sent === 0) chatLine({ system: true, text: 'Nobody else is connected yet, so nobody got this message.' });
  input.value = '';
}

function onChat({ remote, text, at }) {
  chatLine({ who: remote.name, text, at });
  if (S.panel !== 'chat') {
    S.unread += 1;
    const b = $('chat-badge');
    b.textContent = String(S.unread);
    b.hidden = false;
    announce(`Message from ${remote.name}: ${text}`);
  }
}

let statsBusy = false;
async function renderStats() {
  if (statsBusy || !S.call) return;
  statsBusy = true;
  try {
    const panel = $('stats-panel');
    const parts = S.call.participants;
    if (!parts.length) {
      panel.replaceChildren(el('p', { class: 'hint', text: 'Nobody else is in the call yet.' }));
      return;
    }
    const sections = [];
    for (const r of parts) {
      const report = await S.call.getStats(r);
      if (!report) continue;
      const s = summarize(report, S.statsPrev.get(r) ?? null);
      S.statsPrev.set(r, s);
      const dl = el('dl');
      for (const [k, v] of statRows(s)) dl.append(el('dt', { text: k }), el('dd', { text: v }));
      sections.push(
        el('section', { 'data-peer': r.id ?? '', 'data-testid': 'peer-stats' },
          el('h3', { text: `${r.name} · ${r.connectionState}` }), dl),
      );
    }
    panel.replaceChildren(...sections);
  } finally {
    statsBusy = false;
  }
}

// ---- hang up -------------------------------------------------------------------------------

/**
 * Stops every page player before any track ends. WebKitGTK deadlocks its main thread when a
 * track it is playing in several `<video>`s ends while their video sinks wait for that thread
 * (seen as a frozen window on Hang up in the Linux app); a player detached first, given a turn
 * of the event loop to settle, is safe.
 */
async function detachPlayers(which = () => true) {
  for (const v of document.querySelectorAll('video')) if (which(v)) detachPlayer(v);
  await new Promise((r) => setTimeout(r, 0));
}

async function hangup() {
  if (S.phase !== 'incall') return;
  S.phase = 'leaving';
  await stopRecording();
  await detachPlayers();
  await S.call?.hangup();
  stopScreen();
  for (const kind of ['audio', 'video']) {
    S.tracks[kind]?.stop();
    S.tracks[kind] = null;
  }
  S.meter?.setTrack(null);
  S.call = null;
  S.signaling = null;
  for (const key of [...S.tiles.keys()]) removeTile(key);
  openPanel(null);
  $('join-form').insertBefore($('device-settings'), $('prejoin-problem'));
  S.phase = 'ended';
  hideBanner();
  showScreen('ended');
  document.title = 'lancall';
  announce('You left the call');
  $('rejoin').focus();
}

async function backToPrejoin() {
  S.phase = 'prejoin';
  $('join').disabled = false;
  showScreen('prejoin');
  renderLocal();
  await startPreview();
}

// ---- keyboard ------------------------------------------------------------------------------

function onKey(ev) {
  if (ev.key === 'Escape') {
    if ($('record-menu') && !$('record-menu').hidden) toggleRecordMenu(false);
    else if (S.panel) openPanel(null);
    return;
  }
  const tag = ev.target?.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || ev.target?.isContentEditable) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  const inCall = S.phase === 'incall';
  const actions = {
    m: toggleMic,
    v: toggleCam,
    s: inCall && $('share-screen') && !$('share-screen').hidden ? toggleScreen : null,
    r: inCall && $('record') ? onRecordButton : null,
    c: inCall ? () => togglePanel('chat') : null,
    i: inCall ? () => togglePanel('stats') : null,
  };
  if (key === 'h' && ev.shiftKey && inCall) {
    ev.preventDefault();
    hangup();
    return;
  }
  if (ev.shiftKey) return;
  const fn = actions[key];
  if (fn && (inCall || S.phase === 'prejoin')) {
    ev.preventDefault();
    fn();
  }
}

// ---- start ---------------------------------------------------------------------------------

function init() {
  $('host').value = S.link.host;
  $('room').value = S.link.room;
  $('token').value = S.link.token ?? '';
  $('name').value = S.name;
  showAddress(!S.link.host || !S.link.room);
  renderWhere();
  fillQualityMenus();
  if (!media.canShareScreen()) $('share-screen').remove();
  if (!globalThis.MediaRecorder) $('record').closest('.menu-anchor').remove();

  $('join-form').addEventListener('submit', onJoinSubmit);
  $('edit-address').addEventListener('click', () => showAddress($('address').hidden));
  for (const id of ['host', 'room', 'token']) $(id).addEventListener('input', renderWhere);
  $('host').addEventListener('change', () => {
    const typed = parseTypedAddress($('host').value);
    $('host').value = typed.host;
    if (typed.room) $('room').value = typed.room;
    if (typed.token) $('token').value = typed.token;
    renderWhere();
  });
  $('prejoin-mic').addEventListener('click', toggleMic);
  $('prejoin-cam').addEventListener('click', toggleCam);
  $('prejoin-flip').addEventListener('click', flipCamera);
  $('camera-select').addEventListener('change', (ev) => {
    prefs.cameraId = ev.target.value;
    const dev = S.devices.videoinput.find((d) => d.deviceId === prefs.cameraId);
    if (dev?.facing) prefs.facing = dev.facing;
    savePrefs();
    if (S.camOn) switchDevice('video', prefs.cameraId);
  });
  $('mic-select').addEventListener('change', (ev) => {
    prefs.micId = ev.target.value;
    savePrefs();
    if (S.tracks.audio) switchDevice('audio', prefs.micId);
  });
  $('speaker-select').addEventListener('change', (ev) => {
    prefs.speakerId = ev.target.value;
    savePrefs();
    for (const t of S.tiles.values()) if (!t.tile.classList.contains('local')) applySpeaker(t.video);
  });
  $('quality-select').addEventListener('change', (ev) => {
    prefs.quality = ev.target.value;
    applyQuality();
  });
  $('fps-select').addEventListener('change', (ev) => {
    prefs.frameRate = Number(ev.target.value);
    applyQuality();
  });

  $('mute-audio').addEventListener('click', toggleMic);
  $('mute-video').addEventListener('click', toggleCam);
  $('share-screen')?.addEventListener('click', toggleScreen);
  $('record')?.addEventListener('click', onRecordButton);
  $('open-chat').addEventListener('click', () => togglePanel('chat'));
  $('open-stats').addEventListener('click', () => togglePanel('stats'));
  $('open-settings').addEventListener('click', () => togglePanel('settings'));
  $('panel-close').addEventListener('click', () => openPanel(null));
  $('hangup').addEventListener('click', hangup);
  $('chat-form').addEventListener('submit', onChatSubmit);
  $('rejoin').addEventListener('click', backToPrejoin);
  document.addEventListener('keydown', onKey);
  document.addEventListener('click', (ev) => {
    const menu = $('record-menu');
    if (menu && !menu.hidden && !ev.target.closest('.menu-anchor')) toggleRecordMenu(false);
  });
  navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);
  new ResizeObserver(() => layoutGrid()).observe($('grid'));
  window.addEventListener('pagehide', () => S.call?.hangup());

  S.meter = new LevelMeter((level) => {
    $('mic-meter').style.setProperty('height', `${Math.min(100, Math.round(level * 160))}%`);
  });
  setInterval(updateSpeaking, 400);

  refreshDevices().then(startPreview);
  if (!S.name) $('name').focus();
}

init();
