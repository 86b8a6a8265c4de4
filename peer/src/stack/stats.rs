//! Counting what crosses a connection, and reading a webrtc-rs stats report for the path
//! (candidate types, round trip) and losses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::statistics::report::RTCStatsReport;

use crate::media::MediaKind;

/// Frames and bytes of one stream, and the last picture size seen.
#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) size: AtomicU64, // width << 32 | height
}

impl Counter {
    pub(crate) fn add(&self, bytes: usize, size: Option<(u32, u32)>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some((w, h)) = size {
            self.size
                .store((u64::from(w) << 32) | u64::from(h), Ordering::Relaxed);
        }
    }
}

/// What a stats report says about the path and the losses.
#[derive(Default)]
pub(crate) struct PathStats {
    /// Candidate types of the nominated pair, local and remote (an end without candidate stats
    /// was learned from a connectivity check, never signalled: `prflx`); None before a pair.
    pub(crate) path: Option<(String, String)>,
    /// Round trip, seconds: the pair's, else a remote-inbound report's.
    pub(crate) rtt_s: Option<f64>,
    /// Packets lost, by kind, of what we receive (inbound-rtp) and what we send
    /// (remote-inbound-rtp).
    pub(crate) lost_in: HashMap<MediaKind, i64>,
    pub(crate) lost_out: HashMap<MediaKind, i64>,
}

pub(crate) fn path_stats(report: &RTCStatsReport) -> PathStats {
    use rtc::statistics::report::RTCStatsReportEntry as E;
    let kind_of = |k: RtpCodecKind| {
        if k == RtpCodecKind::Audio {
            MediaKind::Audio
        } else {
            MediaKind::Video
        }
    };
    let mut out = PathStats::default();
    let mut pair_ids = None;
    let mut remote_rtt = None;
    for entry in report.iter() {
        match entry {
            E::IceCandidatePair(p) if p.nominated || pair_ids.is_none() => {
                pair_ids = Some((p.local_candidate_id.clone(), p.remote_candidate_id.clone()));
                if p.current_round_trip_time > 0.0 {
                    out.rtt_s = Some(p.current_round_trip_time);
                }
            }
            E::InboundRtp(s) => {
                let k = kind_of(s.received_rtp_stream_stats.rtp_stream_stats.kind);
                *out.lost_in.entry(k).or_default() += s.received_rtp_stream_stats.packets_lost;
            }
            E::RemoteInboundRtp(s) => {
                let k = kind_of(s.received_rtp_stream_stats.rtp_stream_stats.kind);
                *out.lost_out.entry(k).or_default() += s.received_rtp_stream_stats.packets_lost;
                if remote_rtt.is_none() && s.round_trip_time > 0.0 {
                    remote_rtt = Some(s.round_trip_time);
                }
            }
            _ => {}
        }
    }
    out.rtt_s = out.rtt_s.or(remote_rtt);
    let Some((local, remote)) = pair_ids else {
        return out;
    };
    // The pair names its candidates by their ICE ids; the candidates' own stats ids carry a
    // prefix (`RTCLocalIceCandidate_<id>`, webrtc-rs 0.21): accept either.
    let names = |stats_id: &str, id: &str| {
        stats_id == id || stats_id.strip_suffix(id).is_some_and(|p| p.ends_with('_'))
    };
    let (mut lt, mut rt) = (None, None);
    for entry in report.iter() {
        match entry {
            E::LocalCandidate(c) if names(&c.stats.id, &local) => {
                lt = Some(c.candidate_type.to_string())
            }
            E::RemoteCandidate(c) if names(&c.stats.id, &remote) => {
                rt = Some(c.candidate_type.to_string())
            }
            _ => {}
        }
    }
    out.path = Some((
        lt.unwrap_or_else(|| "prflx".to_owned()),
        rt.unwrap_or_else(|| "prflx".to_owned()),
    ));
    out
}

