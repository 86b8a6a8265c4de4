//! Many synthetic participants from one process (`lancall-peer --synthetic N`): each has its
//! own hub connection and its own [`Call`] (so, in an `sfu` room, its own connection to the
//! SFU), sends a pre-encoded VP8 loop and Opus ([`crate::synthetic::Encoding::PreEncoded`]: no
//! encoding while it runs), and counts, without decoding, everything it receives, per
//! publisher. For load tests of the host and for people who want to test their network.
//!
//! Loss is read from RTP timestamps: a stream's frames should cover every frame interval from its
//! first to its last one (video: 90 kHz / fps per picture; audio: 960 per 20 ms packet), so
//! `expected = (last - first) / step + 1` and what did not arrive was lost (a picture counts as
//! lost when any of its packets was). A keyframe request restarts the sender's loop but not its
//! RTP clock, so it does not look like loss.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::codec::Vp8Config;
use crate::media::{LocalMediaTotals, MediaKind, RemoteFrame, TrackRole};
use crate::synthetic::{spawn_feed, Encoding, FeedConfig};
use crate::{Call, CallConfig, CallEvent, HubSocket, JoinLink, LinkId, LocalMedia, LocalMediaConfig};
use lancall_protocol::sync::lock;

/// What a crowd sends and for how long.
#[derive(Debug, Clone)]
pub struct CrowdConfig {
    /// How many participants.
    pub participants: usize,
    /// Their names are this with `-1`, `-2`… appended.
    pub name: String,
    /// Picture size of the loop.
    pub size: (u32, u32),
    /// Pictures per second.
    pub fps: u32,
    /// VP8 bitrate of the loop, kbit/s.
    pub bitrate_kbps: u32,
    /// Pictures in the loop.
    pub loop_frames: u32,
    /// How long everyone stays once all have joined.
    pub duration: Duration,
    /// Joins are this far apart (a whole crowd at once is not what a host sees).
    pub join_every: Duration,
}

/// What one participant received from one publisher, one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamCount {
    /// Frames (video) or packets (audio) that arrived.
    pub frames: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Frames the RTP timestamps say were sent from the first to the last that arrived.
    pub expected: u64,
    /// `1 - frames / expected` (0 when nothing arrived).
    pub loss: f64,
    #[serde(skip)]
    first_ts: Option<u32>,
    #[serde(skip)]
    span: u64,
    #[serde(skip)]
    last_ts: u32,
}

impl StreamCount {
    fn take(&mut self, f: &RemoteFrame) {
        self.frames += 1;
        self.bytes += f.data.len() as u64;
        match self.first_ts {
            None => {
                self.first_ts = Some(f.rtp_timestamp);
                self.last_ts = f.rtp_timestamp;
            }
            Some(_) => {
                // Forward steps only (a reordered frame adds nothing to the span).
                let step = f.rtp_timestamp.wrapping_sub(self.last_ts);
                if step < u32::MAX / 2 {
                    self.span += u64::from(step);
                    self.last_ts = f.rtp_timestamp;
                }
            }
        }
    }

    fn finish(&mut self, step: u64) {
        if self.frames == 0 || step == 0 {
            return;
        }
        self.expected = (self.span + step / 2) / step + 1;
        self.loss = if self.expected > self.frames {
            1.0 - self.frames as f64 / self.expected as f64
        } else {
            0.0
        };
    }
}

/// One participant's view of one other.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// The receiving participant.
    pub receiver: String,
    /// The publisher (its display name).
    pub publisher: String,
    /// Its video.
    pub video: StreamCount,
    /// Its audio.
    pub audio: StreamCount,
}

/// What `--synthetic` prints at the end.
#[derive(Debug, Clone, Serialize)]
pub struct CrowdSummary {
    /// Participants started.
    pub participants: usize,
    /// Participants that joined (got a `welcome`).
    pub joined: usize,
    /// `mesh` or `sfu` (of the first to join).
    pub topology: String,
    /// Seconds everyone was in, after the last join.
    pub seconds: f64,
    /// Video streams received (receiver × publisher pairs with at least one frame).
    pub video_streams: usize,
    /// Of `participants × (participants - 1)`.
    pub video_streams_expected: usize,
    /// All video frames received, and expected by the RTP timestamps.
    pub video_frames: u64,
    /// All video frames expected.
    pub video_expected: u64,
    /// `1 - video_frames / video_expected`.
    pub video_loss: f64,
    /// The worst stream's video loss.
    pub video_loss_max: f64,
    /// All audio packets received.
    pub audio_packets: u64,
    /// All audio packets expected.
    pub audio_expected: u64,
    /// `1 - audio_packets / audio_expected`.
    pub audio_loss: f64,
    /// What each participant sent.
    pub sent: Vec<LocalMediaTotals>,
    /// Every stream.
    pub streams: Vec<Received>,
}

type Counts = Arc<Mutex<HashMap<LinkId, (StreamCount, StreamCount)>>>;

struct Member {
    name: String,
    call: Call,
    media: Arc<LocalMedia>,
    counts: Counts,
    publishers: Arc<Mutex<HashMap<LinkId, String>>>,
    joined: Arc<Mutex<Option<&'static str>>>,
    pump: tokio::task::JoinHandle<()>,
}

