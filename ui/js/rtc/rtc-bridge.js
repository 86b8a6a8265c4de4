// RTCPeerConnection for a webview that has none (Debian's WebKitGTK in the Linux app), backed by
// the app's Rust side (lancall_peer::ipc and lancall_peer::bridge, webrtc-rs). call.js
// gets this object from the factory below instead of the browser's and cannot tell: it has the
// surface call.js uses — implicit setLocalDescription, setRemoteDescription (implicit rollback of
// a colliding offer), addIceCandidate, restartIce, addTransceiver, getTransceivers with directions
// and senders whose replaceTrack changes what is sent without renegotiating, receivers whose
// track is a real MediaStreamTrack, data channels, getStats, close, and the events
// negotiationneeded, icecandidate, signalingstatechange, connectionstatechange,
// iceconnectionstatechange, track and datachannel.
//
// Every method is one IPC command, run one at a time in the order the page called them (as a
// browser's operations chain does). Media crosses IPC as: camera pictures raw (I420) to Rust,
// which encodes VP8 once per track however many connections send it; microphone as Opus from the
// webview's AudioEncoder; remote VP8 and Opus frames back, decoded here with WebCodecs into a
// canvas (captureStream: the receiver's video track) and Web Audio (the receiver's audio track).

import { parseFrame, VideoSink, AudioSink, VideoSender, AudioSender } from './native-media.js';
import { hasChannels, invoke, newChannel } from '../lib/tauri.js';
import { randomId } from '../lib/ids.js';

/** Whether this page can use the bridge: inside the app, with WebCodecs to decode. */
export function bridgeAvailable() {
  return (
    hasChannels() &&
    typeof globalThis.VideoDecoder === 'function' &&
    typeof globalThis.AudioDecoder === 'function' &&
    typeof HTMLCanvasElement.prototype.captureStream === 'function'
  );
}

let audioContext = null;
/** The one AudioContext of remote sound and microphone encoding (made during a click). */
function audio() {
  audioContext ??= new AudioContext({ sampleRate: 48000 });
  if (audioContext.state === 'suspended') audioContext.resume().catch(() => {});
  return audioContext;
}

/**
 * A factory for call.js (`createPeerConnection`), or null when the bridge is not usable. Call it
 * from the click that joins: it starts the AudioContext there.
 */
export function bridgePeerConnectionFactory() {
  if (!bridgeAvailable()) return null;
  audio();
  return (config) => new BridgedPeerConnection(config);
}

// ---- sources: what we send ---------------------------------------------------------------------

/** One per local track sent, however many connections send it: track -> source. */
const sources = new Map();

/** Tracks whose sound this module plays itself (a <video> showing them must stay muted). */
const selfPlaying = new WeakSet();

/** True for a remote audio track the bridge plays through Web Audio already. */
export function playsItself(track) {
  return selfPlaying.has(track);
}

/** What each source did (for the stats panel's tests and the benchmark). */
export function bridgeSources() {
  return [...sources.values()].map((s) => ({ id: s.id, kind: s.kind, users: s.users.size, sent: s.sender?.sent ?? 0, sender: s.sender }));
}

/** Counts of a video source's pictures in Rust (received, encoded, dropped, latency). */
export function sourceCounts(id) {
  return invoke('rtc_source_stats', { source: id });
}

function acquire(track, user) {
  let s = sources.get(track);
  if (!s) {
    const id = randomId(12);
    s = { id, kind: track.kind, users: new Set(), sender: null, ready: null };
    sources.set(track, s);
    const source = s;
    s.ready = invoke('rtc_source_open', { source: id, kind: track.kind }).then(() => {
      if (!source.users.size) return;
      startSender(source, track);
    });
  }
  s.users.add(user);
  return s;
}

