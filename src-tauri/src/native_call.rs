//! Calls whose peer connections live in Rust (`lancall_peer::Call`), for webviews without
//! `RTCPeerConnection` (Debian's WebKitGTK).
//!
//! A native call rides on one of the webview's signaling sessions ([`crate::signaling`]): the
//! UI's signaling client keeps owning the session (join, knock, rejoin), every hub message of
//! that session is also handed to the call ([`NativeCalls::tap`]), and the messages the call
//! wants sent (`signal`, `leave`) go out through the same session. After a drop the UI's client
//! opens a new session; the call moves to it ([`NativeCalls::attach`]) and keeps its peers.
//! SDP and ICE never cross IPC.
//! What the UI gets: [`CallEvent`]s, and the remote encoded frames in a small binary envelope
//! ([`encode_frame`]).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lancall_peer::codec::{to_i420, I420Frame, PixelFormat};
use lancall_peer::{Call, CallConfig, CallEvent, FrameSink, LocalMedia, LocalMediaConfig, MediaKind, RemoteFrame, RemoteStats, TrackRole};
use tokio::sync::mpsc;

use crate::error::AppError;
use crate::signaling::{Emit, SessionEvent, Sessions};
use crate::state::lock;

/// Size of the header [`encode_frame`] puts before a frame's bytes.
pub const FRAME_HEADER_LEN: usize = 24;

/// Version byte of the frame envelope.
pub const FRAME_VERSION: u8 = 2;

/// Largest video picture the UI may hand in (pixels on a side).
pub const MAX_SIDE: u32 = 4096;

/// Where a native call reports, with the call's id (a Tauri event in the app, a channel in
/// tests).
pub type EventSink = Arc<dyn Fn(&str, &CallEvent) + Send + Sync>;

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
        other => Err(AppError::NativeCall(format!("\"{other}\" is neither audio nor video."))),
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

/// Counts of a call's camera pictures.
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

/// A call's camera pictures, converted and encoded on a thread of their own. The UI hands a
/// picture in and goes on at once; while the encoder is busy a newer picture replaces the one
/// waiting (counted as dropped), so a slow moment costs pictures, never delay.
struct VideoPipe {
    state: Mutex<PipeState>,
    wake: Condvar,
    tally: Mutex<VideoTally>,
}

