//! Synthetic participants' media: what a participant without a camera sends, and a counting,
//! decoding sink for what it receives. Used by the CLI peer, the load tests and the test suites
//! of this crate and of the SFU (lancall-sfu), so that all of them send and judge media alike.
//!
//! - [`spawn_feed`] pushes a moving test pattern and a tone into a [`LocalMedia`] in real time,
//!   either encoding every picture ([`Encoding::Live`]) or looping frames encoded once at start
//!   ([`Encoding::PreEncoded`]: a load test of many participants then spends no CPU encoding).
//! - [`ReceivedMedia`] decodes what arrives, per stream (a connection or a transceiver: the
//!   caller's key), and counts pictures, their size, how many differ (the picture moves) and
//!   how loud the audio is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::opus::rms;
use crate::codec::{
    I420Frame, OpusDecoder, OpusEncoder, Vp8Config, Vp8Decoder, Vp8Encoder,
};
use crate::error::PeerError;
use crate::media::{FrameSink, LinkFrameSink, LocalMedia, MediaKind, RemoteFrame, TrackRole};
use crate::testsrc::{stamp_clock_ms, TestPattern, Tone};

/// One Opus packet every 20 ms (the size of [`Tone`]'s frames).
const AUDIO_EVERY: Duration = Duration::from_millis(20);

/// How the pictures of a feed are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Each picture is drawn (with its capture time stamped in it) and encoded as it is sent:
    /// a real encoder, keyframes on request.
    Live,
    /// `frames` pictures (and a second of tone) are encoded once at start, then looped: no
    /// encoding cost while sending. The loop starts with a keyframe, and a keyframe request
    /// restarts the loop (the only keyframe it has). The stamped times are the start's.
    PreEncoded {
        /// Pictures in the loop.
        frames: u32,
    },
}

/// What a feed sends.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    /// Picture size (even numbers).
    pub size: (u32, u32),
    /// Pictures per second.
    pub fps: u32,
    /// The tone's pitch, Hz.
    pub tone_hz: f64,
    /// The tone's amplitude, 0..1 of full scale (0: silence).
    pub tone_amplitude: f64,
    /// Live or looped.
    pub encoding: Encoding,
}

impl FeedConfig {
    /// A live-encoded `size` picture at 25 pictures a second and a 440 Hz tone at 0.3.
    pub fn new(size: (u32, u32)) -> FeedConfig {
        FeedConfig {
            size,
            fps: 25,
            tone_hz: 440.0,
            tone_amplitude: 0.3,
            encoding: Encoding::Live,
        }
    }
}

/// Starts a thread that pushes pictures and audio into `media` in real time (skipping ahead
/// rather than bursting when the machine is slow) until `stop` is set. For
/// [`Encoding::PreEncoded`] the loop is encoded first, on that thread.
pub fn spawn_feed(
    media: Arc<LocalMedia>,
    config: FeedConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("synthetic-media".into())
        .spawn(move || {
            let result = match config.encoding {
                Encoding::Live => {
                    run_live(&media, &config, &stop);
                    Ok(())
                }
                Encoding::PreEncoded { frames } => {
                    MediaLoop::encode(&config, frames).map(|l| l.run(&media, &config, &stop))
                }
            };
            if let Err(e) = result {
                log::error!("synthetic media: {e}");
            }
        })
}

