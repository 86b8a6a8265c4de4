//! The media path: what we send (encoded once, fanned out to every connection) and what arrives
//! (depacketized into whole encoded frames, handed to the caller).
//!
//! Why encode once: in a full mesh a browser runs one encoder per connection. A desktop app on a
//! small machine cannot afford that in software, and on a LAN every peer can take the same
//! bitrate, so [`LocalMedia`] encodes each picture once and every connection packetizes the same
//! VP8 frame. A keyframe request from one peer makes a keyframe for all (cheap on a LAN).
//!
//! Why hand out *encoded* frames: the app's webview (WebKitGTK) has WebCodecs `VideoDecoder`
//! (VP8) and `AudioDecoder` (Opus) but no `RTCPeerConnection`; shipping encoded frames over IPC
//! is 20-50x less data than decoded pictures, and decoding there uses the webview's own
//! (possibly hardware) decoder. Tests and the CLI decode in Rust with [`crate::codec`] instead.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::codec::{I420Frame, OpusEncoder, Vp8Config, Vp8Encoder, AUDIO_FRAME_SAMPLES};
use crate::error::PeerError;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// Opus, 48 kHz.
    Audio,
    /// VP8, 90 kHz RTP clock.
    Video,
}

impl MediaKind {
    /// `"audio"` or `"video"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// What a remote track is for, by its place in the connection's layout (docs/PROTOCOL.md): the
/// first audio and video transceivers carry the peer's microphone and camera, a further video
/// transceiver its shared screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackRole {
    /// Microphone or camera.
    Main,
    /// A shared screen.
    Screen,
}

/// One encoded frame on its way to every connection.
#[derive(Debug, Clone)]
pub struct EncodedSample {
    /// Audio or video.
    pub kind: MediaKind,
    /// VP8 frame or Opus packet.
    pub data: Bytes,
    /// How long it plays (sets the RTP timestamp step).
    pub duration: Duration,
    /// A VP8 keyframe (always false for audio).
    pub keyframe: bool,
    /// When it was captured.
    pub captured: Instant,
}

/// How [`LocalMedia`] encodes.
#[derive(Debug, Clone, Copy)]
pub struct LocalMediaConfig {
    /// VP8 settings; the picture size comes from the frames.
    pub video: Vp8Config,
    /// Opus bitrate, bit/s.
    pub audio_bitrate: i32,
}

impl Default for LocalMediaConfig {
    fn default() -> Self {
        LocalMediaConfig {
            video: Vp8Config::default(),
            audio_bitrate: 32_000,
        }
    }
}

#[derive(Default)]
struct SendCounters {
    video_frames: AtomicU64,
    video_bytes: AtomicU64,
    audio_packets: AtomicU64,
    audio_bytes: AtomicU64,
    encode_nanos: AtomicU64,
}

/// Totals of what [`LocalMedia`] has produced.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LocalMediaTotals {
    /// Video frames encoded (or handed in encoded) and sent.
    pub video_frames: u64,
    /// Their bytes.
    pub video_bytes: u64,
    /// Audio packets sent.
    pub audio_packets: u64,
    /// Their bytes.
    pub audio_bytes: u64,
    /// Time spent in the VP8 and Opus encoders.
    pub encode_ms: f64,
}

/// Our microphone and camera as every connection sends them. Cheap to share (`Arc`); the push
/// methods are synchronous and do the encoding on the caller's thread, so call them from a
/// capture thread (or `spawn_blocking`), not from inside an async task.
///
/// Switching sources (another camera, a screen instead of the camera) is just pushing frames
/// from the new source: no renegotiation, like `RTCRtpSender.replaceTrack()`. A new picture size
/// restarts the encoder with a keyframe.
pub struct LocalMedia {
    config: LocalMediaConfig,
    tx: broadcast::Sender<Arc<EncodedSample>>,
    video: Mutex<Option<Vp8Encoder>>,
    audio: Mutex<Option<OpusEncoder>>,
    video_enabled: AtomicBool,
    audio_enabled: AtomicBool,
    keyframe_wanted: AtomicBool,
    counters: SendCounters,
}

