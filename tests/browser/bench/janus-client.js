// A minimal Janus VideoRoom client for the SFU benchmark (bench-sfu.mjs): it speaks Janus's plain
// HTTP API (create a session, attach the videoroom plugin, join as publisher, publish with an
// offer, subscribe to the others' feeds on one connection) and publishes what lancall's browser
// client publishes: the same capture constraints and the same simulcast layers, imported from
// lancall's own modules (served at /lib/ by the benchmark), sent low to high (rid_order "lmh").
//
// The page is served from 127.0.0.1 (a secure context, so getUserMedia works); Janus listens on
// 10.99.1.1 inside the benchmark's namespace. Requests go as text/plain so that no CORS preflight
// is needed (Janus reads the body whatever its type).
import { videoConstraints, audioConstraints } from '/lib/media.js';
import { simulcastLayers } from '/lib/sfu-link.js';

let transactions = 0;

/** One Janus session and its long poll; events are handed to whoever waits for their transaction. */
class Session {
  /** @param {string} api e.g. http://10.99.1.1:8088/janus */
  constructor(api) {
    this.api = api;
    this.id = 0;
    /** @type {Map<string, (ev: any) => void>} */
    this.waiting = new Map();
    this.closed = false;
  }

  async post(path, body) {
    const transaction = `t${(transactions += 1)}`;
    const res = await fetch(`${this.api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ ...body, transaction }),
    });
    const reply = await res.json();
    if (reply.janus === 'error') throw new Error(`janus: ${reply.error?.code} ${reply.error?.reason}`);
    return { transaction, reply };
  }

  async create() {
    const { reply } = await this.post('', { janus: 'create' });
    this.id = reply.data.id;
    this.poll();
  }

  async poll() {
    while (!this.closed) {
      let events;
      try {
        const res = await fetch(`${this.api}/${this.id}?maxev=10&rid=${Date.now()}`);
        events = await res.json();
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const ev of [events].flat()) {
        const done = ev.transaction && this.waiting.get(ev.transaction);
        if (done && ev.janus === 'event') {
          this.waiting.delete(ev.transaction);
          done(ev);
        }
      }
    }
  }

  /** Attach the videoroom plugin: a handle id. */
  async attach() {
    const { reply } = await this.post(`/${this.id}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' });
    return reply.data.id;
  }

  /** A plugin request whose answer comes as an event: that event (plugindata.data, jsep). */
  async request(handle, body, jsep) {
    const msg = { janus: 'message', body };
    if (jsep) msg.jsep = jsep;
    const transaction = `t${(transactions += 1)}`;
    const answered = new Promise((resolve) => this.waiting.set(transaction, resolve));
    const res = await fetch(`${this.api}/${this.id}/${handle}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ ...msg, transaction }),
    });
    const reply = await res.json();
    if (reply.janus === 'error') throw new Error(`janus: ${reply.error?.code} ${reply.error?.reason}`);
    const ev = reply.janus === 'event' ? reply : await answered;
    const data = ev.plugindata?.data ?? {};
    if (data.error) throw new Error(`videoroom: ${data.error_code} ${data.error}`);
    return { data, jsep: ev.jsep };
  }
}

/** Resolves once the connection has gathered its candidates (Janus is not trickled here). */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 3000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

const state = { session: null, publisherId: 0, local: null, pcs: [] };
window.janusBench = state;

/**
 * Join room `room` as publisher `name` and publish the camera and microphone.
 * @returns {Promise<number>} this publisher's feed id
 */
window.janusPublish = async ({ api, room, name, quality = '360p' }) => {
  const session = new Session(api);
  state.session = session;
  await session.create();
  const local = await navigator.mediaDevices.getUserMedia({ video: videoConstraints({ quality }), audio: audioConstraints() });
  state.local = local;
  const handle = await session.attach();
  const joined = await session.request(handle, { request: 'join', ptype: 'publisher', room, display: name });
  state.publisherId = joined.data.id;

  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  state.pcs.push(pc);
  const [audio] = local.getAudioTracks();
  const [video] = local.getVideoTracks();
  pc.addTransceiver(audio, { direction: 'sendonly', streams: [local] });
  const layers = simulcastLayers(video.getSettings().height ?? 0);
  pc.addTransceiver(video, { direction: 'sendonly', streams: [local], sendEncodings: layers });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const jsep = { type: 'offer', sdp: pc.localDescription.sdp, trickle: false };
  if (layers) jsep.rid_order = 'lmh';
  const published = await session.request(handle, { request: 'publish', audio: true, video: true }, jsep);
  await pc.setRemoteDescription(published.jsep);
  // Janus offers a feed to subscribers only once its publisher's media is up ("No such feed" before).
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the connection to Janus is ${pc.connectionState} after 15 s`)), 15_000);
    const check = () => {
      if (pc.connectionState === 'connected') {
        clearTimeout(t);
        resolve();
      }
    };
    pc.addEventListener('connectionstatechange', check);
    check();
  });
  const preview = document.createElement('video');
  preview.muted = true;
  preview.autoplay = true;
  preview.srcObject = local;
  preview.className = 'self';
  document.body.append(preview);
  return { id: state.publisherId, layers: layers?.map((l) => l.rid) ?? [] };
};

/**
 * Subscribe to `feeds` (publisher ids) on one connection; video `substream` (0 = lowest layer)
 * for every feed, or Janus's default (the highest) when undefined.
 */
window.janusSubscribe = async ({ room, feeds, substream }) => {
  const session = state.session;
  const handle = await session.attach();
  const attached = await session.request(handle, {
    request: 'join',
    ptype: 'subscriber',
    room,
    streams: feeds.map((feed) => ({ feed })),
  });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  state.pcs.push(pc);
  pc.addEventListener('track', (ev) => {
    if (ev.track.kind !== 'video') return;
    const v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    v.className = 'remote';
    v.srcObject = new MediaStream([ev.track]);
    document.body.append(v);
  });
  pc.addEventListener('track', (ev) => {
    if (ev.track.kind !== 'audio') return;
    const a = document.createElement('audio');
    a.autoplay = true;
    a.srcObject = new MediaStream([ev.track]);
    document.body.append(a);
  });
  await pc.setRemoteDescription(attached.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await session.request(handle, { request: 'start' }, { type: 'answer', sdp: pc.localDescription.sdp, trickle: false });
  const streams = attached.data.streams ?? [];
  if (substream !== undefined) {
    const video = streams.filter((s) => s.type === 'video').map((s) => ({ mid: s.mid, substream }));
    await session.request(handle, { request: 'configure', streams: video });
  }
  return streams.map((s) => ({ mid: s.mid, type: s.type, feed: s.feed_id }));
};