/// Calls `video` every frame interval and `audio` every 20 ms until `stop`.
fn pace(
    fps: u32,
    stop: &AtomicBool,
    mut video: impl FnMut(Instant),
    mut audio: impl FnMut(Instant),
) {
    let frame_every = Duration::from_secs(1) / fps.max(1);
    let start = Instant::now();
    let (mut next_video, mut next_audio) = (start, start);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next_audio {
            audio(now);
            next_audio += AUDIO_EVERY;
        }
        if now >= next_video {
            video(now);
            next_video += frame_every;
            // Behind by more than a frame (a slow machine): skip rather than burst.
            if Instant::now() > next_video + frame_every {
                next_video = Instant::now();
            }
        }
        let next = next_audio.min(next_video);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

fn run_live(media: &LocalMedia, config: &FeedConfig, stop: &AtomicBool) {
    let (width, height) = config.size;
    let mut pattern = TestPattern::new(width, height);
    let mut tone = Tone::new(config.tone_hz, config.tone_amplitude);
    pace(
        config.fps,
        stop,
        |now| {
            let data = pattern.next_frame(stamp_clock_ms());
            let frame = I420Frame {
                width,
                height,
                data,
            };
            if let Err(e) = media.push_video_i420(&frame, now) {
                log::warn!("synthetic video: {e}");
            }
        },
        |now| {
            if let Err(e) = media.push_audio_pcm(tone.next_frame(), now) {
                log::warn!("synthetic audio: {e}");
            }
        },
    );
}

/// Pictures and audio encoded once, sent in a loop.
struct MediaLoop {
    video: Vec<Bytes>,
    audio: Vec<Bytes>,
}

impl MediaLoop {
    fn encode(config: &FeedConfig, frames: u32) -> Result<MediaLoop, PeerError> {
        let (width, height) = config.size;
        let mut pattern = TestPattern::new(width, height);
        let mut encoder = Vp8Encoder::new(
            width,
            height,
            Vp8Config {
                fps: config.fps,
                // The loop's only keyframe is its first picture.
                keyframe_interval: 1_000_000,
                ..Vp8Config::default()
            },
        )?;
        let mut video = Vec::new();
        for n in 0..frames.max(1) {
            let picture = I420Frame {
                width,
                height,
                data: pattern.next_frame(stamp_clock_ms()),
            };
            for p in encoder.encode(&picture, n == 0)? {
                video.push(Bytes::from(p.data));
            }
        }
        let mut tone = Tone::new(config.tone_hz, config.tone_amplitude);
        let mut opus = OpusEncoder::new(32_000)?;
        let audio = (0..Duration::from_secs(1).as_millis() / AUDIO_EVERY.as_millis())
            .map(|_| opus.encode(tone.next_frame()).map(Bytes::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MediaLoop { video, audio })
    }

    fn run(&self, media: &LocalMedia, config: &FeedConfig, stop: &AtomicBool) {
        let duration = Duration::from_secs(1) / config.fps.max(1);
        let (mut v, mut a) = (0usize, 0usize);
        pace(
            config.fps,
            stop,
            |now| {
                if media.take_keyframe_request() {
                    v = 0;
                }
                if let Some(frame) = self.video.get(v) {
                    media.push_video_vp8(frame.clone(), v == 0, duration, now);
                }
                v = (v + 1) % self.video.len().max(1);
            },
            |now| {
                if let Some(packet) = self.audio.get(a) {
                    media.push_audio_opus(packet.clone(), AUDIO_EVERY, now);
                }
                a = (a + 1) % self.audio.len().max(1);
            },
        );
    }
}

/// What one received video stream decoded to.
pub struct VideoReceived {
    decoder: Option<Vp8Decoder>,
    /// Frames that arrived.
    pub frames: u64,
    /// Pictures decoded.
    pub decoded: u64,
    /// The last decoded picture's size.
    pub size: (u32, u32),
    /// Checksums of the decoded pictures: how many differ (a frozen picture has one).
    pub distinct: HashSet<u64>,
}

/// What one received audio stream decoded to.
pub struct AudioReceived {
    decoder: Option<OpusDecoder>,
    /// Packets decoded.
    pub packets: u64,
    /// The loudest packet's RMS level (0..1 of full scale).
    pub loudest: f64,
}

/// The camera and microphone frames (not screens) a participant received, decoded per stream.
#[derive(Default)]
pub struct ReceivedMedia {
    /// Video by stream key.
    pub video: HashMap<u64, VideoReceived>,
    /// Audio by stream key.
    pub audio: HashMap<u64, AudioReceived>,
    /// Each kind with the stream it arrived on, in order of first arrival.
    pub arrived_on: Vec<(MediaKind, u64)>,
    /// The last decoded picture's size, of any stream.
    pub last_size: (u32, u32),
}

impl ReceivedMedia {
    /// Decodes and counts one frame of stream `stream` (screens are ignored).
    pub fn take(&mut self, stream: u64, f: &RemoteFrame) {
        if f.role != TrackRole::Main {
            return;
        }
        if !self.arrived_on.contains(&(f.kind, stream)) {
            self.arrived_on.push((f.kind, stream));
        }
        match f.kind {
            MediaKind::Video => {
                let v = self.video.entry(stream).or_insert_with(|| VideoReceived {
                    decoder: Vp8Decoder::new().ok(),
                    frames: 0,
                    decoded: 0,
                    size: (0, 0),
                    distinct: HashSet::new(),
                });
                v.frames += 1;
                let Some(decoder) = v.decoder.as_mut() else {
                    return;
                };
                if let Ok(Some(pic)) = decoder.decode(&f.data) {
                    v.decoded += 1;
                    v.size = (pic.width, pic.height);
                    self.last_size = v.size;
                    let sum = pic
                        .luma()
                        .iter()
                        .step_by(31)
                        .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
                    v.distinct.insert(sum);
                }
            }
            MediaKind::Audio => {
                let a = self.audio.entry(stream).or_insert_with(|| AudioReceived {
                    decoder: OpusDecoder::new().ok(),
                    packets: 0,
                    loudest: 0.0,
                });
                let Some(decoder) = a.decoder.as_mut() else {
                    return;
                };
                if let Ok(pcm) = decoder.decode(&f.data) {
                    a.packets += 1;
                    a.loudest = a.loudest.max(rms(pcm));
                }
            }
        }
    }

    /// Pictures decoded, all streams.
    pub fn video_decoded(&self) -> u64 {
        self.video.values().map(|v| v.decoded).sum()
    }

    /// Distinct pictures, all streams.
    pub fn distinct_pictures(&self) -> usize {
        self.video.values().map(|v| v.distinct.len()).sum()
    }

    /// Audio packets decoded, all streams.
    pub fn audio_packets(&self) -> u64 {
        self.audio.values().map(|a| a.packets).sum()
    }

    /// The loudest audio packet of any stream.
    pub fn loudest(&self) -> f64 {
        self.audio.values().map(|a| a.loudest).fold(0.0, f64::max)
    }

    /// The picture sizes of the video streams with at least `frames` decoded pictures of which
    /// more than half are distinct (moving), sorted.
    pub fn moving_videos(&self, frames: u64) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .video
            .values()
            .filter(|v| v.decoded >= frames && v.distinct.len() as u64 > frames / 2)
            .map(|v| v.size)
            .collect();
        v.sort();
        v
    }

    /// How many audio streams carried at least `packets` audible packets.
    pub fn audible(&self, packets: u64) -> usize {
        self.audio
            .values()
            .filter(|a| a.packets >= packets && a.loudest > 0.05)
            .count()
    }

    /// One line per stream, for failure messages and logs.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (t, v) in &self.video {
            s += &format!(
                "video#{t} {}x{} {} decoded of {} ({} distinct); ",
                v.size.0,
                v.size.1,
                v.decoded,
                v.frames,
                v.distinct.len()
            );
        }
        for (t, a) in &self.audio {
            s += &format!("audio#{t} {} packets (loudest {:.3}); ", a.packets, a.loudest);
        }
        s
    }
}

