//! The commands of the Rust-backed `RTCPeerConnection` (granted to the desktop window only:
//! other platforms' webviews have WebRTC). Each hands its IPC input to
//! [`lancall_peer::ipc::Bridges`], which checks it and does the work; what a connection reports
//! (JSON events) and the remote frames (bytes, see [`lancall_peer::ipc::encode_frame`]) come
//! back on one Tauri channel per connection.

use std::sync::Arc;

use tauri::{AppHandle, State};

use lancall_peer::bridge::{BridgeEvent, BridgeEvents};
use lancall_peer::codec::PixelFormat;
use lancall_peer::ipc::{encode_frame, parse_kind, PcAnswer, PcConfig, PcOp, RecordTarget, RecordingDone, VideoCounts};
use lancall_peer::{FrameSink, RemoteFrame};

use crate::commands::files;
use crate::error::AppError;
use crate::recording;
use crate::state::AppState;

/// `new RTCPeerConnection(config)` as `pc`; its events (JSON) and remote frames (bytes) come on
/// `channel`.
#[tauri::command]
pub async fn rtc_open(
    state: State<'_, AppState>,
    pc: String,
    config: Option<PcConfig>,
    channel: tauri::ipc::Channel,
) -> Result<(), AppError> {
    let events_channel = channel.clone();
    let pc_id = pc.clone();
    let events: BridgeEvents = Arc::new(move |event| {
        let send_json = |json: String| {
            if let Err(e) = events_channel.send(tauri::ipc::InvokeResponseBody::Json(json)) {
                log::debug!("could not pass a connection event to the window: {e}");
            }
        };
        match &event {
            // A data channel's binary message (a file's bytes): into the file it is routed to
            // (rtc_channel_save), else to the page as bytes, not as JSON.
            BridgeEvent::ChannelBytes { channel: id, data } => {
                match files::channel_bytes(&pc_id, *id, data) {
                    Some(files::Routed::Written { bytes, report: true }) => {
                        send_json(serde_json::json!({ "type": "channel-written", "channel": id, "bytes": bytes }).to_string());
                    }
                    Some(files::Routed::Written { .. }) => {}
                    Some(files::Routed::Failed(message)) => {
                        send_json(serde_json::json!({ "type": "channel-write-failed", "channel": id, "message": message }).to_string());
                    }
                    None => {
                        let raw = lancall_peer::ipc::encode_channel_bytes(*id, data);
                        if let Err(e) = events_channel.send(tauri::ipc::InvokeResponseBody::Raw(raw)) {
                            log::debug!("could not pass a data channel message to the window: {e}");
                        }
                    }
                }
                return;
            }
            BridgeEvent::ChannelClose { channel: id } => files::unroute(&pc_id, *id),
            _ => {}
        }
        let json = serde_json::to_string(&event).unwrap_or_default();
        if let Err(e) = events_channel.send(tauri::ipc::InvokeResponseBody::Json(json)) {
            log::debug!("could not pass a connection event to the window: {e}");
        }
    });
    let frames: FrameSink = Arc::new(move |frame: RemoteFrame| {
        if let Err(e) = channel.send(tauri::ipc::InvokeResponseBody::Raw(encode_frame(&frame))) {
            log::debug!("could not pass a remote frame to the window: {e}");
        }
    });
    Ok(state.bridges.open(&pc, config.unwrap_or_default(), events, frames).await?)
}

/// One operation on connection `pc` (see [`PcOp`]; a batch answers each of its operations).
#[tauri::command]
pub async fn rtc_op(state: State<'_, AppState>, pc: String, op: PcOp) -> Result<PcAnswer, AppError> {
    Ok(state.bridges.run(&pc, op).await?)
}

/// `channel.send(bytes)`, for several binary messages at once: the request's body is each
/// message as a 4-byte little-endian length and its bytes, and its headers name the connection
/// (`lancall-pc`) and the channel (`lancall-channel`). Answers once the channel has room again
/// (the page counts what is still in this call as its `bufferedAmount`).
#[tauri::command]
pub async fn rtc_channel_send(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let pc = header("lancall-pc");
    let channel: u32 = header("lancall-channel")
        .parse()
        .map_err(|_| AppError::from(lancall_peer::PeerError::BadRequest("The lancall-channel header is not a channel number.".into())))?;
    let tauri::ipc::InvokeBody::Raw(body) = request.body() else {
        return Err(lancall_peer::PeerError::BadRequest("A data channel's bytes are sent as bytes.".into()).into());
    };
    Ok(state.bridges.channel_send_bytes(&pc, channel, body).await?)
}

