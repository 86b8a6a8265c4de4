//! `RTCPeerConnection` for a webview that has none (Debian's WebKitGTK), backed by Rust.
//!
//! The page keeps its one call module (ui/js/call.js); where the engine has no
//! `RTCPeerConnection`, ui/js/rtc-bridge.js hands it an object with the same surface whose every
//! method is a command here, on a [`lancall_peer::bridge::BridgePc`] (webrtc-rs). The
//! connection's events and the remote tracks' encoded frames (VP8, Opus, in the envelope of
//! [`encode_frame`]) come back on one Tauri channel per connection; the page decodes them with
//! WebCodecs.
//!
//! What we send is a *source*: one per local track the page sends, however many connections
//! carry it (the camera is encoded once). Camera pictures arrive raw ([`Bridges::push_video`],
//! I420 or packed RGB) and are encoded to VP8 on a thread of their own ([`VideoPipe`]);
//! microphone packets arrive as Opus from the webview's `AudioEncoder`. `replaceTrack` on the
//! page picks which source a transceiver sends.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lancall_peer::codec::{to_i420, I420Frame, PixelFormat};
use lancall_peer::bridge::{BridgeEvents, BridgePc, Snapshot, StatsEntry, TransceiverInfo};
use lancall_peer::messages::{Candidate, Description};
use lancall_peer::{FrameSink, LinkConfig, LocalMedia, LocalMediaConfig, MediaKind, RemoteFrame, TrackRole};

use crate::error::AppError;
use crate::state::lock;

/// Size of the header [`encode_frame`] puts before a frame's bytes.
pub const FRAME_HEADER_LEN: usize = 24;

/// Version byte of the frame envelope.
pub const FRAME_VERSION: u8 = 2;

/// Largest video picture the UI may hand in (pixels on a side).
pub const MAX_SIDE: u32 = 4096;

/// Microseconds since the Unix epoch at `at` (a moment in the past or now): the clock the
/// webview shares with this process (`performance.timeOrigin + performance.now()`), for the
/// latency the way through the app adds.
pub fn wall_micros(at: Instant) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.saturating_sub(at.elapsed()).as_micros()).unwrap_or(u64::MAX)
}

/// One remote frame for the UI: a 24-byte header, then the encoded bytes (a whole VP8 frame or
/// one Opus packet). Header, little-endian: version (2), kind (0 video, 1 audio), role (0
/// camera/microphone, 1 screen), flags (bit 0: keyframe), link id (u32), RTP timestamp (u32),
/// width (u16), height (u16) (0 when not a keyframe or unknown), then when the frame was
/// complete here (u64, µs since the Unix epoch).
pub fn encode_frame(frame: &RemoteFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + frame.data.len());
    out.push(FRAME_VERSION);
    out.push(match frame.kind {
        MediaKind::Video => 0,
        MediaKind::Audio => 1,
    });
    out.push(match frame.role {
        TrackRole::Main => 0,
        TrackRole::Screen => 1,
    });
    out.push(u8::from(frame.keyframe));
    out.extend_from_slice(&u32::try_from(frame.link).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&frame.rtp_timestamp.to_le_bytes());
    let (w, h) = frame.size.unwrap_or((0, 0));
    out.extend_from_slice(&u16::try_from(w).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&u16::try_from(h).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&wall_micros(frame.received).to_le_bytes());
    out.extend_from_slice(&frame.data);
    out
}

/// Reads `audio` or `video`.
pub fn parse_kind(kind: &str) -> Result<MediaKind, AppError> {
    match kind {
        "audio" => Ok(MediaKind::Audio),
        "video" => Ok(MediaKind::Video),
        other => Err(AppError::Bridge(format!("\"{other}\" is neither audio nor video."))),
    }
}

/// One camera picture waiting for the encoder.
struct Picture {
    format: PixelFormat,
    width: u32,
    height: u32,
    data: Vec<u8>,
    captured: Instant,
    /// When the webview took the picture, µs since the Unix epoch (if it said).
    taken_us: Option<u64>,
}

