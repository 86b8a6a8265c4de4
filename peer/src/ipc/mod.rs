//! The IPC layer of the Linux app's Rust-backed `RTCPeerConnection`, with no Tauri in it: the
//! registry of bridged connections and media sources by the ids the page gave them
//! ([`Bridges`]), the typed operations the page sends ([`PcOp`], checked before they run), the
//! encoder thread of each video source, and the envelope remote frames cross IPC in. The Tauri
//! crate keeps only its `#[tauri::command]` functions, which hand their arguments here.
//!
//! What the page sends is a *source*: one per local track, however many connections carry it
//! (the camera is encoded once). Camera pictures arrive raw ([`Bridges::push_video`], I420, NV12
//! or packed RGB) and are encoded to VP8 on a thread of their own; microphone packets arrive as
//! Opus from the webview's `AudioEncoder`. `replaceTrack` on the page picks which source a
//! transceiver sends.

mod envelope;
mod ops;
mod record;
mod video_pipe;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lancall_protocol::sync::lock;

use crate::bridge::{BridgeEvents, BridgePc};
use crate::codec::PixelFormat;
use crate::connection::LinkConfig;
use crate::error::PeerError;
use crate::media::{FrameSink, LocalMedia, LocalMediaConfig, MediaKind};

pub use envelope::{encode_channel_bytes, encode_frame, wall_micros, CHANNEL_BYTES_TAG, FRAME_HEADER_LEN, FRAME_VERSION};
pub use ops::{
    check_id, parse_kind, Outcome, PcAnswer, PcConfig, PcOp, MAX_BATCH, MAX_CHANNEL_TEXT, MAX_ID_LEN,
};
pub use record::{RecordTarget, RecordingDone};
pub use video_pipe::VideoCounts;
use record::Recordings;
use video_pipe::{Picture, VideoPipe};

/// Largest video picture the page may hand in (pixels on a side).
pub const MAX_SIDE: u32 = 4096;
/// Largest Opus packet the page may hand in: one RTP packet on an Ethernet link carries it
/// whole (audio is never split across packets; the webview's encoder makes ~100-byte 20 ms
/// packets).
pub const MAX_OPUS_PACKET: usize = 1500;
/// Longest Opus packet, µs (RFC 6716).
pub const MAX_OPUS_DURATION_US: u32 = 120_000;
/// Most connections one page may hold open (a mesh of lancall's largest room, 64, with room
/// to spare for ones closing).
pub const MAX_CONNECTIONS: usize = 128;
/// Most media sources one page may hold open (microphone, camera, screen, and spares while a
/// device is switched).
pub const MAX_SOURCES: usize = 16;
/// Most recordings one page may run at once (each has a thread and a file).
pub const MAX_RECORDINGS: usize = 4;

/// Largest binary message on a data channel, in bytes (what Chromium takes; files.js sends 64 KiB).
pub const MAX_CHANNEL_MESSAGE: usize = 256 * 1024;
/// Most bytes one `rtc_channel_send` call may carry.
pub const MAX_CHANNEL_SEND: usize = 16 * 1024 * 1024;

