//! Recording a room in the host, the way Galène's disk writer does it: a virtual subscriber of
//! every participant, which takes their frames as forwarded (VP8 and Opus, no re-encoding) and
//! writes one WebM file per person ([`lancall_recorder`]).
//!
//! - **A tap, not a copy of the engine.** [`RoomRecording::tap`] is called by the engine with
//!   every frame it forwards in a recorded room, before the subscribers get it. For video it
//!   keeps its own [`LayerChoice`] on the highest layer arriving (the engine counts the
//!   recording as a subscriber that wants that layer, so a publisher does not pause it while it
//!   is recorded), switching on a keyframe of the new layer with the RTP time made continuous.
//! - **A writer thread per file.** The tap hands frames to it through a bounded queue and never
//!   waits: a full queue (a disk slower than the call) drops the frame and asks for a keyframe.
//!   The thread places frames on one clock ([`AvClock`]: by arrival, lined up with the sender's
//!   RTCP Sender Reports when both tracks have one) and hands them to a [`Recording`] (a 250 ms
//!   reorder window, a new file when the picture size changes, cues for seeking).
//! - **Keyframes.** At the start of a file, when a delta frame cannot be used, after a dropped
//!   frame and on a layer switch, the tap tells the engine to ask the publisher for one.
//! - **Files.** `ROOM_NAME_YYYY-MM-DD_HH-MM-SS.webm` in the recording's folder (UTC; only
//!   letters, digits, `-` and `_` of the room and the person's name), `-screen` for a second
//!   video track (a shared screen, video only), never overwriting (a number is added).
//! - **Failure.** A write error (disk full, a folder taken away) stops that file, which still
//!   plays up to there, and is reported to the engine ([`Failure`]); the engine stops the whole
//!   room's recording and says why. The call goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lancall_recorder::{AvClock, FileSummary, RecordError, Recording, RecordingConfig, Tracks, VideoTrack};
use str0m::media::{MediaData, Mid};

use crate::layers::{choose_layer, Decision, LayerChoice, LayerInfo, LayerKey, Wanted};
use crate::{MediaKind, ParticipantId};

/// Frames waiting for a file's writer: about 4 s of one person's video and audio.
const QUEUE: usize = 512;

/// A file of a recording that stopped, as the caller of [`crate::Sfu::stop_recording`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFile {
    /// The file (a picture-size change makes more than one per person: each is listed).
    pub path: PathBuf,
    /// Whose picture and sound (the name given when the participant joined).
    pub name: String,
    /// How long it plays.
    pub duration: Duration,
    /// Video frames and audio packets in it.
    pub frames: u64,
}

/// A writer thread that could not go on: the room's recording stops.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) room: String,
    pub(crate) message: String,
}

/// A writer thread, and whose file it writes.
type Finishing = (String, std::thread::JoinHandle<Result<Vec<FileSummary>, RecordError>>);

/// A frame on its way to a writer thread.
enum Msg {
    Frame { video: bool, data: Arc<[u8]>, rtp: u32, arrived: Instant, report: Option<(SystemTime, u32)> },
    Stop,
}

/// One file being written: the queue to its thread.
struct Writer {
    tx: SyncSender<Msg>,
    keyframe_wanted: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<Vec<FileSummary>, RecordError>>>,
    name: String,
    failed: bool,
}

impl Writer {
    fn start(path: PathBuf, tracks: Tracks, name: String, room: String, failures: Sender<Failure>) -> Writer {
        let (tx, rx) = sync_channel(QUEUE);
        let keyframe_wanted = Arc::new(AtomicBool::new(tracks.video.is_some()));
        let wanted = keyframe_wanted.clone();
        let thread = std::thread::Builder::new()
            .name("lancall-rec".into())
            .spawn(move || write_file(&path, tracks, &rx, &wanted, &room, &failures));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                log::error!("recording: no thread could be started for {name}'s file: {e}");
                None
            }
        };
        Writer { failed: thread.is_none(), tx, keyframe_wanted, thread, name }
    }

    /// Hands a frame on; false when it was dropped (queue full: the disk is behind).
    fn send(&mut self, msg: Msg) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::debug!("recording: {}'s writer is behind; a frame was dropped", self.name);
                self.keyframe_wanted.store(true, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.failed = true;
                false
            }
        }
    }

    /// Ends the file: what is queued is written first. Does not wait; the returned handle does.
    fn stop(mut self) -> Option<Finishing> {
        // A full queue still takes the stop once the thread catches up.
        let _ = self.tx.send(Msg::Stop);
        self.thread.take().map(|t| (self.name.clone(), t))
    }
}