/// How many recent send latencies [`VideoCounts`] keeps.
const LATENCY_SAMPLES: usize = 300;

#[derive(Default)]
struct PipeState {
    waiting: Option<Picture>,
    closed: bool,
}

/// Counts of a video source's pictures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct VideoCounts {
    /// Pictures handed in by the UI.
    pub received: u64,
    /// Pictures encoded and sent.
    pub encoded: u64,
    /// Pictures replaced by a newer one before the encoder got to them.
    pub dropped: u64,
    /// Time spent converting and encoding, milliseconds.
    pub encode_ms: f64,
    /// From the webview taking a picture to its VP8 frame handed to the connections, median
    /// and 95th percentile of the last pictures, milliseconds.
    pub send_latency_ms: Option<(f64, f64)>,
}

#[derive(Default)]
struct VideoTally {
    counts: VideoCounts,
    latencies: std::collections::VecDeque<f64>,
}

impl VideoTally {
    fn snapshot(&self) -> VideoCounts {
        let mut sorted: Vec<f64> = self.latencies.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        VideoCounts { send_latency_ms: (!sorted.is_empty()).then(|| (at(0.5), at(0.95))), ..self.counts }
    }
}

/// A video source's pictures, converted and encoded on a thread of their own. The UI hands a
/// picture in and goes on at once; while the encoder is busy a newer picture replaces the one
/// waiting (counted as dropped), so a slow moment costs pictures, never delay.
struct VideoPipe {
    state: Mutex<PipeState>,
    wake: Condvar,
    tally: Mutex<VideoTally>,
}

impl VideoPipe {
    fn start(source: &str, media: Arc<LocalMedia>) -> Arc<VideoPipe> {
        let pipe = Arc::new(VideoPipe { state: Mutex::new(PipeState::default()), wake: Condvar::new(), tally: Mutex::new(VideoTally::default()) });
        let worker = pipe.clone();
        let name = format!("lancall-video-{}", source.chars().take(8).collect::<String>());
        if let Err(e) = std::thread::Builder::new().name(name).spawn(move || worker.run(&media)) {
            log::error!("source {source}: no thread to encode pictures: {e}");
        }
        pipe
    }

    fn run(&self, media: &LocalMedia) {
        loop {
            let picture = {
                let mut state = lock(&self.state);
                loop {
                    if state.closed {
                        return;
                    }
                    if let Some(p) = state.waiting.take() {
                        break p;
                    }
                    state = self.wake.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let started = Instant::now();
            let result = match to_i420(picture.format, picture.width, picture.height, &picture.data) {
                Some(i420) => media.push_video_i420(&I420Frame { width: picture.width, height: picture.height, data: &i420 }, picture.captured).map(drop).map_err(|e| e.to_string()),
                None => Err(format!("a {}x{} {:?} picture of {} bytes cannot be converted", picture.width, picture.height, picture.format, picture.data.len())),
            };
            let mut tally = lock(&self.tally);
            tally.counts.encode_ms += started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(()) => {
                    tally.counts.encoded += 1;
                    if let Some(taken) = picture.taken_us {
                        let now = wall_micros(Instant::now());
                        if tally.latencies.len() == LATENCY_SAMPLES {
                            tally.latencies.pop_front();
                        }
                        tally.latencies.push_back(now.saturating_sub(taken) as f64 / 1000.0);
                    }
                }
                Err(e) => log::debug!("a camera picture was not sent: {e}"),
            }
        }
    }

    fn push(&self, picture: Picture) {
        let mut state = lock(&self.state);
        let replaced = state.waiting.replace(picture).is_some();
        drop(state);
        self.wake.notify_one();
        let mut tally = lock(&self.tally);
        tally.counts.received += 1;
        tally.counts.dropped += u64::from(replaced);
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }
}

/// Connection, source and channel ids come from the UI: 1 to 64 characters.
/// Connection and source ids come from the page (24 hex characters from rtc-bridge.js's
/// `randomId`): they are IPC input, so only 1 to 64 ASCII letters, digits, '-' and '_' pass. Being
/// ASCII, any byte offset into one is a character boundary (thread names slice them).
fn check_id(id: &str) -> Result<(), AppError> {
    let ascii = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.is_empty() || id.len() > 64 || !ascii {
        return Err(AppError::Bridge("Connection and source ids are 1 to 64 ASCII letters, digits, '-' or '_'.".into()));
    }
    Ok(())
}

/// One thing we send: a microphone or a camera (or screen) track of the page.
struct Source {
    kind: MediaKind,
    media: Arc<LocalMedia>,
    /// Video only: the encoder thread.
    video: Option<Arc<VideoPipe>>,
}

/// How the page configures a connection (`RTCConfiguration`'s part that matters here).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PcConfig {
    #[serde(default)]
    pub ice_servers: Vec<lancall_peer::connection::IceServer>,
}

