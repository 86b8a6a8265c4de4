// Media for the Rust-backed peer connection (rtc-bridge.js; peer/src/ipc on the Rust side).
// In: whole VP8 frames and Opus packets in a 24-byte envelope, decoded with WebCodecs in the
// webview. Video: VideoDecoder -> canvas -> canvas.captureStream() (the receiver's track).
// Audio: AudioDecoder -> Web Audio, scheduled a little ahead so that packets arriving unevenly
// play smoothly (also on a MediaStreamAudioDestinationNode: the receiver's track).
// Out: camera pictures (VideoSender) and microphone packets (AudioSender) to a Rust source.

export const HEADER_LEN = 24;

/** Now on the clock the app's Rust side stamps frames with: µs since the Unix epoch. */
export const wallMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** Keeps the last `n` values; `quantile(q)` of them. */
export class Samples {
  constructor(n = 300) {
    this.n = n;
    this.values = [];
  }

  add(v) {
    this.values.push(v);
    if (this.values.length > this.n) this.values.shift();
  }

  quantile(q) {
    if (!this.values.length) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.round((sorted.length - 1) * q)];
  }
}

/**
 * Reads the envelope (see lancall_peer::ipc::encode_frame).
 * @param {ArrayBuffer} buf
 */
export function parseFrame(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER_LEN) return null;
  const v = new DataView(buf);
  if (v.getUint8(0) !== 2) return null;
  return {
    kind: v.getUint8(1) === 0 ? 'video' : 'audio',
    role: v.getUint8(2) === 0 ? 'main' : 'screen',
    keyframe: (v.getUint8(3) & 1) === 1,
    link: v.getUint32(4, true),
    rtpTimestamp: v.getUint32(8, true),
    width: v.getUint16(12, true),
    height: v.getUint16(14, true),
    receivedUs: Number(v.getBigUint64(16, true)),
    data: new Uint8Array(buf, HEADER_LEN),
  };
}

/** One remote video track: VP8 in, a MediaStream out. */
export class VideoSink {
  constructor() {
    this.canvas = document.createElement('canvas');
    this.canvas.width = 640;
    this.canvas.height = 480;
    this.ctx = this.canvas.getContext('2d');
    this.stream = this.canvas.captureStream(30);
    this.waitingForKey = true;
    this.decoded = 0;
    /** When the first picture was drawn (ms since the epoch). */
    this.firstDrawnAt = null;
    /** Frame timestamp -> when Rust had the whole frame (µs since the epoch). */
    this.arrivals = new Map();
    /** From the frame complete in Rust to drawn here, ms: the way through the app. */
    this.latency = new Samples();
    this.decoder = new VideoDecoder({
      output: (frame) => {
        try {
          if (this.canvas.width !== frame.displayWidth || this.canvas.height !== frame.displayHeight) {
            this.canvas.width = frame.displayWidth;
            this.canvas.height = frame.displayHeight;
          }
          this.ctx.drawImage(frame, 0, 0);
          this.decoded += 1;
          this.firstDrawnAt ??= performance.timeOrigin + performance.now();
          const arrived = this.arrivals.get(frame.timestamp);
          if (arrived !== undefined) {
            this.arrivals.delete(frame.timestamp);
            this.latency.add((wallMicros() - arrived) / 1000);
          }
          if (this.arrivals.size > 64) this.arrivals.clear();
        } finally {
          frame.close();
        }
      },
      error: (err) => {
        console.warn('lancall: video decoding failed', err?.message ?? err);
        this.waitingForKey = true;
      },
    });
    this.decoder.configure({ codec: 'vp8' });
  }

  push(f) {
    if (this.decoder.state === 'closed') {
      this.decoder = null;
      return;
    }
    if (this.waitingForKey && !f.keyframe) return;
    this.waitingForKey = false;
    // Too far behind (the webview was busy): drop until the next keyframe.
    if (this.decoder.decodeQueueSize > 10 && !f.keyframe) {
      this.waitingForKey = true;
      return;
    }
    const timestamp = Math.round((f.rtpTimestamp * 1e6) / 90000);
    this.arrivals.set(timestamp, f.receivedUs);
    this.decoder.decode(new EncodedVideoChunk({ type: f.keyframe ? 'key' : 'delta', timestamp, data: f.data }));
  }

