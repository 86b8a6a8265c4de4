// Turns RTCPeerConnection.getStats() reports into the few numbers a person reads in the stats
// panel. Bitrates need two samples: keep the previous summary and pass it back in.

/**
 * @typedef {object} StatsSummary one connection's numbers at one moment
 * @property {number} at performance.now() of the sample
 * @property {number} bytesIn
 * @property {number} bytesOut
 * @property {{codec: string|null, width: number, height: number, fps: number, framesDecoded: number}|null} video inbound camera video
 * @property {{codec: string|null, width: number, height: number, fps: number}|null} videoOut
 * @property {{codec: string|null, level: number, energy: number, bytes: number}|null} audio inbound audio
 * @property {number|null} rttMs
 * @property {number|null} lossPct
 * @property {string|null} path
 * @property {string} [pathLocal]
 * @property {number|null} kbpsIn
 * @property {number|null} kbpsOut
 */

/**
 * @param {RTCStatsReport} report
 * @param {StatsSummary|null} prev the previous result for the same connection
 * @returns {StatsSummary}
 */
export function summarize(report, prev) {
  const now = performance.now();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  /** @type {StatsSummary} */
  const out = {
    at: now,
    bytesIn: 0,
    bytesOut: 0,
    video: null, // inbound camera video: codec, width, height, fps
    videoOut: null,
    audio: null, // inbound audio: codec, level, energy
    rttMs: null,
    lossPct: null,
    path: null,
    kbpsIn: null,
    kbpsOut: null,
  };
  let lost = 0;
  let received = 0;
  /** @type {any} */
  let selectedPair = null;
  /** @param {string} id */
  const codecName = (id) => byId.get(id)?.mimeType?.split('/')[1] ?? null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out.bytesIn += s.bytesReceived ?? 0;
      lost += Math.max(0, s.packetsLost ?? 0);
      received += s.packetsReceived ?? 0;
      if (s.kind === 'video' && (!out.video || (s.framesDecoded ?? 0) > out.video.framesDecoded)) {
        out.video = {
          codec: codecName(s.codecId),
          width: s.frameWidth ?? null,
          height: s.frameHeight ?? null,
          fps: s.framesPerSecond ?? null,
          framesDecoded: s.framesDecoded ?? 0,
        };
      } else if (s.kind === 'audio') {
        out.audio = {
          codec: codecName(s.codecId),
          level: s.audioLevel ?? null,
          energy: s.totalAudioEnergy ?? null,
          bytes: s.bytesReceived ?? 0,
        };
      }
    } else if (s.type === 'outbound-rtp') {
      out.bytesOut += s.bytesSent ?? 0;
      if (s.kind === 'video' && s.frameWidth && !out.videoOut) {
        out.videoOut = {
          codec: codecName(s.codecId),
          width: s.frameWidth,
          height: s.frameHeight,
          fps: s.framesPerSecond ?? null,
        };
      }
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      selectedPair = byId.get(s.selectedCandidatePairId) ?? selectedPair;
    } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && !selectedPair) {
      selectedPair = s;
    }
  });
  if (selectedPair) {
    if (typeof selectedPair.currentRoundTripTime === 'number') {
      out.rttMs = Math.round(selectedPair.currentRoundTripTime * 1000);
    }
    const local = byId.get(selectedPair.localCandidateId);
    const remote = byId.get(selectedPair.remoteCandidateId);
    if (local && remote) {
      const proto = local.relayProtocol || local.protocol || remote.protocol || '';
      out.path = `${local.candidateType} ↔ ${remote.candidateType}${proto ? ` (${proto})` : ''}`;
      out.pathLocal = local.candidateType;
    }
  }
  if (lost + received > 0) out.lossPct = (100 * lost) / (lost + received);
  if (prev && now > prev.at) {
    const secs = (now - prev.at) / 1000;
    out.kbpsIn = Math.max(0, Math.round(((out.bytesIn - prev.bytesIn) * 8) / 1000 / secs));
    out.kbpsOut = Math.max(0, Math.round(((out.bytesOut - prev.bytesOut) * 8) / 1000 / secs));
  }
  return out;
}

/**
 * Rows for the stats panel: [label, value] pairs.
 * @param {StatsSummary} s
 * @returns {Array<[string, string]>}
 */
export function statRows(s) {
  const dash = '–';
  const v = s.video;
  return [
    ['Video in', v ? `${v.codec ?? '?'} ${v.width ?? '?'}×${v.height ?? '?'} @ ${v.fps ?? 0} fps` : dash],
    ['Video out', s.videoOut ? `${s.videoOut.codec ?? '?'} ${s.videoOut.width}×${s.videoOut.height} @ ${s.videoOut.fps ?? 0} fps` : dash],
    ['Audio in', s.audio ? `${s.audio.codec ?? '?'}` : dash],
    ['Bitrate in', s.kbpsIn !== null ? `${s.kbpsIn} kbit/s` : dash],
    ['Bitrate out', s.kbpsOut !== null ? `${s.kbpsOut} kbit/s` : dash],
    ['Round trip', s.rttMs !== null ? `${s.rttMs} ms` : dash],
    ['Packet loss', s.lossPct !== null ? `${s.lossPct.toFixed(1)} %` : dash],
    ['Path', s.path ?? dash],
  ];
}