/// One operation on a connection: a method of `RTCPeerConnection` or of one of its parts.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum PcOp {
    /// `addTransceiver(kind, {direction})`, sending `source` (a source id) if any.
    AddTransceiver { kind: String, direction: String, source: Option<String> },
    /// `transceiver.direction = direction`.
    SetDirection { index: usize, direction: String },
    /// `sender.replaceTrack()`.
    SetSource { index: usize, source: Option<String> },
    /// `setLocalDescription()` (or a rollback).
    SetLocal {
        #[serde(default)]
        rollback: bool,
    },
    /// `setRemoteDescription(description)`.
    SetRemote { description: Description },
    /// `addIceCandidate(candidate)`.
    AddCandidate { candidate: Candidate },
    /// `restartIce()`.
    RestartIce,
    /// `createDataChannel(label, {ordered})` as channel `id`.
    CreateChannel { id: u32, label: String, ordered: bool },
    /// `channel.send(text)`.
    ChannelSend { id: u32, text: String },
    /// `channel.close()`.
    ChannelClose { id: u32 },
    /// `getStats()`.
    Stats,
    /// Several operations in one IPC call, run in order, each answered on its own (the page
    /// sends the operations that lay out a new connection this way: on WebKit's busy main thread
    /// each IPC round trip costs 10-35 ms). Not nested.
    Batch { ops: Vec<PcOp> },
}

impl PcOp {
    /// The operation's name, for logs.
    fn name(&self) -> &'static str {
        match self {
            PcOp::AddTransceiver { .. } => "addTransceiver",
            PcOp::SetDirection { .. } => "setting a direction",
            PcOp::SetSource { .. } => "replaceTrack",
            PcOp::SetLocal { rollback: true } => "rollback",
            PcOp::SetLocal { rollback: false } => "setLocalDescription",
            PcOp::SetRemote { .. } => "setRemoteDescription",
            PcOp::AddCandidate { .. } => "addIceCandidate",
            PcOp::RestartIce => "restartIce",
            PcOp::CreateChannel { .. } => "createDataChannel",
            PcOp::ChannelSend { .. } => "a data channel send",
            PcOp::ChannelClose { .. } => "closing a data channel",
            PcOp::Stats => "getStats",
            PcOp::Batch { .. } => "a batch of operations",
        }
    }
}

/// What an operation answers.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum PcAnswer {
    None,
    Transceiver(TransceiverInfo),
    Snapshot(Snapshot),
    Stats(Vec<StatsEntry>),
    Batch(Vec<Outcome>),
}

/// One operation's answer in a batch.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok(PcAnswer),
    Error(String),
}

/// Every bridged connection and source, by the ids the page gave them.
#[derive(Clone, Default)]
pub struct Bridges {
    pcs: Arc<Mutex<HashMap<String, BridgePc>>>,
    sources: Arc<Mutex<HashMap<String, Source>>>,
}