/// The writer thread: frames in, one person's WebM files out.
fn write_file(
    path: &Path,
    tracks: Tracks,
    rx: &Receiver<Msg>,
    keyframe_wanted: &AtomicBool,
    room: &str,
    failures: &Sender<Failure>,
) -> Result<Vec<FileSummary>, RecordError> {
    let mut recording = match Recording::create(path, RecordingConfig { tracks, ..RecordingConfig::default() }) {
        Ok(r) => r,
        Err(e) => {
            let _ = failures.send(Failure { room: room.to_owned(), message: e.to_string() });
            return Err(e);
        }
    };
    log::info!("recording: writing {}", path.display());
    let mut clock = AvClock::new(Instant::now());
    let mut failed = false;
    while let Ok(Msg::Frame { video, data, rtp, arrived, report }) = rx.recv() {
        if failed {
            continue;
        }
        let pushed = if video {
            if let Some((ntp, rtp)) = report {
                clock.video_report(ntp, rtp);
            }
            let at = clock.video(rtp, arrived);
            recording.push_video(at, bytes::Bytes::copy_from_slice(&data))
        } else {
            if let Some((ntp, rtp)) = report {
                clock.audio_report(ntp, rtp);
            }
            let at = clock.audio(rtp, arrived);
            recording.push_audio(at, bytes::Bytes::copy_from_slice(&data))
        };
        if recording.take_keyframe_request() {
            keyframe_wanted.store(true, Ordering::Relaxed);
        }
        if let Err(e) = pushed {
            log::warn!("recording: {e}");
            let _ = failures.send(Failure { room: room.to_owned(), message: e.to_string() });
            failed = true;
        }
    }
    let files = recording.finish();
    match &files {
        Ok(files) => {
            for f in files {
                log::info!("recording: {} done, {:.1} s", f.path.display(), f.duration.as_secs_f64());
            }
        }
        Err(e) => log::warn!("recording: {} could not be finished: {e}", path.display()),
    }
    files
}

/// How long a recording waits for a track's highest layer before it starts on a lower one that
/// is arriving (a publisher sends its low layer first when it starts, and the top one may
/// never come: a slow uplink).
const WAIT_FOR_TOP_LAYER: Duration = Duration::from_secs(2);

/// One recorded video track: its writer and the layer it takes.
struct VideoTap {
    writer: Writer,
    layer: TrackLayer,
}

/// The layer a recording takes of one video track, and since when it looks at the track.
struct TrackLayer {
    choice: LayerChoice,
    since: Instant,
}

impl TrackLayer {
    fn new(now: Instant) -> TrackLayer {
        TrackLayer { choice: LayerChoice::default(), since: now }
    }
}

/// What one participant's frames go to.
#[derive(Default)]
struct PersonTaps {
    /// Camera (the first video track) and voice, in one file.
    main: Option<Writer>,
    /// The camera's mid and layer choice.
    main_video: Option<(Mid, TrackLayer)>,
    /// Other video tracks (a shared screen), video only.
    others: HashMap<Mid, VideoTap>,
}

/// One room being recorded.
pub(crate) struct RoomRecording {
    room: String,
    dir: PathBuf,
    people: HashMap<ParticipantId, PersonTaps>,
    failures: Sender<Failure>,
    /// Files of participants who left while recording (their writers are stopping).
    finished: Vec<Finishing>,
}