/// The binary messages of one `rtc_channel_send` body: each a 4-byte little-endian length, then
/// that many bytes. A body cut short, an empty or oversized message, or an oversized body is
/// refused whole (nothing of it is sent).
pub fn split_channel_messages(body: &[u8]) -> Result<Vec<&[u8]>, PeerError> {
    if body.len() > MAX_CHANNEL_SEND {
        return Err(PeerError::BadRequest(format!(
            "At most {MAX_CHANNEL_SEND} bytes go in one send; this was {}.",
            body.len()
        )));
    }
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(PeerError::BadRequest("A data channel message's length is cut short.".into()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len == 0 || len > MAX_CHANNEL_MESSAGE {
            return Err(PeerError::BadRequest(format!(
                "A data channel message is 1 to {MAX_CHANNEL_MESSAGE} bytes; this one says {len}."
            )));
        }
        if tail.len() < len {
            return Err(PeerError::BadRequest("A data channel message is shorter than its length says.".into()));
        }
        let (message, tail) = tail.split_at(len);
        out.push(message);
        rest = tail;
    }
    Ok(out)
}

/// One thing we send: a microphone or a camera (or screen) track of the page.
struct Source {
    kind: MediaKind,
    media: Arc<LocalMedia>,
    /// Video only: the encoder thread.
    video: Option<Arc<VideoPipe>>,
}

/// Every bridged connection and source, by the ids the page gave them. Cheap to clone.
#[derive(Clone, Default)]
pub struct Bridges {
    pcs: Arc<Mutex<HashMap<String, BridgePc>>>,
    sources: Arc<Mutex<HashMap<String, Source>>>,
    recordings: Arc<Recordings>,
}

impl Bridges {
    /// `new RTCPeerConnection(config)` as connection `id`: events and remote frames go to
    /// `events` and `frames`. Must run inside a Tokio runtime.
    pub async fn open(
        &self,
        id: &str,
        config: PcConfig,
        events: BridgeEvents,
        frames: FrameSink,
    ) -> Result<(), PeerError> {
        check_id(id)?;
        config.check()?;
        {
            let pcs = lock(&self.pcs);
            if pcs.contains_key(id) {
                return Err(PeerError::BadRequest("That connection is already open.".into()));
            }
            if pcs.len() >= MAX_CONNECTIONS {
                return Err(PeerError::BadRequest(format!(
                    "A page holds at most {MAX_CONNECTIONS} connections: close one first."
                )));
            }
        }
        let link = LinkConfig { ice_servers: config.ice_servers, ..LinkConfig::default() };
        let started = Instant::now();
        // Every remote frame passes the recordings' taps on its way to the page.
        let taps = self.recordings.taps.clone();
        let pc_id = id.to_owned();
        let frames: FrameSink = Arc::new(move |frame| {
            taps.offer(&pc_id, &frame);
            frames(frame);
        });
        let pc = BridgePc::new(&link, events, frames).await?;
        let previous = lock(&self.pcs).insert(id.to_owned(), pc);
        if let Some(previous) = previous {
            // Two opens of one id raced each other: keep the newer, close the older.
            previous.close().await;
        }
        log::debug!("bridge: connection {id} open ({} ms)", started.elapsed().as_millis());
        Ok(())
    }

    fn pc(&self, id: &str) -> Result<BridgePc, PeerError> {
        lock(&self.pcs)
            .get(id)
            .cloned()
            .ok_or_else(|| PeerError::BadRequest("That connection is closed.".into()))
    }

    fn media(&self, source: Option<&str>) -> Result<Option<Arc<LocalMedia>>, PeerError> {
        match source {
            None => Ok(None),
            Some(s) => lock(&self.sources)
                .get(s)
                .map(|x| Some(x.media.clone()))
                .ok_or_else(|| PeerError::BadRequest(format!("There is no source {s}: open it first."))),
        }
    }

    /// Runs `op` on connection `id`: a batch runs its operations in order and answers each on
    /// its own ([`PcAnswer::Batch`]); a failure is logged with what failed.
    pub async fn run(&self, id: &str, op: PcOp) -> Result<PcAnswer, PeerError> {
        op.check()?;
        let PcOp::Batch { ops } = op else {
            return self.run_logged(id, op).await;
        };
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            outcomes.push(match self.run_logged(id, op).await {
                Ok(answer) => Outcome::Ok(answer),
                Err(e) => Outcome::Error(e.to_string()),
            });
        }
        Ok(PcAnswer::Batch(outcomes))
    }

    async fn run_logged(&self, id: &str, op: PcOp) -> Result<PcAnswer, PeerError> {
        let what = op.name();
        // A message sent while the other side hangs up is expected to fail; the rest is not.
        let level = if matches!(op, PcOp::ChannelSend { .. } | PcOp::ChannelClose { .. }) {
            log::Level::Debug
        } else {
            log::Level::Warn
        };
        let answer = self.run_one(id, op).await;
        if let Err(e) = &answer {
            log::log!(level, "connection {}: {what} failed: {e}", id.escape_debug());
        }
        answer
    }

    /// Runs one operation (not a batch) on connection `id`.
    async fn run_one(&self, id: &str, op: PcOp) -> Result<PcAnswer, PeerError> {
        let pc = self.pc(id)?;
        Ok(match op {
            PcOp::AddTransceiver { kind, direction, source } => {
                let media = self.media(source.as_deref())?;
                PcAnswer::Transceiver(pc.add_transceiver(parse_kind(&kind)?, &direction, media).await?)
            }
            PcOp::SetDirection { index, direction } => {
                pc.set_direction(index, &direction).await?;
                PcAnswer::None
            }
            PcOp::SetSource { index, source } => {
                let media = self.media(source.as_deref())?;
                pc.set_source(index, media).await?;
                PcAnswer::None
            }
            PcOp::SetLocal { rollback } => PcAnswer::Snapshot(pc.set_local_description(rollback).await?),
            PcOp::SetRemote { description } => PcAnswer::Snapshot(pc.set_remote_description(description).await?),
            PcOp::AddCandidate { candidate } => {
                pc.add_ice_candidate(candidate).await?;
                PcAnswer::None
            }
            PcOp::RestartIce => {
                pc.restart_ice().await?;
                PcAnswer::None
            }
            PcOp::CreateChannel { id: channel, label, ordered } => {
                pc.create_data_channel(channel, &label, ordered).await?;
                PcAnswer::None
            }
            PcOp::ChannelSend { id: channel, text } => {
                pc.channel_send(channel, &text).await?;
                PcAnswer::None
            }
            PcOp::ChannelClose { id: channel } => {
                pc.channel_close(channel).await;
                PcAnswer::None
            }
            PcOp::Stats => PcAnswer::Stats(pc.stats().await),
            PcOp::Batch { .. } => {
                return Err(PeerError::BadRequest("A batch cannot hold another batch.".into()))
            }
        })
    }

    /// `channel.send(bytes)` on channel `channel` of connection `id`, for each message of `body`
    /// (see [`split_channel_messages`]), in order; returns once the channel has room again.
    pub async fn channel_send_bytes(&self, id: &str, channel: u32, body: &[u8]) -> Result<(), PeerError> {
        let messages = split_channel_messages(body)?;
        let pc = self.pc(id)?;
        let sent = pc.channel_send_bytes(channel, &messages).await;
        if let Err(e) = &sent {
            log::debug!("connection {}: a data channel send failed: {e}", id.escape_debug());
        }
        sent
    }

    /// `close()` on connection `id` (closing one that is gone is not an error).
    pub async fn close(&self, id: &str) {
        let pc = lock(&self.pcs).remove(id);
        if let Some(pc) = pc {
            pc.close().await;
            log::debug!("bridge: connection {id} closed");
        }
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        lock(&self.pcs).len()
    }

    /// A new source of `kind` named `id` (opening one that exists is not an error).
    pub fn open_source(&self, id: &str, kind: MediaKind) -> Result<(), PeerError> {
        check_id(id)?;
        let mut sources = lock(&self.sources);
        if let Some(s) = sources.get(id) {
            return if s.kind == kind {
                Ok(())
            } else {
                Err(PeerError::BadRequest(format!("Source {id} is not {}.", kind.as_str())))
            };
        }
        if sources.len() >= MAX_SOURCES {
            return Err(PeerError::BadRequest(format!(
                "A page holds at most {MAX_SOURCES} sources: close one first."
            )));
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
    /// converted and encoded on the source's thread. Returns at once; a newer picture replaces
    /// one the encoder has not reached.
    pub fn push_video(
        &self,
        id: &str,
        format: PixelFormat,
        width: u32,
        height: u32,
        data: Vec<u8>,
        taken_us: Option<u64>,
    ) -> Result<(), PeerError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || width % 2 != 0 || height % 2 != 0 {
            return Err(PeerError::BadRequest(format!(
                "A {width}x{height} picture cannot be sent: sides must be even, 2 to {MAX_SIDE}."
            )));
        }
        if data.len() != format.len_for(width, height) {
            return Err(PeerError::BadRequest(format!(
                "A {width}x{height} {format:?} picture cannot be {} bytes.",
                data.len()
            )));
        }
        let video = lock(&self.sources)
            .get(id)
            .and_then(|s| s.video.clone())
            .ok_or_else(|| PeerError::BadRequest(format!("There is no video source {id}.")))?;
        video.push(Picture { format, width, height, data, captured: Instant::now(), taken_us });
        Ok(())
    }

    /// How video source `id`'s pictures fared.
    pub fn video_counts(&self, id: &str) -> Result<VideoCounts, PeerError> {
        lock(&self.sources)
            .get(id)
            .and_then(|s| s.video.as_ref().map(|v| v.counts()))
            .ok_or_else(|| PeerError::BadRequest(format!("There is no video source {id}.")))
    }

    /// One Opus packet for audio source `id`, `duration_us` long.
    pub fn push_audio_opus(&self, id: &str, packet: Vec<u8>, duration_us: u32) -> Result<(), PeerError> {
        if packet.is_empty()
            || packet.len() > MAX_OPUS_PACKET
            || duration_us == 0
            || duration_us > MAX_OPUS_DURATION_US
        {
            return Err(PeerError::BadRequest(format!(
                "That is not an Opus packet: 1 to {MAX_OPUS_PACKET} bytes, up to {} ms.",
                MAX_OPUS_DURATION_US / 1000
            )));
        }
        let media = lock(&self.sources)
            .get(id)
            .filter(|s| s.kind == MediaKind::Audio)
            .map(|s| s.media.clone())
            .ok_or_else(|| PeerError::BadRequest(format!("There is no audio source {id}.")))?;
        media.push_audio_opus(Bytes::from(packet), Duration::from_micros(u64::from(duration_us)), Instant::now());
        Ok(())
    }

    /// Starts recording `id` (an id the page picks) of `target` into `path`, a WebM file that
    /// must not exist yet (see [`lancall_recorder`]). The sender is asked for a keyframe at once.
    /// Must run inside a Tokio runtime.
    pub async fn start_recording(&self, id: &str, path: &Path, target: RecordTarget) -> Result<(), PeerError> {
        check_id(id)?;
        if self.recordings.contains(id) {
            return Err(PeerError::BadRequest("That recording is already running.".into()));
        }
        if self.recordings.len() >= MAX_RECORDINGS {
            return Err(PeerError::BadRequest(format!(
                "At most {MAX_RECORDINGS} recordings run at once: stop one first."
            )));
        }
        match &target {
            RecordTarget::Local { video, audio } => {
                let source = |id: &Option<String>, kind: MediaKind| -> Result<Option<Arc<LocalMedia>>, PeerError> {
                    let Some(id) = id else { return Ok(None) };
                    lock(&self.sources)
                        .get(id)
                        .filter(|s| s.kind == kind)
                        .map(|s| Some(s.media.clone()))
                        .ok_or_else(|| PeerError::BadRequest(format!("There is no {} source {id}.", kind.as_str())))
                };
                let (video, audio) = (source(video, MediaKind::Video)?, source(audio, MediaKind::Audio)?);
                if video.is_none() && audio.is_none() {
                    return Err(PeerError::BadRequest("Nothing to record: name a video or an audio source.".into()));
                }
                let weak = video.as_ref().map(Arc::downgrade);
                let keyframe = Box::new(move || {
                    if let Some(media) = weak.as_ref().and_then(std::sync::Weak::upgrade) {
                        media.request_keyframe();
                    }
                });
                let running = record::start(path, &target, keyframe)?;
                for (media, kind) in [(video, MediaKind::Video), (audio, MediaKind::Audio)] {
                    if let Some(media) = media {
                        tokio::spawn(record::tap_local(media.subscribe(), kind, running.sender()));
                    }
                }
                self.recordings.insert(id, running, None);
            }
            RecordTarget::Remote { pc, video, audio } => {
                if video.is_none() && audio.is_none() {
                    return Err(PeerError::BadRequest("Nothing to record: name a video or an audio transceiver.".into()));
                }
                let bridge = self.pc(pc)?;
                let video_index = *video;
                let keyframe = Box::new(move || {
                    if let Some(index) = video_index {
                        bridge.request_keyframe(index);
                    }
                });
                let running = record::start(path, &target, keyframe)?;
                self.recordings.insert(id, running, Some((pc.clone(), *video, *audio)));
            }
        }
        log::info!("recording {id} started: {}", path.display());
        Ok(())
    }

    /// Stops recording `id` and finishes its files; answers what they hold.
    pub async fn stop_recording(&self, id: &str) -> Result<RecordingDone, PeerError> {
        match self.recordings.stop(id).await {
            Some(done) => Ok(done?),
            None => Err(PeerError::BadRequest("That recording is not running.".into())),
        }
    }

    /// Closes everything (the app is closing, or the page was reloaded).
    pub async fn close_all(&self) {
        for id in self.recordings.ids() {
            match self.recordings.stop(&id).await {
                Some(Ok(done)) => log::info!("recording {id} finished as the page closed: {:?}", done.files),
                Some(Err(e)) => log::warn!("recording {id}: {e}"),
                None => {}
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            out.extend_from_slice(&u32::try_from(m.len()).expect("small").to_le_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    #[test]
    fn a_send_body_splits_into_its_messages_and_a_bad_one_is_refused_whole() {
        let big = vec![7u8; MAX_CHANNEL_MESSAGE];
        let body = framed(&[b"abc", &big, b"z"]);
        let got = split_channel_messages(&body).expect("three messages");
        assert_eq!(got, vec![&b"abc"[..], &big[..], &b"z"[..]]);
        assert!(split_channel_messages(&[]).expect("nothing").is_empty());
        // Cut short: in the length, in the message.
        assert!(split_channel_messages(&body[..2]).is_err());
        assert!(split_channel_messages(&body[..body.len() - 1]).is_err());
        // An empty message, one over the limit, a length of u32::MAX.
        assert!(split_channel_messages(&framed(&[b""])).is_err());
        assert!(split_channel_messages(&framed(&[&vec![0u8; MAX_CHANNEL_MESSAGE + 1]])).is_err());
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"xx");
        let e = split_channel_messages(&huge).expect_err("refused");
        assert!(e.to_string().contains("1 to"), "{e}");
        // A body over the cap is refused before it is read.
        assert!(split_channel_messages(&vec![0u8; MAX_CHANNEL_SEND + 1]).is_err());
    }

    #[test]
    fn a_thread_name_is_made_from_any_id_without_panicking() {
        // "aéééé" is 9 bytes: slicing it at byte 8 for a thread name panicked before.
        let media = LocalMedia::new(LocalMediaConfig::default());
        let pipe = VideoPipe::start("aéééé", media);
        pipe.close();
    }

    #[test]
    fn sources_are_bounded_checked_and_fed_only_what_fits() {
        let bridges = Bridges::default();
        assert!(bridges.open_source("aéééé", MediaKind::Video).is_err());
        bridges.open_source("cam", MediaKind::Video).expect("camera");
        bridges.open_source("cam", MediaKind::Video).expect("opening again is fine");
        assert!(bridges.open_source("cam", MediaKind::Audio).is_err(), "one id, one kind");
        bridges.open_source("mic", MediaKind::Audio).expect("microphone");
        for i in 2..MAX_SOURCES {
            bridges.open_source(&format!("s{i}"), MediaKind::Audio).expect("below the cap");
        }
        let over = bridges.open_source("one-more", MediaKind::Audio).expect_err("past the cap");
        assert!(over.to_string().contains(&format!("at most {MAX_SOURCES}")), "{over}");

        let i420 = |w: u32, h: u32| vec![0u8; PixelFormat::I420.len_for(w, h)];
        for (w, h) in [(0, 2), (3, 2), (2, 3), (MAX_SIDE + 2, 2), (2, u32::MAX)] {
            assert!(bridges.push_video("cam", PixelFormat::I420, w, h, vec![0; 6], None).is_err(), "{w}x{h}");
        }
        assert!(bridges.push_video("cam", PixelFormat::I420, 4, 4, vec![0; 23], None).is_err(), "short");
        assert!(bridges.push_video("mic", PixelFormat::I420, 4, 4, i420(4, 4), None).is_err(), "not video");
        assert!(bridges.push_video("nope", PixelFormat::I420, 4, 4, i420(4, 4), None).is_err());
        bridges.push_video("cam", PixelFormat::I420, 4, 4, i420(4, 4), None).expect("a picture");
        assert!(bridges.video_counts("cam").expect("counts").received >= 1);
        assert!(bridges.video_counts("mic").is_err());

        assert!(bridges.push_audio_opus("mic", vec![], 20_000).is_err());
        assert!(bridges.push_audio_opus("mic", vec![0; MAX_OPUS_PACKET + 1], 20_000).is_err());
        assert!(bridges.push_audio_opus("mic", vec![0; 100], 0).is_err());
        assert!(bridges.push_audio_opus("mic", vec![0; 100], MAX_OPUS_DURATION_US + 1).is_err());
        assert!(bridges.push_audio_opus("cam", vec![0; 100], 20_000).is_err(), "not audio");
        bridges.push_audio_opus("mic", vec![0xf8; 100], 20_000).expect("a packet");
        bridges.close_source("cam");
        assert!(bridges.video_counts("cam").is_err(), "closed");
    }
}