impl Bridges {
    /// `new RTCPeerConnection(config)` as connection `id`: events and remote frames go to
    /// `events` and `frames`. Must run inside a Tokio runtime.
    pub async fn open(&self, id: &str, config: PcConfig, events: BridgeEvents, frames: FrameSink) -> Result<(), AppError> {
        check_id(id)?;
        if lock(&self.pcs).contains_key(id) {
            return Err(AppError::Bridge("That connection is already open.".into()));
        }
        let link = LinkConfig { ice_servers: config.ice_servers, ..LinkConfig::default() };
        let started = std::time::Instant::now();
        let pc = BridgePc::new(&link, events, frames).await.map_err(|e| AppError::Bridge(format!("The connection could not be made: {e}")))?;
        lock(&self.pcs).insert(id.to_owned(), pc);
        log::debug!("bridge: connection {id} open ({} ms)", started.elapsed().as_millis());
        Ok(())
    }

    fn pc(&self, id: &str) -> Result<BridgePc, AppError> {
        lock(&self.pcs).get(id).cloned().ok_or_else(|| AppError::Bridge("That connection is closed.".into()))
    }

    fn media(&self, source: Option<&str>) -> Result<Option<Arc<LocalMedia>>, AppError> {
        match source {
            None => Ok(None),
            Some(s) => lock(&self.sources)
                .get(s)
                .map(|x| Some(x.media.clone()))
                .ok_or_else(|| AppError::Bridge(format!("There is no source {s}: open it first."))),
        }
    }

