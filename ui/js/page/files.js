// Files in the call, from the chat panel: pick or drop files for one person or everyone; each
// transfer is a card in the chat log (name, size, who, progress and speed, Accept / Decline /
// Cancel, the SHA-256 once checked). The transfers themselves are lib/files.js's; where received
// files go is lib/files-save.js's (a browser download, or the app's Downloads folder).
import { $, el, announce } from './dom.js';
import { S } from './state.js';
import { showBanner } from './screens.js';
import { openPanel } from './panels.js';
import { FileTransfers, formatBytes, safeFileName } from '../lib/files.js';
import { appSink, browserSink, clearReceivedLeftovers } from '../lib/files-save.js';
import { inApp } from '../lib/tauri.js';

/** @typedef {import('../lib/files.js').Transfer} Transfer */

/** The card of each transfer, by id. @type {Map<string, HTMLElement>} */
const cards = new Map();

/**
 * Files for this call: made when the call is (join.js).
 * @param {import('../lib/call.js').Call} call
 * @param {import('../lib/signaling.js').SignalingClient} signaling
 * @param {(config: RTCConfiguration) => RTCPeerConnection} createPeerConnection
 */
export function startFiles(call, signaling, createPeerConnection) {
  const files = new FileTransfers({
    call,
    signaling,
    createPeerConnection,
    makeSink: (t) => (inApp() ? appSink(t.name, t.size, t.channel) : browserSink(t.id, (blob) => {
      const name = safeFileName(t.name);
      received.set(t.id, { blob, name });
      download(blob, name);
    })),
  });
  S.files = files;
  files.addEventListener('transfer', (ev) => renderTransfer(/** @type {CustomEvent} */ (ev).detail.transfer));
  files.addEventListener('offer', (ev) => {
    const t = /** @type {CustomEvent} */ (ev).detail.transfer;
    const what = `${t.remote.name} wants to send you ${t.displayName} (${formatBytes(t.size)})`;
    announce(what);
    if (S.panel !== 'chat') showBanner(`${what}. Open the chat to accept or decline.`, 'info', 8000, ['Open chat', () => openPanel('chat')]);
  });
  for (const type of ['remote-added', 'remote-updated', 'remote-removed', 'joined']) call.addEventListener(type, refreshRecipients);
  refreshRecipients();
  clearReceivedLeftovers();
}

/** The "Send to" menu of files: Everyone, then each person connected. */
function refreshRecipients() {
  const select = $('file-to');
  const wanted = select.value;
  const people = (S.call?.participants ?? []).filter((r) => !r.closed && r.id);
  const options = [el('option', { value: '', text: 'Everyone' })];
  for (const r of people) options.push(el('option', { value: r.id, text: r.name }));
  select.replaceChildren(...options);
  select.value = people.some((r) => r.id === wanted) ? wanted : '';
}

/** @param {File[]} list */
function sendFiles(list) {
  const files = S.files;
  if (!files || !S.call || !list.length) return;
  const to = $('file-to').value;
  const people = S.call.participants.filter((r) => !r.closed && r.id && (!to || r.id === to));
  if (!people.length) {
    showBanner('Nobody else is in the call yet, so there is nobody to send a file to.', 'warn', 6000);
    return;
  }
  for (const f of list) {
    try {
      files.send(f, people);
    } catch (err) {
      showBanner(err instanceof Error ? err.message : String(err), 'error', 10000);
    }
  }
}

/** Status line of a transfer, as the person reads it. */
function statusText(/** @type {Transfer} */ t) {
  const who = t.remote.name;
  const of = `${formatBytes(t.acked)} of ${formatBytes(t.size)}`;
  const speed = t.speed > 0 ? ` · ${formatBytes(Math.round(t.speed))}/s` : '';
  switch (t.state) {
    case 'offered': return `${who} wants to send you this.`;
    case 'waiting': return `Waiting for ${who} to accept…`;
    case 'queued': return t.direction === 'out' ? `Accepted; waits for the file before it.` : 'Starting…';
    case 'sending': return `Sending · ${of}${speed}`;
    case 'receiving': return `Receiving · ${of}${speed}`;
    case 'interrupted': return `Connection lost at ${formatBytes(t.acked)}: waiting to resume…`;
    case 'checking': return t.direction === 'out' ? `Sent; ${who} checks it…` : 'Checking and saving…';
    case 'done': {
      const took = t.startedAt && t.endedAt ? (t.endedAt - t.startedAt) / 1000 : 0;
      const rate = took > 0 ? ` in ${took.toFixed(1)} s (${formatBytes(Math.round(t.size / took))}/s)` : '';
      const resumed = t.resumedAt.length ? `, resumed ${t.resumedAt.length === 1 ? 'once' : `${t.resumedAt.length} times`}` : '';
      const where = t.savedTo ? ` Saved to ${t.savedTo}.` : t.direction === 'in' ? ' Downloaded.' : '';
      return `${t.direction === 'out' ? `Sent to ${who}` : 'Received'}, SHA-256 checked${rate}${resumed}.${where}`;
    }
    case 'declined': return t.message ?? (t.direction === 'out' ? `${who} declined it.` : 'You declined it.');
    case 'cancelled': return t.message ?? 'Cancelled.';
    case 'failed': return t.message ?? 'Failed.';
    default: return '';
  }
}

