// The pictures: the pre-join preview, the call's tiles (yours, your screen, each remote and their
// screen) with names, mute marks, connection state, the pin sign and the speaking outline, and
// where each tile goes (layout.js decides, layoutGrid applies it in pixels: the layout does not
// rely on CSS aspect-ratio, which WebKitGTK 2.50 ignores). A tile's look is ui/css/app.css (.tile) and the
// #tile-template in index.html; what a tile shows is renderLocal / renderRemote here.
import { $, initials, setPressed } from './dom.js';
import { S, prefs } from './state.js';
import { hideBanner, showBanner } from './screens.js';
import { updateJoinLabel } from './prejoin.js';
import { canChooseSpeaker } from '../lib/media.js';
import { playsItself } from '../rtc/rtc-bridge.js';
import { layoutStage, DEFAULT_ASPECT } from './layout.js';
import { QUALITY_LABEL, renderInvite } from './people.js';

/** Plays the others' sound on the chosen speaker, where the browser lets us choose. */
export async function applySpeaker(video) {
  if (!canChooseSpeaker() || !prefs.speakerId) return;
  try {
    await video.setSinkId(prefs.speakerId);
  } catch (err) {
    console.warn('lancall: setSinkId failed', err);
  }
}

/** Plays the others' sound on every remote tile again (after a speaker change). */
export function applySpeakerToAll() {
  for (const t of S.tiles.values()) if (!t.tile.classList.contains('local')) applySpeaker(t.video);
}

function makeTile(key, { local = false, screen = false } = {}) {
  let t = S.tiles.get(key);
  if (t) return t;
  const tile = $('tile-template').content.firstElementChild.cloneNode(true);
  tile.classList.toggle('local', local);
  // Not `screen`: that class is the page's screens' (pre-join, call, ended; min-height: 100%).
  tile.classList.toggle('tile--screen', screen);
  const video = tile.querySelector('video');
  if (local) video.muted = true;
  t = { tile, video, name: tile.querySelector('.name'), micOff: tile.querySelector('.mic-off'),
    avatar: tile.querySelector('.avatar'), state: tile.querySelector('.tile-state'), key,
    hand: tile.querySelector('.hand'), quality: tile.querySelector('.quality'),
    pin: tile.querySelector('.pin-sign'), menuButton: tile.querySelector('.tile-menu-button'),
    kind: screen ? 'screen' : local ? 'self' : 'person', local };
  // The picture's own ratio, once known, shapes its tile.
  const measured = () => {
    if (video.videoWidth > 0 && video.videoHeight > 0) {
      const aspect = video.videoWidth / video.videoHeight;
      if (Math.abs(aspect - (t.aspect ?? 0)) > 1e-3) {
        t.aspect = aspect;
        scheduleLayout();
      }
    }
  };
  video.addEventListener('loadedmetadata', measured);
  video.addEventListener('resize', measured);
  S.tiles.set(key, t);
  $('grid').append(tile);
  renderInvite();
  if (!local) applySpeaker(video);
  // Placed with the frame, not now: measuring the stage here forces the browser to lay out the
  // whole page at once, which held up the messages that start a call's connections (tens of ms
  // on a phone-class CPU; bench/first-picture.md).
  scheduleLayout();
  return t;
}

function removeTile(key) {
  const t = S.tiles.get(key);
  if (!t) return;
  detachPlayer(t.video);
  if (t.fake) clearInterval(t.fake);
  t.tile.remove();
  S.tiles.delete(key);
  // A pin goes with its tile (the person left, the screen is no longer shared).
  if (S.pinned === key) S.pinned = null;
  renderInvite();
  scheduleLayout();
}

/** Removes every tile (the call is over). */
export function removeAllTiles() {
  for (const key of [...S.tiles.keys()]) removeTile(key);
}

/** Stops a player and lets go of its stream (see detachPlayers for why the order matters). */
function detachPlayer(video) {
  if (!video.srcObject) return;
  video.pause();
  video.srcObject = null;
}

/**
 * Stops every page player (or those `which` picks) before any track ends. WebKitGTK deadlocks
 * its main thread when a track it is playing in several `<video>`s ends while their video sinks
 * wait for that thread (seen as a frozen window on Hang up in the Linux app); a player detached
 * first, given a turn of the event loop to settle, is safe.
 * @param {(v: HTMLVideoElement) => boolean} [which]
 */
export async function detachPlayers(which = () => true) {
  for (const v of document.querySelectorAll('video')) if (which(v)) detachPlayer(v);
  await new Promise((r) => setTimeout(r, 0));
}

/** Lets go of the players that show our camera (before that camera is stopped). */
export function detachCameraPlayers() {
  return detachPlayers((v) => v.srcObject === previewStream);
}