/// A [`crate::Call`]'s sink into `received`, one stream per connection. It decodes on the
/// connection's receive task: fine for tests and small synthetic calls.
pub fn link_sink(received: Arc<Mutex<ReceivedMedia>>) -> LinkFrameSink {
    Arc::new(move |link, f: RemoteFrame| {
        if let Ok(mut r) = received.lock() {
            r.take(link, &f);
        }
    })
}

/// A [`crate::bridge::BridgePc`]'s sink into `received`, one stream per transceiver.
pub fn transceiver_sink(received: Arc<Mutex<ReceivedMedia>>) -> FrameSink {
    Arc::new(move |f: RemoteFrame| {
        if let Ok(mut r) = received.lock() {
            r.take(f.transceiver as u64, &f);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pre_encoded_loop_starts_with_a_keyframe_and_decodes_to_moving_pictures() {
        let mut config = FeedConfig::new((160, 120));
        config.encoding = Encoding::PreEncoded { frames: 10 };
        let media_loop = MediaLoop::encode(&config, 10).expect("a loop");
        assert_eq!(media_loop.video.len(), 10);
        assert!(crate::codec::vp8_is_keyframe(&media_loop.video[0]));
        assert!(!crate::codec::vp8_is_keyframe(&media_loop.video[1]));
        assert_eq!(media_loop.audio.len(), 50);
        let mut received = ReceivedMedia::default();
        for (i, data) in media_loop.video.iter().enumerate() {
            received.take(
                7,
                &RemoteFrame {
                    transceiver: 1,
                    kind: MediaKind::Video,
                    role: TrackRole::Main,
                    data: data.clone(),
                    keyframe: i == 0,
                    rtp_timestamp: 0,
                    received: Instant::now(),
                    size: None,
                },
            );
        }
        assert_eq!(received.moving_videos(10), vec![(160, 120)]);
    }
}
