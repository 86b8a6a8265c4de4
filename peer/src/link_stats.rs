//! A connection's numbers as the CLI peer reports them ([`LinkStats`]: the camera and the
//! microphone each way, the path), read from the one stats shape the bridge gives: W3C RTCStats
//! entries.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::bridge::StatsEntry;
use crate::media::MediaKind;

/// Live numbers of one connection (the camera and microphone; a shared screen is not counted),
/// read from the connection's W3C stats.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStats {
    /// `connectionState`.
    pub connection: String,
    /// Local candidate type of the selected pair (`host` on a LAN).
    pub local_candidate_type: Option<String>,
    /// Remote candidate type of the selected pair.
    pub remote_candidate_type: Option<String>,
    /// ICE round-trip time of the selected pair, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Video we receive.
    pub video_in: StreamStats,
    /// Audio we receive.
    pub audio_in: StreamStats,
    /// Video we send.
    pub video_out: StreamStats,
    /// Audio we send.
    pub audio_out: StreamStats,
}

/// One direction of one kind of media.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    /// `video/VP8`, `audio/opus`.
    pub codec: Option<String>,
    /// Frames (video) or packets (audio), total.
    pub frames: u64,
    /// Payload bytes, total.
    pub bytes: u64,
    /// Frames per second since the previous stats call.
    pub fps: f64,
    /// Kilobits per second since the previous stats call.
    pub kbps: f64,
    /// Last picture size seen in a keyframe (video).
    pub width: u32,
    /// Last picture size seen in a keyframe (video).
    pub height: u32,
    /// RTP packets lost (inbound: as we counted; outbound: as the remote reported).
    pub packets_lost: i64,
}

impl LinkStats {
    /// Reads a connection's W3C stats for the streams of the main transceivers (`audio`,
    /// `video`: their indexes; a shared screen is not counted). Rates are left for
    /// [`StatsRates::fill`]; `connection` for the caller.
    pub fn from_w3c(entries: &[StatsEntry], audio: Option<usize>, video: Option<usize>) -> LinkStats {
        let mut out = LinkStats::default();
        let text = |e: &StatsEntry, key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
        let int = |e: &StatsEntry, key: &str| e.get(key).and_then(Value::as_u64).unwrap_or(0);
        let lost = |e: &StatsEntry| e.get("packetsLost").and_then(Value::as_i64).unwrap_or(0);
        for e in entries {
            let kind = match e.get("kind").and_then(Value::as_str) {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
            let main = kind.is_some_and(|k| {
                let index = e.get("transceiver").and_then(Value::as_u64).map(|i| i as usize);
                index.is_some() && index == if k == MediaKind::Audio { audio } else { video }
            });
            match (e.get("type").and_then(Value::as_str), kind) {
                (Some("local-candidate"), _) => out.local_candidate_type = text(e, "candidateType"),
                (Some("remote-candidate"), _) => out.remote_candidate_type = text(e, "candidateType"),
                (Some("candidate-pair"), _) => {
                    out.rtt_ms = e.get("currentRoundTripTime").and_then(Value::as_f64).map(|s| s * 1000.0)
                }
                (Some("inbound-rtp"), Some(kind)) if main => {
                    let s = out.stream_mut(true, kind);
                    (s.frames, s.bytes, s.packets_lost) = (int(e, "framesReceived"), int(e, "bytesReceived"), lost(e));
                    s.read_video(e);
                }
                (Some("outbound-rtp"), Some(kind)) if main => {
                    let s = out.stream_mut(false, kind);
                    (s.frames, s.bytes) = (int(e, "framesSent"), int(e, "bytesSent"));
                    s.read_video(e);
                }
                (Some("remote-inbound-rtp"), Some(kind)) => out.stream_mut(false, kind).packets_lost = lost(e),
                _ => {}
            }
        }
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let codec = if kind == MediaKind::Audio { "audio/opus" } else { "video/VP8" };
            out.stream_mut(true, kind).codec = Some(codec.to_owned());
            out.stream_mut(false, kind).codec = Some(codec.to_owned());
        }
        out
    }