function setSource(video, stream) {
  if (!stream) {
    detachPlayer(video);
    return;
  }
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    video.play?.().catch((err) => onPlayRefused(video, err));
  }
}

/** What the banner says while sound waits for the person's first tap or click. */
const autoplayText = () =>
  `${globalThis.matchMedia?.('(pointer: coarse)').matches ? 'Tap' : 'Click'} anywhere to hear the others.`;
/** Removes the first-gesture listeners once they have done their job. @type {AbortController|null} */
let gestureWait = null;

/**
 * A player did not start. Only a real autoplay refusal (`NotAllowedError`: sound needs a tap
 * first) is the person's business: then the banner asks, and their first tap or key anywhere
 * starts every player and clears it. Anything else, such as `AbortError` ("interrupted by a new
 * load request" when a newer stream replaced this one), is not: saying "click to hear" while
 * sound plays was a false alarm in most calls.
 * @param {HTMLVideoElement} video
 * @param {any} err
 */
function onPlayRefused(video, err) {
  if (video.muted || err?.name !== 'NotAllowedError' || gestureWait) return;
  gestureWait = new AbortController();
  const options = { capture: true, signal: gestureWait.signal };
  document.addEventListener('pointerdown', playAll, options);
  document.addEventListener('keydown', playAll, options);
  showBanner(autoplayText(), 'warn', 0, ['Play', () => playAll()]);
}

/** Starts every player (after a tap or click: the page may now play sound). */
function playAll() {
  gestureWait?.abort();
  gestureWait = null;
  hideBanner(autoplayText());
  for (const t of S.tiles.values()) t.video.play?.().catch((err) => onPlayRefused(t.video, err));
}

/** Our camera's one stream, shown by the preview and our tile. @type {MediaStream|null} */
let previewStream = null;

/** Shows our camera and microphone state: the preview and its buttons, and in a call our tiles. */
export function renderLocal() {
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
  t.hand.hidden = !S.call?.status.hand;
  scheduleLayout();
  t.micOff.toggleAttribute('hidden', S.micOn && !!S.tracks.audio);
  setPressed($('mute-audio'), !S.micOn || !S.tracks.audio, 'microphone');
  setPressed($('mute-video'), !camShown, 'camera');
  // Local screen tile
  // Our own shared screen is not played back to us (a hall of mirrors when the whole screen is
  // shared): its tile says we are presenting, with Stop, as Meet does.
  const bar = $('presenting');
  if (S.screen) {
    const st = makeTile('local-screen', { local: true, screen: true });
    const { width, height } = S.screen.track.getSettings?.() ?? {};
    if (width && height) st.aspect = width / height;
    st.tile.classList.add('presenting-tile');
    st.name.textContent = 'Your screen';
    st.micOff.toggleAttribute('hidden', true);
    if (bar.parentElement !== st.tile) st.tile.append(bar);
    bar.hidden = false;
  } else {
    if (bar.parentElement !== $('incall')) {
      bar.hidden = true;
      $('incall').append(bar);
    }
    removeTile('local-screen');
  }
}

const remoteKeys = new WeakMap();
/** @type {Map<string, {remote: import('../lib/call.js').Remote, which: 'video'|'screen'}>} whose picture each remote tile shows */
const tileRemotes = new Map();
function keysOf(r) {
  let k = remoteKeys.get(r);
  if (!k) {
    k = { main: `r-${r.session ?? r.id}-${Math.random()}`, screen: null };
    k.screen = `${k.main}-screen`;
    remoteKeys.set(r, k);
  }
  return k;
}