function startSender(s, track) {
  const id = s.id;
  // Nothing is captured or sent while the track is disabled (muted): like a browser, but not
  // even black pictures or silence go out.
  const paused = () => !track.enabled;
  // A shared screen is worth more pixels than a camera (text must stay legible), at fewer
  // pictures a second.
  const screen = !!track.getSettings?.().displaySurface;
  try {
    s.sender =
      s.kind === 'video'
        ? new VideoSender(track, (data, width, height, format, taken) =>
            invoke('rtc_source_video', data, {
              headers: {
                'lancall-source': id,
                'lancall-width': String(width),
                'lancall-height': String(height),
                'lancall-format': format,
                'lancall-taken': String(taken),
              },
            }), screen ? { paused, width: 1280, height: 720, fps: 15 } : { paused })
        : new AudioSender(track, audio(), (packet, durationUs) =>
            invoke('rtc_source_audio', packet, {
              headers: { 'lancall-source': id, 'lancall-duration': String(Math.round(durationUs)) },
            }), { paused });
  } catch (err) {
    console.warn(`lancall: cannot send the ${s.kind === 'video' ? 'camera' : 'microphone'}`, err?.message ?? err);
  }
}

function release(track, user) {
  const s = sources.get(track);
  if (!s) return;
  s.users.delete(user);
  if (s.users.size) return;
  sources.delete(track);
  s.sender?.stop();
  s.ready.finally(() => invoke('rtc_source_close', { source: s.id }).catch(() => {}));
}

// ---- recording in Rust ---------------------------------------------------------------------------

/** A remote track -> the transceiver it arrives on (what the Rust side records it by). */
const transceiverOfTrack = new WeakMap();

/**
 * What the app's Rust side records for `stream` (a tile's stream): a remote person's
 * transceivers on their connection, or our own sources (opened for the recording when no
 * connection sends them yet: alone in a call, our picture is still encoded for the file).
 * `release()` gives our sources back when the recording stops. Null when nothing in `stream`
 * goes through the bridge.
 * @param {MediaStream} stream
 */
export async function nativeRecordTarget(stream) {
  const live = (t) => (t && t.readyState === 'live' ? t : null);
  const video = live(stream.getVideoTracks()[0]);
  const audio = live(stream.getAudioTracks()[0]);
  const [tv, ta] = [video, audio].map((t) => (t ? transceiverOfTrack.get(t) : undefined));
  if (tv || ta) {
    const pc = (tv ?? ta).pc;
    const index = (t) => (t && t.pc === pc && t.index !== null ? t.index : null);
    return { target: { from: 'remote', pc: pc.id, video: index(tv), audio: index(ta) }, release() {} };
  }
  if (!video && !audio) return null;
  const user = { recording: true };
  const held = [];
  const sourceOf = async (track) => {
    if (!track) return null;
    const s = acquire(track, user);
    held.push(track);
    await s.ready;
    return s.id;
  };
  const target = { from: 'local', video: await sourceOf(video), audio: await sourceOf(audio) };
  return { target, release: () => held.forEach((t) => release(t, user)) };
}

// ---- the connection's parts --------------------------------------------------------------------

class BridgedSender {
  constructor(transceiver) {
    this.transceiver = transceiver;
    this.track = null;
  }

  replaceTrack(track) {
    const t = this.transceiver;
    return t.pc.enqueue(async () => {
      const old = this.track;
      if (track === old) return;
      this.track = track ?? null;
      let source = null;
      if (track) {
        const s = acquire(track, this);
        await s.ready;
        source = s.id;
      }
      try {
        await t.pc.op({ op: 'set-source', index: t.index, source });
      } finally {
        if (old) release(old, this);
      }
    });
  }

  setStreams() {
    /* one stream per connection on the Rust side */
  }

  getParameters() {
    return { encodings: [{}] };
  }
}

class BridgedReceiver {
  constructor(kind) {
    this.kind = kind;
    if (kind === 'video') {
      this.sink = new VideoSink();
      this.track = this.sink.stream.getVideoTracks()[0];
    } else {
      this.sink = new AudioSink(audio());
      this.track = this.sink.track;
      selfPlaying.add(this.track);
    }
  }

