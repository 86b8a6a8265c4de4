// The one connection to the host's selective forwarding unit (SFU), in a room whose topology is
// `sfu` (docs/PROTOCOL.md, "media-description"). Call (call.js) owns it: it publishes the
// microphone, the camera (simulcast) and a shared screen, and receives every other participant's
// tracks, which it tells apart by their msid (`PEER-ID PEER-ID-MID`).
//
// Negotiation is perfect negotiation with this side impolite: an SFU offer that arrives while our
// own offer is out is ignored (the SFU drops it and offers again after answering ours).
//
// Events (CustomEvent, payload in `detail`):
//   offered   {}                 our first offer went out
//   state     { state }          the connection's state changed
//   tracks    {}                 the set of received tracks (or their owners) may have changed
//   screen    { mid }            our shared screen's mid is known (or null once it stopped)
//   failed    { reason }         the connection cannot go on: make a new one

/** A connection that stays `disconnected` this long gets an ICE restart. */
const DISCONNECTED_RESTART_MS = 2_500;

/**
 * Receive slots offered at most (an audio and a video section each): enough for the people of
 * most calls; the others' tracks come in the SFU's own offer, as every track did before. Each
 * slot adds ~1 KB to the first offer (VP8 or Opus only), which must stay under the hub's 64 KiB.
 */
export const MAX_SLOTS = 12;

/**
 * Only the codecs the SFU forwards (VP8, Opus, and their retransmissions), so that a receive
 * slot's section stays small; undefined where the browser cannot say.
 * @param {'audio'|'video'} kind
 * @returns {RTCRtpCodec[]|undefined}
 */
function forwardedCodecs(kind) {
  const codecs = globalThis.RTCRtpReceiver?.getCapabilities?.(kind)?.codecs;
  if (!codecs) return undefined;
  const want = kind === 'video' ? ['video/vp8', 'video/rtx'] : ['audio/opus'];
  const kept = codecs.filter((c) => want.includes(c.mimeType.toLowerCase()));
  return kept.some((c) => c.mimeType.toLowerCase() !== 'video/rtx') ? kept : undefined;
}

/**
 * Simulcast layers for a camera `height` lines tall, listed low to high (Chromium keeps the
 * first encodings of the list when it cannot make them all): 3 at 540 lines and above, 2 from
 * 270, else none (one encoding).
 * @param {number} height
 * @returns {RTCRtpEncodingParameters[]|undefined}
 */
export function simulcastLayers(height) {
  if (height >= 540) {
    return [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
    ];
  }
  if (height >= 270) {
    return [
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 200_000 },
      { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 800_000 },
    ];
  }
  return undefined;
}

/**
 * Each media section's mid and msid in an SDP: mid -> {stream, track}; sections that are
 * rejected (port 0) or carry no msid are left out.
 * @param {string} sdp
 * @returns {Map<string, {stream: string, track: string, active: boolean}>}
 */
export function msidByMid(sdp) {
  const out = new Map();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const lines = section.split(/\r?\n/);
    const mid = lines.find((l) => l.startsWith('a=mid:'))?.slice(6).trim();
    const msid = lines.find((l) => l.startsWith('a=msid:'))?.slice(7).trim().split(/\s+/);
    if (!mid || !msid || msid.length < 2) continue;
    const port = Number(lines[0].split(/\s+/)[1]);
    const active = port !== 0 && !lines.some((l) => l === 'a=inactive' || l === 'a=recvonly');
    out.set(mid, { stream: msid[0], track: msid[1], active });
  }
  return out;
}