  close() {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    for (const t of this.stream.getTracks()) t.stop();
  }
}

/**
 * One remote audio track: Opus in, played through Web Audio. `track` carries the same sound as a
 * MediaStreamTrack (for recording and streams); it is played here, so a player showing it stays
 * muted.
 */
export class AudioSink {
  constructor(context) {
    this.context = context;
    this.gain = context.createGain();
    this.gain.connect(context.destination);
    this.output = context.createMediaStreamDestination();
    this.gain.connect(this.output);
    this.track = this.output.stream.getAudioTracks()[0];
    this.playedAt = 0;
    this.next = 0;
    this.decoded = 0;
    /** Loudness of what was played, as RTCStats' audioLevel/totalAudioEnergy (0..1 RMS). */
    this.level = 0;
    this.energy = 0;
    this.decoder = new AudioDecoder({
      output: (data) => {
        try {
          this.play(data);
        } finally {
          data.close();
        }
      },
      error: (err) => console.warn('lancall: audio decoding failed', err?.message ?? err),
    });
    this.decoder.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 });
  }

  play(data) {
    const frames = data.numberOfFrames;
    const buffer = this.context.createBuffer(1, frames, data.sampleRate);
    const pcm = new Float32Array(frames);
    data.copyTo(pcm, { planeIndex: 0, format: 'f32-planar' });
    buffer.copyToChannel(pcm, 0);
    let sum = 0;
    for (let i = 0; i < frames; i += 1) sum += pcm[i] * pcm[i];
    this.level = frames ? Math.sqrt(sum / frames) : 0;
    this.energy += this.level * this.level * buffer.duration;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.gain);
    const now = this.context.currentTime;
    // 60 ms ahead; after a gap (or running too far ahead), start over from now.
    if (this.next < now + 0.02 || this.next > now + 0.3) this.next = now + 0.06;
    source.start(this.next);
    this.next += buffer.duration;
    this.decoded += 1;
    this.playedAt = performance.now();
  }

  push(f) {
    if (this.decoder.state === 'closed') return;
    this.decoder.decode(
      new EncodedAudioChunk({ type: 'key', timestamp: Math.round((f.rtpTimestamp * 1e6) / 48000), data: f.data }),
    );
  }

  close() {
    if (this.decoder.state !== 'closed') this.decoder.close();
    this.gain.disconnect();
    this.track.stop();
  }
}

/**
 * Packed 4-byte pixels to I420 (BT.601, video range), as the VP8 encoder in Rust takes them:
 * 0.46 MB a 640x480 picture instead of 1.2 MB, a few milliseconds of JIT-compiled loop.
 * `r`/`b` are the byte offsets of red and blue (0/2 for RGBA, 2/0 for BGRA).
 */
export function packedToI420(px, w, h, r = 0, b = 2, out = new Uint8Array(w * h * 1.5)) {
  const n = w * h;
  for (let i = 0, p = 0; i < n; i += 1, p += 4) {
    out[i] = ((66 * px[p + r] + 129 * px[p + 1] + 25 * px[p + b] + 128) >> 8) + 16;
  }
  let u = n;
  let v = n + n / 4;
  const row = w * 4;
  for (let y = 0; y < h; y += 2) {
    for (let x = 0; x < w; x += 2) {
      const p = y * row + x * 4;
      const q = p + row;
      const R = (px[p + r] + px[p + 4 + r] + px[q + r] + px[q + 4 + r]) >> 2;
      const G = (px[p + 1] + px[p + 5] + px[q + 1] + px[q + 5]) >> 2;
      const B = (px[p + b] + px[p + 4 + b] + px[q + b] + px[q + 4 + b]) >> 2;
      out[u++] = ((-38 * R - 74 * G + 112 * B + 128) >> 8) + 128;
      out[v++] = ((112 * R - 94 * G - 18 * B + 128) >> 8) + 128;
    }
  }
  return out;
}