  /** As a browser's: the level of what was played lately (the tile's "speaking" outline). */
  getSynchronizationSources() {
    const s = this.sink;
    if (this.kind !== 'audio' || !s.playedAt || performance.now() - s.playedAt > 1000) return [];
    return [{ audioLevel: s.level, timestamp: s.playedAt, source: 0 }];
  }

  close() {
    this.sink.close();
  }
}

class BridgedTransceiver {
  constructor(pc, kind, direction, index = null) {
    this.pc = pc;
    this.index = index;
    this.kind = kind;
    this.mid = null;
    this.currentDirection = null;
    this.stopped = false;
    this.directionValue = direction;
    this.sender = new BridgedSender(this);
    this.receiver = new BridgedReceiver(kind);
    transceiverOfTrack.set(this.receiver.track, this);
  }

  get direction() {
    return this.directionValue;
  }

  set direction(d) {
    if (d === this.directionValue) return;
    this.directionValue = d;
    this.pc.enqueue(() => this.pc.op({ op: 'set-direction', index: this.index, direction: d })).catch((err) => {
      console.warn('lancall: direction not set', err?.message ?? err);
    });
  }

  stop() {
    this.direction = 'inactive';
  }
}

/** Bytes of binary messages that go to Rust in one IPC call at most (one file read is 1 MiB). */
const SEND_BATCH_BYTES = 1024 * 1024;
/** Largest binary message, as Chromium's (peer/src/ipc MAX_CHANNEL_MESSAGE). */
const MAX_CHANNEL_MESSAGE = 256 * 1024;

/** @param {ArrayBuffer|ArrayBufferView} data a copy of its bytes, as a browser's send takes them */
function copyBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return null;
}

class BridgedChannel extends EventTarget {
  constructor(pc, id, label, ordered) {
    super();
    this.pc = pc;
    this.id = id;
    this.label = label;
    this.ordered = ordered;
    this.readyState = 'connecting';
    this.sending = Promise.resolve();
    // As a browser's channel has them (files.js sets them); binary messages arrive as ArrayBuffers.
    this.binaryType = 'arraybuffer';
    /** Bytes given to send() and not yet taken by Rust (which answers once its channel has room). */
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    /** Binary messages waiting to go to Rust together, while an earlier call is out. */
    this.batch = null;
  }

  send(data) {
    if (this.readyState !== 'open') throw new DOMException('The data channel is not open.', 'InvalidStateError');
    if (typeof data === 'string') {
      this.batch = null; // later bytes go after this text
      // One at a time: two IPC calls in flight may overtake each other.
      this.sending = this.sending
        .then(() => this.pc.op({ op: 'channel-send', id: this.id, text: data }))
        .catch((err) => console.warn('lancall: a message was not sent', err?.message ?? err));
      return;
    }
    const bytes = copyBytes(data);
    if (!bytes) throw new TypeError('A data channel sends text, an ArrayBuffer or a typed array.');
    if (bytes.byteLength === 0) return;
    if (bytes.byteLength > MAX_CHANNEL_MESSAGE) throw new TypeError(`A message is at most ${MAX_CHANNEL_MESSAGE} bytes.`);
    this.bufferedAmount += bytes.byteLength;
    let batch = this.batch;
    if (!batch || batch.size + bytes.byteLength > SEND_BATCH_BYTES) {
      const b = { parts: /** @type {Uint8Array[]} */ ([]), size: 0 };
      batch = b;
      this.batch = b;
      this.sending = this.sending.then(() => this.flushBytes(b));
    }
    batch.parts.push(bytes);
    batch.size += bytes.byteLength;
  }

