// Local recording with MediaRecorder: one stream (yourself or one remote tile) to a finished file
// (a blob and its timestamped name). Saving it is the page's (page/record.js). Nothing leaves the
// device.
import { recordingType } from './media.js';

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