impl VideoPipe {
    fn start(call: &str, media: Arc<LocalMedia>) -> Arc<VideoPipe> {
        let pipe = Arc::new(VideoPipe { state: Mutex::new(PipeState::default()), wake: Condvar::new(), tally: Mutex::new(VideoTally::default()) });
        let worker = pipe.clone();
        let name = format!("lancall-video-{}", &call[..call.len().min(8)]);
        if let Err(e) = std::thread::Builder::new().name(name).spawn(move || worker.run(&media)) {
            log::error!("native call {call}: no thread to encode the camera: {e}");
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

struct Running {
    call: Call,
    media: Arc<LocalMedia>,
    video: Arc<VideoPipe>,
    /// The signaling session it rides on now (the UI's signaling client opens a new one after a
    /// drop, then [`NativeCalls::attach`]es the call to it).
    session: Arc<Mutex<String>>,
}

/// Call and session ids come from the UI: 1 to 64 characters.
fn check_id(id: &str) -> Result<(), AppError> {
    if id.is_empty() || id.len() > 64 {
        return Err(AppError::NativeCall("Call and session ids are 1 to 64 characters.".into()));
    }
    Ok(())
}

/// The native calls, by the id the UI gave each.
#[derive(Clone, Default)]
pub struct NativeCalls {
    map: Arc<Mutex<HashMap<String, Running>>>,
}

impl NativeCalls {
    /// Wraps a signaling session's event callback so that the hub messages of a session with a
    /// native call also reach that call.
    pub fn tap(&self, emit: Emit) -> Emit {
        let calls = self.clone();
        Arc::new(move |event: SessionEvent| {
            if event.kind == "message" {
                if let Some(text) = event.text.as_deref() {
                    calls.hub_text(&event.session, text);
                }
            }
            emit(event);
        })
    }

    fn hub_text(&self, session: &str, text: &str) {
        let Some(call) = lock(&self.map).values().find(|r| *lock(&r.session) == session).map(|r| r.call.clone()) else {
            return;
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(message) if message.is_object() => call.hub_message(message),
            Ok(_) => log::debug!("native call {session}: ignored a hub message that is not an object"),
            Err(e) => log::warn!("native call {session}: ignored an unreadable hub message: {e}"),
        }
    }

    /// Starts native call `id` on signaling session `session` (before the UI sends its `join`
    /// there, so that the call sees the `welcome`). Returns the call's peer session id. Must
    /// run inside a Tokio runtime.
    pub fn start(&self, id: &str, session: &str, sessions: Sessions, events: EventSink, frames: FrameSink) -> Result<String, AppError> {
        check_id(id)?;
        check_id(session)?;
        let mut map = lock(&self.map);
        if map.contains_key(id) {
            return Err(AppError::NativeCall("That call is already running.".into()));
        }
        if map.values().any(|r| *lock(&r.session) == session) {
            return Err(AppError::NativeCall("A call already rides on that connection.".into()));
        }
        let media = LocalMedia::new(LocalMediaConfig::default());
        let (hub_tx, mut hub_rx) = mpsc::unbounded_channel();
        let (call, mut call_events) = Call::start(CallConfig::default(), media.clone(), frames, hub_tx);
        let peer_session = call.session().to_owned();
        let current = Arc::new(Mutex::new(session.to_owned()));
        let video = VideoPipe::start(id, media.clone());
        map.insert(id.to_owned(), Running { call, media, video, session: current.clone() });
        drop(map);
        let call_id = id.to_owned();
        tokio::spawn(async move {
            while let Some(message) = hub_rx.recv().await {
                let session = lock(&current).clone();
                if let Err(e) = sessions.send(&session, message.to_string()) {
                    log::debug!("native call {call_id}: could not send to the hub on {session}: {e}");
                }
            }
        });
        let call_id = id.to_owned();
        tokio::spawn(async move {
            while let Some(event) = call_events.recv().await {
                events(&call_id, &event);
            }
        });
        log::info!("native call {id} started on signaling session {session}");
        Ok(peer_session)
    }

    /// Moves call `id` to signaling session `session` (the UI's signaling client reconnected:
    /// attach before it sends `join` again). The call keeps its connections and adopts the
    /// peers again after the new `welcome`.
    pub fn attach(&self, id: &str, session: &str) -> Result<(), AppError> {
        check_id(session)?;
        let map = lock(&self.map);
        let running = map.get(id).ok_or(AppError::NoSession)?;
        *lock(&running.session) = session.to_owned();
        log::debug!("native call {id} now on signaling session {session}");
        Ok(())
    }

    fn get(&self, id: &str) -> Result<(Call, Arc<LocalMedia>), AppError> {
        lock(&self.map).get(id).map(|r| (r.call.clone(), r.media.clone())).ok_or(AppError::NoSession)
    }

    /// Sends a chat line to everyone; returns how many got it.
    pub async fn chat(&self, id: &str, text: &str) -> Result<usize, AppError> {
        let (call, _) = self.get(id)?;
        Ok(call.send_chat(text).await)
    }

    /// Turns the microphone or camera off (nothing sent, everyone told) or on.
    pub fn set_muted(&self, id: &str, kind: MediaKind, muted: bool) -> Result<(), AppError> {
        let (call, _) = self.get(id)?;
        call.set_muted(kind, muted);
        Ok(())
    }

    /// Stats of every connection.
    pub async fn stats(&self, id: &str) -> Result<Vec<RemoteStats>, AppError> {
        let (call, _) = self.get(id)?;
        Ok(call.stats().await)
    }

    /// One camera picture (`width`x`height`, tightly packed in `format`), to be converted and
    /// encoded on the call's video thread. Returns at once; see [`VideoPipe`].
    pub fn push_video(&self, id: &str, format: PixelFormat, width: u32, height: u32, data: Vec<u8>, taken_us: Option<u64>) -> Result<(), AppError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || width % 2 != 0 || height % 2 != 0 {
            return Err(AppError::NativeCall(format!("A {width}x{height} picture cannot be sent: sides must be even, 2 to {MAX_SIDE}.")));
        }
        if data.len() != format.len_for(width, height) {
            return Err(AppError::NativeCall(format!("A {width}x{height} {format:?} picture cannot be {} bytes.", data.len())));
        }
        let video = lock(&self.map).get(id).map(|r| r.video.clone()).ok_or(AppError::NoSession)?;
        video.push(Picture { format, width, height, data, captured: Instant::now(), taken_us });
        Ok(())
    }

    /// One camera picture, I420 (`width`x`height`, planes Y, U, V).
    pub fn push_video_i420(&self, id: &str, width: u32, height: u32, data: &[u8]) -> Result<(), AppError> {
        self.push_video(id, PixelFormat::I420, width, height, data.to_vec(), None)
    }

    /// How call `id`'s camera pictures fared.
    pub fn video_counts(&self, id: &str) -> Result<VideoCounts, AppError> {
        lock(&self.map).get(id).map(|r| lock(&r.video.tally).snapshot()).ok_or(AppError::NoSession)
    }

    /// One Opus packet of the microphone, `duration_us` long.
    pub fn push_audio_opus(&self, id: &str, packet: Vec<u8>, duration_us: u32) -> Result<(), AppError> {
        if packet.is_empty() || packet.len() > 1500 || duration_us == 0 || duration_us > 120_000 {
            return Err(AppError::NativeCall("That is not an Opus packet.".into()));
        }
        let (_, media) = self.get(id)?;
        media.push_audio_opus(Bytes::from(packet), Duration::from_micros(u64::from(duration_us)), Instant::now());
        Ok(())
    }

    /// Hangs up call `id` (`bye` to every peer, `leave` to the hub). Hanging up an unknown
    /// call is not an error.
    pub async fn hangup(&self, id: &str) {
        let running = lock(&self.map).remove(id);
        if let Some(running) = running {
            running.video.close();
            running.call.hangup().await;
            log::info!("native call {id} hung up");
        }
    }

    /// Hangs up every call (the app is closing).
    pub async fn hangup_all(&self) {
        let all: Vec<Running> = lock(&self.map).drain().map(|(_, r)| r).collect();
        for running in all {
            running.video.close();
            running.call.hangup().await;
        }
    }
}

/// The Tauri commands of native calls (granted to the desktop window only: other platforms'
/// webviews have WebRTC).
pub mod commands {
    use std::sync::Arc;

    use serde::Serialize;
    use tauri::{AppHandle, Emitter, State};

    use lancall_peer::codec::PixelFormat;

    use crate::error::AppError;
    use crate::events;
    use crate::state::AppState;
    use crate::MAIN_WINDOW;

    /// A native call's event as the UI gets it.
    #[derive(Clone, Serialize)]
    struct NativeCallEvent<'a> {
        call: &'a str,
        #[serde(flatten)]
        event: &'a lancall_peer::CallEvent,
    }

    /// Starts call `call` in Rust on signaling session `session` (call it before the UI sends
    /// `join`). Remote frames come through `frames` (see `super::encode_frame`); events as
    /// `lancall:native-call`. Returns the call's peer session id.
    #[tauri::command]
    pub async fn native_call_start(app: AppHandle, state: State<'_, AppState>, call: String, session: String, frames: tauri::ipc::Channel) -> Result<String, AppError> {
        let events: super::EventSink = Arc::new(move |call: &str, event: &lancall_peer::CallEvent| {
            if let Err(e) = app.emit_to(MAIN_WINDOW, events::NATIVE_CALL, NativeCallEvent { call, event }) {
                log::warn!("could not pass a call event to the window: {e}");
            }
        });
        let sink: lancall_peer::FrameSink = Arc::new(move |frame: lancall_peer::RemoteFrame| {
            if let Err(e) = frames.send(tauri::ipc::InvokeResponseBody::Raw(super::encode_frame(&frame))) {
                log::debug!("could not pass a remote frame to the window: {e}");
            }
        });
        state.native_calls.start(&call, &session, state.sessions.clone(), events, sink)
    }

    /// Moves call `call` to signaling session `session` (after the UI's signaling reconnected).
    #[tauri::command]
    pub fn native_call_attach(state: State<'_, AppState>, call: String, session: String) -> Result<(), AppError> {
        state.native_calls.attach(&call, &session)
    }

    #[tauri::command]
    pub async fn native_call_chat(state: State<'_, AppState>, call: String, text: String) -> Result<usize, AppError> {
        state.native_calls.chat(&call, &text).await
    }

    #[tauri::command]
    pub fn native_call_mute(state: State<'_, AppState>, call: String, kind: String, muted: bool) -> Result<(), AppError> {
        state.native_calls.set_muted(&call, super::parse_kind(&kind)?, muted)
    }

    /// Stats of every connection of call `call`, for the stats panel.
    #[tauri::command]
    pub async fn native_call_stats(state: State<'_, AppState>, call: String) -> Result<NativeCallStats, AppError> {
        let camera = state.native_calls.video_counts(&call)?;
        Ok(NativeCallStats { links: state.native_calls.stats(&call).await?, camera })
    }

    /// What `native_call_stats` answers.
    #[derive(Serialize)]
    pub struct NativeCallStats {
        /// Each connection's numbers.
        links: Vec<lancall_peer::RemoteStats>,
        /// How the camera pictures fared on their way to the encoder.
        camera: super::VideoCounts,
    }

    /// A header of a binary command, as text.
    fn header<'a>(request: &'a tauri::ipc::Request<'_>, name: &str) -> Result<&'a str, AppError> {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::NativeCall(format!("The request has no {name}.")))
    }