  /** @private one IPC call with every message of `batch`: each a 4-byte length, then its bytes */
  async flushBytes(batch) {
    if (this.batch === batch) this.batch = null;
    const body = new Uint8Array(batch.size + 4 * batch.parts.length);
    const view = new DataView(body.buffer);
    let at = 0;
    for (const p of batch.parts) {
      view.setUint32(at, p.byteLength, true);
      body.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    try {
      // What was sent before a close() still goes, as in browsers.
      if (this.readyState !== 'closed') {
        await invoke('rtc_channel_send', body, { headers: { 'lancall-pc': this.pc.id, 'lancall-channel': String(this.id) } });
      }
    } catch (err) {
      console.warn('lancall: bytes were not sent', err?.message ?? err);
    } finally {
      const before = this.bufferedAmount;
      this.bufferedAmount = Math.max(0, before - batch.size);
      if (before > this.bufferedAmountLowThreshold && this.bufferedAmount <= this.bufferedAmountLowThreshold) {
        this.dispatchEvent(new Event('bufferedamountlow'));
      }
    }
  }

  /**
   * The app only: from now on the binary messages this channel receives go by Rust straight into
   * the file being received as `handle` (src-tauri/src/commands/files.rs), never to the page;
   * `written` events say how far it got, `write-failed` why it stopped. Resolves to the bytes
   * written so far.
   * @param {string} handle
   * @returns {Promise<number>}
   */
  saveBytesTo(handle) {
    return invoke('rtc_channel_save', { pc: this.pc.id, channel: this.id, handle });
  }

  close() {
    if (this.readyState === 'closed' || this.readyState === 'closing') return;
    this.readyState = 'closing';
    // After what was sent before (a hang-up's "bye").
    this.sending = this.sending.then(() => this.pc.op({ op: 'channel-close', id: this.id })).catch(() => {});
  }
}

/** First byte of a data channel's binary message from Rust (peer/src/ipc/envelope.rs). */
const CHANNEL_BYTES_TAG = 0xdc;

/** A description as a browser's `RTCSessionDescription` shows it (sfu-link.js sends `toJSON()`). */
const plainDescription = (d) => {
  if (!d) return null;
  const { type, sdp } = d;
  return Object.defineProperty({ type, sdp }, 'toJSON', { value: () => ({ type, sdp }) });
};

/** Open connections, closed when the page goes (a reload must not leave them sending). */
const openConnections = new Set();
globalThis.addEventListener?.('pagehide', () => {
  for (const pc of [...openConnections]) pc.close();
});

/** The object call.js drives; see the top of this file. */
export class BridgedPeerConnection extends EventTarget {
  constructor(config = {}) {
    super();
    this.id = randomId(12);
    this.signalingState = 'stable';
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    /** @type {BridgedTransceiver[]} */
    this.transceivers = [];
    /** @type {Map<number, BridgedChannel>} */
    this.channels = new Map();
    this.nextChannel = 1;
    this.closed = false;
    /** Layout operations waiting to go to Rust together (see `batched`). */
    this.openBatch = null;
    /** How many setLocalDescription calls hold candidates back, and the candidates held. */
    this.holds = 0;
    this.heldCandidates = [];
    /** When things first happened (ms since the epoch), for the benchmark's timeline. */
    this.marks = {};
    this.mark('created');
    openConnections.add(this);
    const iceServers = Array.isArray(config.iceServers) ? config.iceServers : [];
    const channel = newChannel();
    channel.onmessage = (m) => this.receive(m);
    this.chain = invoke('rtc_open', { pc: this.id, config: { iceServers }, channel }).then(() => this.mark('opened'));
    this.chain.catch((err) => {
      console.warn('lancall: the connection could not be made', err?.message ?? err);
      this.connectionState = 'failed';
      this.dispatchEvent(new Event('connectionstatechange'));
    });
  }

  /** What Rust sends on the connection's channel: an event, or a remote frame. */
  receive(m) {
    if (this.closed) return;
    if (m instanceof ArrayBuffer && new Uint8Array(m, 0, 1)[0] === CHANNEL_BYTES_TAG) this.onChannelBytes(m);
    else if (m instanceof ArrayBuffer) this.onFrame(m);
    else this.onEvent(m);
  }

