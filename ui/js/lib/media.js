// Local media: devices, capture constraints, and errors explained in words a person can act on.
// No page code here; the page (page/devices.js) decides what to show.

/** Capture presets. `ideal` lets a camera that cannot do the size give its nearest one. */
export const QUALITIES = {
  '360p': { width: 640, height: 360, label: '360p' },
  '720p': { width: 1280, height: 720, label: '720p (HD)' },
  '1080p': { width: 1920, height: 1080, label: '1080p (Full HD)' },
};
export const FRAME_RATES = [15, 24, 30];

export const hasMediaDevices = () => !!globalThis.navigator?.mediaDevices?.getUserMedia;
export const canShareScreen = () => !!globalThis.navigator?.mediaDevices?.getDisplayMedia;
export const canChooseSpeaker = () =>
  typeof globalThis.HTMLMediaElement === 'function' && 'setSinkId' in HTMLMediaElement.prototype;

/**
 * Video constraints for a camera choice.
 * @param {{deviceId?: string, facingMode?: string, quality?: string, frameRate?: number}} choice
 */
export function videoConstraints({ deviceId, facingMode, quality = '720p', frameRate = 30 } = {}) {
  const q = QUALITIES[/** @type {keyof typeof QUALITIES} */ (quality)] ?? QUALITIES['720p'];
  /** @type {MediaTrackConstraints} */
  const c = {
    width: { ideal: q.width },
    height: { ideal: q.height },
    frameRate: { ideal: frameRate },
  };
  if (deviceId) c.deviceId = { exact: deviceId };
  else if (facingMode) c.facingMode = { ideal: facingMode };
  return c;
}

/** @param {{deviceId?: string, noiseSuppression?: boolean}} [choice] */
export function audioConstraints({ deviceId, noiseSuppression = true } = {}) {
  /** @type {MediaTrackConstraints} */
  const c = { echoCancellation: true, noiseSuppression, autoGainControl: true };
  if (deviceId) c.deviceId = { exact: deviceId };
  return c;
}

/**
 * Size and frame-rate constraints limited to what the track's camera reports it can do.
 * @param {MediaStreamTrack} track
 * @param {{quality: string, frameRate: number}} want
 * @returns {MediaTrackConstraints}
 */
export function fitToCapabilities(track, { quality, frameRate }) {
  const q = QUALITIES[/** @type {keyof typeof QUALITIES} */ (quality)] ?? QUALITIES['720p'];
  /** @type {MediaTrackCapabilities} */
  const caps = track.getCapabilities?.() ?? {};
  /** @param {number} v @param {ULongRange|DoubleRange|undefined} range */
  const clamp = (v, range) =>
    range && typeof range.max === 'number' ? Math.max(range.min ?? 0, Math.min(range.max, v)) : v;
  return {
    width: { ideal: clamp(q.width, caps.width) },
    height: { ideal: clamp(q.height, caps.height) },
    frameRate: { ideal: clamp(frameRate, caps.frameRate) },
  };
}

/**
 * What the camera can do, for the quality menu: { maxWidth, maxHeight, maxFrameRate } or null.
 * @param {MediaStreamTrack|null|undefined} track
 */
export function cameraLimits(track) {
  const caps = track?.getCapabilities?.();
  if (!caps) return null;
  return {
    maxWidth: caps.width?.max ?? null,
    maxHeight: caps.height?.max ?? null,
    maxFrameRate: caps.frameRate?.max ?? null,
  };
}

/** @typedef {{deviceId: string, label: string, facing: string|null}} Device one camera, microphone or speaker */

/** Device lists by kind. Labels are empty until a permission was granted once. */
export async function listDevices() {
  /** @type {{audioinput: Device[], videoinput: Device[], audiooutput: Device[]}} */
  const out = { audioinput: [], videoinput: [], audiooutput: [] };
  if (!globalThis.navigator?.mediaDevices?.enumerateDevices) return out;
  const devices = await navigator.mediaDevices.enumerateDevices();
  let n = { audioinput: 0, videoinput: 0, audiooutput: 0 };
  for (const d of devices) {
    if (!out[d.kind] || !d.deviceId) continue;
    n[d.kind] += 1;
    const fallback = { audioinput: 'Microphone', videoinput: 'Camera', audiooutput: 'Speaker' }[d.kind];
    /** @type {string|null} */
    let facing = null;
    try {
      facing = /** @type {any} */ (d).getCapabilities?.().facingMode?.[0] ?? null;
    } catch {
      /* not offered by this engine */
    }
    if (!facing && /\b(back|rear|environment)\b/i.test(d.label)) facing = 'environment';
    if (!facing && /\b(front|user|facetime)\b/i.test(d.label)) facing = 'user';
    out[d.kind].push({ deviceId: d.deviceId, label: d.label || `${fallback} ${n[d.kind]}`, facing });
  }
  return out;
}

/** A media error turned into something a person can act on. */
export class MediaProblem {
  /**
   * @param {string} kind 'audio' | 'video' | 'both' | 'screen'
   * @param {string} code 'denied' | 'missing' | 'in-use' | 'constraints' | 'insecure' | 'unsupported' | 'other'
   * @param {string} title
   * @param {string} detail
   * @param {unknown} error what the browser threw
   */
  constructor(kind, code, title, detail, error) {
    this.kind = kind; // 'audio' | 'video' | 'both' | 'screen'
    this.code = code; // 'denied' | 'missing' | 'in-use' | 'constraints' | 'insecure' | 'unsupported' | 'other'
    this.title = title;
    this.detail = detail;
    this.error = error;
  }
}

/** @param {string} kind */
const what = (kind) =>
  /** @type {Record<string, string>} */ ({ audio: 'microphone', video: 'camera', both: 'camera and microphone', screen: 'screen sharing' })[kind];