export class SfuLink extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./signaling.js').SignalingClient} opts.signaling
   * @param {(config: RTCConfiguration) => RTCPeerConnection} opts.createPeerConnection
   * @param {RTCIceServer[]} opts.iceServers
   * @param {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, stream: MediaStream, screen: MediaStreamTrack|null, screenStream: MediaStream|null}} opts.local
   * @param {number} [opts.others] how many people are in the room already: the first offer has
   *   a receive slot (an audio and a video section) for each (at most MAX_SLOTS), which the SFU
   *   fills with their tracks in its answer, one negotiation sooner than its own offer would
   */
  constructor({ signaling, createPeerConnection, iceServers, local, others = 0 }) {
    super();
    this.signaling = signaling;
    this.local = local;
    this.pc = createPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.makingOffer = false;
    this.chain = Promise.resolve();
    this.closed = false;
    this.offered = false;
    /** @type {Map<string, {stream: string, track: string, active: boolean}>} what the SFU sends, by our mid */
    this.msids = new Map();
    /** @type {{audio: RTCRtpTransceiver|null, video: RTCRtpTransceiver|null, screen: RTCRtpTransceiver|null}} */
    this.tx = { audio: null, video: null, screen: null };
    /** @type {string|null} our screen transceiver's mid, once negotiated */
    this.screenMid = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.disconnectedTimer = undefined;
    this.state = 'new';

    const pc = this.pc;
    pc.addEventListener('negotiationneeded', () => {
      this.chain = this.chain.then(() => this.offer()).catch((err) => console.warn('lancall: offer to the SFU failed', err));
    });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate && candidate.candidate) this.signaling.media('media-candidate', { candidate: candidate.toJSON() });
    });
    pc.addEventListener('connectionstatechange', () => this.onState());
    pc.addEventListener('track', (ev) => {
      // A track's media starting to flow matters too: a switch from the mesh waits for it.
      ev.track.addEventListener('unmute', () => this.emit('tracks', {}));
      this.emit('tracks', {});
    });
    pc.addEventListener('signalingstatechange', () => {
      if (pc.signalingState === 'stable') this.emit('tracks', {});
    });

    this.tx.audio = pc.addTransceiver(local.audio ?? 'audio', { direction: 'sendonly', streams: [local.stream] });
    const height = local.video?.getSettings?.().height ?? 0;
    this.tx.video = pc.addTransceiver(local.video ?? 'video', {
      direction: 'sendonly',
      streams: [local.stream],
      sendEncodings: simulcastLayers(height),
    });
    if (local.screen && local.screenStream) this.startScreen(local.screen, local.screenStream);
    this.addSlots(Math.min(Math.max(0, Math.floor(others)), MAX_SLOTS));
  }

  /**
   * Receive-only sections the SFU may fill with others' tracks in its answer (it names each
   * one's owner in its msid; one it leaves empty has none, and is never shown). Only where the
   * codecs can be narrowed to what the SFU forwards (not in the Linux app's bridged
   * connection, whose tracks come in the SFU's offer).
   * @private @param {number} count
   */
  addSlots(count) {
    const audio = forwardedCodecs('audio');
    const video = forwardedCodecs('video');
    const native = typeof globalThis.RTCRtpTransceiver?.prototype?.setCodecPreferences === 'function';
    if (!count || !audio || !video || !native || !(this.pc instanceof RTCPeerConnection)) return;
    for (let i = 0; i < count; i += 1) {
      for (const [kind, codecs] of /** @type {const} */ ([['audio', audio], ['video', video]])) {
        const t = this.pc.addTransceiver(kind, { direction: 'recvonly' });
        try {
          t.setCodecPreferences(codecs);
        } catch (err) {
          console.warn('lancall: a receive slot keeps every codec', err);
        }
      }
    }
  }

  /** @private @param {string} type @param {unknown} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @private */
  async offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      if (this.closed || !this.pc.localDescription) return;
      this.signaling.media('media-description', { description: this.pc.localDescription.toJSON() });
      this.noteScreenMid();
      if (!this.offered) {
        this.offered = true;
        this.emit('offered', {});
      }
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * A description from the SFU.
   * @param {RTCSessionDescriptionInit} description
   */
  onDescription(description) {
    this.chain = this.chain
      .then(async () => {
        if (this.closed || !description?.sdp) return;
        const pc = this.pc;
        if (description.type === 'offer') {
          // The SFU is polite: while our offer is out, it drops its own and offers again later.
          if (this.makingOffer || pc.signalingState !== 'stable') return;
          this.learn(description.sdp);
          await pc.setRemoteDescription(description);
          await pc.setLocalDescription();
          if (pc.localDescription) this.signaling.media('media-description', { description: pc.localDescription.toJSON() });
        } else if (description.type === 'answer') {
          if (pc.signalingState !== 'have-local-offer') return;
          this.learn(description.sdp);
          await pc.setRemoteDescription(description);
        }
        this.noteScreenMid();
        this.emit('tracks', {});
      })
      .catch((err) => {
        console.warn('lancall: a description from the SFU failed', err);
        this.fail('negotiation');
      });
  }

  /** @private @param {string} sdp */
  learn(sdp) {
    for (const [mid, msid] of msidByMid(sdp)) this.msids.set(mid, msid);
  }

  /** @private */
  noteScreenMid() {
    const mid = this.tx.screen && this.local.screen ? this.tx.screen.mid : null;
    if (mid !== this.screenMid) {
      this.screenMid = mid;
      this.emit('screen', { mid });
    }
  }

  /**
   * What the SFU sends us now: each track with its owner (a peer id) and the owner's mid.
   * @returns {{owner: string, pubMid: string, track: MediaStreamTrack, mid: string, receiver: RTCRtpReceiver}[]}
   */
  received() {
    const out = [];
    for (const t of this.pc.getTransceivers()) {
      if (!t.mid || /** @type {any} */ (t).stopped) continue;
      if (t.currentDirection !== 'recvonly' && t.currentDirection !== 'sendrecv') continue;
      const msid = this.msids.get(t.mid);
      if (!msid) continue;
      const prefix = `${msid.stream}-`;
      const pubMid = msid.track.startsWith(prefix) ? msid.track.slice(prefix.length) : msid.track;
      out.push({ owner: msid.stream, pubMid, track: t.receiver.track, mid: t.mid, receiver: t.receiver });
    }
    return out;
  }

  /**
   * Send `track` (or nothing) as our microphone or camera.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async setTrack(kind, track) {
    await this.tx[kind]?.sender.replaceTrack(track);
  }

  /**
   * Publish a shared screen (renegotiates).
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   */
  startScreen(track, stream) {
    if (this.closed) return;
    if (this.tx.screen) {
      this.tx.screen.sender.replaceTrack(track).catch(() => {});
      this.tx.screen.sender.setStreams?.(stream);
      this.tx.screen.direction = 'sendonly';
    } else {
      this.tx.screen = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
  }

  stopScreen() {
    const t = this.tx.screen;
    if (!t || this.closed) return;
    t.sender.replaceTrack(null).catch(() => {});
    if (t.direction !== 'inactive') t.direction = 'inactive';
    this.noteScreenMid();
  }

  /**
   * Keep sending only the camera layers someone receives (`media-layers`).
   * @param {string} mid
   * @param {string[]} rids
   */
  setActiveLayers(mid, rids) {
    const sender = this.tx.video?.mid === mid ? this.tx.video.sender : null;
    if (!sender || typeof sender.getParameters !== 'function') return;
    const params = sender.getParameters();
    if (!params.encodings?.some((e) => e.rid)) return;
    let changed = false;
    for (const e of params.encodings) {
      const active = !e.rid || rids.includes(e.rid);
      if (e.active !== active) {
        e.active = active;
        changed = true;
      }
    }
    if (changed) sender.setParameters(params).catch((err) => console.warn('lancall: could not pause camera layers', err));
  }

  /** @private */
  onState() {
    const pc = this.pc;
    const s = pc.connectionState ?? pc.iceConnectionState;
    if (this.closed) return;
    this.state = s;
    clearTimeout(this.disconnectedTimer);
    if (s === 'disconnected') {
      this.disconnectedTimer = setTimeout(() => {
        if (!this.closed && this.signaling.joined) pc.restartIce();
      }, DISCONNECTED_RESTART_MS);
    } else if (s === 'failed') {
      this.fail('failed');
    }
    this.emit('state', { state: s });
  }

  /** @param {string} reason */
  fail(reason) {
    if (this.closed) return;
    this.emit('failed', { reason });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    this.pc.close();
  }
}