    /// One of the four streams: what we receive (`inbound`) or send, of `kind`.
    fn stream_mut(&mut self, inbound: bool, kind: MediaKind) -> &mut StreamStats {
        match (inbound, kind) {
            (true, MediaKind::Audio) => &mut self.audio_in,
            (true, MediaKind::Video) => &mut self.video_in,
            (false, MediaKind::Audio) => &mut self.audio_out,
            (false, MediaKind::Video) => &mut self.video_out,
        }
    }
}

impl StreamStats {
    /// A video entry's frame rate and picture size (audio entries have neither).
    fn read_video(&mut self, e: &StatsEntry) {
        if let Some(fps) = e.get("framesPerSecond").and_then(Value::as_f64) {
            self.fps = fps;
        }
        let side = |key: &str| e.get(key).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok());
        if let (Some(w), Some(h)) = (side("frameWidth"), side("frameHeight")) {
            (self.width, self.height) = (w, h);
        }
    }
}

/// The bytes of the four streams at the last stats call, for bit rates since then.
#[derive(Default)]
pub(crate) struct StatsRates(Option<(Instant, [u64; 4])>);

impl StatsRates {
    /// Sets each stream's `kbps` since the last call (0 on the first), and remembers `now`.
    pub(crate) fn fill(&mut self, stats: &mut LinkStats, now: Instant) {
        let streams = [&mut stats.video_in, &mut stats.audio_in, &mut stats.video_out, &mut stats.audio_out];
        let bytes = [streams[0].bytes, streams[1].bytes, streams[2].bytes, streams[3].bytes];
        if let Some((then, before)) = self.0.replace((now, bytes)) {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                for (s, (b, was)) in streams.into_iter().zip(bytes.iter().zip(before)) {
                    s.kbps = b.saturating_sub(was) as f64 * 8.0 / 1000.0 / secs;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entries(v: serde_json::Value) -> Vec<StatsEntry> {
        v.as_array()
            .map(|a| a.iter().filter_map(|e| e.as_object().cloned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_main_streams_and_the_path_are_read_and_a_screen_is_not_counted() {
        let report = entries(serde_json::json!([
            { "type": "local-candidate", "candidateType": "host" },
            { "type": "remote-candidate", "candidateType": "prflx" },
            { "type": "candidate-pair", "currentRoundTripTime": 0.002 },
            { "type": "inbound-rtp", "kind": "audio", "transceiver": 0, "framesReceived": 50, "bytesReceived": 5000, "packetsLost": 2 },
            { "type": "inbound-rtp", "kind": "video", "transceiver": 1, "framesReceived": 30, "bytesReceived": 90000, "framesPerSecond": 30.0, "frameWidth": 640, "frameHeight": 480 },
            { "type": "inbound-rtp", "kind": "video", "transceiver": 2, "framesReceived": 999, "bytesReceived": 1 },
            { "type": "outbound-rtp", "kind": "video", "transceiver": 1, "framesSent": 29, "bytesSent": 80000 },
            { "type": "remote-inbound-rtp", "kind": "video", "packetsLost": 7 },
        ]));
        let s = LinkStats::from_w3c(&report, Some(0), Some(1));
        assert_eq!((s.local_candidate_type.as_deref(), s.remote_candidate_type.as_deref()), (Some("host"), Some("prflx")));
        assert_eq!(s.rtt_ms, Some(2.0));
        assert_eq!((s.audio_in.frames, s.audio_in.bytes, s.audio_in.packets_lost), (50, 5000, 2));
        assert_eq!((s.video_in.frames, s.video_in.width, s.video_in.height, s.video_in.fps), (30, 640, 480, 30.0));
        assert_eq!((s.video_out.frames, s.video_out.packets_lost), (29, 7));
        assert_eq!(s.video_in.codec.as_deref(), Some("video/VP8"));
    }

    #[test]
    fn rates_are_since_the_last_call() {
        let mut rates = StatsRates::default();
        let t0 = Instant::now();
        let mut s = LinkStats::default();
        s.video_in.bytes = 1_000;
        rates.fill(&mut s, t0);
        assert_eq!(s.video_in.kbps, 0.0, "nothing to compare with yet");
        s.video_in.bytes = 126_000;
        rates.fill(&mut s, t0 + Duration::from_secs(1));
        assert_eq!(s.video_in.kbps, 1000.0, "125,000 bytes in a second");
    }
}