/**
 * @param {any} err what getUserMedia or getDisplayMedia threw
 * @param {'audio'|'video'|'both'|'screen'} kind what was asked for
 * @returns {MediaProblem}
 */
export function explainMediaError(err, kind) {
  const name = err?.name ?? '';
  const device = what(kind);
  const cap = device[0].toUpperCase() + device.slice(1);
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      if (kind === 'screen') {
        return new MediaProblem(kind, 'denied', 'Screen sharing was cancelled or blocked.',
          'Choose a screen, window or tab to share, or allow screen sharing for this site in the browser settings.', err);
      }
      return new MediaProblem(kind, 'denied', `${cap} access is blocked.`,
        `Allow the ${device} for this page: click the camera or lock icon in the address bar, choose Allow, then press Try again. ` +
          'You can also join without them and only watch and listen.', err);
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return new MediaProblem(kind, 'missing', `No ${device} found.`,
        `Plug in a ${device} and press Try again, or join without it.`, err);
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new MediaProblem(kind, 'in-use', `The ${device} could not be started.`,
        `It is probably in use by another app (a video call, the camera app). Close that app and press Try again.`, err);
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return new MediaProblem(kind, 'constraints', `The ${device} cannot do the chosen settings.`,
        'Pick another device or a lower quality.', err);
    case 'SecurityError':
      return new MediaProblem(kind, 'insecure', `This page may not use the ${device}.`,
        'Open the call link with https:// and make sure the page is not inside a frame that blocks cameras.', err);
    case 'TypeError':
      if (!hasMediaDevices()) {
        return new MediaProblem(kind, 'insecure', 'This browser blocks cameras on this page.',
          'Cameras only work on https:// pages. Open the link the host gave you, starting with https://.', err);
      }
      return new MediaProblem(kind, 'other', `The ${device} could not be started.`, String(err.message ?? err), err);
    default:
      return new MediaProblem(kind, 'other', `The ${device} could not be started.`,
        `${err?.message || name || 'Unknown error'}. Press Try again, or pick another device.`, err);
  }
}

/**
 * Open microphone and camera with fallbacks:
 *  - settings the camera cannot meet: the same camera with no size or rate asked;
 *  - a device that is missing or busy: the other one alone, so the person joins with what works.
 * @param {{audio: MediaTrackConstraints|false, video: MediaTrackConstraints|false}} want
 * @returns {Promise<{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, problems: MediaProblem[], notes: string[]}>}
 */
export async function openCamera({ audio, video }) {
  /** @type {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, problems: MediaProblem[], notes: string[]}} */
  const result = { audio: null, video: null, problems: [], notes: [] };
  if (!audio && !video) return result;
  if (!hasMediaDevices()) {
    result.problems.push(explainMediaError(new TypeError('no mediaDevices'), audio && video ? 'both' : audio ? 'audio' : 'video'));
    return result;
  }
  /** @param {MediaStreamConstraints} c */
  const gum = (c) => navigator.mediaDevices.getUserMedia(c);
  /** @param {MediaStream} stream */
  const take = (stream) => {
    result.audio = stream.getAudioTracks()[0] ?? result.audio;
    result.video = stream.getVideoTracks()[0] ?? result.video;
  };
  try {
    take(await gum({ audio: audio || false, video: video || false }));
    return result;
  } catch (/** @type {any} */ err) {
    if (err?.name === 'NotAllowedError' || err?.name === 'SecurityError') {
      result.problems.push(explainMediaError(err, audio && video ? 'both' : audio ? 'audio' : 'video'));
      return result;
    }
    if (!(audio && video) && err?.name !== 'OverconstrainedError') {
      result.problems.push(explainMediaError(err, audio ? 'audio' : 'video'));
      return result;
    }
  }
  // One at a time, so whatever works is kept.
  if (audio) {
    try {
      take(await gum({ audio, video: false }));
    } catch (/** @type {any} */ err) {
      if (err?.name === 'OverconstrainedError' && audio.deviceId) {
        try {
          take(await gum({ audio: audioConstraints(), video: false }));
          result.notes.push('The chosen microphone is not available; using the default one.');
        } catch (err2) {
          result.problems.push(explainMediaError(err2, 'audio'));
        }
      } else {
        result.problems.push(explainMediaError(err, 'audio'));
      }
    }
  }
  if (video) {
    try {
      take(await gum({ audio: false, video }));
    } catch (/** @type {any} */ err) {
      if (err?.name === 'OverconstrainedError') {
        const plain = video.deviceId ? { deviceId: video.deviceId } : true;
        try {
          take(await gum({ audio: false, video: plain }));
          result.notes.push('Your camera cannot do the chosen quality; it uses the nearest it can.');
        } catch (err2) {
          if (video.deviceId) {
            try {
              take(await gum({ audio: false, video: true }));
              result.notes.push('The chosen camera is not available; using the default one.');
            } catch (err3) {
              result.problems.push(explainMediaError(err3, 'video'));
            }
          } else {
            result.problems.push(explainMediaError(err2, 'video'));
          }
        }
      } else {
        result.problems.push(explainMediaError(err, 'video'));
      }
    }
  }
  return result;
}

/** Pick a recording type this engine supports (WebKit only records MP4). */
export function recordingType() {
  const MR = globalThis.MediaRecorder;
  if (!MR) return null;
  const candidates = [
    'video/webm;codecs=vp9,opus',
    'video/webm;codecs=vp8,opus',
    'video/webm',
    'video/mp4;codecs=avc1,mp4a',
    'video/mp4',
  ];
  return candidates.find((t) => MR.isTypeSupported?.(t)) ?? '';
}