  /** A data channel's binary message: 8-byte header (peer/src/ipc/envelope.rs), then the bytes. */
  onChannelBytes(buf) {
    if (buf.byteLength < 8) return;
    const ch = this.channels.get(new DataView(buf).getUint32(4, true));
    if (ch) ch.dispatchEvent(new MessageEvent('message', { data: buf.slice(8) }));
  }

  mark(what) {
    this.marks[what] ??= Math.round(performance.timeOrigin + performance.now());
  }

  /** Runs `fn` after every operation called before it (a browser's operations chain). */
  enqueue(fn) {
    this.openBatch = null; // what is batched later runs after this
    return this.chained(fn);
  }

  /** @private */
  chained(fn) {
    const run = this.chain.then(() => {
      if (this.closed) throw new DOMException('The connection is closed.', 'InvalidStateError');
      return fn();
    });
    this.chain = run.catch(() => {});
    return run;
  }

  op(op) {
    return invoke('rtc_op', { pc: this.id, op });
  }

  /**
   * Chains the operation `op` like `enqueue`, but the operations that lay out a connection
   * (addTransceiver, createDataChannel) called one after the other go to Rust in one IPC call,
   * their sources opened side by side: on WebKit's busy main thread each round trip costs
   * 10-35 ms. `source`, if any, gives the source id to send once it is open. Resolves with the
   * operation's answer.
   * @private
   */
  batched(op, source = null) {
    let batch = this.openBatch;
    if (!batch) {
      batch = [];
      this.openBatch = batch;
      this.chained(() => this.flush(batch)).catch((err) => {
        for (const b of batch) b.reject(err); // closed before its turn
      });
    }
    return new Promise((resolve, reject) => batch.push({ op, source, resolve, reject }));
  }