/** The parts of a card that change, by transfer id. @type {Map<string, {progress: HTMLProgressElement, status: HTMLElement, hash: HTMLElement, actions: HTMLElement, shownState: string}>} */
const parts = new Map();
/** A received file's Blob, for its Save link (browsers), by transfer id. @type {Map<string, {blob: Blob, name: string}>} */
const received = new Map();

/**
 * Draws a transfer's card in the chat log, then updates it in place: its buttons are made again
 * only when its state changes, so a button is never replaced under the pointer.
 * @param {Transfer} t
 */
function renderTransfer(t) {
  let card = cards.get(t.id);
  let p = parts.get(t.id);
  if (!card || !p) {
    p = {
      progress: el('progress', { max: Math.max(t.size, 1), value: 0, 'data-testid': 'file-progress' }),
      status: el('span', { class: 'file-status', 'data-testid': 'file-status', role: 'status' }),
      hash: el('span', { class: 'file-hash', 'data-testid': 'file-hash', hidden: true }),
      actions: el('div', { class: 'file-actions' }),
      shownState: '',
    };
    card = el('li', { class: `file-card ${t.direction === 'out' ? 'mine' : ''}`, 'data-testid': 'file-card', 'data-id': t.id, 'data-direction': t.direction, 'data-peer': t.remote.id ?? '' },
      el('div', { class: 'file-head' },
        el('span', { class: 'who', text: t.direction === 'out' ? `You → ${t.remote.name}` : `${t.remote.name} → you` }),
        el('span', { text: formatBytes(t.size) })),
      el('span', { class: 'file-name', 'data-testid': 'file-name', text: t.displayName, title: t.displayName }),
      p.progress, p.status, p.hash, p.actions);
    cards.set(t.id, card);
    parts.set(t.id, p);
    const log = $('chat-log');
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.append(card);
    if (atEnd || t.direction === 'out') log.scrollTop = log.scrollHeight;
  }
  card.dataset.state = t.state;
  card.dataset.bytes = String(t.acked);
  const text = statusText(t);
  if (p.status.textContent !== text) p.status.textContent = text;
  p.progress.hidden = t.ended || t.state === 'offered' || t.state === 'waiting';
  p.progress.value = t.acked;
  p.progress.setAttribute('aria-label', `${t.displayName}: ${text}`);
  p.hash.hidden = !(t.state === 'done' && t.sha256);
  p.hash.textContent = t.state === 'done' && t.sha256 ? `SHA-256 ${t.sha256}` : '';
  if (p.shownState === t.state) return;
  p.shownState = t.state;
  const files = /** @type {FileTransfers} */ (S.files);
  const actions = [];
  if (t.state === 'offered') {
    actions.push(el('button', { type: 'button', class: 'secondary', text: 'Decline', 'data-testid': 'file-decline', onclick: () => files.decline(t.id) }));
    actions.push(el('button', { type: 'button', class: 'primary', text: 'Accept', 'data-testid': 'file-accept', onclick: () => files.accept(t.id) }));
  } else if (!t.ended) {
    actions.push(el('button', { type: 'button', class: 'secondary', text: 'Cancel', 'data-testid': 'file-cancel', onclick: () => files.cancel(t.id) }));
  } else if (t.state === 'done' && received.has(t.id)) {
    // Saved as a download already; again from here (a browser may hold back a second download it did not see clicked).
    const r = /** @type {{blob: Blob, name: string}} */ (received.get(t.id));
    actions.push(el('button', { type: 'button', class: 'secondary', text: 'Save again', 'data-testid': 'file-save', onclick: () => download(r.blob, r.name) }));
  }
  p.actions.replaceChildren(...actions);
  p.actions.hidden = !actions.length;
  if (t.ended && t.direction === 'in' && t.state === 'done') announce(`${t.displayName} received`);
}

/** Hand a received file to the browser as a download under `name`. @param {Blob} blob @param {string} name */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function initFiles() {
  const input = $('file-input');
  $('file-pick').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    sendFiles([...input.files]);
    input.value = '';
  });
  const panel = $('chat-panel');
  const drop = $('file-drop');
  let depth = 0;
  const hasFiles = (/** @type {DragEvent} */ ev) => [...(ev.dataTransfer?.types ?? [])].includes('Files');
  panel.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev)) return;
    depth += 1;
    drop.hidden = false;
  });
  panel.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) drop.hidden = true;
  });
  panel.addEventListener('dragover', (ev) => {
    if (hasFiles(ev)) ev.preventDefault();
  });
  panel.addEventListener('drop', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth = 0;
    drop.hidden = true;
    sendFiles([...(ev.dataTransfer?.files ?? [])]);
  });
}