impl RoomRecording {
    /// Starts recording `room` into `dir` (made if missing; it must be writable).
    pub(crate) fn start(room: &str, dir: &Path, failures: Sender<Failure>) -> std::io::Result<RoomRecording> {
        std::fs::create_dir_all(dir)?;
        // Writable? A probe file, removed at once.
        let probe = dir.join(format!(".lancall-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"")?;
        let _ = std::fs::remove_file(&probe);
        Ok(RoomRecording { room: room.to_owned(), dir: dir.to_owned(), people: HashMap::new(), failures, finished: Vec::new() })
    }

    /// One frame of `from` (named `name`), which the engine is about to forward. `layers`: the
    /// track's layers now (video). Answers the layer of that track to ask a keyframe of, if one
    /// is needed.
    #[allow(clippy::too_many_arguments)] // the engine's view of one frame, taken apart
    pub(crate) fn tap(
        &mut self,
        from: ParticipantId,
        name: &str,
        kind: MediaKind,
        video_mids: &[Mid],
        data: &MediaData,
        layers: &[LayerInfo],
        now: Instant,
    ) -> Option<LayerKey> {
        let person = self.people.entry(from).or_default();
        let report = data.last_sender_info.as_ref().map(|s| (s.ntp_time, s.rtp_time.numer()));
        if kind == MediaKind::Audio {
            let writer = person.main.get_or_insert_with(|| {
                let path = file_path(&self.dir, &self.room, name, "");
                Writer::start(path, Tracks::video_and_audio(), name.to_owned(), self.room.clone(), self.failures.clone())
            });
            if !writer.failed {
                writer.send(Msg::Frame {
                    video: false,
                    data: data.data.clone(),
                    rtp: data.time.numer() as u32,
                    arrived: data.network_time,
                    report: report.map(|(ntp, rtp)| (ntp, rtp as u32)),
                });
            }
            return None;
        }
        // The camera is the participant's first video track (lowest mid); others are screens.
        let camera = video_mids.iter().min_by_key(|m| mid_order(m)).copied();
        let is_camera = camera == Some(data.mid);
        if is_camera && person.main_video.as_ref().is_some_and(|(m, _)| *m != data.mid) {
            // The camera track changed (a renegotiation): the new one is followed from its keyframe.
            person.main_video = None;
        }
        let (writer, layer) = if is_camera {
            let writer = person.main.get_or_insert_with(|| {
                let path = file_path(&self.dir, &self.room, name, "");
                Writer::start(path, Tracks::video_and_audio(), name.to_owned(), self.room.clone(), self.failures.clone())
            });
            let (_, layer) = person.main_video.get_or_insert_with(|| (data.mid, TrackLayer::new(now)));
            (writer, layer)
        } else {
            let tap = person.others.entry(data.mid).or_insert_with(|| {
                let path = file_path(&self.dir, &self.room, name, "-screen");
                let tracks = Tracks { video: Some(VideoTrack::default()), audio: None };
                VideoTap {
                    writer: Writer::start(path, tracks, format!("{name} (screen)"), self.room.clone(), self.failures.clone()),
                    layer: TrackLayer::new(now),
                }
            });
            (&mut tap.writer, &mut tap.layer)
        };
        if writer.failed {
            return None;
        }
        let TrackLayer { choice: layer, since } = layer;
        // A recording starts on the highest layer (the one it keeps), not on whichever has a
        // keyframe first as a subscriber does for a quick first picture: a file is made per
        // picture size, and a first file of a few frames of the low layer helps nobody. Until
        // the highest layer is arriving it waits a little, then takes what arrives.
        let started = layer.current().is_some();
        let live_only = started || now.saturating_duration_since(*since) >= WAIT_FOR_TOP_LAYER;
        let wanted = choose_layer(layers, Wanted::Default, None, layer.current(), live_only);
        if !started && wanted.is_some_and(|w| w != data.rid) {
            return wanted.filter(|w| layers.iter().any(|l| l.rid == *w && l.live));
        }
        match layer.on_frame(data.rid, data.is_keyframe(), data.time, wanted, now) {
            Decision::Forward(time) => {
                // The sender's report is of this layer's RTP clock: moved as the frame's time was.
                let shift = time.numer().wrapping_sub(data.time.numer());
                let sent = writer.send(Msg::Frame {
                    video: true,
                    data: data.data.clone(),
                    rtp: time.numer() as u32,
                    arrived: data.network_time,
                    report: report.map(|(ntp, rtp)| (ntp, rtp.wrapping_add(shift) as u32)),
                });
                if (!sent || writer.keyframe_wanted.swap(false, Ordering::Relaxed)) && layer.current().is_some() {
                    return layer.current().copied();
                }
                None
            }
            Decision::DropAndRequestKeyframe(key) => Some(key),
            Decision::NotChosen | Decision::Paused => {
                // Before any layer has started, a keyframe of the target is what is missing.
                if layer.current().is_none() && writer.keyframe_wanted.swap(false, Ordering::Relaxed) {
                    return wanted;
                }
                None
            }
        }
    }

    /// `id` left: its files are finished (a rejoin starts new ones).
    pub(crate) fn participant_left(&mut self, id: ParticipantId) {
        if let Some(person) = self.people.remove(&id) {
            self.finished.extend(person.into_writers().filter_map(Writer::stop));
        }
    }

    /// Ends the recording: every writer finishes its file. The returned closure waits for them
    /// (call it off the SFU's thread).
    pub(crate) fn stop(self) -> impl FnOnce() -> (Vec<RecordedFile>, Vec<String>) + Send + 'static {
        let mut handles = self.finished;
        for (_, person) in self.people {
            handles.extend(person.into_writers().filter_map(Writer::stop));
        }
        move || {
            let mut files = Vec::new();
            let mut errors = Vec::new();
            for (name, handle) in handles {
                match handle.join() {
                    Ok(Ok(summaries)) => files.extend(summaries.into_iter().map(|s| RecordedFile {
                        path: s.path,
                        name: name.clone(),
                        duration: s.duration,
                        frames: s.video_frames + s.audio_packets,
                    })),
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(_) => errors.push(format!("the writer of {name}'s file failed (a bug: see the log)")),
                }
            }
            // By person; each person's files in the order they were made (a stable sort).
            files.sort_by(|a, b| a.name.cmp(&b.name));
            (files, errors)
        }
    }
}

impl PersonTaps {
    fn into_writers(self) -> impl Iterator<Item = Writer> {
        self.main.into_iter().chain(self.others.into_values().map(|t| t.writer))
    }
}

/// Mids as numbers where they are (browsers number them), so "10" comes after "2".
fn mid_order(mid: &Mid) -> (u64, String) {
    let s = mid.to_string();
    (s.parse().unwrap_or(u64::MAX), s)
}

/// `dir/ROOM_NAME_TIME{suffix}.webm`, not taken yet.
fn file_path(dir: &Path, room: &str, name: &str, suffix: &str) -> PathBuf {
    let stem = format!("{}_{}_{}{suffix}", file_part(room, "room"), file_part(name, "someone"), utc_stamp(SystemTime::now()));
    let first = dir.join(format!("{stem}.webm"));
    if !first.exists() {
        return first;
    }
    (2..1000).map(|n| dir.join(format!("{stem}_{n}.webm"))).find(|p| !p.exists()).unwrap_or(first)
}

/// What of `s` may be in a file name: ASCII letters and digits, `-` and `_` (spaces become
/// `-`), at most 40; `fallback` if nothing is left.
pub(crate) fn file_part(s: &str, fallback: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect();
    let kept = kept.trim_matches(['-', '_']);
    if kept.is_empty() {
        fallback.to_owned()
    } else {
        kept.to_owned()
    }
}

/// `YYYY-MM-DD_HH-MM-SS` in UTC.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}_{:02}-{:02}-{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_part("../../.bashrc", "x"), "bashrc");
        assert_eq!(file_part("Ada Lovelace", "x"), "Ada-Lovelace");
        assert_eq!(file_part("\u{1}\u{7f}/\\", "someone"), "someone");
        assert_eq!(file_part(&"a".repeat(300), "x").len(), 40);
    }

    #[test]
    fn utc_stamps_are_calendar_dates() {
        assert_eq!(utc_stamp(SystemTime::UNIX_EPOCH), "1970-01-01_00-00-00");
        // 2026-12-06 23:45:07 UTC.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_600_707);
        assert_eq!(utc_stamp(t), "2026-12-06_23-45-07");
        // A leap day.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_stamp(t), "2000-02-29_00-00-00");
    }

    #[test]
    fn a_file_name_is_never_reused() {
        let dir = std::env::temp_dir().join(format!("lancall-rec-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a = file_path(&dir, "standup", "Ada", "");
        std::fs::write(&a, b"x").expect("write");
        let b = file_path(&dir, "standup", "Ada", "");
        assert_ne!(a, b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