/// Runs the crowd: joins everyone (`join_every` apart), waits `duration`, hangs everyone up,
/// returns what each received. A participant that cannot reach the hub is logged and left out.
pub async fn run_crowd(link: &JoinLink, config: &CrowdConfig, stop: Arc<AtomicBool>) -> CrowdSummary {
    let mut members = Vec::new();
    let mut feeds = Vec::new();
    for n in 1..=config.participants {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name = format!("{}-{n}", config.name);
        let socket = match HubSocket::connect(link).await {
            Ok(s) => s,
            Err(e) => {
                log::error!("{name}: could not reach the host: {e}");
                continue;
            }
        };
        let media = LocalMedia::new(LocalMediaConfig {
            video: Vp8Config { bitrate_kbps: config.bitrate_kbps, fps: config.fps, ..Vp8Config::default() },
            ..LocalMediaConfig::default()
        });
        let feed = FeedConfig {
            fps: config.fps,
            tone_amplitude: 0.25,
            encoding: Encoding::PreEncoded { frames: config.loop_frames },
            ..FeedConfig::new(config.size)
        };
        match spawn_feed(media.clone(), feed, stop.clone()) {
            Ok(t) => feeds.push(t),
            Err(e) => log::error!("{name}: could not start its media thread: {e}"),
        }
        let counts: Counts = Arc::default();
        let sink_counts = counts.clone();
        let sink: crate::LinkFrameSink = Arc::new(move |link: LinkId, f: RemoteFrame| {
            if f.role != TrackRole::Main {
                return;
            }
            let mut counts = lock(&sink_counts);
            let (video, audio) = counts.entry(link).or_default();
            match f.kind {
                MediaKind::Video => video.take(&f),
                MediaKind::Audio => audio.take(&f),
            }
        });
        let (hub_tx, hub_rx) = mpsc::unbounded_channel();
        let (call, mut events) = Call::start(CallConfig::default(), media.clone(), sink, hub_tx);
        let publishers: Arc<Mutex<HashMap<LinkId, String>>> = Arc::default();
        let joined: Arc<Mutex<Option<&'static str>>> = Arc::default();
        {
            let (publishers, joined) = (publishers.clone(), joined.clone());
            tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    match ev {
                        CallEvent::RemoteAdded { link, name, .. } | CallEvent::RemoteUpdated { link, name, .. } => {
                            lock(&publishers).insert(link, name);
                        }
                        CallEvent::Joined { topology, .. } => *lock(&joined) = Some(topology),
                        _ => {}
                    }
                }
            });
        }
        let pump = {
            let (link, call, name) = (link.clone(), call.clone(), name.clone());
            tokio::spawn(async move {
                if let Err(e) = socket.run(&link, &name, &call, hub_rx).await {
                    log::warn!("{name}: the hub connection ended: {e}");
                }
            })
        };
        members.push(Member { name, call, media, counts, publishers, joined, pump });
        tokio::time::sleep(config.join_every).await;
    }
    let started = Instant::now();
    let end = tokio::time::Instant::now() + config.duration;
    while tokio::time::Instant::now() < end && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100).min(end - tokio::time::Instant::now())).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // Counted before anyone hangs up: a hang-up is not loss.
    let mut streams = Vec::new();
    for m in &members {
        let publishers = lock(&m.publishers).clone();
        for (link, (video, audio)) in lock(&m.counts).iter() {
            let (mut video, mut audio) = (video.clone(), audio.clone());
            video.finish(u64::from(90_000 / config.fps.max(1)));
            audio.finish(960);
            streams.push(Received {
                receiver: m.name.clone(),
                publisher: publishers.get(link).cloned().unwrap_or_else(|| format!("link {link}")),
                video,
                audio,
            });
        }
    }
    stop.store(true, Ordering::Relaxed);
    for m in &members {
        m.call.hangup().await;
    }
    for f in feeds {
        let _ = f.join();
    }
    for m in &members {
        m.pump.abort();
    }
    streams.sort_by(|a, b| (&a.receiver, &a.publisher).cmp(&(&b.receiver, &b.publisher)));
    let sum = |f: &dyn Fn(&Received) -> u64| streams.iter().map(f).sum::<u64>();
    let video_frames = sum(&|s| s.video.frames);
    let video_expected = sum(&|s| s.video.expected);
    let audio_packets = sum(&|s| s.audio.frames);
    let audio_expected = sum(&|s| s.audio.expected);
    let loss = |got: u64, want: u64| if want > got { 1.0 - got as f64 / want as f64 } else { 0.0 };
    let n = members.len();
    CrowdSummary {
        participants: config.participants,
        joined: members.iter().filter(|m| lock(&m.joined).is_some()).count(),
        topology: members.first().and_then(|m| *lock(&m.joined)).unwrap_or("").to_owned(),
        seconds,
        video_streams: streams.iter().filter(|s| s.video.frames > 0).count(),
        video_streams_expected: n * n.saturating_sub(1),
        video_frames,
        video_expected,
        video_loss: loss(video_frames, video_expected),
        video_loss_max: streams.iter().map(|s| s.video.loss).fold(0.0, f64::max),
        audio_packets,
        audio_expected,
        audio_loss: loss(audio_packets, audio_expected),
        sent: members.iter().map(|m| m.media.totals()).collect(),
        streams,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(ts: u32) -> RemoteFrame {
        RemoteFrame {
            transceiver: 1,
            kind: MediaKind::Video,
            role: TrackRole::Main,
            data: Bytes::from_static(b"x"),
            keyframe: false,
            rtp_timestamp: ts,
            received: Instant::now(),
            size: None,
        }
    }

    #[test]
    fn loss_is_what_the_rtp_timestamps_say_was_sent_but_did_not_arrive() {
        let mut c = StreamCount::default();
        // 10 pictures at 25 per second (3600 ticks apart) from near the wrap, the 4th missing.
        let start = u32::MAX - 5 * 3600;
        for i in (0..10u32).filter(|i| *i != 3) {
            c.take(&frame(start.wrapping_add(i * 3600)));
        }
        c.finish(3600);
        assert_eq!((c.frames, c.expected), (9, 10));
        assert!((c.loss - 0.1).abs() < 1e-9);
    }
}
