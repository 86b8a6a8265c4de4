//! Recording in the Linux app, from what its Rust side already holds: the encoded frames of a
//! remote person (as they arrive on a bridged connection's transceivers) or of our own sources
//! (as the encoders make them), into WebM ([`lancall_recorder`]), with no decoding or encoding.
//!
//! The taps cost nothing while nobody records: remote frames pass one atomic load
//! ([`Taps::offer`]), and a local source is subscribed to only while it is recorded. Each
//! recording has a thread of its own that writes the file; the taps hand frames to it through a
//! bounded queue and never wait (a full queue drops the frame and asks for a keyframe).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lancall_protocol::sync::lock;
use lancall_recorder::{AudioTrack, AvClock, FileSummary, RecordError, Recording, RecordingConfig, Tracks, VideoTrack};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::media::{EncodedSample, MediaKind, RemoteFrame};

/// Frames waiting for a recording's writer: about 4 s of a call's video and audio.
const QUEUE: usize = 512;
/// At most one keyframe request per this long (a sender asked too often sends only keyframes).
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(500);

/// What a recording records.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum RecordTarget {
    /// Our own camera and microphone: the page's sources by id.
    Local {
        /// The video source.
        video: Option<String>,
        /// The audio source.
        audio: Option<String>,
    },
    /// A remote person: the transceivers of connection `pc` their video and sound arrive on.
    Remote {
        /// The connection.
        pc: String,
        /// The video transceiver's index.
        video: Option<usize>,
        /// The audio transceiver's index.
        audio: Option<usize>,
    },
}

/// What a stopped recording left.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingDone {
    /// The files, in order (a second one when the picture size changed).
    pub files: Vec<PathBuf>,
    /// How long they play together, milliseconds.
    pub duration_ms: u64,
    /// Why it stopped early, if it did (the files play up to there).
    pub error: Option<String>,
}

/// A frame on its way to a recording's thread.
pub(crate) enum TapFrame {
    /// Ours: stamped when it was captured.
    Local { kind: MediaKind, data: Bytes, captured: Instant },
    /// A remote one: its RTP timestamp and when it arrived.
    Remote { kind: MediaKind, data: Bytes, rtp: u32, received: Instant },
}

pub(crate) enum Msg {
    Frame(TapFrame),
    Stop(oneshot::Sender<Result<RecordingDone, RecordError>>),
}

/// A remote tap: frames of `transceiver` on connection `pc` go to `tx`.
struct RemoteTap {
    recording: String,
    pc: String,
    video: Option<usize>,
    audio: Option<usize>,
    tx: SyncSender<Msg>,
}

/// The remote taps, looked at for every remote frame.
#[derive(Default)]
pub(crate) struct Taps {
    /// How many remote taps there are: the one thing a frame looks at while nobody records.
    active: AtomicUsize,
    remote: Mutex<Vec<RemoteTap>>,
}

impl Taps {
    /// A remote frame of connection `pc`: to the recordings that want it.
    pub fn offer(&self, pc: &str, frame: &RemoteFrame) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        for tap in lock(&self.remote).iter() {
            let wanted = match frame.kind {
                MediaKind::Video => tap.video,
                MediaKind::Audio => tap.audio,
            };
            if tap.pc == pc && wanted == Some(frame.transceiver) {
                send(
                    &tap.tx,
                    TapFrame::Remote {
                        kind: frame.kind,
                        data: frame.data.clone(),
                        rtp: frame.rtp_timestamp,
                        received: frame.received,
                    },
                );
            }
        }
    }

    fn add(&self, tap: RemoteTap) {
        let mut remote = lock(&self.remote);
        remote.push(tap);
        self.active.store(remote.len(), Ordering::Relaxed);
    }

    fn remove(&self, recording: &str) {
        let mut remote = lock(&self.remote);
        remote.retain(|t| t.recording != recording);
        self.active.store(remote.len(), Ordering::Relaxed);
    }
}

/// Hands a frame over without waiting; a full queue (a disk too slow) drops it.
fn send(tx: &SyncSender<Msg>, frame: TapFrame) {
    match tx.try_send(Msg::Frame(frame)) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(_)) => log::debug!("recording: the writer is behind; a frame was dropped"),
    }
}

/// A running recording: the queue to its writer thread.
pub(crate) struct Running {
    tx: SyncSender<Msg>,
}

impl Running {
    /// Where a tap hands frames.
    pub fn sender(&self) -> SyncSender<Msg> {
        self.tx.clone()
    }
}

/// Starts the writer thread of a recording into `path` (which must not exist) and answers its
/// queue. `keyframe` asks the recorded sender for a keyframe. The tracks are those `target`
/// names.
pub(crate) fn start(
    path: &Path,
    target: &RecordTarget,
    keyframe: Box<dyn Fn() + Send>,
) -> Result<Running, RecordError> {
    let (has_video, has_audio) = match target {
        RecordTarget::Local { video, audio } => (video.is_some(), audio.is_some()),
        RecordTarget::Remote { video, audio, .. } => (video.is_some(), audio.is_some()),
    };
    let tracks = Tracks {
        video: has_video.then(VideoTrack::default),
        audio: has_audio.then(AudioTrack::default),
    };
    let recording = Recording::create(path, RecordingConfig { tracks, ..RecordingConfig::default() })?;
    let (tx, rx) = sync_channel(QUEUE);
    let start = Instant::now();
    let name = path.display().to_string();
    let spawned = std::thread::Builder::new()
        .name("lancall-record".into())
        .spawn(move || write_loop(recording, rx, keyframe, start, &name));
    if let Err(e) = spawned {
        return Err(RecordError::Io { action: "start writing", path: path.to_owned(), source: e });
    }
    Ok(Running { tx })
}

