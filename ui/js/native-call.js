// The call for a webview without RTCPeerConnection (Debian's WebKitGTK in the Linux app): the
// peer connections run in Rust (src-tauri/src/native_call.rs, lancall-peer), riding on this
// page's own signaling session, so SDP and ICE never cross IPC. Same interface and events as
// call.js's `Call`; app.js picks it only when the page has no RTCPeerConnection and runs in the
// app. What arrives (VP8, Opus) is decoded here with WebCodecs (native-media.js); the camera goes
// to Rust as raw I420 pictures (VP8-encoded there), the microphone as Opus packets from the
// webview's AudioEncoder.

import { Transport } from './transport.js';
import { parseFrame, VideoSink, AudioSink, VideoSender, AudioSender } from './native-media.js';
import { randomId } from './call.js';

const EVENT = 'lancall:native-call';

/** Whether this page can run a native call (inside the app, with WebCodecs). */
export function nativeCallAvailable() {
  return (
    typeof globalThis.__TAURI__?.core?.invoke === 'function' &&
    typeof globalThis.VideoDecoder === 'function' &&
    typeof globalThis.AudioDecoder === 'function' &&
    typeof HTMLCanvasElement.prototype.captureStream === 'function'
  );
}

/**
 * The signaling transport, held back from `open` until the Rust call rides on its session (so
 * that the call sees the hub's `welcome`).
 */
class AttachedTransport extends Transport {
  constructor(inner, attach) {
    super();
    this.inner = inner;
    inner.addEventListener('open', () => {
      attach(inner.session).then(
        () => this.emitOpen(),
        (err) => {
          console.warn('lancall: the call could not use this connection', err?.message ?? err);
          inner.close();
        },
      );
    });
    inner.addEventListener('message', (ev) => this.emitMessage(ev.detail));
    inner.addEventListener('close', (ev) => this.emitClose(ev.detail.code, ev.detail.reason, ev.detail.wasOpen));
  }

  get error() {
    return this.inner.error ?? null;
  }

  send(message) {
    return this.readyState === 'open' && this.inner.send(message);
  }

  close() {
    this.inner.close();
  }
}

/**
 * A call whose peer connections run in Rust: the interface and events of call.js's `Call`.
 * Remotes carry `link` (the Rust connection id) and, for video, a `VideoSink` whose `decoded`
 * counts decoded pictures.
 */