/// How many encoded samples may wait for a slow connection before it skips ahead.
const FANOUT_CAPACITY: usize = 128;

impl LocalMedia {
    /// Media with nothing pushed yet (connections send nothing until frames arrive).
    pub fn new(config: LocalMediaConfig) -> Arc<LocalMedia> {
        let (tx, _) = broadcast::channel(FANOUT_CAPACITY);
        Arc::new(LocalMedia {
            config,
            tx,
            video: Mutex::new(None),
            audio: Mutex::new(None),
            video_enabled: AtomicBool::new(true),
            audio_enabled: AtomicBool::new(true),
            keyframe_wanted: AtomicBool::new(true),
            counters: SendCounters::default(),
        })
    }

    /// Encodes one raw picture to VP8 and sends it to every connection. Returns the encoded
    /// size (0 when muted or when the encoder dropped the picture).
    pub fn push_video_i420(
        &self,
        frame: &I420Frame<'_>,
        captured: Instant,
    ) -> Result<usize, PeerError> {
        if !self.video_enabled.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let started = Instant::now();
        let packets = {
            let mut guard = self.video.lock().map_err(|_| PeerError::Closed)?;
            let restart = guard
                .as_ref()
                .is_none_or(|e| e.size() != (frame.width, frame.height));
            if restart {
                *guard = Some(Vp8Encoder::new(
                    frame.width,
                    frame.height,
                    self.config.video,
                )?);
                self.keyframe_wanted.store(true, Ordering::Relaxed);
            }
            let Some(encoder) = guard.as_mut() else {
                return Err(PeerError::Closed);
            };
            let force = self.keyframe_wanted.swap(false, Ordering::Relaxed);
            encoder.encode(frame, force)?
        };
        self.counters
            .encode_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let duration = Duration::from_secs(1) / self.config.video.fps.max(1);
        let mut total = 0;
        for p in packets {
            total += p.data.len();
            self.send(EncodedSample {
                kind: MediaKind::Video,
                data: Bytes::from(p.data),
                duration,
                keyframe: p.keyframe,
                captured,
            });
        }
        Ok(total)
    }

    /// Sends a VP8 frame encoded elsewhere (for example by the webview).
    pub fn push_video_vp8(
        &self,
        data: Bytes,
        keyframe: bool,
        duration: Duration,
        captured: Instant,
    ) {
        if self.video_enabled.load(Ordering::Relaxed) {
            self.send(EncodedSample {
                kind: MediaKind::Video,
                data,
                duration,
                keyframe,
                captured,
            });
        }
    }

    /// Encodes 20 ms of mono 48 kHz audio (`AUDIO_FRAME_SAMPLES` samples) to Opus and sends it.
    pub fn push_audio_pcm(&self, pcm: &[i16], captured: Instant) -> Result<(), PeerError> {
        if !self.audio_enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let started = Instant::now();
        let packet = {
            let mut guard = self.audio.lock().map_err(|_| PeerError::Closed)?;
            if guard.is_none() {
                *guard = Some(OpusEncoder::new(self.config.audio_bitrate)?);
            }
            let Some(encoder) = guard.as_mut() else {
                return Err(PeerError::Closed);
            };
            encoder.encode(pcm)?
        };
        self.counters
            .encode_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.send(EncodedSample {
            kind: MediaKind::Audio,
            data: Bytes::from(packet),
            duration: Duration::from_millis((AUDIO_FRAME_SAMPLES / 48) as u64),
            keyframe: false,
            captured,
        });
        Ok(())
    }

    /// Sends an Opus packet encoded elsewhere (for example by the webview's `AudioEncoder`).
    pub fn push_audio_opus(&self, packet: Bytes, duration: Duration, captured: Instant) {
        if self.audio_enabled.load(Ordering::Relaxed) {
            self.send(EncodedSample {
                kind: MediaKind::Audio,
                data: packet,
                duration,
                keyframe: false,
                captured,
            });
        }
    }