/** Shows a remote participant (call.js's Remote): their tile, and their screen's if they share. */
export function renderRemote(r) {
  if (r.closed) return;
  const keys = keysOf(r);
  const t = makeTile(keys.main);
  tileRemotes.set(keys.main, { remote: r, which: 'video' });
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
  scheduleLayout();
  t.tile.dataset.audioMuted = String(r.state.muted.audio);
  t.tile.dataset.videoMuted = String(videoMuted);
  t.micOff.toggleAttribute('hidden', !r.state.muted.audio);
  t.micOff.dataset.testid = 'remote-audio-muted';
  t.video.setAttribute('aria-label', `${r.name}${videoMuted ? ', camera off' : ''}${r.state.muted.audio ? ', microphone muted' : ''}`);
  // What the tile says is about the picture: only a connection that is down says Reconnecting
  // (a peer whose hub connection dropped while its media flows shows no label over live video).
  const reconnecting = r.connectionState === 'disconnected' || r.connectionState === 'failed';
  const connecting = r.connectionState === 'new' || r.connectionState === 'connecting';
  t.state.hidden = !(reconnecting || connecting);
  t.state.textContent = reconnecting ? 'Reconnecting…' : 'Connecting…';
  t.tile.dataset.connection = r.connectionState;
  t.hand.hidden = !r.status.hand;
  t.tile.dataset.hand = String(r.status.hand);
  const q = r.connectionState === 'connected' ? r.quality : null;
  t.quality.hidden = !q;
  t.quality.className = `quality q-${q ?? 'none'}`;
  t.quality.dataset.testid = 'tile-quality';
  if (q) t.quality.setAttribute('aria-label', QUALITY_LABEL[q]);
  if (r.screenStream) {
    const st = makeTile(keys.screen, { screen: true });
    tileRemotes.set(keys.screen, { remote: r, which: 'screen' });
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
}

export function removeRemoteTiles(r) {
  const keys = keysOf(r);
  tileRemotes.delete(keys.main);
  tileRemotes.delete(keys.screen);
  removeTile(keys.main);
  removeTile(keys.screen);
  S.statsPrev.delete(r);
  updateCount();
}

/** The number of people in the call, in the top bar and the window's title. */
export function updateCount() {
  const n = (S.call?.participants.length ?? 0) + 1;
  $('participant-count').textContent = String(n);
  $('participant-count').setAttribute('aria-label', `${n} ${n === 1 ? 'person' : 'people'} in the call`);
  document.title = S.phase === 'incall' ? `${S.address?.room} (${n}) – lancall` : 'lancall';
}

let layoutPending = false;
/** Lays the tiles out again at the next frame (several changes at once cost one layout). */
function scheduleLayout() {
  if (layoutPending) return;
  layoutPending = true;
  requestAnimationFrame(() => {
    layoutPending = false;
    layoutGrid();
  });
}

/**
 * Places every tile on the stage (#grid) in pixels, as layout.js decides: a grid, you and one
 * other (them large, you in the corner of prefs.thumbCorner), or the pinned tile or a shared
 * screen large with the others in a strip. A thumbnail being dragged (thumb.js) stays where the
 * pointer has it.
 */
export function layoutGrid() {
  const grid = $('grid');
  const tiles = [...S.tiles.values()].filter((t) => t.tile.parentElement === grid);
  const cs = getComputedStyle(grid);
  const gap = parseFloat(cs.getPropertyValue('--gap')) || 10;
  const W = grid.clientWidth;
  const H = grid.clientHeight;
  if (!tiles.length || W <= 0 || H <= 0) return;
  const specs = tiles.map((t) => ({
    kind: t.kind,
    local: t.local,
    // A camera that is off shows an avatar on a 16:9 tile.
    aspect: t.tile.classList.contains('video-off') ? DEFAULT_ASPECT : t.aspect ?? DEFAULT_ASPECT,
    pinned: t.key === S.pinned,
  }));
  const layout = layoutStage({ width: W, height: H, tiles: specs, gap, corner: prefs.thumbCorner });
  grid.dataset.layout = layout.mode;
  if (layout.strip) grid.dataset.strip = layout.strip;
  else delete grid.dataset.strip;
  // The large tile's name and signs step aside from the thumbnail's corner (app.css).
  if (layout.corner) grid.dataset.corner = layout.corner;
  else delete grid.dataset.corner;
  tiles.forEach((t, i) => {
    showSigns(t);
    if (t.tile.classList.contains('tile--dragging')) return;
    const r = layout.rects[i];
    // Not rounded to whole pixels: a small tile would lose its picture's ratio.
    const px = (/** @type {number} */ v) => `${Math.max(0, v).toFixed(2)}px`;
    const st = t.tile.style;
    st.left = px(r.x);
    st.top = px(r.y);
    st.width = px(r.width);
    st.height = px(r.height);
    // A tile in its own full screen has the whole screen for its name and avatar.
    const full = document.fullscreenElement === t.tile;
    const w = full ? innerWidth : r.width;
    const h = full ? innerHeight : r.height;
    t.tile.classList.toggle('tile--main', i === layout.main);
    t.tile.classList.toggle('tile--thumb', i === layout.thumb);
    t.tile.classList.toggle('tile--small', h < 90 || w < 160);
    // Too small for the ⋮ beside the name: it shows only while focused (a double click pins).
    t.tile.classList.toggle('tile--tiny', h < 56 || w < 80);
    // The avatar fits its tile: at most 40 % of the tile's height, so the name stays clear.
    t.tile.style.setProperty('--avatar', `${Math.round(Math.max(24, Math.min(96, h * 0.4, w * 0.3)))}px`);
  });
  tellWantedSizes(tiles, layout.rects);
}

/**
 * In a call through the host's SFU, tell it how tall each remote picture is shown (device
 * pixels), so that it sends the smallest layer that fills it, and nothing for a picture nobody
 * sees (the page is hidden, or the camera is off).
 * @param {import('./state.js').Tile[]} tiles
 * @param {{width: number, height: number}[]} rects
 */
function tellWantedSizes(tiles, rects) {
  if (S.call?.topology !== 'sfu') return;
  const hidden = document.visibilityState === 'hidden';
  /** @type {{remote: import('../lib/call.js').Remote, which: 'video'|'screen', height: number}[]} */
  const wanted = [];
  tiles.forEach((t, i) => {
    const owner = tileRemotes.get(t.key);
    if (!owner) return;
    const full = document.fullscreenElement === t.tile;
    const h = full ? innerHeight : rects[i]?.height ?? 0;
    const off = hidden || t.tile.classList.contains('video-off');
    wanted.push({ ...owner, height: off ? 0 : Math.round(h * (devicePixelRatio || 1)) });
  });
  S.call.setWanted(wanted);
}

document.addEventListener('visibilitychange', () => scheduleLayout());

/**
 * A tile's pin sign, and its menu button named after whose picture it is.
 * @param {import('./state.js').Tile} t
 */
function showSigns(t) {
  const pinned = t.key === S.pinned;
  t.tile.classList.toggle('tile--pinned', pinned);
  t.pin.hidden = !pinned;
  const label = `Options for ${t.name.textContent || 'this picture'}`;
  if (t.menuButton.getAttribute('aria-label') !== label) t.menuButton.setAttribute('aria-label', label);
}

let fakeCount = 0;
/**
 * For the layout tests only (window.lancall.test.addFakeTile): a tile of a made-up person, or of
 * their screen, fed by a canvas (a coloured picture of `width` x `height` with the name on it).
 * @param {{name?: string, screen?: boolean, width?: number, height?: number}} [opts]
 * @returns {string} the tile's key
 */
export function addFakeTile({ name = 'Test', screen = false, width = 640, height = 360 } = {}) {
  fakeCount += 1;
  const key = `fake-${fakeCount}`;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const hue = (fakeCount * 67) % 360;
  let frame = 0;
  const draw = () => {
    if (!ctx) return;
    frame += 1;
    ctx.fillStyle = `hsl(${hue} 45% 35%)`;
    ctx.fillRect(0, 0, width, height);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 4;
    ctx.strokeRect(2, 2, width - 4, height - 4);
    ctx.fillStyle = '#fff';
    ctx.font = `${Math.round(height / 8)}px sans-serif`;
    ctx.fillText(`${name} ${width}x${height}`, width * 0.06, height * 0.2);
    ctx.fillRect((frame * 7) % width, height * 0.8, 12, 12);
  };
  draw();
  const stream = canvas.captureStream(10);
  const t = makeTile(key, { screen });
  t.fake = setInterval(draw, 100);
  t.tile.dataset.testid = screen ? 'fake-screen-tile' : 'fake-tile';
  t.video.muted = true;
  setSource(t.video, stream);
  t.name.textContent = screen ? `${name}'s screen` : name;
  t.avatar.textContent = initials(name);
  t.micOff.toggleAttribute('hidden', true);
  return key;
}

/**
 * Removes the tiles addFakeTile made, or only the one of `key` (as when that person leaves).
 * @param {string} [key]
 */
export function removeFakeTiles(key) {
  for (const [k, t] of [...S.tiles]) if (t.fake && (key === undefined || k === key)) removeTile(k);
}

/** Outlines the tiles of whoever is speaking (remote audio levels, our own level meter). */
function updateSpeaking() {
  if (S.phase !== 'incall' || !S.call) return;
  for (const r of S.call.participants) {
    const t = S.tiles.get(keysOf(r).main);
    const src = (r.tx.audio?.receiver ?? r.audioReceiver)?.getSynchronizationSources?.()[0];
    // `timestamp` is on the performance clock in current engines, on the epoch in older ones.
    const age = src ? (src.timestamp > 1e12 ? Date.now() : performance.now()) - src.timestamp : Infinity;
    const level = age < 1000 ? src.audioLevel ?? 0 : 0;
    // Through the host, its word too: it smooths each voice over ~300 ms, where the level here
    // is only the last packet's (a voice of short sounds, like the fake microphone's beeps,
    // could fall between these looks every time).
    const saidByHost = !!r.id && S.call.speakers.includes(r.id);
    t?.tile.classList.toggle('speaking', (level > 0.04 || saidByHost) && !r.state.muted.audio);
  }
  const lt = S.tiles.get('local');
  lt?.tile.classList.toggle('speaking', S.micOn && (S.meter?.level ?? 0) > 0.08);
}

export function initTiles() {
  new ResizeObserver(() => layoutGrid()).observe($('grid'));
  document.addEventListener('fullscreenchange', () => layoutGrid());
  S.test = { addFakeTile, removeFakeTiles, layoutGrid };
  setInterval(updateSpeaking, 400);
}