export class NativeCall extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./signaling.js').SignalingClient} opts.signaling built with
   *   `connect: () => call.wrapTransport(transportFor(host))`
   */
  constructor({ signaling }) {
    super();
    this.signaling = signaling;
    this.id = randomId();
    this.session = null;
    this.selfId = null;
    this.room = null;
    this.started = false;
    this.ended = false;
    /** @type {Map<number, object>} remotes by link id */
    this.remotes = new Map();
    this.audioContext = new AudioContext({ sampleRate: 48000 });
    this.local = { audio: null, video: null };
    this.senders = { audio: null, video: null };
    this.muted = { audio: false, video: false };
    this.invoke = globalThis.__TAURI__.core.invoke;
    this.listening = globalThis.__TAURI__.event.listen(EVENT, (ev) => {
      if (ev.payload?.call === this.id) this.onEvent(ev.payload);
    });
    this.frames = new globalThis.__TAURI__.core.Channel();
    this.frames.onmessage = (buf) => this.onFrame(buf);

    const on = (type, fn) => signaling.addEventListener(type, (ev) => fn(ev.detail));
    on('welcome', (msg) => {
      const rejoined = this.selfId !== null;
      this.selfId = msg.self?.id ?? null;
      this.room = msg.room ?? this.room;
      this.emit('joined', { selfId: this.selfId, room: this.room, rejoined });
    });
    for (const type of ['status', 'fatal', 'closing', 'knock-wait', 'admitted']) {
      on(type, (detail) => this.emit(type, detail));
    }
  }

  /** The transport the signaling client should use. */
  wrapTransport(inner) {
    return new AttachedTransport(inner, (session) => this.attach(session));
  }

  /** @private */
  async attach(session) {
    await this.listening;
    if (this.ended) throw new Error('the call has ended');
    if (!this.started) {
      this.session = await this.invoke('native_call_start', { call: this.id, session, frames: this.frames });
      this.started = true;
      for (const kind of ['audio', 'video']) {
        await this.invoke('native_call_mute', { call: this.id, kind, muted: this.muted[kind] });
        this.updateSender(kind);
      }
    } else {
      await this.invoke('native_call_attach', { call: this.id, session });
    }
  }

  start(opts) {
    this.signaling.start(opts);
  }

  get participants() {
    return [...this.remotes.values()];
  }

  /** Send `track` (or nothing) as our microphone or camera. */
  async setLocalTrack(kind, track) {
    if (this.local[kind] === track) return;
    this.local[kind] = track;
    this.senders[kind]?.stop();
    this.senders[kind] = null;
    this.updateSender(kind);
  }

  /** Tell everyone what we send; nothing is captured while muted. */
  setMuted(kind, muted) {
    this.muted[kind] = muted;
    if (this.started && !this.ended) {
      this.invoke('native_call_mute', { call: this.id, kind, muted }).catch((err) => console.warn('lancall: mute not applied', err?.message ?? err));
    }
    this.updateSender(kind);
  }

  /** Starts or stops capturing `kind` for the call. @private */
  updateSender(kind) {
    const want = this.started && !this.ended && !this.muted[kind] && this.local[kind];
    if (!want) {
      this.senders[kind]?.stop();
      this.senders[kind] = null;
      return;
    }
    if (this.senders[kind]) return;
    const call = this.id;
    try {
      this.senders[kind] =
        kind === 'video'
          ? new VideoSender(this.local.video, (data, width, height, format, taken) =>
              this.invoke('native_call_video', data, {
                headers: {
                  'lancall-call': call,
                  'lancall-width': String(width),
                  'lancall-height': String(height),
                  'lancall-format': format,
                  'lancall-taken': String(taken),
                },
              }),
            )
          : new AudioSender(this.local.audio, this.audioContext, (packet, durationUs) =>
              this.invoke('native_call_audio', packet, {
                headers: { 'lancall-call': call, 'lancall-duration': String(Math.round(durationUs)) },
              }),
            );
    } catch (err) {
      console.warn(`lancall: cannot send the ${kind === 'video' ? 'camera' : 'microphone'}`, err?.message ?? err);
    }
  }

  startScreen() {
    /* not supported by the native call */
  }

  stopScreen() {}

  sendChat(text) {
    const open = this.participants.filter((r) => r.chatOpen).length;
    if (this.started) {
      this.invoke('native_call_chat', { call: this.id, text }).catch((err) => console.warn('lancall: chat not sent', err?.message ?? err));
    }
    return open;
  }

  hangup() {
    if (this.ended) return;
    this.ended = true;
    for (const kind of ['audio', 'video']) this.updateSender(kind);
    const done = this.started ? this.invoke('native_call_hangup', { call: this.id }) : Promise.resolve();
    done
      .catch((err) => console.warn('lancall: hang-up failed', err?.message ?? err))
      .finally(() => {
        this.signaling.stop();
        this.listening.then((unlisten) => unlisten()).catch(() => {});
        this.audioContext.close().catch(() => {});
      });
    for (const r of this.participants) this.removeRemote(r, 'hangup');
  }

  /**
   * The stats of `remote`'s connection (kept in Rust), shaped as the few RTCStatsReport
   * entries stats.js reads. Frames decoded are counted here, where the decoding happens.
   */
  async getStats(remote) {
    if (!this.started || this.ended) return null;
    const now = performance.now();
    if (!this.statsCache || now - this.statsCache.at > 500) {
      this.statsCache = { at: now, list: this.invoke('native_call_stats', { call: this.id }) };
    }
    let answer;
    try {
      answer = await this.statsCache.list;
    } catch (err) {
      console.warn('lancall: no stats', err?.message ?? err);
      return null;
    }
    /** How the camera's pictures fared on their way to the encoder (received, encoded, dropped). */
    this.cameraCounts = answer.camera;
    const entry = answer.links.find((e) => e.link === remote.link);
    return entry ? statsReport(entry.stats, remote) : null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @private */
  remoteFor(e) {
    let r = this.remotes.get(e.link);
    if (!r) {
      r = {
        link: e.link,
        id: e.peer ?? null,
        session: `native-${e.link}`,
        name: e.name ?? '',
        polite: !!e.polite,
        state: { muted: { audio: false, video: false } },
        connectionState: 'new',
        chatOpen: false,
        mainStream: null,
        screenStream: null,
        closed: false,
        video: null,
        audio: null,
      };
      r.video = new VideoSink();
      r.mainStream = r.video.stream;
      this.remotes.set(e.link, r);
      this.emit('remote-added', { remote: r });
    }
    return r;
  }

  /** @private */
  onEvent(e) {
    if (this.ended) return;
    switch (e.event) {
      case 'remote-added':
        this.remoteFor(e);
        break;
      case 'remote-updated': {
        const r = this.remoteFor(e);
        r.id = e.peer ?? null;
        r.name = e.name ?? r.name;
        r.state.muted = { audio: !!e.muted?.audio, video: !!e.muted?.video };
        r.connectionState = e.connection ?? r.connectionState;
        r.chatOpen = !!e.chat_open;
        this.emit('remote-updated', { remote: r });
        break;
      }
      case 'remote-removed': {
        const r = this.remotes.get(e.link);
        if (r) this.removeRemote(r, e.reason ?? 'left');
        break;
      }
      case 'chat': {
        const r = this.remotes.get(e.link);
        if (r && typeof e.text === 'string') this.emit('chat', { remote: r, text: e.text.slice(0, 4000), at: Date.now() });
        break;
      }
      default:
        break;
    }
  }

  /** @private */
  onFrame(buf) {
    if (this.ended) return;
    const f = parseFrame(buf);
    if (!f || f.role !== 'main') return;
    const r = this.remotes.get(f.link);
    if (!r || r.closed) return;
    try {
      if (f.kind === 'video') r.video.push(f);
      else {
        r.audio ??= new AudioSink(this.audioContext);
        r.audio.push(f);
      }
    } catch (err) {
      console.warn('lancall: a remote frame could not be decoded', err?.message ?? err);
    }
  }

  /** @private */
  removeRemote(r, reason) {
    if (r.closed) return;
    r.closed = true;
    this.remotes.delete(r.link);
    // The UI takes the tile (and its player) away first; the picture's track ends a turn later
    // (WebKitGTK can deadlock when a track ends under a playing player: app.js, detachPlayers).
    this.emit('remote-removed', { remote: r, reason });
    setTimeout(() => {
      r.video?.close();
      r.audio?.close();
    }, 0);
  }
}