const PACKED = { RGBA: [0, 2], RGBX: [0, 2], BGRA: [2, 0], BGRX: [2, 0] };

/**
 * Sends a camera (or screen) track to a Rust source: pictures of at most 640x480, at most `fps` a second,
 * as I420 (or NV12, when that is how the camera delivers them), which Rust encodes to VP8 on a
 * thread of its own. The track is cloned and constrained to 640x480 (the preview keeps its
 * size). Each picture is read with
 * `VideoFrame.copyTo` in the camera's own format; packed RGB is turned into I420 here, because
 * that is cheaper than moving 2.6 times the bytes over IPC (measured: 1.2 MB RGBA 12 ms, 0.46 MB
 * I420 3 ms, the conversion 4 ms). A canvas is the fallback. One picture in flight at a time.
 */
export class VideoSender {
  constructor(track, send, { width = 640, height = 480, fps = 30, paused = () => false } = {}) {
    this.send = send;
    /** True while nothing is to be sent (the track is muted): no picture is even read. */
    this.paused = paused;
    this.width = width;
    this.height = height;
    this.interval = 1000 / fps;
    this.track = track.clone();
    this.track.applyConstraints({ width: { ideal: width }, height: { ideal: height } }).catch(() => {});
    this.video = document.createElement('video');
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = new MediaStream([this.track]);
    this.video.play().catch(() => {});
    this.canvas = null;
    this.useFrames = typeof globalThis.VideoFrame === 'function';
    this.sent = 0;
    this.busyMs = 0;
    this.drawMs = 0;
    this.sendMs = 0;
    this.size = [0, 0];
    this.format = null;
    this.stopped = false;
    // A timer, not requestVideoFrameCallback: WebKit calls that only now and then for a video
    // that is not on screen (measured: 3 pictures a second).
    this.schedule(0);
  }

  /** @private */
  schedule(delay) {
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), delay);
  }

  /** The current picture: bytes, size and pixel format, or null. @private */
  async grab() {
    const v = this.video;
    if (v.readyState < 2 || !v.videoWidth) return null;
    if (this.useFrames && v.videoWidth <= this.width && v.videoHeight <= this.height) {
      let frame = null;
      try {
        frame = new VideoFrame(v, { timestamp: Math.round(performance.now() * 1000) });
        const w = frame.codedWidth;
        const h = frame.codedHeight;
        const whole = frame.visibleRect.width === w && frame.visibleRect.height === h;
        if (whole && w % 2 === 0 && h % 2 === 0) {
          if (frame.format === 'I420' || frame.format === 'NV12') {
            const buf = new Uint8Array(w * h * 1.5);
            const layout = await frame.copyTo(buf, {
              layout:
                frame.format === 'I420'
                  ? [{ offset: 0, stride: w }, { offset: w * h, stride: w / 2 }, { offset: w * h * 1.25, stride: w / 2 }]
                  : [{ offset: 0, stride: w }, { offset: w * h, stride: w }],
            });
            if (layout) return { data: buf, w, h, format: frame.format };
          } else if (PACKED[frame.format]) {
            const buf = new Uint8Array(w * h * 4);
            const layout = await frame.copyTo(buf, { layout: [{ offset: 0, stride: w * 4 }] });
            if (layout) {
              const [r, b] = PACKED[frame.format];
              return { data: packedToI420(buf, w, h, r, b), w, h, format: 'I420' };
            }
          }
        }
        this.useFrames = false;
        console.info(`lancall: camera pictures in ${frame.format} ${w}x${h}: using a canvas`);
      } catch (err) {
        console.warn('lancall: VideoFrame.copyTo is not usable here, using a canvas', err?.message ?? err);
        this.useFrames = false;
      } finally {
        frame?.close();
      }
    }
    // Canvas: scale into width x height keeping the aspect ratio, even sides for I420.
    const scale = Math.min(this.width / v.videoWidth, this.height / v.videoHeight, 1);
    const w = Math.max(2, Math.floor((v.videoWidth * scale) / 2) * 2);
    const h = Math.max(2, Math.floor((v.videoHeight * scale) / 2) * 2);
    if (!this.canvas) this.canvas = document.createElement('canvas');
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    }
    this.ctx.drawImage(v, 0, 0, w, h);
    return { data: packedToI420(this.ctx.getImageData(0, 0, w, h).data, w, h), w, h, format: 'I420' };
  }

  /** @private */
  async tick() {
    if (this.stopped) return;
    const started = performance.now();
    if (this.paused()) {
      this.due = started;
      this.schedule(this.interval);
      return;
    }
    try {
      const taken = wallMicros();
      const picture = await this.grab();
      const drawn = performance.now();
      this.drawMs += drawn - started;
      if (picture && !this.stopped) {
        await this.send(picture.data, picture.w, picture.h, picture.format, taken);
        this.sendMs += performance.now() - drawn;
        this.size = [picture.w, picture.h];
        this.format = picture.format;
        this.sent += 1;
      }
    } catch (err) {
      console.warn('lancall: a camera picture was not sent', err?.message ?? err);
    }
    const took = performance.now() - started;
    this.busyMs += took;
    // Keep to the cap: the next picture is due one interval after this one was (or now, when
    // this one ran late).
    this.due = Math.max((this.due ?? started) + this.interval, performance.now());
    this.schedule(this.due - performance.now());
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    // Detach the player first and end the track a turn later: ending a track that a WebKitGTK
    // player is still playing can deadlock the page (see app.js, detachPlayers).
    this.video.pause();
    this.video.srcObject = null;
    setTimeout(() => this.track.stop(), 0);
  }
}