    /// Runs `op` on connection `id`.
    pub async fn op(&self, id: &str, op: PcOp) -> Result<PcAnswer, AppError> {
        let pc = self.pc(id)?;
        let fail = |e: lancall_peer::PeerError| AppError::Bridge(e.to_string());
        Ok(match op {
            PcOp::AddTransceiver { kind, direction, source } => {
                let media = self.media(source.as_deref())?;
                PcAnswer::Transceiver(pc.add_transceiver(parse_kind(&kind)?, &direction, media).await.map_err(fail)?)
            }
            PcOp::SetDirection { index, direction } => {
                pc.set_direction(index, &direction).await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::SetSource { index, source } => {
                let media = self.media(source.as_deref())?;
                pc.set_source(index, media).await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::SetLocal { rollback } => PcAnswer::Snapshot(pc.set_local_description(rollback).await.map_err(fail)?),
            PcOp::SetRemote { description } => PcAnswer::Snapshot(pc.set_remote_description(description).await.map_err(fail)?),
            PcOp::AddCandidate { candidate } => {
                pc.add_ice_candidate(candidate).await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::RestartIce => {
                pc.restart_ice().await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::CreateChannel { id: channel, label, ordered } => {
                pc.create_data_channel(channel, &label, ordered).await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::ChannelSend { id: channel, text } => {
                pc.channel_send(channel, &text).await.map_err(fail)?;
                PcAnswer::None
            }
            PcOp::ChannelClose { id: channel } => {
                pc.channel_close(channel).await;
                PcAnswer::None
            }
            PcOp::Stats => PcAnswer::Stats(pc.stats().await),
            PcOp::Batch { .. } => return Err(AppError::Bridge("A batch cannot hold another batch.".into())),
        })
    }

    /// `close()` on connection `id` (closing one that is gone is not an error).
    pub async fn close(&self, id: &str) {
        let pc = lock(&self.pcs).remove(id);
        if let Some(pc) = pc {
            pc.close().await;
            log::debug!("bridge: connection {id} closed");
        }
    }

    /// A new source of `kind` named `id` (opening one that exists is not an error).
    pub fn open_source(&self, id: &str, kind: MediaKind) -> Result<(), AppError> {
        check_id(id)?;
        let mut sources = lock(&self.sources);
        if let Some(s) = sources.get(id) {
            return if s.kind == kind { Ok(()) } else { Err(AppError::Bridge(format!("Source {id} is not {}.", kind.as_str()))) };
        }
        let media = LocalMedia::new(LocalMediaConfig::default());
        let video = (kind == MediaKind::Video).then(|| VideoPipe::start(id, media.clone()));
        sources.insert(id.to_owned(), Source { kind, media, video });
        Ok(())
    }

    /// Source `id` is no longer sent (its pictures stop; transceivers still naming it send
    /// nothing).
    pub fn close_source(&self, id: &str) {
        if let Some(s) = lock(&self.sources).remove(id) {
            if let Some(v) = s.video {
                v.close();
            }
        }
    }

    /// One picture for video source `id` (`width`x`height`, tightly packed in `format`), to be
    /// converted and encoded on the source's thread. Returns at once; see [`VideoPipe`].
    pub fn push_video(&self, id: &str, format: PixelFormat, width: u32, height: u32, data: Vec<u8>, taken_us: Option<u64>) -> Result<(), AppError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || width % 2 != 0 || height % 2 != 0 {
            return Err(AppError::Bridge(format!("A {width}x{height} picture cannot be sent: sides must be even, 2 to {MAX_SIDE}.")));
        }
        if data.len() != format.len_for(width, height) {
            return Err(AppError::Bridge(format!("A {width}x{height} {format:?} picture cannot be {} bytes.", data.len())));
        }
        let video = lock(&self.sources).get(id).and_then(|s| s.video.clone()).ok_or_else(|| AppError::Bridge(format!("There is no video source {id}.")))?;
        video.push(Picture { format, width, height, data, captured: Instant::now(), taken_us });
        Ok(())
    }

    /// How video source `id`'s pictures fared.
    pub fn video_counts(&self, id: &str) -> Result<VideoCounts, AppError> {
        lock(&self.sources)
            .get(id)
            .and_then(|s| s.video.as_ref().map(|v| lock(&v.tally).snapshot()))
            .ok_or_else(|| AppError::Bridge(format!("There is no video source {id}.")))
    }

    /// One Opus packet for audio source `id`, `duration_us` long.
    pub fn push_audio_opus(&self, id: &str, packet: Vec<u8>, duration_us: u32) -> Result<(), AppError> {
        if packet.is_empty() || packet.len() > 1500 || duration_us == 0 || duration_us > 120_000 {
            return Err(AppError::Bridge("That is not an Opus packet.".into()));
        }
        let media = lock(&self.sources)
            .get(id)
            .filter(|s| s.kind == MediaKind::Audio)
            .map(|s| s.media.clone())
            .ok_or_else(|| AppError::Bridge(format!("There is no audio source {id}.")))?;
        media.push_audio_opus(Bytes::from(packet), Duration::from_micros(u64::from(duration_us)), Instant::now());
        Ok(())
    }

    /// Closes everything (the app is closing, or the page was reloaded).
    pub async fn close_all(&self) {
        let pcs: Vec<BridgePc> = lock(&self.pcs).drain().map(|(_, p)| p).collect();
        for pc in pcs {
            pc.close().await;
        }
        let ids: Vec<String> = lock(&self.sources).keys().cloned().collect();
        for id in ids {
            self.close_source(&id);
        }
    }
}

/// The bridge's Tauri commands (granted to the desktop window only: other platforms' webviews
/// have WebRTC).
pub mod commands {
    use std::sync::Arc;

    use tauri::State;

    use lancall_peer::codec::PixelFormat;

    use super::{Bridges, Outcome, PcAnswer, PcConfig, PcOp};
    use crate::error::AppError;
    use crate::state::AppState;

    /// `new RTCPeerConnection(config)` as `pc`; its events (JSON) and remote frames (bytes, see
    /// `super::encode_frame`) come on `channel`.
    #[tauri::command]
    pub async fn rtc_open(state: State<'_, AppState>, pc: String, config: Option<PcConfig>, channel: tauri::ipc::Channel) -> Result<(), AppError> {
        let events_channel = channel.clone();
        let events: lancall_peer::bridge::BridgeEvents = Arc::new(move |event| {
            if let Err(e) = events_channel.send(tauri::ipc::InvokeResponseBody::Json(serde_json::to_string(&event).unwrap_or_default())) {
                log::debug!("could not pass a connection event to the window: {e}");
            }
        });
        let frames: lancall_peer::FrameSink = Arc::new(move |frame: lancall_peer::RemoteFrame| {
            if let Err(e) = channel.send(tauri::ipc::InvokeResponseBody::Raw(super::encode_frame(&frame))) {
                log::debug!("could not pass a remote frame to the window: {e}");
            }
        });
        state.bridges.open(&pc, config.unwrap_or_default(), events, frames).await
    }

    /// One operation on connection `pc` (see `PcOp`).
    #[tauri::command]
    pub async fn rtc_op(state: State<'_, AppState>, pc: String, op: PcOp) -> Result<PcAnswer, AppError> {
        let PcOp::Batch { ops } = op else {
            return run(&state.bridges, &pc, op).await;
        };
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            outcomes.push(match run(&state.bridges, &pc, op).await {
                Ok(answer) => Outcome::Ok(answer),
                Err(e) => Outcome::Error(e.to_string()),
            });
        }
        Ok(PcAnswer::Batch(outcomes))
    }

    /// Runs one operation, logging a failure.
    async fn run(bridges: &Bridges, pc: &str, op: PcOp) -> Result<PcAnswer, AppError> {
        let what = op.name();
        // A message sent while the other side hangs up is expected to fail; the rest is not.
        let level = if matches!(op, PcOp::ChannelSend { .. } | PcOp::ChannelClose { .. }) { log::Level::Debug } else { log::Level::Warn };
        let answer = bridges.op(pc, op).await;
        if let Err(e) = &answer {
            log::log!(level, "connection {pc}: {what} failed: {e}");
        }
        answer
    }

    #[tauri::command]
    pub async fn rtc_close(state: State<'_, AppState>, pc: String) -> Result<(), AppError> {
        state.bridges.close(&pc).await;
        Ok(())
    }

    /// A source (`kind` audio or video) the page will push media into.
    #[tauri::command]
    pub fn rtc_source_open(state: State<'_, AppState>, source: String, kind: String) -> Result<(), AppError> {
        state.bridges.open_source(&source, super::parse_kind(&kind)?)
    }

    #[tauri::command]
    pub fn rtc_source_close(state: State<'_, AppState>, source: String) {
        state.bridges.close_source(&source);
    }

    /// How a video source's pictures fared (received, encoded, dropped, latency).
    #[tauri::command]
    pub fn rtc_source_stats(state: State<'_, AppState>, source: String) -> Result<super::VideoCounts, AppError> {
        state.bridges.video_counts(&source)
    }

    /// A header of a binary command, as text.
    fn header<'a>(request: &'a tauri::ipc::Request<'_>, name: &str) -> Result<&'a str, AppError> {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::Bridge(format!("The request has no {name}.")))
    }

    fn header_u32(request: &tauri::ipc::Request<'_>, name: &str) -> Result<u32, AppError> {
        header(request, name)?.parse().map_err(|_| AppError::Bridge(format!("The request's {name} is not a number.")))
    }

    /// One picture for video source `lancall-source` (headers): `lancall-width` x
    /// `lancall-height` pixels, tightly packed in `lancall-format` (a WebCodecs pixel format:
    /// I420, NV12, RGBA, RGBX, BGRA, BGRX); optional `lancall-taken`, when it was taken (µs
    /// since the Unix epoch). Queued for the source's encoder; returns at once.
    #[tauri::command]
    pub fn rtc_source_video(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
        let source = header(&request, "lancall-source")?;
        let (width, height) = (header_u32(&request, "lancall-width")?, header_u32(&request, "lancall-height")?);
        let format_name = header(&request, "lancall-format")?;
        let format = PixelFormat::from_webcodecs(format_name)
            .ok_or_else(|| AppError::Bridge(format!("Pictures in {format_name} cannot be sent; use I420, NV12, RGBA or BGRA.")))?;
        let tauri::ipc::InvokeBody::Raw(data) = request.body() else {
            return Err(AppError::Bridge("A picture is sent as bytes.".into()));
        };
        let taken = header(&request, "lancall-taken").ok().and_then(|v| v.parse::<u64>().ok());
        state.bridges.push_video(source, format, width, height, data.clone(), taken)
    }

    /// One Opus packet for audio source `lancall-source`, `lancall-duration` µs long (headers),
    /// from the webview's `AudioEncoder`.
    #[tauri::command]
    pub fn rtc_source_audio(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
        let source = header(&request, "lancall-source")?;
        let duration = header_u32(&request, "lancall-duration")?;
        let tauri::ipc::InvokeBody::Raw(packet) = request.body() else {
            return Err(AppError::Bridge("A sound packet is sent as bytes.".into()));
        };
        state.bridges.push_audio_opus(source, packet.clone(), duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_envelope_carries_what_the_decoder_needs() {
        let frame = RemoteFrame {
            link: 7,
            kind: MediaKind::Video,
            role: TrackRole::Main,
            data: Bytes::from_static(&[1, 2, 3]),
            keyframe: true,
            rtp_timestamp: 0x0102_0304,
            received: std::time::Instant::now(),
            size: Some((640, 480)),
        };
        let bytes = encode_frame(&frame);
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 3);
        assert_eq!(&bytes[..4], &[FRAME_VERSION, 0, 0, 1]);
        assert_eq!(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]), 7);
        assert_eq!(u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]), 0x0102_0304);
        assert_eq!(u16::from_le_bytes([bytes[12], bytes[13]]), 640);
        assert_eq!(u16::from_le_bytes([bytes[14], bytes[15]]), 480);
        let mut received = [0u8; 8];
        received.copy_from_slice(&bytes[16..24]);
        let now = wall_micros(std::time::Instant::now());
        let received = u64::from_le_bytes(received);
        assert!(received <= now && now - received < 60_000_000, "received {received}, now {now}");
        assert_eq!(&bytes[24..], &[1, 2, 3]);
        let audio = RemoteFrame { kind: MediaKind::Audio, keyframe: false, size: None, ..frame };
        assert_eq!(&encode_frame(&audio)[..4], &[FRAME_VERSION, 1, 0, 0]);
    }

    #[test]
    fn a_batch_comes_as_a_list_of_operations_and_answers_each_on_its_own() {
        let op: PcOp = serde_json::from_value(serde_json::json!({
            "op": "batch",
            "ops": [{ "op": "create-channel", "id": 1, "label": "lancall", "ordered": true }, { "op": "stats" }],
        }))
        .expect("a batch");
        assert!(matches!(&op, PcOp::Batch { ops } if matches!(ops[..], [PcOp::CreateChannel { id: 1, .. }, PcOp::Stats])));
        let answer = PcAnswer::Batch(vec![Outcome::Ok(PcAnswer::None), Outcome::Error("There is no transceiver 9.".into())]);
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            serde_json::json!([{ "ok": null }, { "error": "There is no transceiver 9." }])
        );
    }

    #[test]
    fn ids_from_the_page_are_short_ascii_or_refused() {
        assert!(check_id("0123456789abcdef01234567").is_ok());
        assert!(check_id(&"a".repeat(64)).is_ok());
        // "aéééé" is 9 bytes: slicing it at byte 8 for a thread name panicked before ids were ASCII.
        for hostile in ["aéééé", "", &"a".repeat(65), "a\0b", "../x", "🙂", "a b"] {
            assert!(check_id(hostile).is_err(), "{hostile:?} was accepted");
        }
        // Nothing that slices an id for a name can panic, whatever passed or not.
        let media = LocalMedia::new(LocalMediaConfig::default());
        let pipe = VideoPipe::start("aéééé", media);
        pipe.close();
    }

    #[test]
    fn kinds_are_audio_or_video() {
        assert!(matches!(parse_kind("audio"), Ok(MediaKind::Audio)));
        assert!(matches!(parse_kind("video"), Ok(MediaKind::Video)));
        assert!(parse_kind("screen").is_err());
    }
}
