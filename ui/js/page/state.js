// The page's state: one explicit object that the page's parts share (and window.lancall shows),
// the person's saved preferences, and where both are kept (localStorage).
import { parseJoinLink } from '../lib/link.js';
import { asCorner } from './layout.js';

/** Settings kept in localStorage under `lancall.KEY` (private mode: not kept, nothing else changes). */
export const store = {
  /** @param {string} key @param {any} fallback */
  get(key, fallback) {
    try {
      const v = localStorage.getItem(`lancall.${key}`);
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  },
  /** @param {string} key @param {any} value */
  set(key, value) {
    try {
      localStorage.setItem(`lancall.${key}`, JSON.stringify(value));
    } catch {
      /* private mode: settings are not kept, nothing else changes */
    }
  },
};

/** Devices and capture quality the person chose, and where their thumbnail goes in a call of two. */
export const prefs = {
  cameraId: store.get('cameraId', ''),
  micId: store.get('micId', ''),
  speakerId: store.get('speakerId', ''),
  quality: store.get('quality', '720p'),
  frameRate: store.get('frameRate', 30),
  facing: store.get('facing', 'user'),
  noiseSuppression: store.get('noiseSuppression', true),
  /** @type {import('./layout.js').Corner} */
  thumbCorner: asCorner(store.get('thumbCorner', 'br')),
};
export const savePrefs = () => {
  for (const [k, v] of Object.entries(prefs)) store.set(k, v);
};

/**
 * The devices the app's settings remember (the app saves every choice there), taken where this
 * webview's own storage has none, as after its storage was cleared. Used from the next capture on.
 * @param {{camera_id?: string, mic_id?: string, speaker_id?: string}} saved
 */
export function adoptSavedDevices(saved) {
  if (!prefs.cameraId && saved.camera_id) prefs.cameraId = saved.camera_id;
  if (!prefs.micId && saved.mic_id) prefs.micId = saved.mic_id;
  if (!prefs.speakerId && saved.speaker_id) prefs.speakerId = saved.speaker_id;
  savePrefs();
}

/**
 * @typedef {object} Tile one tile of the grid (tiles.js)
 * @property {string} key
 * @property {HTMLElement} tile
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} name
 * @property {HTMLElement} micOff
 * @property {HTMLElement} avatar
 * @property {HTMLElement} state
 * @property {HTMLElement} hand the raised-hand sign
 * @property {HTMLElement} quality the connection-quality bars
 * @property {HTMLElement} pin the pinned sign (tile-menu.js pins)
 * @property {HTMLElement} menuButton the tile menu's ⋮ button (tile-menu.js)
 * @property {'self'|'person'|'screen'} kind our camera, another's, or a shared screen (layout.js)
 * @property {boolean} local ours (our camera or our screen)
 * @property {number} [aspect] the picture's width / height, once the video knows it
 * @property {any} [fake] a test tile's drawing timer (tiles.js addFakeTile)
 */

/**
 * @typedef {object} PageState
 * @property {'prejoin'|'connecting'|'incall'|'leaving'|'ended'} phase which screen, and whether a call is on
 * @property {boolean} ready the camera and microphone have been opened, or have failed (join.js pageReady)
 * @property {{knock: boolean}|null} queuedJoin a Join pressed before the page was ready: it goes ahead then
 * @property {{host: string, room: string, token: string|null, fingerprint: string|null}} link what the page's own URL says
 * @property {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} tracks our microphone and camera
 * @property {boolean} micOn
 * @property {boolean} camOn
 * @property {{audioinput: any[], videoinput: any[], audiooutput: any[]}} devices as media.listDevices gives them
 * @property {any[]} problems the last capture problems (media.MediaProblem)
 * @property {import('../lib/signaling.js').SignalingClient|null} signaling
 * @property {import('../lib/call.js').Call|null} call
 * @property {import('../lib/files.js').FileTransfers|null} files the call's file transfers (page/files.js)
 * @property {{track: MediaStreamTrack, stream: MediaStream}|null} screen our screen share
 * @property {import('../lib/recorder.js').Recording|null} recording
 * @property {any} recTimer
 * @property {Map<string, Tile>} tiles by key: 'local', 'local-screen', or a remote's keys (tiles.js)
 * @property {string|null} pinned the key of the tile the person pinned (tile-menu.js): it is the large
 *   one; only on this page, never sent to the others; null when nothing is pinned
 * @property {any} statsTimer
 * @property {Map<any, any>} statsPrev the last stats summary per remote
 * @property {'chat'|'people'|'stats'|'settings'|null} panel the open side panel
 * @property {number} unread chat messages since the chat panel was last open
 * @property {import('./levels.js').LevelMeter|null} meter
 * @property {string} name our display name
 * @property {{host: string, room: string, token: string|null}|null} address where we join or are
 * @property {{sources: Function, counts: Function}|null} bridge the Rust-backed connection's sources (main.js)
 * @property {string[]} errors errors nothing caught (main.js)
 * @property {{addFakeTile: Function, removeFakeTiles: Function, layoutGrid: Function}} [test] hooks for the layout test (tiles.js)
 */

/** @type {PageState} */
export const S = {
  phase: 'prejoin',
  ready: false,
  queuedJoin: null,
  link: parseJoinLink(location.href, location.protocol === 'https:' ? location.host : ''),
  tracks: { audio: null, video: null },
  micOn: store.get('micOn', true),
  camOn: store.get('camOn', true),
  devices: { audioinput: [], videoinput: [], audiooutput: [] },
  problems: [],
  signaling: null,
  call: null,
  files: null,
  screen: null,
  recording: null,
  recTimer: null,
  tiles: new Map(),
  pinned: null,
  statsTimer: null,
  statsPrev: new Map(),
  panel: null,
  unread: 0,
  meter: null,
  name: store.get('name', ''),
  address: null,
  bridge: null,
  errors: [],
};

/** @type {Set<(change: {name?: string, cameraId?: string, micId?: string, speakerId?: string}) => void>} */
const preferenceListeners = new Set();

/** Calls `fn` whenever the person changes their name or a device (the app keeps them in its settings). */
export function onPreferenceChange(fn) {
  preferenceListeners.add(fn);
}

/** @param {{name?: string, cameraId?: string, micId?: string, speakerId?: string}} change */
export function preferenceChanged(change) {
  for (const fn of preferenceListeners) fn(change);
}