/**
 * Sends a microphone track to a Rust source: PCM from Web Audio -> AudioEncoder (Opus, in the
 * webview) -> `rtc_source_audio`. Nothing is encoded while `paused()` (the track is muted).
 */
export class AudioSender {
  constructor(track, context, send, { paused = () => false } = {}) {
    this.context = context;
    this.paused = paused;
    this.send = send;
    this.sent = 0;
    this.timestamp = 0;
    this.source = context.createMediaStreamSource(new MediaStream([track]));
    this.encoder = new AudioEncoder({
      output: (chunk) => {
        const bytes = new Uint8Array(chunk.byteLength);
        chunk.copyTo(bytes);
        this.send(bytes, chunk.duration || 20000).then(
          () => {
            this.sent += 1;
          },
          (err) => console.warn('lancall: a sound packet was not sent', err?.message ?? err),
        );
      },
      error: (err) => console.warn('lancall: sound encoding failed', err?.message ?? err),
    });
    this.encoder.configure({ codec: 'opus', sampleRate: context.sampleRate, numberOfChannels: 1, bitrate: 32000 });
    // ScriptProcessorNode: no worklet module to load under the strict CSP; 2048 frames ≈ 43 ms.
    this.processor = context.createScriptProcessor(2048, 1, 1);
    this.processor.onaudioprocess = (ev) => {
      if (this.encoder.state !== 'configured' || this.paused()) return;
      const input = ev.inputBuffer.getChannelData(0);
      const data = new AudioData({
        format: 'f32-planar',
        sampleRate: context.sampleRate,
        numberOfFrames: input.length,
        numberOfChannels: 1,
        timestamp: this.timestamp,
        data: new Float32Array(input),
      });
      this.timestamp += Math.round((input.length * 1e6) / context.sampleRate);
      this.encoder.encode(data);
      data.close();
    };
    this.source.connect(this.processor);
    this.processor.connect(context.destination);
  }

  stop() {
    this.processor.onaudioprocess = null;
    try {
      this.source.disconnect();
      this.processor.disconnect();
    } catch {
      /* gone already */
    }
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}