/// The writer thread: frames onto one clock, into the recording, until told to stop.
fn write_loop(
    recording: Recording,
    rx: Receiver<Msg>,
    keyframe: Box<dyn Fn() + Send>,
    start: Instant,
    name: &str,
) {
    let mut recording = Some(recording);
    let mut clock = AvClock::new(start);
    let mut failed: Option<RecordError> = None;
    let mut last_request: Option<Instant> = None;
    let ask = |last: &mut Option<Instant>| {
        if last.is_none_or(|t| t.elapsed() >= KEYFRAME_REQUEST_EVERY) {
            *last = Some(Instant::now());
            keyframe();
        }
    };
    ask(&mut last_request);
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Frame(frame) => {
                let Some(rec) = recording.as_mut().filter(|_| failed.is_none()) else { continue };
                let (kind, data, at) = match frame {
                    TapFrame::Local { kind, data, captured } => (kind, data, captured.saturating_duration_since(start)),
                    TapFrame::Remote { kind: MediaKind::Video, data, rtp, received } => {
                        (MediaKind::Video, data, clock.video(rtp, received))
                    }
                    TapFrame::Remote { kind: MediaKind::Audio, data, rtp, received } => {
                        (MediaKind::Audio, data, clock.audio(rtp, received))
                    }
                };
                let pushed = match kind {
                    MediaKind::Video => rec.push_video(at, data),
                    MediaKind::Audio => rec.push_audio(at, data),
                };
                if let Err(e) = pushed {
                    log::warn!("recording {name} stopped: {e}");
                    failed = Some(e);
                } else if rec.take_keyframe_request() {
                    ask(&mut last_request);
                }
            }
            Msg::Stop(reply) => {
                let result = recording.take().map(|r| finish(r, failed.take()));
                if let Some(result) = result {
                    let _ = reply.send(result);
                }
                return;
            }
        }
    }
    // Every sender gone without a stop (the app is closing): finish the file all the same.
    if let Some(r) = recording.take() {
        if let Err(e) = finish(r, failed) {
            log::warn!("recording {name}: {e}");
        }
    }
}

/// Finishes the files; an error met earlier is reported beside them.
fn finish(recording: Recording, failed: Option<RecordError>) -> Result<RecordingDone, RecordError> {
    let files: Vec<FileSummary> = recording.finish()?;
    Ok(RecordingDone {
        duration_ms: files.iter().map(|f| f.duration.as_millis() as u64).sum(),
        files: files.into_iter().map(|f| f.path).collect(),
        error: failed.map(|e| e.to_string()),
    })
}

/// The recordings of one page, by the ids the page gave them.
#[derive(Default)]
pub(crate) struct Recordings {
    pub taps: Arc<Taps>,
    running: Mutex<HashMap<String, Running>>,
}

impl Recordings {
    /// Registers a started recording; its remote tap (if any) goes live.
    pub fn insert(&self, id: &str, running: Running, remote: Option<(String, Option<usize>, Option<usize>)>) {
        if let Some((pc, video, audio)) = remote {
            self.taps.add(RemoteTap { recording: id.to_owned(), pc, video, audio, tx: running.tx.clone() });
        }
        lock(&self.running).insert(id.to_owned(), running);
    }

    /// Whether recording `id` runs.
    pub fn contains(&self, id: &str) -> bool {
        lock(&self.running).contains_key(id)
    }

    /// How many run.
    pub fn len(&self) -> usize {
        lock(&self.running).len()
    }

    /// Their ids.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.running).keys().cloned().collect()
    }

    /// Stops recording `id`: its taps go, its files are finished. `None` if there is no such
    /// recording.
    pub async fn stop(&self, id: &str) -> Option<Result<RecordingDone, RecordError>> {
        self.taps.remove(id);
        let running = lock(&self.running).remove(id)?;
        let (reply, done) = oneshot::channel();
        if running.tx.send(Msg::Stop(reply)).is_err() {
            return None;
        }
        done.await.ok()
    }
}

/// Forwards our own `kind` frames from a source's fan-out to a recording, until it stops.
pub(crate) async fn tap_local(
    mut rx: tokio::sync::broadcast::Receiver<Arc<EncodedSample>>,
    kind: MediaKind,
    tx: SyncSender<Msg>,
) {
    loop {
        match rx.recv().await {
            Ok(sample) if sample.kind == kind => {
                let frame = TapFrame::Local { kind, data: sample.data.clone(), captured: sample.captured };
                match tx.try_send(Msg::Frame(frame)) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
