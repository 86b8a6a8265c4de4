// Files sent in the call, peer to peer (docs/PROTOCOL.md, "Files in the call").
//
// Each transfer has a data channel of its own, labelled `lancall-file`, ordered: on the mesh
// connection to that person when there is one (call.js hands us the channels the other side
// opens: its `file-channel` event), else (the room's media goes through the host's SFU) on a
// direct data-only connection to that person made on demand and negotiated through the hub's
// `signal` relay as `{"file": {description|candidate}}`. Either way the bytes never pass through
// the host.
//
// On the channel: the sender's `file-offer` (name, size, type), the receiver's `file-accept` or
// `file-decline`, then the bytes as binary messages, then the sender's `file-done` with the
// SHA-256, which the receiver checks and answers with its own `file-done`. `file-cancel` from
// either side ends it. A channel that closes mid-transfer (a connection replaced, a cut path
// that did not come back in time) is reopened by the sender with the same `file-offer`; the
// receiver answers `file-resume` with how many bytes it has, and the sender goes on from there.
//
// No DOM: where received bytes go is the page's (a `FileSink` per transfer, from `makeSink`).
//
// Events (CustomEvent, payload in `detail`):
//   transfer   { transfer }  a transfer was added or changed (progress at most every PROGRESS_MS)
//   offer      { transfer }  someone offers us a file: accept(id) or decline(id)

import { randomId } from './ids.js';
import { Sha256 } from './files-sha256.js';

/** The label of a file transfer's data channel. */
export const FILE_CHANNEL_LABEL = 'lancall-file';
/** Bytes in one binary message: the size every WebRTC stack takes (RFC 8831's default). */
export const CHUNK_BYTES = 64 * 1024;
/** Bytes read from the file at a time (one `File.slice`), hashed and cut into messages. */
const READ_BYTES = 1024 * 1024;
/** The sender stops queueing while the channel holds more than this, and goes on when it is
 * down to LOW_WATER (`bufferedamountlow`): what a 1 GB file costs in memory is this much. */
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;
/** The receiver says how many bytes it has written (`file-ack`) every ACK_BYTES, and the sender
 * keeps at most WINDOW_BYTES beyond that in flight: a page (or the app's disk) slower than the
 * network holds the sender back instead of piling messages up in memory. Without it, a receiving
 * page fell minutes behind its own event queue (its hub pings went unanswered and it rejoined). */
const ACK_BYTES = 1024 * 1024;
const WINDOW_BYTES = 16 * 1024 * 1024;
/** A `transfer` event for progress at most this often. */
const PROGRESS_MS = 250;
/** The speed shown is over about this long a window. */
const SPEED_WINDOW_MS = 2_000;
/** After its channel closed mid-transfer, the sender tries a new one this often, and both sides
 * give up after RESUME_GIVE_UP_MS without a working channel. */
const RESUME_RETRY_MS = 1_000;
const RESUME_GIVE_UP_MS = 60_000;
/** A direct connection (SFU rooms) that stays `disconnected` this long gets an ICE restart. */
const DIRECT_RESTART_MS = 2_500;
/** Longest file name kept from an offer, in characters (a longer one is cut, keeping its extension). */
export const MAX_NAME_CHARS = 255;
/** Largest size an offer may announce: JavaScript counts bytes exactly up to here. */
const MAX_SAFE_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * Where a received file's bytes go: written in order; `finish` saves it and says where (or null
 * when the browser shows its own download); `abort` throws away what was written. In the Linux
 * app a sink may take the bytes from the channel itself (`routed(channel)`, which resolves to
 * the bytes it holds): then `write` is never called, the channel says how far it got, and
 * `digest` gives the bytes written and their SHA-256.
 * @typedef {{write(chunk: Uint8Array): Promise<void>, finish(): Promise<string|null>, abort(): Promise<void>,
 *   routed?: (channel: RTCDataChannel) => Promise<number>, digest?: () => Promise<{bytes: number, sha256: string}>}} FileSink
 */

/**
 * @typedef {'offered'|'waiting'|'queued'|'sending'|'receiving'|'interrupted'|'checking'|'done'|'declined'|'cancelled'|'failed'} TransferState
 *   offered: an incoming offer not yet answered; waiting: our offer, not yet answered;
 *   queued: accepted, waits for the transfer before it to that person; checking: all bytes in,
 *   the hash being compared and the file saved
 */

/** Characters that must not reach a person's screen or a file name: C0 and C1 controls,
 * bidirectional controls (U+202E would show "exe.txt" for "txt.exe") and zero-width ones. */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u180e\u00ad]/g;

