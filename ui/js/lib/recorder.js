// Local recording: one stream (yourself or one remote tile) to a file. Nothing leaves the device.
// - Recording: MediaRecorder in the page, to a finished blob and its timestamped name; saving it
//   is the page's (page/record.js).
// - NativeRecording: the Linux app, whose WebKitGTK cannot record (no GStreamer fmp4 on Debian
//   12) but whose Rust side holds every encoded frame: Rust writes the WebM file into the
//   Downloads folder as the call goes (lancall_recorder), and stop() says where.
import { recordingType } from './media.js';
import { invoke } from './tauri.js';
import { randomId } from './ids.js';

export class Recording {
  /**
   * @param {MediaStream} stream what to record
   * @param {string} label goes into the file name (e.g. the person's name)
   */
  constructor(stream, label) {
    const mimeType = recordingType();
    if (mimeType === null) throw new Error('This browser cannot record (no MediaRecorder).');
    this.mimeType = mimeType;
    this.label = label;
    /** @type {Blob[]} */
    this.chunks = [];
    this.startedAt = new Date();
    // MediaRecorder cannot follow track changes: the file keeps the tracks live at the start
    // (after a camera switch it goes on with the sound only).
    this.stream = new MediaStream(stream.getTracks().filter((t) => t.readyState === 'live'));
    if (this.stream.getTracks().length === 0) throw new Error('There is nothing to record yet.');
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType } : undefined);
    this.recorder.addEventListener('dataavailable', (ev) => {
      if (ev.data && ev.data.size > 0) this.chunks.push(ev.data);
    });
    this.done = new Promise((resolve, reject) => {
      this.recorder.addEventListener('stop', () => resolve(this.file()));
      this.recorder.addEventListener('error', (ev) => reject(ev.error ?? new Error('recording failed')));
    });
    this.recorder.start(1000);
  }

  get type() {
    return this.recorder.mimeType || this.mimeType || 'video/webm';
  }

  /** Stop; resolves to { blob, filename }. */
  stop() {
    if (this.recorder.state !== 'inactive') this.recorder.stop();
    return this.done;
  }

  /** @private */
  file() {
    const type = this.type.split(';')[0];
    const ext = type === 'video/mp4' ? 'mp4' : type === 'audio/webm' ? 'weba' : 'webm';
    const blob = new Blob(this.chunks, { type });
    return { blob, filename: recordingFileName(this.label, this.startedAt, ext) };
  }
}

/**
 * @typedef {{from: 'remote', pc: string, video: number|null, audio: number|null} | {from: 'local', video: string|null, audio: string|null}} NativeTarget
 * @typedef {{files: string[], duration_ms: number, error: string|null}} NativeDone
 */

export class NativeRecording {
  /**
   * Starts recording in the app's Rust side.
   * @param {{target: NativeTarget, release: () => void}} what the tracks' place in Rust (rtc-bridge.js)
   * @param {string} label goes into the file name (e.g. the person's name)
   * @returns {Promise<NativeRecording>}
   */
  static async start(what, label) {
    const startedAt = new Date();
    const id = randomId(12);
    const name = recordingFileName(label, startedAt, 'webm');
    try {
      /** @type {string} */
      const path = await invoke('rtc_record_start', { recording: id, name, target: what.target });
      return new NativeRecording(id, path, what.release);
    } catch (err) {
      what.release();
      throw err;
    }
  }

  /**
   * @param {string} id
   * @param {string} path where the file is being written
   * @param {() => void} release
   */
  constructor(id, path, release) {
    this.id = id;
    this.path = path;
    /** When Rust started writing (the file's name says when it was asked for). */
    this.startedAt = new Date();
    /** @type {Date|null} when it was told to stop */
    this.stoppedAt = null;
    this.release = release;
  }

  /**
   * Stops; resolves to the files written (a second one when the picture size changed) and why
   * it stopped early, if it did (they play up to there).
   * @returns {Promise<NativeDone>}
   */
  async stop() {
    this.stoppedAt = new Date();
    try {
      return await invoke('rtc_record_stop', { recording: this.id });
    } finally {
      this.release();
    }
  }
}

/**
 * `lancall_2026-11-22_12-00-00_Grace.webm`: when it started and whom, safe as a file name.
 * @param {string} label
 * @param {Date} date
 * @param {string} ext
 */
export function recordingFileName(label, date, ext) {
  /** @param {number} n */
  const p = (n) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}_${p(date.getHours())}-${p(date.getMinutes())}-${p(date.getSeconds())}`;
  const safe = label.normalize('NFKD').replace(/[^\w-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'call';
  return `lancall_${stamp}_${safe}.${ext}`;
}