/** One link's stats (lancall_peer::LinkStats) as RTCStats-like entries, by id. */
export function statsReport(st, remote) {
  const report = new Map();
  const add = (o) => report.set(o.id, o);
  const stream = (dir, kind, x, extra) => {
    if (!x || (!x.frames && !x.bytes)) return;
    const codecId = `codec-${dir}-${kind}`;
    if (x.codec) add({ id: codecId, type: 'codec', mimeType: x.codec });
    const base = { id: `${dir}-${kind}`, type: dir === 'in' ? 'inbound-rtp' : 'outbound-rtp', kind, codecId };
    if (dir === 'in') add({ ...base, bytesReceived: x.bytes, packetsLost: x.packets_lost, ...extra });
    else add({ ...base, bytesSent: x.bytes, ...extra });
  };
  const size = (x) => (x.width ? { frameWidth: x.width, frameHeight: x.height } : {});
  stream('in', 'video', st.video_in, { framesDecoded: remote.video?.decoded ?? st.video_in.frames, framesPerSecond: Math.round(st.video_in.fps), ...size(st.video_in) });
  stream('in', 'audio', st.audio_in, remote.audio ? { audioLevel: remote.audio.level, totalAudioEnergy: remote.audio.energy } : {});
  stream('out', 'video', st.video_out, { framesPerSecond: Math.round(st.video_out.fps), ...size(st.video_out) });
  stream('out', 'audio', st.audio_out, {});
  if (st.local_candidate_type && st.remote_candidate_type) {
    add({ id: 'local', type: 'local-candidate', candidateType: st.local_candidate_type, protocol: 'udp' });
    add({ id: 'remote', type: 'remote-candidate', candidateType: st.remote_candidate_type, protocol: 'udp' });
    add({
      id: 'pair',
      type: 'candidate-pair',
      nominated: true,
      state: 'succeeded',
      localCandidateId: 'local',
      remoteCandidateId: 'remote',
      ...(typeof st.rtt_ms === 'number' ? { currentRoundTripTime: st.rtt_ms / 1000 } : {}),
    });
  }
  return report;
}
