// The call, in either of the room's topologies (`welcome.topology`):
// - mesh: one RTCPeerConnection per remote peer, negotiated with the W3C "perfect negotiation"
//   pattern over the signaling client, with a data channel each;
// - sfu: one RTCPeerConnection to the host's SFU (sfu-link.js) carrying everyone's tracks, told
//   apart by their msid; the data channel's messages go through the hub instead.
// The page sees the same Remote objects and events in both. It owns the peer connections and what is sent
// on them; it does not touch the page (page/join.js listens to its events) and never names the global
// RTCPeerConnection (the constructor arrives as `createPeerConnection`: the browser's, or in a
// webview without WebRTC the Rust-backed one of rtc-bridge.js).
//
// Peer messages inside `signal.data` are described at the end of docs/PROTOCOL.md.
//
// Events (CustomEvent, payload in `detail`):
//   joined          { selfId, room, rejoined, starting }  starting: how many connections to
//                   those already in the room are about to be negotiated
//   under-way       {}  each of those has sent its first offer or answer (or its peer left): a
//                   page that waited to draw the call (drawing holds up the negotiation) may now
//   remote-added    { remote }
//   remote-updated  { remote }   name, id, mute state, media, connection or chat state changed
//   remote-removed  { remote, reason }
//   chat            { remote, text, at }
//   reaction        { remote, emoji }     a reaction to show over the sender's tile
//   file-channel    { remote, channel }   the other side opened a file transfer's channel (files.js)
//   status / fatal / closing     forwarded from the signaling client

import { randomId } from './ids.js';
import { SfuLink } from './sfu-link.js';

/** A switch of topology moves every remote within this long, whether or not its media arrived
 * the new way yet. */
const SWITCH_FALLBACK_MS = 10_000;
/** While moving to the SFU, look this often whether its connection decodes each remote's picture. */
const SWITCH_POLL_MS = 50;

/** After the connection to the SFU failed, wait this long before making a new one (doubling to
 * SFU_RETRY_MAX_MS while it keeps failing). */
const SFU_RETRY_MS = 500;
const SFU_RETRY_MAX_MS = 8_000;

/** After a peer's hub connection drops, how long its media may keep flowing while we wait for it
 * to rejoin (it gets a new peer id and says who it is with its session id). */
const ORPHAN_GRACE_MS = 30_000;
/** A connection that stays `disconnected` this long gets an ICE restart. */
const DISCONNECTED_RESTART_MS = 2_500;
/** While a connection is not back, restart ICE again this often. */
const RESTART_RETRY_MS = 8_000;

/** A new connection sends its camera at most this tall at first, and at full size from
 * FULL_SIZE_AFTER_MS after it connects. Chromium starts every connection's bandwidth estimate at
 * 300 kb/s, and its encoder drops the first frames of a picture larger than 640x480 at that rate
 * while it asks for a smaller one: a 720p camera reached the other side ~180 ms later than a 360p
 * one (bench/first-picture.md). */
const START_MAX_HEIGHT = 360;
const FULL_SIZE_AFTER_MS = 2_000;

/** The reactions anyone may send (others are ignored on receipt): docs/PROTOCOL.md. */
export const REACTIONS = Object.freeze(['👍', '👏', '😂', '😮', '❤️', '🎉']);
/** At most this many reactions from one peer are shown per REACTION_WINDOW_MS (the rest dropped). */
const REACTION_BURST = 6;
const REACTION_WINDOW_MS = 3_000;

/** One remote participant and our connection to them. */
export class Remote {
  /**
   * @param {{id: string|null, session: string|null, name: string, polite: boolean, pc: RTCPeerConnection|null}} init
   */
  constructor({ id, session, name, polite, pc }) {
    this.id = id; // current peer id on the hub; null while its hub connection is gone
    this.session = session; // stable for the other side's whole call, across rejoins
    this.name = name;
    this.polite = polite;
    /** our own connection to it (mesh); null when its media comes through the host's SFU */
    this.pc = pc;
    /** its media comes through the SFU and its messages through the hub */
    this.relay = pc === null;
    /** @type {RTCDataChannel|null} the chat channel */
    this.dc = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswerPending = false;
    /** @type {{audio: RTCRtpTransceiver|null, video: RTCRtpTransceiver|null, screen: RTCRtpTransceiver|null}} what we send them on */
    this.tx = { audio: null, video: null, screen: null };
    /** @type {{muted: {audio: boolean, video: boolean}, screen: string|null, screenMid?: string|null}} what it said it sends */
    this.state = { muted: { audio: false, video: false }, screen: null };
    /** what it said on the data channel: its hand is raised, it is recording */
    this.status = { hand: false, recording: false };
    /** @type {number[]} when its last reactions arrived (flood limit) */
    this.reactionTimes = [];
    /** @type {'good'|'fair'|'poor'|null} how the connection is doing (the page measures it) */
    this.quality = null;
    this.mainStream = new MediaStream();
    /** @type {MediaStream|null} */
    this.screenStream = null;
    this.connectionState = 'new';
    this.chain = Promise.resolve();
    this.closed = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.orphanTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.disconnectedTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.restartTimer = undefined;
    this.needsRestart = false;
    /** @type {RTCRtpReceiver|null} through the SFU: the receiver of its microphone */
    this.audioReceiver = null;
    /** @type {{video: string|null, screen: string|null}} through the SFU: the owner's mids of the camera and screen we receive */
    this.sfuMids = { video: null, screen: null };
    /** the room is switching topology and this remote's media still comes the old way */
    this.switching = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} when the camera goes to full size */
    this.fullSizeTimer = undefined;
    /** whether the camera was sent at full size since the connection first connected */
    this.fullSize = false;
  }

  get chatOpen() {
    return this.relay ? this.id !== null : this.dc?.readyState === 'open';
  }
}

