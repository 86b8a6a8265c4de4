// Our camera and microphone: opening them as chosen, turning them on and off, switching device
// or quality, the device lists in Settings, the level meter, and notes about devices.
import { $, el, announce } from './dom.js';
import { S, prefs, savePrefs, store, preferenceChanged } from './state.js';
import { showBanner } from './screens.js';
import { clearProblem, showProblem, updateJoinLabel } from './prejoin.js';
import { renderLocal, detachCameraPlayers, applySpeakerToAll } from './tiles.js';
import { LevelMeter } from './levels.js';
import * as media from '../lib/media.js';

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
  return media.audioConstraints({ deviceId: known ? prefs.micId : '', noiseSuppression: prefs.noiseSuppression });
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
    if (kind === 'video') await detachCameraPlayers();
    old.stop();
  }
  if (kind === 'audio') S.meter?.setTrack(track);
  renderLocal();
}

/** Stops our camera and microphone (the call is over); the players let go of them first. */
export function stopLocalTracks() {
  for (const kind of /** @type {const} */ (['audio', 'video'])) {
    S.tracks[kind]?.stop();
    S.tracks[kind] = null;
  }
  S.meter?.setTrack(null);
}

/** The quality and frame rate asked for now (compared by {@link catchUpQuality}). */
const qualityNow = () => `${prefs.quality}@${Number(prefs.frameRate)}`;

/**
 * A camera opened with the quality `asked` while the person chose another one (opening takes a
 * while, and the menu works meanwhile: the change found no camera to apply to) gets the new one.
 */
async function catchUpQuality(asked) {
  if (S.tracks.video && asked !== qualityNow()) await applyQuality();
}

/** Open the camera and/or microphone as chosen; problems are shown, what works is kept. */
async function openCaptures({ audio, video }) {
  const want = { audio: audio ? audioWanted() : false, video: video ? videoWanted() : false };
  if (!want.audio && !want.video) return [];
  const asked = qualityNow();
  const res = await media.openCamera(want);
  if (res.audio) await setTrack('audio', res.audio);
  if (res.video) {
    await setTrack('video', res.video);
    await catchUpQuality(asked);
  }
  if (res.audio || res.video) await refreshDevices();
  for (const n of res.notes) showNote(n);
  return res.problems;
}

/** Opens what the pre-join card shows (microphone, and the camera unless it is off). */
export async function startPreview() {
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
      : media.audioConstraints({ deviceId, noiseSuppression: prefs.noiseSuppression });
  const asked = qualityNow();
  let res = await media.openCamera({ audio: kind === 'audio' && constraints, video: kind === 'video' && constraints });
  if (!res[kind] && res.problems[0]?.code === 'in-use' && S.tracks[kind]) {
    // Phones often cannot open a second camera while one is open: let go of the old one first.
    S.tracks[kind].stop();
    res = await media.openCamera({ audio: kind === 'audio' && constraints, video: kind === 'video' && constraints });
  }
  if (res[kind]) {
    await setTrack(kind, res[kind]);
    if (kind === 'video') await catchUpQuality(asked);
    announce(`${kind === 'audio' ? 'Microphone' : 'Camera'} switched`);
  } else if (res.problems[0]) {
    showNote(`${res.problems[0].title} ${res.problems[0].detail}`);
  }
  for (const n of res.notes) showNote(n);
  await refreshDevices();
}

export async function toggleMic() {
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

export async function toggleCam() {
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
    const asked = qualityNow();
    const res = await media.openCamera({ audio: false, video: videoWanted() });
    if (res.video) {
      await setTrack('video', res.video);
      await catchUpQuality(asked);
    }
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

/** @type {any} */
let noteTimer = null;
/** A note about our devices: on the call screen's banner, or under the device settings for 8 s. */
function showNote(text) {
  if (S.phase === 'incall') {
    showBanner(text, 'warn', 8000);
    return;
  }
  $('camera-note').textContent = text;
  clearTimeout(noteTimer);
  noteTimer = setTimeout(renderCameraNote, 8000);
}

/** Capture problems: in the pre-join card's problem box (with Try again), or the call's banner. */
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

// ---- device lists --------------------------------------------------------------------------

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

/** Reads the devices again and fills the Settings lists. */
export async function refreshDevices() {
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

/**
 * The noise-suppression switch: the engine filters the microphone (on by default); off suits
 * music. Tried on the running microphone first; where the engine does not change a running
 * track's filter, the microphone is opened again with it. Absent where the engine has no filter.
 */
async function applyNoiseSuppression() {
  const on = prefs.noiseSuppression;
  const track = S.tracks.audio;
  if (!track) return;
  try {
    await track.applyConstraints({ ...track.getConstraints(), noiseSuppression: on });
  } catch {
    /* reopened below */
  }
  if (track.getSettings().noiseSuppression !== on) await switchDevice('audio', prefs.micId);
  announce(on ? 'Noise suppression on' : 'Noise suppression off');
}

function initNoiseSuppression() {
  const box = $('noise-suppression');
  const supported = !!navigator.mediaDevices?.getSupportedConstraints?.().noiseSuppression;
  box.closest('.switch-field').hidden = !supported;
  box.checked = prefs.noiseSuppression;
  box.addEventListener('change', () => {
    prefs.noiseSuppression = box.checked;
    savePrefs();
    applyNoiseSuppression();
  });
}

/** The device controls (pre-join and call buttons, Settings lists) and the microphone meter. */
export function initDevices() {
  fillQualityMenus();
  initNoiseSuppression();
  $('prejoin-mic').addEventListener('click', toggleMic);
  $('prejoin-cam').addEventListener('click', toggleCam);
  $('prejoin-flip').addEventListener('click', flipCamera);
  $('mute-audio').addEventListener('click', toggleMic);
  $('mute-video').addEventListener('click', toggleCam);
  $('camera-select').addEventListener('change', (ev) => {
    prefs.cameraId = ev.target.value;
    const dev = S.devices.videoinput.find((d) => d.deviceId === prefs.cameraId);
    if (dev?.facing) prefs.facing = dev.facing;
    savePrefs();
    preferenceChanged({ cameraId: prefs.cameraId });
    if (S.camOn) switchDevice('video', prefs.cameraId);
  });
  $('mic-select').addEventListener('change', (ev) => {
    prefs.micId = ev.target.value;
    savePrefs();
    preferenceChanged({ micId: prefs.micId });
    if (S.tracks.audio) switchDevice('audio', prefs.micId);
  });
  $('speaker-select').addEventListener('change', (ev) => {
    prefs.speakerId = ev.target.value;
    savePrefs();
    preferenceChanged({ speakerId: prefs.speakerId });
    applySpeakerToAll();
  });
  $('quality-select').addEventListener('change', (ev) => {
    prefs.quality = ev.target.value;
    applyQuality();
  });
  $('fps-select').addEventListener('change', (ev) => {
    prefs.frameRate = Number(ev.target.value);
    applyQuality();
  });
  navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);
  S.meter = new LevelMeter((level) => {
    $('mic-meter').style.setProperty('height', `${Math.min(100, Math.round(level * 160))}%`);
  });
}
