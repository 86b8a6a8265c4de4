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
 * @property {number|null} lossPct since the connection began
 * @property {number} packetsLost
 * @property {number} packetsReceived
 * @property {number|null} recentLossPct since the previous sample (null without one, or no packets)
 * @property {string|null} path
 * @property {string} [pathLocal]
 * @property {number|null} kbpsIn
 * @property {number|null} kbpsOut
 * @property {number[]} [layersOut] the heights of the simulcast layers we send (SFU calls)
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
    packetsLost: 0,
    packetsReceived: 0,
    recentLossPct: null,
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
      if (s.kind === 'video' && s.rid && s.frameHeight) (out.layersOut ??= []).push(s.frameHeight);
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
  out.packetsLost = lost;
  out.packetsReceived = received;
  if (prev) {
    const dLost = Math.max(0, lost - prev.packetsLost);
    const dReceived = Math.max(0, received - prev.packetsReceived);
    if (dLost + dReceived > 0) out.recentLossPct = (100 * dLost) / (dLost + dReceived);
  }
  if (prev && now > prev.at) {
    const secs = (now - prev.at) / 1000;
    out.kbpsIn = Math.max(0, Math.round(((out.bytesIn - prev.bytesIn) * 8) / 1000 / secs));
    out.kbpsOut = Math.max(0, Math.round(((out.bytesOut - prev.bytesOut) * 8) / 1000 / secs));
  }
  return out;
}

/**
 * How a connection is doing, as a tile's signal bars say it: 'good' (3 bars), 'fair' (2) or
 * 'poor' (1), from the round trip and the packets lost since the last sample; null while unknown.
 * On a LAN a good link has a round trip of a few ms and no loss.
 * @param {StatsSummary} s
 * @returns {'good'|'fair'|'poor'|null}
 */
export function quality(s) {
  const loss = s.recentLossPct;
  const rtt = s.rttMs;
  if (loss === null && rtt === null) return null;
  if ((loss ?? 0) >= 8 || (rtt ?? 0) >= 400) return 'poor';
  if ((loss ?? 0) >= 2 || (rtt ?? 0) >= 150) return 'fair';
  return 'good';
}

/**
 * Rows for the stats panel: [label, value] pairs.
 * @param {StatsSummary} s
 * @param {{cameraOff?: boolean, relayed?: boolean}} [remote] what the other side said (a camera that
 *   is off sends no frames), and whether its media comes through the host's SFU
 * @returns {Array<[string, string]>}
 */
export function statRows(s, remote = {}) {
  const dash = '–';
  const v = s.video;
  return [
    ['Video in', remote.cameraOff ? 'camera off' : v ? `${v.codec ?? '?'} ${v.width ?? '?'}×${v.height ?? '?'} @ ${v.fps ?? 0} fps` : dash],
    ['Video out', s.videoOut ? `${s.videoOut.codec ?? '?'} ${s.videoOut.width}×${s.videoOut.height} @ ${s.videoOut.fps ?? 0} fps` : dash],
    ...(s.layersOut?.length ? /** @type {Array<[string, string]>} */ ([['Layers out', s.layersOut.sort((a, b) => a - b).map((h) => `${h}p`).join(', ')]]) : []),
    ['Audio in', s.audio ? `${s.audio.codec ?? '?'}` : dash],
    ['Bitrate in', s.kbpsIn !== null ? `${s.kbpsIn} kbit/s` : dash],
    ['Bitrate out', s.kbpsOut !== null ? `${s.kbpsOut} kbit/s` : dash],
    ['Round trip', s.rttMs !== null ? `${s.rttMs} ms` : dash],
    ['Packet loss', s.lossPct !== null ? `${s.lossPct.toFixed(1)} %` : dash],
    ['Route', remote.relayed ? 'through the host (SFU)' : 'direct'],
    ['Path', s.path ?? dash],
  ];
}