  /** @private */
  async flush(batch) {
    if (this.openBatch === batch) this.openBatch = null;
    try {
      await Promise.all(batch.map(async (b) => {
        if (b.source) b.op.source = await b.source();
      }));
      const outcomes = await this.op({ op: 'batch', ops: batch.map((b) => b.op) });
      batch.forEach((b, i) => {
        const o = outcomes[i];
        if (o && 'ok' in o) b.resolve(o.ok);
        else b.reject(new Error(o?.error ?? 'no answer'));
      });
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }

  // ---- RTCPeerConnection ---------------------------------------------------------------------

  addTransceiver(trackOrKind, init = {}) {
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const kind = track ? track.kind : trackOrKind;
    if (kind !== 'audio' && kind !== 'video') throw new TypeError(`"${kind}" is neither audio nor video`);
    if (this.closed) throw new DOMException('The connection is closed.', 'InvalidStateError');
    const t = new BridgedTransceiver(this, kind, init.direction ?? 'sendrecv');
    this.transceivers.push(t);
    const source = track
      ? async () => {
          const s = acquire(track, t.sender);
          t.sender.track = track;
          await s.ready;
          return s.id;
        }
      : null;
    this.batched({ op: 'add-transceiver', kind, direction: t.direction, source: null }, source)
      .then((info) => {
        t.index = info.index;
        this.apply([info]);
      })
      .catch((err) => console.warn('lancall: transceiver not added', err?.message ?? err));
    return t;
  }

  getTransceivers() {
    return [...this.transceivers];
  }

  getSenders() {
    return this.transceivers.map((t) => t.sender);
  }

  getReceivers() {
    return this.transceivers.map((t) => t.receiver);
  }

  createDataChannel(label, init = {}) {
    if (this.closed) throw new DOMException('The connection is closed.', 'InvalidStateError');
    const ch = new BridgedChannel(this, this.nextChannel, String(label), init.ordered !== false);
    this.nextChannel += 1;
    this.channels.set(ch.id, ch);
    this.batched({ op: 'create-channel', id: ch.id, label: ch.label, ordered: ch.ordered }).catch((err) => {
      console.warn('lancall: data channel not created', err?.message ?? err);
    });
    return ch;
  }

  setLocalDescription(description) {
    return this.enqueue(async () => {
      // Candidates Rust gathers for this description can reach the page before the operation's
      // answer: a browser fires none before setLocalDescription resolves, and the caller sends
      // the description first. Held until the caller's continuation has run.
      this.holds += 1;
      try {
        const snapshot = await this.op({ op: 'set-local', rollback: description?.type === 'rollback' });
        this.mark(`local-${snapshot.localDescription?.type}`);
        this.applySnapshot(snapshot);
      } finally {
        setTimeout(() => this.releaseCandidates(), 0);
      }
    });
  }

  /** @private */
  releaseCandidates() {
    this.holds -= 1;
    if (this.holds > 0) return;
    for (const c of this.heldCandidates.splice(0)) this.dispatchCandidate(c);
  }

  /** @private */
  dispatchCandidate(c) {
    if (this.closed) return;
    const candidate = { ...c, toJSON: () => ({ ...c }) };
    this.dispatchEvent(Object.assign(new Event('icecandidate'), { candidate }));
  }

  setRemoteDescription(description) {
    return this.enqueue(async () => {
      const snapshot = await this.op({ op: 'set-remote', description: plainDescription(description) });
      this.mark(`remote-${description?.type}`);
      this.applySnapshot(snapshot);
    });
  }

  addIceCandidate(candidate) {
    return this.enqueue(() => {
      if (!candidate?.candidate) return undefined; // end of candidates
      return this.op({
        op: 'add-candidate',
        candidate: {
          candidate: candidate.candidate,
          sdpMid: candidate.sdpMid ?? null,
          sdpMLineIndex: candidate.sdpMLineIndex ?? null,
          usernameFragment: candidate.usernameFragment ?? null,
        },
      });
    });
  }

  restartIce() {
    this.enqueue(() => this.op({ op: 'restart-ice' })).catch((err) => console.warn('lancall: ICE restart failed', err?.message ?? err));
  }

  /** The stats Rust keeps, plus what is counted here, where the decoding happens. */
  async getStats() {
    const report = new Map();
    if (this.closed) return report;
    const entries = await this.op({ op: 'stats' });
    for (const e of entries) {
      const t = typeof e.transceiver === 'number' ? this.transceivers.find((x) => x.index === e.transceiver) : null;
      if (e.type === 'inbound-rtp' && t) {
        // As a browser's: which media section and which receiver track (one connection to an
        // SFU carries many people's, told apart by these).
        e.mid = t.mid;
        e.trackIdentifier = t.receiver.track.id;
        const sink = t.receiver.sink;
        if (e.kind === 'video') e.framesDecoded = sink.decoded;
        else Object.assign(e, { audioLevel: sink.level, totalAudioEnergy: sink.energy });
      }
      report.set(e.id, e);
    }
    return report;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    openConnections.delete(this);
    this.signalingState = 'closed';
    this.connectionState = 'closed';
    this.iceConnectionState = 'closed';
    // Messages already handed to a channel (a hang-up's "bye") go out before the connection closes.
    const sending = [...this.channels.values()].map((ch) => ch.sending);
    Promise.allSettled(sending).then(() => invoke('rtc_close', { pc: this.id })).catch(() => {});
    for (const ch of this.channels.values()) ch.readyState = 'closed';
    for (const t of this.transceivers) if (t.sender.track) release(t.sender.track, t.sender);
    // The receivers' tracks end a turn later: the page lets go of its players first (ending a
    // track under a playing WebKitGTK player can deadlock the page; see app.js detachPlayers).
    const receivers = this.transceivers.map((t) => t.receiver);
    setTimeout(() => {
      for (const r of receivers) r.close();
    }, 0);
  }

  // ---- from Rust -----------------------------------------------------------------------------

  /** Mirrors transceivers as Rust reports them (by index; remote-made ones appear here). */
  apply(infos) {
    for (const info of infos) {
      let t = this.transceivers.find((x) => x.index === info.index);
      if (!t) {
        t = new BridgedTransceiver(this, info.kind, info.direction, info.index);
        this.transceivers.push(t);
      }
      t.mid = info.mid ?? null;
      t.currentDirection = info.currentDirection ?? null;
      t.directionValue = info.direction;
    }
    this.transceivers.sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
  }

  applySnapshot(s) {
    this.apply(s.transceivers ?? []);
    this.localDescription = plainDescription(s.localDescription);
    this.remoteDescription = plainDescription(s.remoteDescription);
    if (s.signalingState !== this.signalingState) {
      this.signalingState = s.signalingState;
      this.dispatchEvent(new Event('signalingstatechange'));
    }
  }

  onEvent(e) {
    switch (e?.type) {
      case 'negotiationneeded':
        this.mark('negotiationneeded');
        this.dispatchEvent(new Event('negotiationneeded'));
        break;
      case 'icecandidate':
        if (this.holds > 0) this.heldCandidates.push(e.candidate);
        else this.dispatchCandidate(e.candidate);
        break;
      case 'connectionstatechange':
        this.mark(e.state);
        this.connectionState = e.state;
        this.dispatchEvent(new Event('connectionstatechange'));
        break;
      case 'iceconnectionstatechange':
        this.iceConnectionState = e.state;
        this.dispatchEvent(new Event('iceconnectionstatechange'));
        break;
      case 'track': {
        this.mark(`track-${e.kind}`);
        let t = this.transceivers.find((x) => x.index === e.transceiver);
        if (!t) {
          this.apply([{ index: e.transceiver, kind: e.kind, direction: 'recvonly', mid: null, currentDirection: null }]);
          t = this.transceivers.find((x) => x.index === e.transceiver);
        }
        const ev = Object.assign(new Event('track'), { track: t.receiver.track, receiver: t.receiver, transceiver: t, streams: [] });
        this.dispatchEvent(ev);
        break;
      }
      case 'datachannel': {
        const ch = new BridgedChannel(this, e.channel, e.label, e.ordered);
        this.channels.set(ch.id, ch);
        this.dispatchEvent(Object.assign(new Event('datachannel'), { channel: ch }));
        break;
      }
      case 'channel-written':
      case 'channel-write-failed': {
        const ch = this.channels.get(e.channel);
        if (!ch) break;
        if (e.type === 'channel-written') ch.dispatchEvent(new CustomEvent('written', { detail: { bytes: e.bytes } }));
        else ch.dispatchEvent(new CustomEvent('write-failed', { detail: { message: String(e.message ?? '') } }));
        break;
      }
      case 'channel-open':
      case 'channel-close':
      case 'channel-message': {
        const ch = this.channels.get(e.channel);
        if (!ch) break;
        if (e.type === 'channel-open') {
          ch.readyState = 'open';
          ch.dispatchEvent(new Event('open'));
        } else if (e.type === 'channel-close') {
          ch.readyState = 'closed';
          this.channels.delete(ch.id);
          ch.dispatchEvent(new Event('close'));
        } else {
          ch.dispatchEvent(new MessageEvent('message', { data: e.text }));
        }
        break;
      }
      default:
        break;
    }
  }

  onFrame(buf) {
    const f = parseFrame(buf);
    if (!f) return;
    const t = this.transceivers.find((x) => x.index === f.link);
    if (!t || t.kind !== f.kind) return;
    this.mark(`frame-${f.kind}`);
    try {
      t.receiver.sink.push(f);
    } catch (err) {
      console.warn('lancall: a remote frame could not be decoded', err?.message ?? err);
    }
  }
}