    fn header_u32(request: &tauri::ipc::Request<'_>, name: &str) -> Result<u32, AppError> {
        header(request, name)?.parse().map_err(|_| AppError::NativeCall(format!("The request's {name} is not a number.")))
    }

    /// One camera picture for call `lancall-call` (headers): `lancall-width` x `lancall-height`
    /// pixels, tightly packed in `lancall-format` (a WebCodecs pixel format: I420, NV12, RGBA,
    /// RGBX, BGRA, BGRX); optional `lancall-taken`, when it was taken (µs since the Unix epoch).
    /// Queued for the call's encoder; returns at once.
    #[tauri::command]
    pub async fn native_call_video(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
        let call = header(&request, "lancall-call")?;
        let (width, height) = (header_u32(&request, "lancall-width")?, header_u32(&request, "lancall-height")?);
        let format_name = header(&request, "lancall-format")?;
        let format = PixelFormat::from_webcodecs(format_name)
            .ok_or_else(|| AppError::NativeCall(format!("Pictures in {format_name} cannot be sent; use I420, NV12, RGBA or BGRA.")))?;
        let tauri::ipc::InvokeBody::Raw(data) = request.body() else {
            return Err(AppError::NativeCall("A picture is sent as bytes.".into()));
        };
        // When the webview took it (µs since the Unix epoch), for the latency in the stats.
        let taken = header(&request, "lancall-taken").ok().and_then(|v| v.parse::<u64>().ok());
        state.native_calls.push_video(call, format, width, height, data.clone(), taken)
    }

    /// One Opus packet of the microphone for call `lancall-call`, `lancall-duration` µs long
    /// (headers), from the webview's `AudioEncoder`.
    #[tauri::command]
    pub fn native_call_audio(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
        let call = header(&request, "lancall-call")?;
        let duration = header_u32(&request, "lancall-duration")?;
        let tauri::ipc::InvokeBody::Raw(packet) = request.body() else {
            return Err(AppError::NativeCall("A sound packet is sent as bytes.".into()));
        };
        state.native_calls.push_audio_opus(call, packet.clone(), duration)
    }

    #[tauri::command]
    pub async fn native_call_hangup(state: State<'_, AppState>, call: String) -> Result<(), AppError> {
        state.native_calls.hangup(&call).await;
        Ok(())
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
    fn kinds_are_audio_or_video() {
        assert!(matches!(parse_kind("audio"), Ok(MediaKind::Audio)));
        assert!(matches!(parse_kind("video"), Ok(MediaKind::Video)));
        assert!(parse_kind("screen").is_err());
    }
}