/**
 * An offered name as it may be shown: no controls or bidirectional tricks, at most
 * MAX_NAME_CHARS characters (the extension kept), never empty.
 * @param {string} name
 */
export function displayName(name) {
  const clean = name.replace(INVISIBLE, '').trim();
  return cutKeepingExtension(clean, MAX_NAME_CHARS) || 'file';
}

/**
 * The name to save an offered file under: its last path part (no folders, so `../../.bashrc`
 * is `bashrc`), no controls, no characters file systems refuse, no leading dots (nothing
 * hidden) or trailing dots and spaces, at most 120 characters with the extension kept. The
 * app's Rust side applies the same rules again (src-tauri/src/commands/files.rs).
 * @param {string} name
 */
export function safeFileName(name) {
  const last = name.replace(INVISIBLE, '').split(/[/\\]/).pop() ?? '';
  const kept = last.replace(/[<>:"|?*]/g, '_').replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  return cutKeepingExtension(kept, 120) || 'file';
}

/** @param {string} s @param {number} max characters (code points) */
function cutKeepingExtension(s, max) {
  const chars = [...s];
  if (chars.length <= max) return s;
  const dot = s.lastIndexOf('.');
  const ext = dot > 0 ? [...s.slice(dot)] : [];
  if (ext.length > 16 || ext.length >= max) return chars.slice(0, max).join('');
  return chars.slice(0, max - ext.length).join('') + ext.join('');
}

/**
 * Bytes as a person reads them: "812 B", "1.4 MB", "2.1 GB" (powers of 1000, as file managers).
 * @param {number} n
 */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * Reads an offer (the first message on a file channel); a sentence saying what is wrong with it
 * when it cannot be taken.
 * @param {any} msg
 * @param {number|null} maxBytes the host's cap, or null
 * @returns {{ok: true, id: string, name: string, size: number, mime: string} | {ok: false, id: string|null, why: string}}
 */
export function readOffer(msg, maxBytes) {
  const id = typeof msg?.id === 'string' && /^[0-9a-f]{32}$/.test(msg.id) ? msg.id : null;
  if (!id) return { ok: false, id: null, why: 'The offer has no valid transfer id.' };
  if (typeof msg.name !== 'string' || msg.name.length === 0 || msg.name.length > 4096) {
    return { ok: false, id, why: 'The offer has no usable file name.' };
  }
  const size = msg.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_SAFE_SIZE) {
    return { ok: false, id, why: `The offer's size (${String(size).slice(0, 40)}) is not a number of bytes.` };
  }
  if (maxBytes !== null && size > maxBytes) {
    return { ok: false, id, why: `The file is ${formatBytes(size)}; this host takes files up to ${formatBytes(maxBytes)}.` };
  }
  const mime = typeof msg.mime === 'string' && msg.mime.length <= 255 && /^[\w.+-]+\/[\w.+-]+$/.test(msg.mime) ? msg.mime : '';
  return { ok: true, id, name: msg.name, size, mime };
}

/** One file going to or coming from one person. */
export class Transfer {
  /**
   * @param {{id: string, direction: 'out'|'in', remote: import('./call.js').Remote, name: string, size: number, mime: string, file?: Blob|null}} init
   */
  constructor({ id, direction, remote, name, size, mime, file = null }) {
    this.id = id;
    this.direction = direction;
    this.remote = remote;
    /** the name as offered (shown through displayName, saved through safeFileName) */
    this.name = name;
    this.size = size;
    this.mime = mime;
    /** what we send (direction out) */
    this.file = file;
    /** @type {TransferState} */
    this.state = direction === 'out' ? 'waiting' : 'offered';
    /** bytes queued on the channel (out) or received (in) */
    this.bytes = 0;
    /** bytes the other side has for sure: out, what left our buffer; in, what arrived */
    this.acked = 0;
    /** bytes per second over the last SPEED_WINDOW_MS */
    this.speed = 0;
    /** @type {{at: number, bytes: number}[]} */
    this.samples = [];
    /** @type {string|null} the SHA-256 of the whole file, once known (hex) */
    this.sha256 = null;
    /** @type {string|null} a sentence saying why it failed, was cancelled or declined */
    this.message = null;
    /** @type {string|null} where the receiving app saved it */
    this.savedTo = null;
    /** in: bytes written to the sink; out: bytes the receiver said it wrote (`file-ack`) */
    this.written = 0;
    /** in: `written` when we last said it */
    this.ackSent = 0;
    /** @type {(() => void)|null} out: wakes the sender when an ack opens the window */
    this.onAck = null;
    /** bytes handed to channels in all (out): above `size` by what was sent again after a resume */
    this.sentTotal = 0;
    /** the byte offsets it went on from after a channel was lost */
    this.resumedAt = /** @type {number[]} */ ([]);
    /** @type {number|null} Date.now() when bytes began to flow */
    this.startedAt = null;
    /** @type {number|null} */
    this.endedAt = null;
    /** @type {RTCDataChannel|null} */
    this.channel = null;
    this.hash = new Sha256();
    /** bytes of the file hashed so far (the sender reads again from a resume point) */
    this.hashed = 0;
    /** @type {FileSink|null} */
    this.sink = null;
    /** @type {Promise<void>} the sink's writes, in order */
    this.writing = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {number|null} Date.now() when the channel was lost */
    this.lostAt = null;
    this.lastEmit = 0;
  }

  /** The name to show (see displayName). */
  get displayName() {
    return displayName(this.name);
  }

  /** Whether nothing more will happen to it. */
  get ended() {
    return this.state === 'done' || this.state === 'declined' || this.state === 'cancelled' || this.state === 'failed';
  }
}

/** A direct data-only connection to one person (rooms whose media goes through the SFU). */
class Direct {
  /** @param {RTCPeerConnection} pc @param {boolean} polite */
  constructor(pc, polite) {
    this.pc = pc;
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.chain = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.restartTimer = undefined;
  }
}

export class FileTransfers extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./call.js').Call} opts.call
   * @param {import('./signaling.js').SignalingClient} opts.signaling
   * @param {(config: RTCConfiguration) => RTCPeerConnection} opts.createPeerConnection
   * @param {(t: Transfer) => Promise<FileSink>} opts.makeSink where an accepted file's bytes go
   */
  constructor({ call, signaling, createPeerConnection, makeSink }) {
    super();
    this.call = call;
    this.signaling = signaling;
    this.createPeerConnection = createPeerConnection;
    this.makeSink = makeSink;
    /** @type {Map<string, Transfer>} every transfer of this call, by id */
    this.transfers = new Map();
    /** @type {Map<import('./call.js').Remote, Direct>} */
    this.direct = new Map();
    /** @type {number|null} the host's cap on a file's size (`welcome.maxFileBytes`), or null */
    this.maxBytes = null;

    signaling.addEventListener('welcome', (ev) => {
      const max = /** @type {CustomEvent} */ (ev).detail?.maxFileBytes;
      this.maxBytes = typeof max === 'number' && Number.isSafeInteger(max) && max >= 0 ? max : null;
    });
    signaling.addEventListener('signal', (ev) => {
      const { from, data } = /** @type {CustomEvent} */ (ev).detail ?? {};
      if (data && typeof data === 'object' && data.file && typeof data.file === 'object') this.onDirectSignal(from, data.file);
    });
    call.addEventListener('file-channel', (ev) => {
      const { remote, channel } = /** @type {CustomEvent} */ (ev).detail;
      this.onIncomingChannel(remote, channel);
    });
    call.addEventListener('remote-removed', (ev) => {
      const { remote, reason } = /** @type {CustomEvent} */ (ev).detail;
      this.onRemoteGone(remote, reason);
    });
  }

  // ---- sending -----------------------------------------------------------------------------

  /**
   * Offer `file` to each of `remotes` (one transfer each). Throws an Error with a sentence for
   * the person when the host's cap forbids it.
   * @param {Blob & {name?: string}} file
   * @param {import('./call.js').Remote[]} remotes
   * @returns {Transfer[]}
   */
  send(file, remotes) {
    if (this.maxBytes !== null && file.size > this.maxBytes) {
      throw new Error(`${file.name ?? 'This file'} is ${formatBytes(file.size)}: this host takes files up to ${formatBytes(this.maxBytes)}. Send a smaller file, or ask the host to allow larger ones.`);
    }
    const out = [];
    for (const remote of remotes) {
      if (remote.closed) continue;
      const t = new Transfer({
        id: randomId(),
        direction: 'out',
        remote,
        name: file.name || 'file',
        size: file.size,
        mime: file.type || '',
        file,
      });
      this.transfers.set(t.id, t);
      out.push(t);
      this.emitTransfer(t);
      this.openChannel(t);
    }
    return out;
  }

  /** @private a channel for `t` to its person; its first message is the offer @param {Transfer} t */
  openChannel(t) {
    if (t.ended) return;
    let dc;
    try {
      dc = this.pcFor(t.remote).createDataChannel(FILE_CHANNEL_LABEL, { ordered: true });
    } catch (err) {
      console.warn('lancall: no file channel', err);
      this.lost(t, null);
      return;
    }
    t.channel = dc;
    dc.binaryType = 'arraybuffer';
    dc.addEventListener('open', () => {
      if (t.channel !== dc || t.ended) return;
      this.sendJson(dc, { type: 'file-offer', id: t.id, name: t.name, size: t.size, mime: t.mime });
    });
    dc.addEventListener('message', (ev) => {
      if (t.channel !== dc || typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg?.id === t.id) this.onSenderMessage(t, msg);
    });
    dc.addEventListener('close', () => this.lost(t, dc));
  }

  /** @private @param {Transfer} t @param {any} msg */
  onSenderMessage(t, msg) {
    if (t.ended) return;
    switch (msg.type) {
      case 'file-accept':
      case 'file-resume': {
        const offset = msg.type === 'file-resume' && Number.isSafeInteger(msg.offset) && msg.offset >= 0 && msg.offset <= t.size ? msg.offset : 0;
        if (msg.type === 'file-resume' && t.startedAt !== null) t.resumedAt.push(offset);
        t.bytes = offset;
        t.acked = offset;
        t.written = offset;
        t.lostAt = null;
        clearTimeout(t.retryTimer);
        t.state = 'queued';
        this.emitTransfer(t);
        this.next(t.remote);
        break;
      }
      case 'file-ack':
        if (Number.isSafeInteger(msg.bytes) && msg.bytes > t.written && msg.bytes <= t.bytes) {
          t.written = msg.bytes;
          t.acked = msg.bytes;
          t.onAck?.();
        }
        break;
      case 'file-decline':
        this.end(t, 'declined', typeof msg.reason === 'string' ? `${t.remote.name}'s page refused ${t.displayName}: ${msg.reason.slice(0, 300)}` : `${t.remote.name} declined ${t.displayName}.`, false);
        break;
      case 'file-cancel':
        this.end(t, t.state === 'checking' ? 'failed' : 'cancelled', typeof msg.reason === 'string' ? `${t.remote.name}: ${msg.reason.slice(0, 300)}` : `${t.remote.name} cancelled ${t.displayName}.`, false);
        break;
      case 'file-done':
        // Every byte went out (the hash is known): the receiver's last word counts even when it
        // comes again on a new channel, after the one it first went on closed under it (the
        // receiver closes its channel right after answering; once, in the Linux app, that answer
        // was lost with the channel, and the transfer waited for it forever).
        if (t.sha256 === null) break;
        if (msg.sha256 === t.sha256) {
          t.acked = t.size;
          this.end(t, 'done', null, false);
        } else {
          this.end(t, 'failed', `${t.remote.name} got different bytes (their SHA-256 differs).`, false);
        }
        break;
      default:
        break;
    }
  }

  /** @private start the next accepted transfer to `remote`, if none is under way @param {import('./call.js').Remote} remote */
  next(remote) {
    const mine = [...this.transfers.values()].filter((t) => t.remote === remote && t.direction === 'out');
    if (mine.some((t) => t.state === 'sending')) return;
    const t = mine.find((x) => x.state === 'queued');
    if (!t) return;
    t.state = 'sending';
    t.startedAt ??= Date.now();
    this.emitTransfer(t);
    this.pump(t).catch((err) => {
      console.warn('lancall: sending a file failed', err);
      this.end(t, 'failed', `${t.displayName} could not be read: ${errorText(err)}`, true);
    });
  }

  /** @private the bytes, read a slice at a time, held back while the channel is full @param {Transfer} t */
  async pump(t) {
    const dc = /** @type {RTCDataChannel} */ (t.channel);
    const file = /** @type {Blob} */ (t.file);
    dc.bufferedAmountLowThreshold = LOW_WATER;
    const live = () => t.state === 'sending' && t.channel === dc && dc.readyState === 'open';
    while (t.bytes < t.size) {
      if (!live()) return;
      if (dc.bufferedAmount > HIGH_WATER) {
        await drained(dc);
        this.progress(t);
        continue;
      }
      if (t.bytes - t.written > WINDOW_BYTES) {
        await acked(t, dc);
        this.progress(t);
        continue;
      }
      const from = t.bytes;
      const to = Math.min(t.size, from + READ_BYTES);
      const buf = new Uint8Array(await file.slice(from, to).arrayBuffer());
      if (!live()) return;
      if (buf.length !== to - from) throw new Error('the file changed while it was being sent');
      if (to > t.hashed) {
        t.hash.update(buf.subarray(t.hashed - from));
        t.hashed = to;
      }
      for (let i = 0; i < buf.length; i += CHUNK_BYTES) dc.send(buf.subarray(i, i + CHUNK_BYTES));
      t.sentTotal += buf.length;
      t.bytes = to;
      this.progress(t);
    }
    if (!live()) return;
    t.sha256 = t.hash.hex();
    t.state = 'checking';
    this.sendJson(dc, { type: 'file-done', id: t.id, size: t.size, sha256: t.sha256 });
    this.emitTransfer(t);
    // What is still buffered is on its way; the receiver's `file-done` ends it.
    while (dc.bufferedAmount > 0 && t.channel === dc && dc.readyState === 'open' && t.state === 'checking') {
      await drained(dc, 0);
      this.progress(t);
    }
  }

  // ---- receiving ---------------------------------------------------------------------------

  /**
   * @private a file channel the other side opened: its first message says which transfer
   * @param {import('./call.js').Remote} remote
   * @param {RTCDataChannel} dc
   */
  onIncomingChannel(remote, dc) {
    dc.binaryType = 'arraybuffer';
    /** @type {Transfer|null} */
    let t = null;
    dc.addEventListener('message', (/** @type {MessageEvent} */ ev) => {
      if (t === null) {
        let msg;
        try {
          msg = typeof ev.data === 'string' ? JSON.parse(ev.data) : null;
        } catch {
          msg = null;
        }
        if (msg?.type !== 'file-offer') {
          dc.close();
          return;
        }
        t = this.onOffer(remote, dc, msg);
        return;
      }
      if (t.channel !== dc) return;
      if (typeof ev.data === 'string') {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (msg?.id === t.id) this.onReceiverMessage(t, msg);
      } else {
        this.onBytes(t, new Uint8Array(ev.data));
      }
    });
    dc.addEventListener('close', () => {
      if (t) this.lost(t, dc);
    });
    // The Linux app's channels (rtc-bridge.js) can write what they receive straight into the
    // file (a sink with `routed`): they say how far they got instead of handing us the bytes.
    dc.addEventListener('written', (ev) => {
      if (t && t.channel === dc) this.onWritten(t, /** @type {CustomEvent} */ (ev).detail.bytes);
    });
    dc.addEventListener('write-failed', (ev) => {
      if (t && t.channel === dc) this.end(t, 'failed', `${t.displayName} could not be saved: ${/** @type {CustomEvent} */ (ev).detail.message}`, true);
    });
  }

  /** @private bytes a routed sink has written so far @param {Transfer} t @param {unknown} bytes */
  onWritten(t, bytes) {
    if (t.state !== 'receiving' || !t.sink?.routed || typeof bytes !== 'number' || bytes < t.written || bytes > t.size) return;
    t.bytes = bytes;
    t.acked = bytes;
    t.written = bytes;
    if (t.written - t.ackSent >= ACK_BYTES && t.channel?.readyState === 'open') {
      t.ackSent = t.written;
      this.sendJson(t.channel, { type: 'file-ack', id: t.id, bytes: t.written });
    }
    this.progress(t);
  }

  /**
   * @private
   * @param {import('./call.js').Remote} remote
   * @param {RTCDataChannel} dc
   * @param {any} msg
   * @returns {Transfer|null}
   */
  onOffer(remote, dc, msg) {
    const offer = readOffer(msg, this.maxBytes);
    const known = offer.id ? this.transfers.get(offer.id) : undefined;
    if (known && known.direction === 'in' && known.remote === remote) {
      // The sender lost the channel and came back with the same offer.
      if (known.ended) {
        // It missed our last word: say it again.
        const last = known.state === 'done' ? { type: 'file-done', id: known.id, sha256: known.sha256 }
          : known.state === 'declined' ? { type: 'file-decline', id: known.id }
            : { type: 'file-cancel', id: known.id, ...(known.message ? { reason: known.message } : {}) };
        this.sendJson(dc, last);
        return null;
      }
      known.channel = dc;
      known.lostAt = null;
      clearTimeout(known.retryTimer);
      if (known.state !== 'offered') {
        // We say how far we got; it goes on from there.
        if (known.state === 'interrupted') known.state = 'receiving';
        const resume = () => {
          known.resumedAt.push(known.bytes);
          this.sendJson(dc, { type: 'file-resume', id: known.id, offset: known.bytes });
        };
        const sink = known.sink;
        if (sink?.routed) {
          // The new channel's bytes go into the same file, from what it holds.
          sink.routed(dc).then((bytes) => {
            if (known.channel !== dc || known.ended) return;
            known.bytes = bytes;
            known.acked = bytes;
            known.written = bytes;
            known.ackSent = bytes;
            resume();
          }, (err) => this.end(known, 'failed', `${known.displayName} could not be saved: ${errorText(err)}`, true));
        } else {
          resume();
        }
      }
      this.emitTransfer(known);
      return known;
    }
    if (!offer.ok || known) {
      const why = offer.ok ? 'That transfer id is taken.' : offer.why;
      this.sendJson(dc, { type: 'file-decline', id: offer.id ?? '', reason: why });
      // What the person sees: an offer that could not be taken, and why.
      const t = new Transfer({ id: randomId(), direction: 'in', remote, name: typeof msg?.name === 'string' ? msg.name : 'file', size: 0, mime: '' });
      t.state = 'failed';
      t.message = `${remote.name} offered a file that cannot be taken: ${why}`;
      this.transfers.set(t.id, t);
      this.emitTransfer(t);
      return null;
    }
    const t = new Transfer({ id: offer.id, direction: 'in', remote, name: offer.name, size: offer.size, mime: offer.mime });
    t.channel = dc;
    this.transfers.set(t.id, t);
    this.emitTransfer(t);
    this.emit('offer', { transfer: t });
    return t;
  }

  /**
   * Take an offered file: its bytes go to a sink from `makeSink`.
   * @param {string} id
   */
  async accept(id) {
    const t = this.transfers.get(id);
    if (!t || t.direction !== 'in' || t.state !== 'offered') return;
    t.state = 'receiving';
    this.emitTransfer(t);
    try {
      t.sink = await this.makeSink(t);
      // The bytes go straight from the channel into the file (the Linux app).
      if (t.sink.routed && t.channel && !t.ended) await t.sink.routed(t.channel);
    } catch (err) {
      this.end(t, 'failed', `${t.displayName} cannot be saved here: ${errorText(err)}`, true);
      return;
    }
    if (t.ended) {
      await t.sink.abort().catch(() => {});
      return;
    }
    t.startedAt = Date.now();
    if (t.channel?.readyState === 'open') this.sendJson(t.channel, { type: 'file-accept', id: t.id });
    if (t.size === 0) this.emitTransfer(t);
  }

  /** @param {string} id */
  decline(id) {
    const t = this.transfers.get(id);
    if (!t || t.direction !== 'in' || t.state !== 'offered') return;
    if (t.channel?.readyState === 'open') this.sendJson(t.channel, { type: 'file-decline', id: t.id });
    this.end(t, 'declined', null, false);
  }

  /** @private @param {Transfer} t @param {Uint8Array} chunk */
  onBytes(t, chunk) {
    if (t.state !== 'receiving' || !t.sink) return;
    if (t.bytes + chunk.length > t.size) {
      this.end(t, 'failed', `${t.remote.name} sent more than the ${formatBytes(t.size)} announced: the file was thrown away.`, true);
      return;
    }
    t.bytes += chunk.length;
    t.acked = t.bytes;
    t.hash.update(chunk);
    const sink = t.sink;
    const upTo = t.bytes;
    t.writing = t.writing.then(async () => {
      await sink.write(chunk);
      t.written = upTo;
      // Said once per ACK_BYTES: the sender goes on only as far as we keep up.
      if (t.written - t.ackSent >= ACK_BYTES && t.channel?.readyState === 'open' && t.state === 'receiving') {
        t.ackSent = t.written;
        this.sendJson(t.channel, { type: 'file-ack', id: t.id, bytes: t.written });
      }
    });
    t.writing.catch((err) => this.end(t, 'failed', `${t.displayName} could not be saved: ${errorText(err)}`, true));
    this.progress(t);
  }

  /** @private @param {Transfer} t @param {any} msg */
  async onReceiverMessage(t, msg) {
    if (msg.type === 'file-cancel') {
      this.end(t, 'cancelled', `${t.remote.name} cancelled ${t.displayName}.`, false);
      return;
    }
    if (msg.type !== 'file-done' || t.state !== 'receiving' || !t.sink) return;
    /** @type {string|null} */
    let digest = null;
    if (t.sink.digest) {
      // Written and hashed by the app's Rust side: it says how much, and the SHA-256.
      try {
        const d = await t.sink.digest();
        if (t.ended) return;
        t.bytes = d.bytes;
        t.written = d.bytes;
        digest = d.sha256;
      } catch (err) {
        this.end(t, 'failed', `${t.displayName} could not be saved: ${errorText(err)}`, true);
        return;
      }
    }
    if (t.bytes !== t.size) {
      this.end(t, 'failed', `${t.displayName} ended after ${formatBytes(t.bytes)} of the ${formatBytes(t.size)} announced: the file was thrown away.`, true);
      return;
    }
    t.state = 'checking';
    t.sha256 = digest ?? t.hash.hex();
    this.emitTransfer(t);
    if (msg.sha256 !== t.sha256) {
      this.end(t, 'failed', `${t.displayName} arrived damaged (its SHA-256 is not the one ${t.remote.name} sent): the file was thrown away.`, true);
      return;
    }
    try {
      await t.writing;
      t.savedTo = await t.sink.finish();
    } catch (err) {
      this.end(t, 'failed', `${t.displayName} could not be saved: ${errorText(err)}`, true);
      return;
    }
    if (t.channel) this.sendJson(t.channel, { type: 'file-done', id: t.id, sha256: t.sha256 });
    this.end(t, 'done', null, false);
  }

  // ---- either side -------------------------------------------------------------------------

  /**
   * Stop a transfer (ours or theirs); the other side is told.
   * @param {string} id
   */
  cancel(id) {
    const t = this.transfers.get(id);
    if (!t || t.ended) return;
    if (t.direction === 'in' && t.state === 'offered') {
      this.decline(id);
      return;
    }
    this.end(t, 'cancelled', null, true);
  }

  /**
   * @private
   * @param {Transfer} t
   * @param {'done'|'declined'|'cancelled'|'failed'} state
   * @param {string|null} message
   * @param {boolean} tell whether to send the other side `file-cancel` (with `message`)
   */
  end(t, state, message, tell) {
    if (t.ended) return;
    t.state = state;
    t.message = message;
    t.endedAt = Date.now();
    clearTimeout(t.retryTimer);
    const dc = t.channel;
    if (tell && dc?.readyState === 'open') this.sendJson(dc, { type: 'file-cancel', id: t.id, ...(message ? { reason: message } : {}) });
    if (state !== 'done' && t.sink) t.sink.abort().catch(() => {});
    t.channel = null;
    t.file = null;
    // Closed once what was sent before is out (a close resets the stream after its queue).
    if (dc) setTimeout(() => dc.close(), 0);
    this.emitTransfer(t);
    if (t.direction === 'out') this.next(t.remote);
  }

  /**
   * A transfer's channel closed: if it was not finished, wait for the sender's new channel (in),
   * or open one (out), for up to RESUME_GIVE_UP_MS.
   * @private
   * @param {Transfer} t
   * @param {RTCDataChannel|null} dc the channel that closed (null: none could be opened)
   */
  lost(t, dc) {
    if (t.ended || (dc && t.channel !== dc)) return;
    t.channel = null;
    if (t.direction === 'in' && t.state === 'checking') return; // the last reply is under way
    t.lostAt ??= Date.now();
    if (Date.now() - t.lostAt > RESUME_GIVE_UP_MS) {
      this.end(t, 'failed', `The connection to ${t.remote.name} was lost and did not come back.`, false);
      return;
    }
    if (t.state === 'sending' || t.state === 'receiving' || t.state === 'checking') t.state = 'interrupted';
    this.emitTransfer(t);
    clearTimeout(t.retryTimer);
    if (t.direction === 'out') {
      t.retryTimer = setTimeout(() => {
        if (t.remote.closed) return;
        if (t.state === 'interrupted' || t.state === 'queued') t.state = 'waiting';
        this.openChannel(t);
      }, RESUME_RETRY_MS);
    } else {
      t.retryTimer = setTimeout(() => this.lost(t, null), RESUME_GIVE_UP_MS + 100);
    }
  }

  /** @private @param {import('./call.js').Remote} remote @param {string} reason */
  onRemoteGone(remote, reason) {
    const d = this.direct.get(remote);
    if (d) {
      clearTimeout(d.restartTimer);
      d.pc.close();
      this.direct.delete(remote);
    }
    for (const t of this.transfers.values()) {
      if (t.remote !== remote || t.ended) continue;
      this.end(t, 'failed', reason === 'hangup' ? 'You left the call.' : `${remote.name} left the call.`, false);
    }
  }

  /** @private a throttled `transfer` event, with the speed @param {Transfer} t */
  progress(t) {
    const now = Date.now();
    if (now - t.lastEmit < PROGRESS_MS) return;
    this.emitTransfer(t);
  }

  /** @private @param {Transfer} t */
  emitTransfer(t) {
    const now = Date.now();
    t.lastEmit = now;
    t.samples.push({ at: now, bytes: t.acked });
    while (t.samples.length > 2 && now - t.samples[1].at > SPEED_WINDOW_MS) t.samples.shift();
    const first = t.samples[0];
    t.speed = now > first.at && (t.state === 'sending' || t.state === 'receiving') ? ((t.acked - first.bytes) * 1000) / (now - first.at) : 0;
    this.emit('transfer', { transfer: t });
  }

  /** @private @param {string} type @param {unknown} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @private @param {RTCDataChannel} dc @param {object} msg */
  sendJson(dc, msg) {
    try {
      dc.send(JSON.stringify(msg));
    } catch (err) {
      console.warn('lancall: a file message was not sent', err);
    }
  }

  // ---- the connection a transfer's channel goes on -----------------------------------------

  /**
   * Our own connection to `remote` (mesh), or the direct data-only one (its media comes
   * through the SFU), made now if there is none.
   * @private
   * @param {import('./call.js').Remote} remote
   * @returns {RTCPeerConnection}
   */
  pcFor(remote) {
    if (remote.pc && !remote.relay && !remote.switching) return remote.pc;
    const d = this.direct.get(remote);
    if (d && d.pc.connectionState !== 'closed' && d.pc.connectionState !== 'failed') return d.pc;
    return this.openDirect(remote).pc;
  }

  /** @private @param {import('./call.js').Remote} remote */
  openDirect(remote) {
    const old = this.direct.get(remote);
    if (old) {
      clearTimeout(old.restartTimer);
      old.pc.close();
    }
    const pc = this.createPeerConnection({ iceServers: this.call.iceServers });
    const d = new Direct(pc, remote.polite);
    this.direct.set(remote, d);
    const send = (/** @type {object} */ file) => remote.id !== null && this.signaling.signal(remote.id, { file });
    pc.addEventListener('negotiationneeded', async () => {
      try {
        d.makingOffer = true;
        await pc.setLocalDescription();
        send({ description: pc.localDescription });
      } catch (err) {
        console.warn('lancall: could not offer a file connection', err);
      } finally {
        d.makingOffer = false;
      }
    });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) send({ candidate: candidate.toJSON() });
    });
    pc.addEventListener('datachannel', (ev) => {
      if (ev.channel.label === FILE_CHANNEL_LABEL) this.onIncomingChannel(remote, ev.channel);
    });
    pc.addEventListener('connectionstatechange', () => {
      clearTimeout(d.restartTimer);
      if (pc.connectionState === 'failed') pc.restartIce();
      else if (pc.connectionState === 'disconnected') d.restartTimer = setTimeout(() => pc.restartIce(), DIRECT_RESTART_MS);
    });
    return d;
  }

  /**
   * A description or candidate for the direct connection from peer `from` (perfect
   * negotiation, as call.js's: the polite side yields on a collision).
   * @private
   * @param {string} from
   * @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} msg
   */
  onDirectSignal(from, msg) {
    const remote = this.call.remotes.get(from);
    if (!remote) return;
    let d = this.direct.get(remote);
    if (!d || d.pc.connectionState === 'closed') {
      if (!msg.description || msg.description.type !== 'offer') return;
      d = this.openDirect(remote);
    }
    const dd = d;
    dd.chain = dd.chain
      .then(async () => {
        const { pc } = dd;
        if (msg.description) {
          const collision = msg.description.type === 'offer' && (dd.makingOffer || pc.signalingState !== 'stable');
          dd.ignoreOffer = !dd.polite && collision;
          if (dd.ignoreOffer) return;
          await pc.setRemoteDescription(msg.description);
          if (msg.description.type === 'offer') {
            await pc.setLocalDescription();
            if (remote.id) this.signaling.signal(remote.id, { file: { description: pc.localDescription } });
          }
        } else if (msg.candidate) {
          await pc.addIceCandidate(msg.candidate).catch((err) => {
            if (!dd.ignoreOffer) console.warn('lancall: bad ICE candidate for a file connection', err);
          });
        }
      })
      .catch((err) => console.warn('lancall: file connection negotiation failed', err));
  }
}

/**
 * Resolves when the receiver of `t` says it has more (`file-ack`), or `dc` closes.
 * @param {Transfer} t
 * @param {RTCDataChannel} dc
 */
function acked(t, dc) {
  return new Promise((resolve) => {
    const done = () => {
      t.onAck = null;
      dc.removeEventListener('close', done);
      resolve(undefined);
    };
    t.onAck = done;
    dc.addEventListener('close', done);
    if (dc.readyState !== 'open') done();
  });
}

/**
 * Resolves when `dc` holds at most `threshold` bytes (its `bufferedamountlow`), or closes.
 * @param {RTCDataChannel} dc
 * @param {number} [threshold]
 */
function drained(dc, threshold) {
  return new Promise((resolve) => {
    if (threshold !== undefined) dc.bufferedAmountLowThreshold = threshold;
    const done = () => {
      dc.removeEventListener('bufferedamountlow', done);
      dc.removeEventListener('close', done);
      resolve(undefined);
    };
    dc.addEventListener('bufferedamountlow', done);
    dc.addEventListener('close', done);
    if (dc.bufferedAmount <= dc.bufferedAmountLowThreshold || dc.readyState !== 'open') done();
  });
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}