export class Call extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./signaling.js').SignalingClient} opts.signaling
   * @param {(config: RTCConfiguration) => RTCPeerConnection} opts.createPeerConnection
   */
  constructor({ signaling, createPeerConnection }) {
    super();
    this.signaling = signaling;
    this.createPeerConnection = createPeerConnection;
    this.session = randomId();
    this.selfId = null;
    /** @type {string|null} */
    this.room = null;
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {Map<string, Remote>} by current peer id */
    this.remotes = new Map();
    /** @type {Set<Remote>} connections whose other side is between hub connections */
    this.orphans = new Set();
    /** names of the peers the hub told us about, by peer id */
    this.known = new Map();
    /** @type {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, stream: MediaStream, screen: MediaStreamTrack|null, screenStream: MediaStream|null}} */
    this.local = {
      audio: null,
      video: null,
      stream: new MediaStream(),
      screen: null,
      screenStream: null,
    };
    this.muted = { audio: false, video: false };
    /** ours, said to everyone on the data channel: our hand is raised, we are recording */
    this.status = { hand: false, recording: false };
    this.ended = false;
    /** @type {Set<string>} peers in the room when we joined whose connection has not yet sent its first description */
    this.starting = new Set();
    /** @type {'mesh'|'sfu'} how the room's media travels (the hub says, in welcome) */
    this.topology = 'mesh';
    /** @type {SfuLink|null} the connection to the host's SFU (topology sfu) */
    this.sfu = null;
    this.sfuRetryMs = SFU_RETRY_MS;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.sfuRetryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} the end of a switch of topology, at the latest */
    this.switchTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} while moving to the SFU: who can move yet */
    this.switchPoll = undefined;
    /** @type {string[]} who speaks now, loudest first (topology sfu: the host says) */
    this.speakers = [];
    /** @type {{by: string|null}|null} the host records the call (by: who started it; null: the host) */
    this.hostRecording = null;
    /** participants may start and stop the host's recording (`welcome.recordOnHost`) */
    this.recordOnHost = false;
    /** @type {{remote: Remote, which: 'video'|'screen', height: number}[]} how tall the page shows each remote picture */
    this.wanted = [];
    /** the last `media-want` sent, as JSON */
    this.wantSent = '';
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.wantTimer = undefined;

    /** @param {string} type @param {(detail: any) => void} fn */
    const on = (type, fn) => signaling.addEventListener(type, (ev) => fn(/** @type {CustomEvent} */ (ev).detail));
    on('welcome', (msg) => this.onWelcome(msg));
    on('peer-joined', ({ peer }) => this.onPeerJoined(peer));
    on('peer-left', ({ peer, reason }) => this.onPeerLeft(peer, reason));
    on('signal', ({ from, data }) => this.onSignal(from, data));
    on('hub-error', (msg) => {
      if (msg.code === 'unknown-peer' && msg.peer) this.onPeerLeft({ id: msg.peer }, 'unknown');
      if (msg.code === 'media-failed') this.sfuFailed(msg.message);
      if (msg.re === 'record') this.emit('host-recording-error', { message: String(msg.message || 'The host could not record.') });
    });
    on('recording', (msg) => {
      this.hostRecording = msg.active === true ? { by: typeof msg.by === 'string' ? msg.by : null } : null;
      this.emit('host-recording', { recording: this.hostRecording });
    });
    on('media-description', (msg) => this.sfu?.onDescription(msg.description));
    on('topology', (msg) => {
      if (msg.topology === 'sfu' || msg.topology === 'mesh') this.onTopology(msg.topology);
    });
    on('media-layers', (msg) => {
      if (typeof msg.mid === 'string' && Array.isArray(msg.rids)) this.sfu?.setActiveLayers(msg.mid, msg.rids.filter((/** @type {unknown} */ x) => typeof x === 'string'));
    });
    on('speakers', (msg) => {
      this.speakers = Array.isArray(msg.peers) ? msg.peers.filter((/** @type {unknown} */ p) => typeof p === 'string').slice(0, 3) : [];
      this.emit('speakers', { peers: this.speakers });
    });
    for (const type of ['status', 'fatal', 'closing', 'knock-wait', 'admitted']) {
      on(type, (detail) => this.emit(type, detail));
    }
  }

  /**
   * Join the room (the signaling client rejoins by itself after drops).
   * @param {{knock?: boolean}} [opts]
   */
  start(opts) {
    this.signaling.start(opts);
  }

  /** All remotes, joined or between hub connections, in join order. */
  get participants() {
    return [...new Set([...this.remotes.values(), ...this.orphans])];
  }

  // ---- local media -------------------------------------------------------------------------

  /**
   * Send `track` (or nothing) as our microphone or camera; no renegotiation.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async setLocalTrack(kind, track) {
    const old = this.local[kind];
    if (old && old !== track) this.local.stream.removeTrack(old);
    if (track && !this.local.stream.getTracks().includes(track)) this.local.stream.addTrack(track);
    this.local[kind] = track;
    await this.sfu?.setTrack(kind, track).catch((err) => console.warn('lancall: replaceTrack failed', err));
    await Promise.all(
      this.participants.map((r) => r.tx[kind]?.sender.replaceTrack(track).catch((err) => {
        console.warn('lancall: replaceTrack failed', err);
      })),
    );
  }

  /**
   * Tell everyone what we send (muted microphone/camera); the caller disables tracks.
   * @param {'audio'|'video'} kind
   * @param {boolean} muted
   */
  setMuted(kind, muted) {
    this.muted[kind] = muted;
    this.broadcastState();
  }

  /**
   * Start sending a screen (or window) track to everyone; renegotiates.
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   */
  startScreen(track, stream) {
    this.local.screen = track;
    this.local.screenStream = stream;
    // In an SFU call, the state (with the screen's mid) goes out once that is negotiated.
    this.sfu?.startScreen(track, stream);
    for (const r of this.participants) this.attachScreen(r);
    this.broadcastState();
  }

  stopScreen() {
    this.local.screen = null;
    this.local.screenStream = null;
    this.sfu?.stopScreen();
    for (const r of this.participants) {
      const t = r.tx.screen;
      if (!t || r.closed) continue;
      t.sender.replaceTrack(null).catch(() => {});
      if (t.direction !== 'inactive') t.direction = 'inactive';
    }
    this.broadcastState();
  }

  /** @private @param {Remote} r */
  attachScreen(r) {
    if (r.closed || !r.pc || !this.local.screen) return;
    const { screen } = this.local;
    const screenStream = /** @type {MediaStream} */ (this.local.screenStream);
    if (r.tx.screen) {
      r.tx.screen.sender.replaceTrack(screen).catch(() => {});
      r.tx.screen.sender.setStreams?.(screenStream);
      r.tx.screen.direction = 'sendonly';
    } else {
      r.tx.screen = r.pc.addTransceiver(screen, { direction: 'sendonly', streams: [screenStream] });
    }
  }

  // ---- chat --------------------------------------------------------------------------------

  /**
   * Send a chat line to everyone whose data channel is open; returns how many got it.
   * @param {string} text
   */
  sendChat(text) {
    let sent = 0;
    for (const r of this.participants) {
      if (!r.chatOpen) continue;
      if (this.sendOnChannel(r, { type: 'chat', text, at: Date.now() })) sent += 1;
    }
    return sent;
  }

  /**
   * Ask the host to start (true) or stop (false) recording the whole call (rooms through the
   * host, where it lets participants: `recordOnHost`). The answer is a `host-recording` event
   * (everyone gets one), or `host-recording-error`.
   * @param {boolean} active
   */
  askHostToRecord(active) {
    return this.signaling.record(active);
  }

  /**
   * Raise or lower our hand, or say whether we record; everyone is told, and whoever joins later
   * is told when their data channel opens.
   * @param {{hand?: boolean, recording?: boolean}} change
   */
  setStatus(change) {
    if (change.hand !== undefined) this.status.hand = !!change.hand;
    if (change.recording !== undefined) this.status.recording = !!change.recording;
    for (const r of this.participants) this.sendStatus(r);
  }

  /** @private @param {Remote} r */
  sendStatus(r) {
    this.sendOnChannel(r, { type: 'status', hand: this.status.hand, recording: this.status.recording });
  }

  /**
   * Send a reaction (one of REACTIONS) to everyone; returns how many got it.
   * @param {string} emoji
   */
  sendReaction(emoji) {
    if (!REACTIONS.includes(emoji)) return 0;
    let sent = 0;
    for (const r of this.participants) if (this.sendOnChannel(r, { type: 'reaction', emoji })) sent += 1;
    return sent;
  }

  /** @private @param {Remote} r @param {object} msg @returns {boolean} whether it went */
  sendOnChannel(r, msg) {
    if (!r.chatOpen) return false;
    if (r.relay) return this.send(r, { message: msg });
    try {
      /** @type {RTCDataChannel} */ (r.dc).send(JSON.stringify(msg));
      return true;
    } catch (err) {
      console.warn('lancall: data channel send failed', err);
      return false;
    }
  }

  // ---- leaving -----------------------------------------------------------------------------

  /** Leave: tell the hub and every peer at once, close all connections. */
  hangup() {
    if (this.ended) return;
    this.ended = true;
    for (const r of this.participants) {
      try {
        this.sendOnChannel(r, { type: 'bye' });
      } catch {
        /* closing anyway */
      }
    }
    this.signaling.stop();
    clearTimeout(this.sfuRetryTimer);
    clearTimeout(this.switchTimer);
    clearInterval(this.switchPoll);
    clearTimeout(this.wantTimer);
    this.sfu?.close();
    for (const r of this.participants) this.removeRemote(r, 'hangup');
  }

  // ---- stats -------------------------------------------------------------------------------

  /** @param {Remote} remote */
  async getStats(remote) {
    if (remote.closed) return null;
    if (remote.pc) return remote.pc.getStats();
    if (!this.sfu) return null;
    // One connection carries everyone: keep what is about this remote's tracks (and the shared
    // path: candidates, transport, what we send).
    const report = await this.sfu.pc.getStats();
    const mids = new Set(this.sfu.received().filter((x) => x.owner === remote.id).map((x) => x.mid));
    const mine = new Map();
    report.forEach((v, k) => {
      if (v.type === 'inbound-rtp' && !mids.has(v.mid)) return;
      mine.set(k, v);
    });
    return mine;
  }

  // ---- hub events --------------------------------------------------------------------------

  /** @private @param {string} type @param {unknown} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @private @param {import('./transport.js').HubMessage} msg the hub's welcome */
  onWelcome(msg) {
    const rejoined = this.selfId !== null;
    this.selfId = msg.self?.id ?? null;
    this.room = msg.room ?? this.room;
    this.iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
    const topology = msg.topology === 'sfu' ? 'sfu' : 'mesh';
    this.known.clear();
    if (rejoined && (topology === 'sfu' || this.topology === 'sfu')) {
      // Through the SFU, everyone's media went with our old peer id: start over.
      for (const r of this.participants) this.removeRemote(r, 'rejoined');
      this.remotes.clear();
    } else if (rejoined) {
      // Our old peer id is gone; every connection waits for its peer to say who it is again.
      for (const r of [...this.remotes.values()]) this.orphan(r);
      this.remotes.clear();
    }
    this.topology = topology;
    this.recordOnHost = msg.recordOnHost === true;
    // The host says again (a `recording` right after this welcome) if it records.
    if (this.hostRecording) {
      this.hostRecording = null;
      this.emit('host-recording', { recording: null });
    }
    if (topology === 'sfu') this.openSfu((msg.peers ?? []).length);
    // Everyone already here hears from us before the page draws the call: the connections'
    // first round trip does not wait for the drawing.
    for (const peer of msg.peers ?? []) {
      this.known.set(peer.id, peer.name);
      this.sendState(peer.id);
    }
    if (topology === 'sfu') this.starting = new Set(rejoined || this.sfu?.offered ? [] : ['(sfu)']);
    else this.starting = new Set(rejoined ? [] : this.known.keys());
    this.emit('joined', { selfId: this.selfId, room: this.room, rejoined, starting: this.starting.size, topology });
  }

  /** @private @param {string|null} id a connection's first description went out, or its peer left */
  started(id) {
    if (id && this.starting.delete(id) && this.starting.size === 0) this.emit('under-way', {});
  }

  // ---- the connection to the SFU (topology sfu) --------------------------------------------

  /**
   * The room switched how its media travels (`topology`, an `auto` room): live, with each
   * remote's media kept the old way until it arrives the new way.
   * @private
   * @param {'mesh'|'sfu'} topology
   */
  onTopology(topology) {
    if (this.ended || topology === this.topology) return;
    this.topology = topology;
    clearTimeout(this.switchTimer);
    this.emit('topology', { topology });
    if (topology === 'sfu') {
      for (const r of this.participants) if (r.pc) r.switching = true;
      this.openSfu();
      this.watchSwitch();
      // Whoever's media never came through the SFU is moved anyway.
      this.switchTimer = setTimeout(() => {
        for (const r of this.participants) if (r.pc) this.toSfu(r);
        this.assignSfuTracks();
      }, SWITCH_FALLBACK_MS);
    } else {
      for (const r of this.remotes.values()) {
        if (r.pc || r.closed) continue;
        r.switching = true;
        r.polite = r.session ? this.session < r.session : /** @type {string} */ (this.selfId) < /** @type {string} */ (r.id);
        this.wire(r, this.createPeerConnection({ iceServers: this.iceServers }));
      }
      this.switchTimer = setTimeout(() => {
        for (const r of this.participants) if (r.switching) this.toMesh(r);
        this.closeSfuIfUnused();
      }, SWITCH_FALLBACK_MS);
    }
    this.broadcastState();
  }

  /**
   * While the room moves to the SFU: each remote whose picture the SFU's connection decodes
   * (or, with its camera off, whose sound arrives) is moved, so the picture does not pause.
   * @private
   */
  watchSwitch() {
    clearInterval(this.switchPoll);
    this.switchPoll = setInterval(async () => {
      const link = this.sfu;
      const waiting = this.participants.filter((r) => r.switching && r.pc);
      if (!waiting.length || !link || this.topology !== 'sfu' || this.ended) {
        clearInterval(this.switchPoll);
        return;
      }
      /** @type {Map<string, number>} frames decoded (video) or bytes (audio) by track id */
      const got = new Map();
      (await link.pc.getStats()).forEach((v) => {
        if (v.type === 'inbound-rtp' && v.trackIdentifier) got.set(v.trackIdentifier, v.kind === 'video' ? v.framesDecoded ?? 0 : v.bytesReceived ?? 0);
      });
      let moved = false;
      for (const r of waiting) {
        const mine = link.received().filter((x) => x.owner === r.id);
        const video = mine.find((x) => x.track.kind === 'video' && x.pubMid !== r.state.screenMid);
        const audio = mine.find((x) => x.track.kind === 'audio');
        const ready = video ? (got.get(video.track.id) ?? 0) > 0 : r.state.muted.video && audio && (got.get(audio.track.id) ?? 0) > 0;
        if (ready) {
          this.toSfu(r);
          moved = true;
        }
      }
      if (moved) this.assignSfuTracks();
    }, SWITCH_POLL_MS);
  }

  /** @private @param {Remote} r its media arrives through the SFU now: close our connection to it */
  toSfu(r) {
    if (!r.pc || r.closed) return;
    const pc = r.pc;
    r.switching = false;
    r.pc = null;
    r.relay = true;
    clearTimeout(r.disconnectedTimer);
    clearTimeout(r.restartTimer);
    clearTimeout(r.fullSizeTimer);
    r.tx = { audio: null, video: null, screen: null };
    try {
      r.dc?.close();
    } catch {
      /* already closed */
    }
    r.dc = null;
    pc.close();
    r.connectionState = this.sfu?.state ?? 'new';
  }

  /** @private @param {Remote} r our own connection to it is up: its media comes that way now */
  toMesh(r) {
    if (!r.switching || r.closed) return;
    r.switching = false;
    r.relay = false;
    this.refreshRemoteMedia(r, true);
  }

  /** @private once every remote has its own connection again, the SFU's goes */
  closeSfuIfUnused() {
    if (this.topology !== 'mesh' || !this.sfu) return;
    if (this.participants.some((r) => r.switching || r.relay)) return;
    clearTimeout(this.switchTimer);
    this.sfu.close();
    this.sfu = null;
  }

  /** @private a new connection to the host's SFU (the old one, if any, closed); `others`: how many are in the room */
  openSfu(others = this.known.size) {
    clearTimeout(this.sfuRetryTimer);
    this.sfu?.close();
    const link = new SfuLink({
      signaling: this.signaling,
      createPeerConnection: this.createPeerConnection,
      iceServers: this.iceServers,
      local: this.local,
      others,
    });
    this.sfu = link;
    this.wantSent = ''; // a new participant in the SFU: it knows nothing yet
    /** @param {string} type @param {(detail: any) => void} fn */
    const on = (type, fn) => link.addEventListener(type, (ev) => {
      if (this.sfu === link) fn(/** @type {CustomEvent} */ (ev).detail);
    });
    on('offered', () => this.started('(sfu)'));
    on('tracks', () => this.assignSfuTracks());
    on('screen', () => this.broadcastState());
    on('state', ({ state }) => {
      if (state === 'connected') this.sfuRetryMs = SFU_RETRY_MS;
      for (const r of this.participants) {
        r.connectionState = state;
        this.emit('remote-updated', { remote: r });
      }
    });
    on('failed', ({ reason }) => this.sfuFailed(reason));
  }

  /** @private @param {string} why the SFU connection cannot go on: make a new one soon */
  sfuFailed(why) {
    if (this.ended || this.topology !== 'sfu' || !this.sfu) return;
    console.warn('lancall: the connection to the host\'s SFU ended:', why);
    this.sfu.close();
    clearTimeout(this.sfuRetryTimer);
    this.sfuRetryTimer = setTimeout(() => {
      if (!this.ended && this.topology === 'sfu' && this.signaling.joined) this.openSfu();
    }, this.sfuRetryMs);
    this.sfuRetryMs = Math.min(this.sfuRetryMs * 2, SFU_RETRY_MAX_MS);
  }

  /**
   * How tall the page shows each remote picture, in device pixels (0: not shown). Through the
   * SFU, the host is told (`media-want`), at most every 250 ms and only when it changed.
   * @param {{remote: Remote, which: 'video'|'screen', height: number}[]} wanted
   */
  setWanted(wanted) {
    this.wanted = wanted;
    if (this.wantTimer !== undefined || !this.sfu) return;
    this.wantTimer = setTimeout(() => {
      this.wantTimer = undefined;
      this.sendWanted();
    }, 250);
  }

  /** @private */
  sendWanted() {
    if (!this.sfu || this.ended) return;
    const tracks = [];
    for (const { remote, which, height } of this.wanted) {
      const mid = remote.sfuMids[which];
      if (!mid || !remote.id || remote.closed) continue;
      // In steps of 90 lines: a tile that changes by a few pixels does not change the layer.
      tracks.push({ peer: remote.id, mid, height: height <= 0 ? 0 : Math.ceil(height / 90) * 90 });
    }
    const text = JSON.stringify(tracks);
    if (text === this.wantSent) return;
    if (this.signaling.media('media-want', { tracks })) this.wantSent = text;
  }

  /** @private Give each remote the tracks the SFU sends of it: microphone, camera, screen. */
  assignSfuTracks() {
    if (!this.sfu) return;
    /** @typedef {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, screen: MediaStreamTrack|null, mids: {video: string|null, screen: string|null}}} Owned */
    /** @type {Map<string, Owned>} */
    const byOwner = new Map();
    /** @returns {Owned} */
    const none = () => ({ audio: null, video: null, screen: null, mids: { video: null, screen: null } });
    for (const { owner, pubMid, track, receiver } of this.sfu.received()) {
      const r = this.remotes.get(owner);
      if (!r) continue;
      const mine = byOwner.get(owner) ?? none();
      byOwner.set(owner, mine);
      if (track.kind === 'audio') {
        if (mine.audio) continue;
        mine.audio = track;
        if (r.relay) r.audioReceiver = receiver;
      } else if (r.state.screenMid && pubMid === r.state.screenMid) {
        mine.screen = track;
        mine.mids.screen = pubMid;
      } else if (!mine.video) {
        mine.video = track;
        mine.mids.video = pubMid;
      }
    }
    let midsChanged = false;
    for (const r of this.remotes.values()) {
      if (!r.relay || r.closed) continue;
      const mine = byOwner.get(/** @type {string} */ (r.id)) ?? none();
      if (mine.mids.video !== r.sfuMids.video || mine.mids.screen !== r.sfuMids.screen) {
        r.sfuMids = mine.mids;
        midsChanged = true;
      }
      let changed = false;
      const main = [mine.audio, mine.video].filter((t) => t !== null);
      const now = r.mainStream.getTracks();
      if (main.length !== now.length || main.some((t) => !now.includes(t))) {
        // A new stream, not tracks added to the one a player already plays (see refreshRemoteMedia).
        r.mainStream = new MediaStream(main);
        changed = true;
      }
      const screen = r.screenStream?.getVideoTracks()[0] ?? null;
      if (mine.screen !== screen) {
        r.screenStream = mine.screen ? new MediaStream([mine.screen]) : null;
        changed = true;
      }
      if (changed) this.emit('remote-updated', { remote: r });
    }
    if (midsChanged) this.setWanted(this.wanted);
  }

  /** @private @param {Remote} r */
  sendDescription(r) {
    this.send(r, { description: /** @type {RTCPeerConnection} */ (r.pc).localDescription });
    this.started(r.id);
  }

  /** @private @param {{id: string, name: string}} peer */
  onPeerJoined(peer) {
    if (!peer?.id || peer.id === this.selfId) return;
    this.known.set(peer.id, peer.name);
    this.sendState(peer.id);
  }

  /** @private @param {{id: string}} peer @param {string} reason */
  onPeerLeft(peer, reason) {
    this.known.delete(peer.id);
    this.started(peer.id);
    const r = this.remotes.get(peer.id);
    if (!r) return;
    this.remotes.delete(peer.id);
    if (!r.pc) {
      // Its media went through the SFU with its peer id: it left with it.
      this.removeRemote(r, reason);
      return;
    }
    const stillFlowing = r.pc.connectionState === 'connected' || r.pc.iceConnectionState === 'connected';
    if (reason !== 'left' && reason !== 'unknown' && stillFlowing) {
      // Its hub connection dropped but media still flows: it will probably rejoin.
      this.orphan(r);
    } else {
      this.removeRemote(r, reason);
    }
  }

  /** @private @param {Remote} r */
  orphan(r) {
    r.id = null;
    this.orphans.add(r);
    clearTimeout(r.orphanTimer);
    r.orphanTimer = setTimeout(() => {
      if (this.orphans.has(r)) this.removeRemote(r, 'gone');
    }, ORPHAN_GRACE_MS);
    this.emit('remote-updated', { remote: r });
  }

  /** @private @param {string} from @param {any} data a peer message (docs/PROTOCOL.md) */
  onSignal(from, data) {
    if (!data || typeof data !== 'object' || this.ended) return;
    if (data.state) {
      this.onState(from, data.state);
      return;
    }
    // ---- hook: files (files.js): its direct connections' negotiation (SFU rooms) is its own ----
    if (data.file) return;
    if (data.message && typeof data.message === 'object') {
      // A data channel message relayed by the hub (topology sfu).
      const sender = this.remotes.get(from);
      if (sender?.relay) this.onChannelMessage(sender, data.message);
      return;
    }
    let r = this.remotes.get(from);
    if (r && !r.pc) return; // its media comes through the SFU: no connection to negotiate
    if (!r) {
      // A description or candidate before the peer's state: only after a lost state message.
      if (!data.description || this.topology === 'sfu') return;
      r = this.addRemote(from, null, this.selfId > from ? false : true);
    }
    r.chain = r.chain.then(() => this.handleNegotiation(r, data)).catch((err) => {
      console.warn('lancall: negotiation with', r.name, 'failed:', err);
    });
  }

  /** @private @param {string} from @param {any} state */
  onState(from, state) {
    const session = typeof state.session === 'string' ? state.session : null;
    /** @type {Remote|null|undefined} */
    let r = this.remotes.get(from);
    if (!r && session) {
      // The same participant under a new peer id (it or we rejoined the hub): keep the connection.
      r = this.participants.find((x) => x.session === session) ?? null;
      if (r) this.adopt(r, from);
    }
    if (!r) r = this.addRemote(from, session, session ? this.session < session : this.selfId < from);
    if (session && !r.session) r.session = session;
    r.state = {
      muted: { audio: !!state.muted?.audio, video: !!state.muted?.video },
      screen: typeof state.screen === 'string' ? state.screen : null,
      screenMid: typeof state.screenMid === 'string' ? state.screenMid : null,
    };
    this.emit('remote-updated', { remote: r });
    if (r.relay) this.assignSfuTracks();
  }

  /** @private @param {Remote} r @param {string} id */
  adopt(r, id) {
    for (const [oldId, x] of this.remotes) if (x === r) this.remotes.delete(oldId);
    this.orphans.delete(r);
    clearTimeout(r.orphanTimer);
    r.id = id;
    r.name = this.known.get(id) ?? r.name;
    this.remotes.set(id, r);
    if (!r.pc) {
      this.emit('remote-updated', { remote: r });
      return;
    }
    // An offer made while nobody could carry it is sent now; a broken path is restarted.
    if (r.pc.signalingState === 'have-local-offer' && r.pc.localDescription) {
      this.send(r, { description: /** @type {RTCPeerConnection} */ (r.pc).localDescription });
    }
    if (r.needsRestart || (r.pc.connectionState !== 'connected' && r.pc.connectionState !== 'new')) {
      this.restartIce(r);
    }
    this.emit('remote-updated', { remote: r });
  }

  /** @private @param {string} to */
  sendState(to) {
    /** @type {{session: string, muted: {audio: boolean, video: boolean}, screen: string|null, screenMid?: string|null}} */
    const state = {
      session: this.session,
      muted: { ...this.muted },
      screen: this.local.screen ? this.local.screenStream?.id ?? 'screen' : null,
    };
    if (this.topology === 'sfu') state.screenMid = this.local.screen ? this.sfu?.screenMid ?? null : null;
    this.signaling.signal(to, { state });
  }

  /** @private */
  broadcastState() {
    for (const id of this.known.keys()) this.sendState(id);
  }

  /** @private @param {Remote} r @param {object} data */
  send(r, data) {
    if (!r.id) return false;
    return this.signaling.signal(r.id, data);
  }

  // ---- peer connections --------------------------------------------------------------------

  /** @private @param {string} id @param {string|null} session @param {boolean} polite */
  addRemote(id, session, polite) {
    if (this.topology === 'sfu') {
      const r = new Remote({ id, session, name: this.known.get(id) ?? 'Guest', polite, pc: null });
      r.connectionState = this.sfu?.state ?? 'new';
      this.remotes.set(id, r);
      this.emit('remote-added', { remote: r });
      // What a data channel's opening would carry: our raised hand and recording.
      this.sendStatus(r);
      this.assignSfuTracks();
      return r;
    }
    const pc = this.createPeerConnection({ iceServers: this.iceServers });
    const r = new Remote({ id, session, name: this.known.get(id) ?? 'Guest', polite, pc });
    this.remotes.set(id, r);
    this.wire(r, pc);
    this.refreshRemoteMedia(r);
    this.emit('remote-added', { remote: r });
    return r;
  }

  /**
   * Give `r` a connection of our own (its events wired; the impolite side lays it out).
   * @private
   * @param {Remote} r
   * @param {RTCPeerConnection} pc
   */
  wire(r, pc) {
    r.pc = pc;
    pc.addEventListener('negotiationneeded', async () => {
      if (r.closed) return;
      try {
        r.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription(r);
      } catch (err) {
        console.warn('lancall: could not make an offer', err);
      } finally {
        r.makingOffer = false;
      }
    });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate) this.send(r, { candidate: candidate.toJSON() });
    });
    pc.addEventListener('connectionstatechange', () => this.onConnectionState(r));
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc.connectionState === undefined) this.onConnectionState(r);
    });
    pc.addEventListener('signalingstatechange', () => {
      if (pc.signalingState === 'stable') this.refreshRemoteMedia(r);
    });
    pc.addEventListener('track', () => this.refreshRemoteMedia(r));
    pc.addEventListener('datachannel', (ev) => {
      // ---- hook: files (files.js): a file transfer's channel is not the chat channel ----
      if (ev.channel.label === 'lancall-file') this.emit('file-channel', { remote: r, channel: ev.channel });
      else this.attachChannel(r, ev.channel);
    });

    if (!r.polite) {
      // The impolite side lays out the connection: microphone, camera (even when it has none,
      // so that it can receive and later send without renegotiating), then the data channel.
      r.tx.audio = pc.addTransceiver(this.local.audio ?? 'audio', {
        direction: 'sendrecv',
        streams: [this.local.stream],
      });
      r.tx.video = pc.addTransceiver(this.local.video ?? 'video', {
        direction: 'sendrecv',
        streams: [this.local.stream],
      });
      startSmall(r.tx.video.sender, this.local.video);
      this.attachChannel(r, pc.createDataChannel('lancall', { ordered: true }));
    }
    if (this.local.screen) this.attachScreen(r);
  }

  /** @private @param {Remote} r @param {RTCDataChannel} dc */
  attachChannel(r, dc) {
    r.dc = dc;
    const changed = () => this.emit('remote-updated', { remote: r });
    dc.addEventListener('open', () => {
      // Whoever joins learns our raised hand and our recording from this first message.
      this.sendStatus(r);
      changed();
    });
    dc.addEventListener('close', () => {
      changed();
      // The other side closed its page or hung up: do not wait for the hub to say so.
      // (Not while the room switches to the SFU: the other side closes its connection to us then.)
      if (!r.closed && !r.switching && r.dc === dc && (this.orphans.has(r) || r.pc?.connectionState !== 'connected')) {
        this.dropRemote(r, 'disconnected');
      }
    });
    dc.addEventListener('message', (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onChannelMessage(r, msg);
    });
  }

  /**
   * A data channel message (docs/PROTOCOL.md), on the channel or relayed by the hub.
   * @private
   * @param {Remote} r
   * @param {any} msg
   */
  onChannelMessage(r, msg) {
    const changed = () => this.emit('remote-updated', { remote: r });
    {
      if (msg?.type === 'chat' && typeof msg.text === 'string') {
        this.emit('chat', { remote: r, text: msg.text.slice(0, 4000), at: Date.now() });
      } else if (msg?.type === 'status') {
        r.status = { hand: msg.hand === true, recording: msg.recording === true };
        changed();
      } else if (msg?.type === 'reaction' && REACTIONS.includes(msg.emoji)) {
        const now = Date.now();
        r.reactionTimes = r.reactionTimes.filter((t) => now - t < REACTION_WINDOW_MS);
        if (r.reactionTimes.length >= REACTION_BURST) return;
        r.reactionTimes.push(now);
        this.emit('reaction', { remote: r, emoji: msg.emoji });
      } else if (msg?.type === 'bye') {
        this.dropRemote(r, 'left');
      }
    }
  }

  /**
   * @private
   * @param {Remote} r
   * @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} msg
   */
  async handleNegotiation(r, { description, candidate }) {
    const pc = r.pc;
    if (r.closed || !pc) return;
    if (description) {
      const readyForOffer =
        !r.makingOffer && (pc.signalingState === 'stable' || r.settingRemoteAnswerPending);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      r.ignoreOffer = !r.polite && offerCollision;
      if (r.ignoreOffer) return;
      r.settingRemoteAnswerPending = description.type === 'answer';
      await pc.setRemoteDescription(description);
      r.settingRemoteAnswerPending = false;
      if (description.type === 'offer') {
        this.takeMainTransceivers(r);
        await pc.setLocalDescription();
        this.sendDescription(r);
      }
    } else if (candidate) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (err) {
        if (!r.ignoreOffer) console.warn('lancall: bad ICE candidate', err);
      }
    }
  }

  /**
   * The polite side answers the first offer with its own microphone and camera.
   * @private
   * @param {Remote} r
   */
  takeMainTransceivers(r) {
    for (const t of /** @type {RTCPeerConnection} */ (r.pc).getTransceivers()) {
      const kind = /** @type {'audio'|'video'} */ (t.receiver.track.kind);
      if (r.tx[kind] || t === r.tx.screen || /** @type {any} */ (t).stopped) continue;
      r.tx[kind] = t;
      t.direction = 'sendrecv';
      t.sender.replaceTrack(this.local[kind]).catch(() => {});
      t.sender.setStreams?.(this.local.stream);
      if (kind === 'video') startSmall(t.sender, this.local.video);
    }
  }

  /**
   * Which remote tracks to show: the main stream and, if any, a shared screen.
   * @private
   * @param {Remote} r
   */
  refreshRemoteMedia(r, force = false) {
    if (r.closed || !r.pc) return;
    // Switching to our own connection: the SFU's media stays until it is up (toMesh).
    if (r.switching && !force) return;
    let changed = false;
    const main = r.mainStream.getTracks();
    for (const kind of /** @type {const} */ (['audio', 'video'])) {
      const track = r.tx[kind]?.receiver.track;
      if (track && !main.includes(track)) {
        for (let i = main.length - 1; i >= 0; i -= 1) if (main[i].kind === kind) main.splice(i, 1);
        main.push(track);
        changed = true;
      }
    }
    // A new stream rather than tracks added to the one a player already plays: WebKitGTK's
    // players do not pick up tracks added later.
    if (changed) r.mainStream = new MediaStream(main);
    /** @param {RTCRtpTransceiver} t */
    const receiving = (t) => t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv';
    const screenTx = r.pc
      .getTransceivers()
      .find(
        (t) =>
          t !== r.tx.audio && t !== r.tx.video && t !== r.tx.screen && !(/** @type {any} */ (t).stopped) &&
          t.receiver.track.kind === 'video' && r.tx.video && receiving(t),
      );
    const screenTrack = screenTx?.receiver.track ?? null;
    const current = r.screenStream?.getVideoTracks()[0] ?? null;
    if (screenTrack !== current) {
      r.screenStream = screenTrack ? new MediaStream([screenTrack]) : null;
      changed = true;
    }
    if (changed) this.emit('remote-updated', { remote: r });
  }

  /** @private @param {Remote} r */
  onConnectionState(r) {
    const pc = r.pc;
    if (!pc) return;
    /** @type {string} */
    const s = pc.connectionState ?? pc.iceConnectionState;
    if (r.closed) return;
    // Moving to the SFU: this connection is on its way out; the other side may close it first.
    if (r.switching && this.topology === 'sfu') return;
    r.connectionState = s;
    clearTimeout(r.disconnectedTimer);
    if (s === 'connected' || s === 'completed') {
      if (r.switching) {
        this.toMesh(r);
        this.closeSfuIfUnused();
      }
      if (!r.fullSize && r.fullSizeTimer === undefined) {
        r.fullSizeTimer = setTimeout(() => {
          r.fullSize = true;
          if (!r.closed && r.tx.video) setScale(r.tx.video.sender, 1);
        }, FULL_SIZE_AFTER_MS);
      }
      r.needsRestart = false;
      clearTimeout(r.restartTimer);
      r.restartTimer = undefined;
    } else if (s === 'failed') {
      this.restartIce(r);
    } else if (s === 'disconnected') {
      r.disconnectedTimer = setTimeout(() => this.restartIce(r), DISCONNECTED_RESTART_MS);
    } else if (s === 'closed') {
      this.dropRemote(r, 'disconnected');
      return;
    }
    this.emit('remote-updated', { remote: r });
  }

  /**
   * Ask for new ICE candidates on both sides; repeats until the connection is back.
   * @private
   * @param {Remote} r
   */
  restartIce(r) {
    if (r.closed || !r.pc) return;
    /** @type {string} */
    const s = r.pc.connectionState ?? r.pc.iceConnectionState;
    if (s === 'connected' || s === 'completed') return;
    if (r.id && this.signaling.joined) {
      r.needsRestart = false;
      r.pc.restartIce();
    } else {
      r.needsRestart = true; // done on adopt, once the other side can be reached
    }
    clearTimeout(r.restartTimer);
    r.restartTimer = setTimeout(() => this.restartIce(r), RESTART_RETRY_MS);
  }

  /** @private @param {Remote} r @param {string} reason */
  dropRemote(r, reason) {
    if (r.closed) return;
    if (r.id && this.remotes.get(r.id) === r) this.remotes.delete(r.id);
    this.removeRemote(r, reason);
  }

  /** @private @param {Remote} r @param {string} reason */
  removeRemote(r, reason) {
    if (r.closed) return;
    r.closed = true;
    this.orphans.delete(r);
    clearTimeout(r.orphanTimer);
    clearTimeout(r.disconnectedTimer);
    clearTimeout(r.restartTimer);
    clearTimeout(r.fullSizeTimer);
    try {
      r.dc?.close();
    } catch {
      /* already closed */
    }
    r.pc?.close();
    this.emit('remote-removed', { remote: r, reason });
    // Through the SFU, the tracks belong to the one connection, which ends them when the host
    // takes them away.
    if (!r.pc) return;
    // The tracks end a turn after the page let go of its players (WebKitGTK can deadlock when a
    // track ends under a playing player: app.js, detachPlayers).
    const tracks = [...r.mainStream.getTracks(), ...(r.screenStream?.getTracks() ?? [])];
    setTimeout(() => {
      for (const t of tracks) t.stop();
    }, 0);
  }
}

// ---- the camera's size on a new connection -------------------------------------------------------

/**
 * Send `track` scaled down to at most START_MAX_HEIGHT lines (see there why).
 * @param {RTCRtpSender} sender
 * @param {MediaStreamTrack|null} track
 */
function startSmall(sender, track) {
  const height = track?.getSettings?.().height ?? 0;
  if (height > START_MAX_HEIGHT) setScale(sender, height / START_MAX_HEIGHT);
}

/**
 * Scale what `sender` sends down by `scale` (1: full size). Where senders have no parameters
 * (the Linux app's Rust-backed connection), nothing changes.
 * @param {RTCRtpSender} sender
 * @param {number} scale
 */
function setScale(sender, scale) {
  if (typeof sender.setParameters !== 'function') return;
  const params = sender.getParameters();
  if (!params.encodings?.length || params.encodings.every((e) => (e.scaleResolutionDownBy ?? 1) === scale)) return;
  for (const e of params.encodings) e.scaleResolutionDownBy = scale;
  sender.setParameters(params).catch((err) => console.warn('lancall: could not set the camera size', err));
}