/// From now on, what channel `channel` of connection `pc` receives goes into the file being
/// received as `handle` (commands/files.rs), not to the page; answers the bytes written so far.
#[tauri::command]
pub fn rtc_channel_save(pc: String, channel: u32, handle: String) -> Result<u64, AppError> {
    files::route(&pc, channel, &handle)
}

/// The bytes written so far into the file being received as `handle`, and their SHA-256.
#[tauri::command]
pub fn rtc_channel_digest(handle: String) -> Result<files::Written, AppError> {
    files::digest(&handle)
}

#[tauri::command]
pub async fn rtc_close(state: State<'_, AppState>, pc: String) -> Result<(), AppError> {
    state.bridges.close(&pc).await;
    Ok(())
}

/// A source (`kind` audio or video) the page will push media into.
#[tauri::command]
pub fn rtc_source_open(state: State<'_, AppState>, source: String, kind: String) -> Result<(), AppError> {
    Ok(state.bridges.open_source(&source, parse_kind(&kind)?)?)
}

#[tauri::command]
pub fn rtc_source_close(state: State<'_, AppState>, source: String) {
    state.bridges.close_source(&source);
}

/// How a video source's pictures fared (received, encoded, dropped, latency).
#[tauri::command]
pub fn rtc_source_stats(state: State<'_, AppState>, source: String) -> Result<VideoCounts, AppError> {
    Ok(state.bridges.video_counts(&source)?)
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
    header(request, name)?
        .parse()
        .map_err(|_| AppError::Bridge(format!("The request's {name} is not a number.")))
}

/// One picture for video source `lancall-source` (headers): `lancall-width` x `lancall-height`
/// pixels, tightly packed in `lancall-format` (a WebCodecs pixel format: I420 or NV12; the
/// page turns packed RGB into I420 itself); optional `lancall-taken`, when it was taken (µs since the Unix epoch). Queued for
/// the source's encoder; returns at once.
#[tauri::command]
pub fn rtc_source_video(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
    let source = header(&request, "lancall-source")?;
    let (width, height) = (header_u32(&request, "lancall-width")?, header_u32(&request, "lancall-height")?);
    let format_name = header(&request, "lancall-format")?;
    let format = PixelFormat::from_webcodecs(format_name).ok_or_else(|| {
        AppError::Bridge(format!(
            "Pictures in {} cannot be sent; use I420 or NV12.",
            format_name.escape_debug().take(32).collect::<String>()
        ))
    })?;
    let tauri::ipc::InvokeBody::Raw(data) = request.body() else {
        return Err(AppError::Bridge("A picture is sent as bytes.".into()));
    };
    let taken = header(&request, "lancall-taken").ok().and_then(|v| v.parse::<u64>().ok());
    Ok(state.bridges.push_video(source, format, width, height, data.clone(), taken)?)
}

/// One Opus packet for audio source `lancall-source`, `lancall-duration` µs long (headers), from
/// the webview's `AudioEncoder`.
#[tauri::command]
pub fn rtc_source_audio(state: State<'_, AppState>, request: tauri::ipc::Request<'_>) -> Result<(), AppError> {
    let source = header(&request, "lancall-source")?;
    let duration = header_u32(&request, "lancall-duration")?;
    let tauri::ipc::InvokeBody::Raw(packet) = request.body() else {
        return Err(AppError::Bridge("A sound packet is sent as bytes.".into()));
    };
    Ok(state.bridges.push_audio_opus(source, packet.clone(), duration)?)
}

/// Starts recording `target` (a remote person's transceivers on a connection, or our own
/// sources) in Rust, as `recording` (an id the page picks), into the Downloads folder as `name`
/// (made safe and unique). Answers the file's path.
#[tauri::command]
pub async fn rtc_record_start(
    app: AppHandle,
    state: State<'_, AppState>,
    recording: String,
    name: String,
    target: RecordTarget,
) -> Result<String, AppError> {
    let path = recording::start_from_bridge(&app, &state.bridges, &recording, &name, target).await?;
    Ok(path.display().to_string())
}

/// Stops recording `recording`: its files are finished; answers them (and why it stopped early,
/// if it did).
#[tauri::command]
pub async fn rtc_record_stop(state: State<'_, AppState>, recording: String) -> Result<RecordingDone, AppError> {
    recording::stop_from_bridge(&state.bridges, &recording).await
}
