// Microphone level for the pre-join meter and the "speaking" outline on your own tile.
// Web Audio starts suspended until the person interacts with the page; it resumes on the first
// click or key press.

export class LevelMeter {
  /** @param {(level: number) => void} onLevel called about 15 times a second, level 0..1 */
  constructor(onLevel) {
    this.onLevel = onLevel;
    this.level = 0;
    this.ctx = null;
    this.source = null;
    this.analyser = null;
    this.timer = null;
    const resume = () => this.ctx?.resume?.().catch(() => {});
    document.addEventListener('pointerdown', resume, { capture: true });
    document.addEventListener('keydown', resume, { capture: true });
  }

  setTrack(track) {
    this.source?.disconnect();
    this.source = null;
    clearInterval(this.timer);
    this.level = 0;
    this.onLevel(0);
    const AC = globalThis.AudioContext ?? globalThis.webkitAudioContext;
    if (!track || !AC) return;
    try {
      this.ctx ??= new AC();
      this.analyser ??= Object.assign(this.ctx.createAnalyser(), { fftSize: 512 });
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      this.source.connect(this.analyser);
    } catch {
      return; // no meter on engines that cannot do this; nothing else depends on it
    }
    const buf = new Float32Array(this.analyser.fftSize);
    this.timer = setInterval(() => {
      if (!track.enabled || track.readyState !== 'live') {
        this.level = 0;
      } else {
        this.analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += v * v;
        this.level = Math.sqrt(sum / buf.length);
      }
      this.onLevel(this.level);
    }, 66);
  }
}