    /// Stops (false) or resumes (true) sending `kind` to everyone. Resuming video starts with a
    /// keyframe. (Telling peers about it is [`crate::Call::set_muted`]'s job.)
    pub fn set_enabled(&self, kind: MediaKind, enabled: bool) {
        match kind {
            MediaKind::Audio => self.audio_enabled.store(enabled, Ordering::Relaxed),
            MediaKind::Video => {
                if enabled && !self.video_enabled.swap(true, Ordering::Relaxed) {
                    self.request_keyframe();
                }
                self.video_enabled.store(enabled, Ordering::Relaxed);
            }
        }
    }

    /// True while `kind` is being sent.
    pub fn enabled(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.audio_enabled.load(Ordering::Relaxed),
            MediaKind::Video => self.video_enabled.load(Ordering::Relaxed),
        }
    }

    /// Makes the next encoded picture a keyframe (a new peer connected, or one lost pictures).
    pub fn request_keyframe(&self) {
        self.keyframe_wanted.store(true, Ordering::Relaxed);
    }

    /// True once after a keyframe was asked for ([`LocalMedia::request_keyframe`], a peer's
    /// PLI): for a sender that pushes frames encoded elsewhere ([`LocalMedia::push_video_vp8`])
    /// and must make or pick the keyframe itself.
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_wanted.swap(false, Ordering::Relaxed)
    }

    /// What has been sent so far.
    pub fn totals(&self) -> LocalMediaTotals {
        let c = &self.counters;
        LocalMediaTotals {
            video_frames: c.video_frames.load(Ordering::Relaxed),
            video_bytes: c.video_bytes.load(Ordering::Relaxed),
            audio_packets: c.audio_packets.load(Ordering::Relaxed),
            audio_bytes: c.audio_bytes.load(Ordering::Relaxed),
            encode_ms: c.encode_nanos.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<EncodedSample>> {
        self.tx.subscribe()
    }

    fn send(&self, sample: EncodedSample) {
        let c = &self.counters;
        match sample.kind {
            MediaKind::Video => {
                c.video_frames.fetch_add(1, Ordering::Relaxed);
                c.video_bytes
                    .fetch_add(sample.data.len() as u64, Ordering::Relaxed);
            }
            MediaKind::Audio => {
                c.audio_packets.fetch_add(1, Ordering::Relaxed);
                c.audio_bytes
                    .fetch_add(sample.data.len() as u64, Ordering::Relaxed);
            }
        }
        // No receivers (nobody connected yet) is fine: the frame is simply not needed.
        let _ = self.tx.send(Arc::new(sample));
    }
}

/// Identifies one connection (one remote participant) for the lifetime of the call; stays the
/// same when the participant rejoins the hub under a new peer id.
pub type LinkId = u64;

/// A whole encoded frame from a remote peer.
#[derive(Debug, Clone)]
pub struct RemoteFrame {
    /// The transceiver it arrived on: its index in its connection's `getTransceivers()`.
    pub transceiver: usize,
    /// Audio or video.
    pub kind: MediaKind,
    /// Camera/microphone or shared screen.
    pub role: TrackRole,
    /// A VP8 frame or an Opus packet, ready for `EncodedVideoChunk`/`EncodedAudioChunk`.
    pub data: Bytes,
    /// A VP8 keyframe (`EncodedVideoChunk.type = 'key'`); true for every audio packet.
    pub keyframe: bool,
    /// The RTP timestamp (90 kHz video, 48 kHz audio): the chunk's presentation time.
    pub rtp_timestamp: u32,
    /// When its last packet arrived.
    pub received: Instant,
    /// Picture size announced by a VP8 keyframe.
    pub size: Option<(u32, u32)>,
}

/// Where remote frames go. Called on the connection's receive task: keep it quick (hand the
/// frame to a channel or an IPC send; decode elsewhere).
pub type FrameSink = Arc<dyn Fn(RemoteFrame) + Send + Sync>;

/// Where a [`crate::Call`]'s remote frames go, with the connection (one per participant) they
/// came on. The same rule as [`FrameSink`]: keep it quick.
pub type LinkFrameSink = Arc<dyn Fn(LinkId, RemoteFrame) + Send + Sync>;
