// Recording from the call screen: the Record menu (whom to record), the running indicator, and
// saving the file (a browser download, or the app's Downloads folder through its Rust side). In
// the Linux app, whose webview cannot record, its Rust side records the call's frames itself.
import { $, el, announce } from './dom.js';
import { S } from './state.js';
import { showBanner } from './screens.js';
import { Recording, NativeRecording } from '../lib/recorder.js';
import { inApp, invoke } from '../lib/tauri.js';
import { bridgeAvailable, nativeRecordTarget } from '../rtc/rtc-bridge.js';

/**
 * Whether the app's Rust side records (the Linux app: its calls run through the bridge, and
 * WebKitGTK's MediaRecorder makes nothing without GStreamer's fmp4).
 */
function recordsInRust() {
  return inApp() && typeof globalThis.RTCPeerConnection !== 'function' && bridgeAvailable();
}

/** What can be recorded now: ourselves, our screen, each remote and their screen. */
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

/** Whether the Record menu is open. */
export function recordMenuOpen() {
  const menu = $('record-menu');
  return !!menu && !menu.hidden;
}

/** Whether recording is offered here (the button is there). */
export function canRecord() {
  return !!$('record');
}

/** Takes the Record button away where every recording would fail or come out empty. */
export function removeRecordButton() {
  $('record')?.closest('.menu-anchor')?.remove();
}

/** @param {boolean} [force] open (true), close (false), or the other way round */
export function toggleRecordMenu(force) {
  const menu = $('record-menu');
  const open = force ?? menu.hidden;
  if (!open) {
    menu.hidden = true;
    $('record').setAttribute('aria-expanded', 'false');
    return;
  }
  const sources = recordSources();
  menu.replaceChildren();
  const call = S.call;
  if (call?.recordOnHost && call.topology === 'sfu') {
    // The whole call, on the host: everyone's picture and sound, one file each.
    const on = !!call.hostRecording;
    menu.append(
      el('div', { class: 'menu-title', text: 'Record on the host' }),
      el('button', {
        type: 'button',
        role: 'menuitem',
        text: on ? "Stop the host's recording" : 'Everyone, one file each',
        'data-testid': 'record-on-host',
        onclick: () => {
          toggleRecordMenu(false);
          if (!call.askHostToRecord(!on)) showBanner('Not connected to the host: try again in a moment.', 'warn', 6000);
        },
      }),
    );
  }
  menu.append(el('div', { class: 'menu-title', text: 'Record to a file on this device' }));
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

/** The Record button: stop and save a running recording, else choose what to record. */
export function onRecordButton() {
  if (S.recording) stopRecording();
  else toggleRecordMenu();
}

async function startRecording(source) {
  let rec;
  try {
    if (recordsInRust()) {
      const what = await nativeRecordTarget(source.stream);
      if (!what) throw new Error('There is nothing to record yet.');
      rec = await NativeRecording.start(what, source.name);
    } else {
      rec = new Recording(source.stream, source.name);
    }
  } catch (err) {
    showBanner(`Recording could not start: ${err?.message ?? err}`, 'error', 8000);
    return;
  }
  if (S.recording) {
    // Another recording started while this one was getting ready: keep that one.
    rec.stop().catch(() => {});
    return;
  }
  S.recording = rec;
  recordingLabel = source.label;
  // Everyone is told (a person recorded without knowing is the worst surprise a call can hold).
  S.call?.setStatus({ recording: true });
  renderRecIndicator();
  S.recTimer = setInterval(renderRecIndicator, 1000);
  const b = $('record');
  b.setAttribute('aria-pressed', 'true');
  b.setAttribute('aria-label', 'Stop recording and save the file');
  announce(`Recording ${source.label}`);
}

/** What our running recording records ("Yourself", "Ada's screen"). */
let recordingLabel = '';

/**
 * The REC sign in the top bar, for everyone in the call: who records (us, with what and for how
 * long; the others by name, as they told us on the data channel).
 */
export function renderRecIndicator() {
  const others = (S.call?.participants ?? []).filter((r) => r.status.recording).map((r) => r.name);
  const rec = S.recording;
  const parts = [];
  const host = S.call?.hostRecording;
  // Short enough for a phone's top bar: who started it is the detail.
  if (host) parts.push(host.by ? `Recorded on the host by ${host.by === S.name ? 'you' : host.by}` : 'Recorded by the host');
  if (rec) {
    const secs = Math.floor((Date.now() - rec.startedAt.getTime()) / 1000);
    parts.push(`You are recording ${recordingLabel} · ${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`);
  }
  if (others.length) {
    const names = others.length === 1 ? others[0] : `${others.slice(0, -1).join(', ')} and ${others[others.length - 1]}`;
    parts.push(`${names} ${others.length === 1 ? 'is' : 'are'} recording this call`);
  }
  const ind = $('rec-indicator');
  const was = ind.hidden ? '' : $('rec-text').textContent;
  ind.hidden = !parts.length;
  $('rec-text').textContent = parts.join(' · ');
  ind.dataset.others = others.join('\n');
  ind.dataset.host = host ? 'recording' : '';
  if (others.length && !was.includes(others[others.length - 1])) announce(`${others[others.length - 1]} started recording this call`);
}

/** The host started or stopped recording the call: the sign, and a word for screen readers. */
export function onHostRecording() {
  renderRecIndicator();
  const host = S.call?.hostRecording;
  announce(host ? `The host is recording this call${host.by ? `, started by ${host.by}` : ''}` : 'The host stopped recording this call');
}

/** Stops a running recording and saves its file. */
export async function stopRecording() {
  const rec = S.recording;
  if (!rec) return;
  S.recording = null;
  clearInterval(S.recTimer);
  S.call?.setStatus({ recording: false });
  renderRecIndicator();
  const b = $('record');
  b.setAttribute('aria-pressed', 'false');
  b.setAttribute('aria-label', 'Record');
  try {
    if (rec instanceof NativeRecording) {
      const done = await rec.stop();
      const where = done.files.join(' and ');
      if (done.error) showBanner(`${done.error} Saved to ${where}`, 'error', 12000);
      else showBanner(`Recording saved to ${where}`, 'ok', 8000);
      announce(`Recording saved to ${where}`);
      return;
    }
    const file = await rec.stop();
    const where = await save(file);
    if (where) showBanner(`Recording saved to ${where}`, 'ok', 8000);
    announce(`Recording saved ${where ? `to ${where}` : `as ${file.filename}`}`);
  } catch (err) {
    showBanner(`The recording could not be saved: ${err?.message ?? err}`, 'error', 8000);
  }
}

/**
 * Save a finished recording: a browser downloads it; the app (whose webview saves no downloads:
 * WebKitGTK dropped them) hands the bytes to its Rust side, which writes them to the Downloads
 * folder. Resolves to the path the app saved to, or null for a browser download.
 */
async function save(file) {
  if (!inApp()) {
    download(file);
    return null;
  }
  const bytes = new Uint8Array(await file.blob.arrayBuffer());
  return invoke('save_recording', bytes, { headers: { 'lancall-filename': file.filename } });
}

/** Hand a blob to the browser as a download. */
function download({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function initRecording() {
  if (!globalThis.MediaRecorder && !recordsInRust()) removeRecordButton();
  $('record')?.addEventListener('click', onRecordButton);
  document.addEventListener('click', (ev) => {
    if (recordMenuOpen() && !ev.target.closest('.menu-anchor')) toggleRecordMenu(false);
  });
}
