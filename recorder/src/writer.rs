//! [`WebmWriter`]: one WebM file of VP8 and Opus frames, written in the order given.
//!
//! The layout is a live stream's (what MediaRecorder writes), so that what is on disk plays at
//! every moment: the EBML header, a Segment of unknown size, room kept (Void) for the SeekHead
//! and the Duration, Info, Tracks, then Clusters. A Cluster starts with unknown size and gets its
//! size when the next one starts; the buffer goes to the file at least every
//! [`FLUSH_EVERY`] of media. At [`WebmWriter::finish`], Cues (one per cluster starting on a
//! video keyframe) go at the end and the Segment size, Duration and SeekHead are written into
//! the room kept for them. A process that stops abruptly leaves a file without Cues and
//! Duration (players still play it; ffprobe estimates its length); a disk that fills leaves the
//! file cut at its last whole element, sealed with its Duration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ebml::{id, patch_uint, size8, Ebml, UNKNOWN_SIZE};
use crate::error::{is_disk_full, RecordError};
use crate::sink::FileSink;
use crate::{opus, vp8};

/// A new cluster at the latest after this long (relative block timestamps are 16-bit
/// milliseconds: a cluster must stay under 32.7 s).
pub const MAX_CLUSTER: Duration = Duration::from_secs(5);
/// A video keyframe starts a new cluster (and a seek point) once the cluster is this long.
pub const MIN_CLUSTER: Duration = Duration::from_millis(500);
/// Media is written to the file at least this often: what an abrupt stop can lose.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Room kept for the SeekHead: three entries of at most 28 bytes and its 12-byte header fit
/// with room to spare for the Void that fills the rest.
const SEEK_HEAD_ROOM: usize = 128;
/// Room kept for the Duration (a 2-byte ID, a 1-byte size, an 8-byte float).
const DURATION_ROOM: usize = 11;
/// Opus decoders should run this long before a seek point to converge (Matroska's advice).
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;

/// The video track: VP8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTrack {
    /// The picture size to announce until the first keyframe says the real one (the header is
    /// then corrected in place).
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

impl Default for VideoTrack {
    fn default() -> Self {
        VideoTrack { width: 640, height: 480 }
    }
}

/// The audio track: Opus at 48 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTrack {
    /// Channels the decoder should output (WebRTC's Opus is signalled as 2; mono packets play
    /// in both).
    pub channels: u8,
}

impl Default for AudioTrack {
    fn default() -> Self {
        AudioTrack { channels: 2 }
    }
}

/// Which tracks a file has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tracks {
    /// VP8 video, if any.
    pub video: Option<VideoTrack>,
    /// Opus audio, if any.
    pub audio: Option<AudioTrack>,
}

impl Tracks {
    /// VP8 video and Opus audio, with the defaults.
    pub fn video_and_audio() -> Tracks {
        Tracks { video: Some(VideoTrack::default()), audio: Some(AudioTrack::default()) }
    }
}

/// What became of a frame handed to [`WebmWriter::write_video`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum VideoWritten {
    /// In the file.
    Written,
    /// Not written: the file has had no keyframe yet and a delta frame cannot be decoded
    /// without one (ask the sender for a keyframe).
    WaitingForKeyframe,
    /// Not written: this keyframe's picture size differs from the file's. Finish this file and
    /// start another with it ([`crate::Recording`] does).
    SizeChanged {
        /// The file's size.
        from: (u32, u32),
        /// The keyframe's.
        to: (u32, u32),
    },
}

/// What a finished (or sealed) file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// From the first frame to the end of the last one.
    pub duration: Duration,
    /// The picture size, once a keyframe said it.
    pub size: Option<(u32, u32)>,
    /// Video frames written.
    pub video_frames: u64,
    /// Opus packets written.
    pub audio_packets: u64,
    /// The file's length in bytes.
    pub bytes: u64,
    /// Seek points written (0 when the recording was cut short: no room, or an abrupt stop).
    pub cues: usize,
    /// False when the recording stopped on an error: the file plays up to where it stopped.
    pub complete: bool,
}

struct Cluster {
    /// Where it starts.
    start: u64,
    /// Where its size goes.
    size_at: u64,
    /// Where its body starts.
    body_at: u64,
    /// Its timestamp, ms.
    time_ms: u64,
    /// Whether a Cue points at it.
    has_cue: bool,
}

struct Cue {
    time_ms: u64,
    track: u64,
    /// The cluster's offset from the start of the Segment's body.
    cluster_at: u64,
}

const VIDEO_TRACK: u64 = 1;

/// One WebM file being written. Frames go in in the order given; timestamps are from the start
/// of the file and never go back (a frame older than the last is written at the last one's
/// time: [`crate::Recording`] orders frames within a small window first).
pub struct WebmWriter {
    sink: FileSink,
    tracks: Tracks,
    audio_track: u64,
    /// Where the Segment's size and body are.
    segment_size_at: u64,
    segment_body_at: u64,
    seek_head_at: u64,
    duration_at: u64,
    info_at: u64,
    tracks_at: u64,
    /// Where the video's PixelWidth and PixelHeight values are (2 bytes each).
    pixel_size_at: Option<(u64, u64)>,
    /// The picture size a keyframe said.
    size: Option<(u32, u32)>,
    cluster: Option<Cluster>,
    cues: Vec<Cue>,
    /// The last block's time, ms (blocks never go back).
    last_ms: Option<u64>,
    /// The end of the media on disk: the last block's time plus its length.
    end_ms: u64,
    /// The same, for what reached the file.
    flushed_end_ms: u64,
    last_flush_ms: u64,
    /// An average frame's length per track, ms (for the duration of the last frame).
    video_step_ms: u64,
    video_frames: u64,
    audio_packets: u64,
    /// Set by the first error: the file was sealed then.
    failed: bool,
    finished: bool,
}

impl WebmWriter {
    /// Makes `path` (which must not exist) and writes the header for `tracks`.
    pub fn create(path: &Path, tracks: Tracks) -> Result<WebmWriter, RecordError> {
        if tracks.video.is_none() && tracks.audio.is_none() {
            return Err(RecordError::NoTracks);
        }
        let sink = FileSink::create(path).map_err(|source| RecordError::Io {
            action: "make the recording",
            path: path.to_owned(),
            source,
        })?;
        let mut e = Ebml::default();
        e.master(id::EBML, |e| {
            e.uint(id::EBML_VERSION, 1);
            e.uint(id::EBML_READ_VERSION, 1);
            e.uint(id::EBML_MAX_ID_LENGTH, 4);
            e.uint(id::EBML_MAX_SIZE_LENGTH, 8);
            e.string(id::DOC_TYPE, "webm");
            e.uint(id::DOC_TYPE_VERSION, 4);
            e.uint(id::DOC_TYPE_READ_VERSION, 2);
        });
        e.header(id::SEGMENT, 0);
        e.buf.pop(); // the 1-byte size header() wrote: the Segment's size is 8 bytes, unknown for now
        let segment_size_at = e.buf.len() as u64;
        e.buf.extend_from_slice(&UNKNOWN_SIZE);
        let segment_body_at = e.buf.len() as u64;
        let seek_head_at = e.buf.len() as u64;
        e.void(SEEK_HEAD_ROOM);
        let info_at = e.buf.len() as u64;
        let mut duration_at = 0;
        e.master(id::INFO, |e| {
            e.uint(id::TIMESTAMP_SCALE, 1_000_000); // block times in milliseconds
            e.string(id::MUXING_APP, "lancall-recorder");
            e.string(id::WRITING_APP, concat!("lancall ", env!("CARGO_PKG_VERSION")));
            duration_at = e.buf.len() as u64;
            e.void(DURATION_ROOM);
        });
        let tracks_at = e.buf.len() as u64;
        let mut pixel_size_at = None;
        let audio_track = if tracks.video.is_some() { 2 } else { 1 };
        e.master(id::TRACKS, |e| {
            if let Some(v) = tracks.video {
                e.master(id::TRACK_ENTRY, |e| {
                    e.uint(id::TRACK_NUMBER, VIDEO_TRACK);
                    e.uint(id::TRACK_UID, VIDEO_TRACK);
                    e.uint(id::TRACK_TYPE, 1);
                    e.uint(id::FLAG_LACING, 0);
                    e.string(id::CODEC_ID, "V_VP8");
                    e.master(id::VIDEO, |e| {
                        // Two bytes each whatever the value, so a keyframe's size fits in later.
                        let w = e.uint_fixed(id::PIXEL_WIDTH, u64::from(v.width.clamp(1, 0xFFFF)), 2);
                        let h = e.uint_fixed(id::PIXEL_HEIGHT, u64::from(v.height.clamp(1, 0xFFFF)), 2);
                        pixel_size_at = Some((w as u64, h as u64));
                    });
                });
            }
            if let Some(a) = tracks.audio {
                e.master(id::TRACK_ENTRY, |e| {
                    e.uint(id::TRACK_NUMBER, audio_track);
                    e.uint(id::TRACK_UID, audio_track);
                    e.uint(id::TRACK_TYPE, 2);
                    e.uint(id::FLAG_LACING, 0);
                    e.string(id::CODEC_ID, "A_OPUS");
                    e.bytes(id::CODEC_PRIVATE, &opus::head(a.channels));
                    e.uint(id::CODEC_DELAY, 0);
                    e.uint(id::SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS);
                    e.master(id::AUDIO, |e| {
                        e.float(id::SAMPLING_FREQUENCY, 48_000.0);
                        e.uint(id::CHANNELS, u64::from(a.channels.max(1)));
                    });
                });
            }
        });
        let mut writer = WebmWriter {
            sink,
            tracks,
            audio_track,
            segment_size_at,
            segment_body_at,
            seek_head_at,
            duration_at,
            info_at,
            tracks_at,
            pixel_size_at,
            size: None,
            cluster: None,
            cues: Vec::new(),
            last_ms: None,
            end_ms: 0,
            flushed_end_ms: 0,
            last_flush_ms: 0,
            video_step_ms: 33,
            video_frames: 0,
            audio_packets: 0,
            failed: false,
            finished: false,
        };
        // The header goes to disk at once: a file that exists is a file that plays.
        let header = [e.buf.as_slice()];
        if let Err(error) = writer.io("write the recording", |s| {
            s.append(&header)?;
            s.flush()
        }) {
            // Nothing playable was made: leave no empty file behind.
            writer.failed = true;
            if let Err(e) = std::fs::remove_file(path) {
                log::debug!("recording {}: could not remove the failed file: {e}", path.display());
            }
            return Err(error);
        }
        log::debug!("recording {}: started", path.display());
        Ok(writer)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.sink.path()
    }

    /// The picture size the file has (once a keyframe said it).
    pub fn size(&self) -> Option<(u32, u32)> {
        self.size
    }

    /// How long the recording is so far.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.end_ms)
    }

    /// One VP8 frame, `at` from the start of the file. Whether it is a keyframe and its picture
    /// size are read from the frame itself (RFC 6386 §9.1). Frames before the first keyframe
    /// are not written (they cannot be decoded), and a keyframe of another size is not written
    /// either: both are reported ([`VideoWritten`]).
    pub fn write_video(&mut self, at: Duration, frame: &[u8]) -> Result<VideoWritten, RecordError> {
        self.check_open()?;
        self.video(at, frame).map_err(|e| self.fail(e))
    }

    fn video(&mut self, at: Duration, frame: &[u8]) -> Result<VideoWritten, RecordError> {
        if self.tracks.video.is_none() || frame.is_empty() {
            return Ok(VideoWritten::Written);
        }
        let keyframe = vp8::is_keyframe(frame);
        if keyframe {
            if let Some(to) = vp8::keyframe_size(frame) {
                match self.size {
                    Some(from) if from != to => return Ok(VideoWritten::SizeChanged { from, to }),
                    Some(_) => {}
                    None => self.set_size(to)?,
                }
            }
        }
        if self.size.is_none() {
            return Ok(VideoWritten::WaitingForKeyframe);
        }
        let ms = self.block_time(at);
        let new_cluster = match &self.cluster {
            None => true,
            Some(c) => {
                let age = ms - c.time_ms;
                (keyframe && age >= MIN_CLUSTER.as_millis() as u64) || age >= MAX_CLUSTER.as_millis() as u64
            }
        };
        if new_cluster {
            self.start_cluster(ms, keyframe.then_some(VIDEO_TRACK))?;
        } else if keyframe {
            // A keyframe inside a cluster that audio started: a seek point to it all the same.
            if let Some(c) = self.cluster.as_mut().filter(|c| !c.has_cue) {
                c.has_cue = true;
                let cluster_at = c.start - self.segment_body_at;
                self.cues.push(Cue { time_ms: ms, track: VIDEO_TRACK, cluster_at });
            }
        }
        if let Some(last) = self.last_ms.filter(|_| self.video_frames > 0) {
            // A running average of the frame interval, for the last frame's length.
            let step = ms.saturating_sub(last).clamp(1, 200);
            self.video_step_ms = (self.video_step_ms * 7 + step) / 8;
        }
        self.block(VIDEO_TRACK, ms, keyframe, frame, self.video_step_ms)?;
        self.video_frames += 1;
        Ok(VideoWritten::Written)
    }

    /// One Opus packet (20 ms in WebRTC), `at` from the start of the file.
    pub fn write_audio(&mut self, at: Duration, packet: &[u8]) -> Result<(), RecordError> {
        self.check_open()?;
        self.audio(at, packet).map_err(|e| self.fail(e))
    }

    fn audio(&mut self, at: Duration, packet: &[u8]) -> Result<(), RecordError> {
        if self.tracks.audio.is_none() || packet.is_empty() {
            return Ok(());
        }
        let ms = self.block_time(at);
        let new_cluster = match &self.cluster {
            None => true,
            Some(c) => ms - c.time_ms >= MAX_CLUSTER.as_millis() as u64,
        };
        if new_cluster {
            // Audio-only files seek by their audio clusters.
            let cue = self.tracks.video.is_none().then_some(self.audio_track);
            self.start_cluster(ms, cue)?;
        }
        self.block(self.audio_track, ms, true, packet, opus::duration_ms(packet))?;
        self.audio_packets += 1;
        Ok(())
    }

    /// Ends the file: the last cluster's size, the Cues, the Segment's size, the Duration and
    /// the SeekHead. After an error this only reports what the (already sealed) file holds.
    pub fn finish(mut self) -> Result<FileSummary, RecordError> {
        self.finished = true;
        if self.failed {
            return Ok(self.summary());
        }
        match self.write_end() {
            Ok(()) => Ok(self.summary()),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn write_end(&mut self) -> Result<(), RecordError> {
        self.close_cluster()?;
        // Everything before the Cues on disk first, so that no room for them cuts only them.
        self.io("write the recording", FileSink::flush)?;
        self.flushed_end_ms = self.end_ms;
        let before_cues = self.sink.position();
        let cues_at = if self.cues.is_empty() {
            None
        } else {
            let mut e = Ebml::default();
            e.master(id::CUES, |e| {
                for cue in &self.cues {
                    e.master(id::CUE_POINT, |e| {
                        e.uint(id::CUE_TIME, cue.time_ms);
                        e.master(id::CUE_TRACK_POSITIONS, |e| {
                            e.uint(id::CUE_TRACK, cue.track);
                            e.uint(id::CUE_CLUSTER_POSITION, cue.cluster_at);
                        });
                    });
                }
            });
            let parts = [e.buf.as_slice()];
            let written = self.io("write the recording", |s| {
                s.append(&parts)?;
                s.flush()
            });
            match written {
                Ok(()) => Some(before_cues - self.segment_body_at),
                Err(RecordError::DiskFull { path, .. }) => {
                    // No room for the seek points (the sink cut them off again): the file
                    // plays without them.
                    log::warn!("recording {}: no room left for its seek points; it plays without them", path.display());
                    self.cues.clear();
                    None
                }
                Err(e) => return Err(e),
            }
        };
        self.write_trailer_patches(cues_at)?;
        self.io("write the recording", |s| {
            s.flush()?;
            s.sync()
        })?;
        log::info!(
            "recording {}: {:.1} s, {} video frames, {} audio packets, {} bytes",
            self.path().display(),
            self.end_ms as f64 / 1000.0,
            self.video_frames,
            self.audio_packets,
            self.sink.position()
        );
        Ok(())
    }

    /// Segment size, Duration and SeekHead, written over bytes the file already has.
    fn write_trailer_patches(&mut self, cues_at: Option<u64>) -> Result<(), RecordError> {
        let segment_len = self.sink.position() - self.segment_body_at;
        let mut duration = Ebml::default();
        duration.float(id::DURATION, self.end_ms as f64);
        let mut seek = Ebml::default();
        let entries = [
            (id::INFO, Some(self.info_at - self.segment_body_at)),
            (id::TRACKS, Some(self.tracks_at - self.segment_body_at)),
            (id::CUES, cues_at),
        ];
        seek.master(id::SEEK_HEAD, |e| {
            for (element, at) in entries {
                if let Some(at) = at {
                    e.master(id::SEEK, |e| {
                        e.bytes(id::SEEK_ID, &element.to_be_bytes()[4 - id_len(element)..]);
                        e.uint(id::SEEK_POSITION, at);
                    });
                }
            }
        });
        // At most 12 + 3 x 28 bytes: the room always holds it and a Void of at least 2 bytes.
        let room = SEEK_HEAD_ROOM.saturating_sub(seek.buf.len());
        if room < 2 {
            log::warn!("recording {}: its SeekHead does not fit; it is left out", self.path().display());
            return Ok(());
        }
        seek.void(room);
        let (segment_size_at, duration_at, seek_head_at) = (self.segment_size_at, self.duration_at, self.seek_head_at);
        self.io("write the recording", |s| {
            s.patch(segment_size_at, &size8(segment_len))?;
            s.patch(duration_at, &duration.buf)?;
            s.patch(seek_head_at, &seek.buf)
        })
    }

    /// After a failed write: makes the file on disk end well (the cluster it ends in gets its
    /// size, the Segment its size, Info its Duration, the SeekHead its Info and Tracks) by
    /// writing only over bytes it has. Best effort: each failure is logged.
    fn seal_after_failure(&mut self) {
        self.failed = true;
        let on_disk = self.sink.flushed();
        self.sink.truncate(on_disk);
        self.end_ms = self.flushed_end_ms;
        if let Some(c) = self.cluster.take() {
            if c.body_at <= on_disk {
                if let Err(e) = self.sink.patch(c.size_at, &size8(on_disk - c.body_at)) {
                    log::warn!("recording {}: could not size its last cluster: {e}", self.path().display());
                }
            }
        }
        self.cues.clear();
        if self.flushed_end_ms == 0 {
            // Not one frame reached the disk: a file of headers alone plays nowhere (ffprobe
            // reads "End of file"). It goes, rather than be listed as a recording.
            match std::fs::remove_file(self.path()) {
                Ok(()) => log::info!("recording {}: nothing was written before the error; the empty file was removed", self.path().display()),
                Err(e) => log::warn!("recording {}: could not remove the empty file: {e}", self.path().display()),
            }
            return;
        }
        if let Err(e) = self.write_trailer_patches(None) {
            log::warn!("recording {}: could not write its duration: {e}", self.path().display());
        }
        log::info!(
            "recording {}: sealed after an error at {:.1} s ({} bytes on disk)",
            self.path().display(),
            self.end_ms as f64 / 1000.0,
            on_disk
        );
    }

    fn summary(&self) -> FileSummary {
        FileSummary {
            path: self.path().to_owned(),
            duration: Duration::from_millis(self.end_ms),
            size: self.size,
            video_frames: self.video_frames,
            audio_packets: self.audio_packets,
            bytes: self.sink.position(),
            cues: self.cues.len(),
            complete: !self.failed,
        }
    }

    fn check_open(&self) -> Result<(), RecordError> {
        if self.failed || self.finished {
            Err(RecordError::Stopped { path: self.path().to_owned() })
        } else {
            Ok(())
        }
    }

    /// Runs a file operation; a failure becomes a [`RecordError`] (the caller seals the file with
    /// [`WebmWriter::fail`]).
    fn io<T>(
        &mut self,
        action: &'static str,
        op: impl FnOnce(&mut FileSink) -> std::io::Result<T>,
    ) -> Result<T, RecordError> {
        op(&mut self.sink).map_err(|source| {
            let path = self.path().to_owned();
            if is_disk_full(&source) {
                RecordError::DiskFull { path, kept: Duration::from_millis(self.flushed_end_ms) }
            } else {
                RecordError::Io { action, path, source }
            }
        })
    }

    /// The first error: logged, and the file sealed so it plays up to there.
    fn fail(&mut self, error: RecordError) -> RecordError {
        if !self.failed {
            log::warn!("{error}");
            self.seal_after_failure();
        }
        error
    }

    /// The first keyframe's size, into the header.
    fn set_size(&mut self, size: (u32, u32)) -> Result<(), RecordError> {
        self.size = Some(size);
        if let Some((w_at, h_at)) = self.pixel_size_at {
            let (w, h) = (patch_uint(u64::from(size.0), 2), patch_uint(u64::from(size.1), 2));
            self.io("write the recording", |s| {
                s.patch(w_at, &w)?;
                s.patch(h_at, &h)
            })?;
        }
        Ok(())
    }

    /// `at` in ms, never before the last block.
    fn block_time(&self, at: Duration) -> u64 {
        let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX / 2);
        ms.max(self.last_ms.unwrap_or(0))
    }

    fn start_cluster(&mut self, ms: u64, cue_track: Option<u64>) -> Result<(), RecordError> {
        self.close_cluster()?;
        let start = self.sink.position();
        let mut e = Ebml::default();
        e.header(id::CLUSTER, 0);
        e.buf.pop();
        let size_at = start + e.buf.len() as u64;
        e.buf.extend_from_slice(&UNKNOWN_SIZE);
        let body_at = start + e.buf.len() as u64;
        e.uint(id::TIMESTAMP, ms);
        let parts = [e.buf.as_slice()];
        self.io("write the recording", |s| s.append(&parts))?;
        self.cluster = Some(Cluster { start, size_at, body_at, time_ms: ms, has_cue: cue_track.is_some() });
        if let Some(track) = cue_track {
            self.cues.push(Cue { time_ms: ms, track, cluster_at: start - self.segment_body_at });
        }
        Ok(())
    }

    fn close_cluster(&mut self) -> Result<(), RecordError> {
        if let Some(c) = self.cluster.take() {
            let len = self.sink.position() - c.body_at;
            self.io("write the recording", |s| s.patch(c.size_at, &size8(len)))?;
        }
        Ok(())
    }

    fn block(&mut self, track: u64, ms: u64, keyframe: bool, data: &[u8], length_ms: u64) -> Result<(), RecordError> {
        let cluster_ms = self.cluster.as_ref().map_or(ms, |c| c.time_ms);
        // Within a cluster: at most MAX_CLUSTER after its start, so it fits an i16.
        let relative = i16::try_from(ms - cluster_ms).unwrap_or(i16::MAX);
        let mut head = Ebml::default();
        head.header(id::SIMPLE_BLOCK, 4 + data.len() as u64);
        head.buf.push(0x80 | track as u8); // the track number as a 1-byte EBML integer
        head.buf.extend_from_slice(&relative.to_be_bytes());
        head.buf.push(if keyframe { 0x80 } else { 0x00 });
        let parts = [head.buf.as_slice(), data];
        self.io("write the recording", |s| s.append(&parts))?;
        self.last_ms = Some(ms);
        self.end_ms = self.end_ms.max(ms + length_ms);
        if ms >= self.last_flush_ms + FLUSH_EVERY.as_millis() as u64 {
            self.io("write the recording", FileSink::flush)?;
            self.last_flush_ms = ms;
        }
        if self.sink.position() == self.sink.flushed() {
            self.flushed_end_ms = self.end_ms;
        }
        Ok(())
    }
}

impl Drop for WebmWriter {
    /// Dropped unfinished (a panic elsewhere, a caller that forgot): finish as well as it can,
    /// so the file plays.
    fn drop(&mut self) {
        if self.finished || self.failed {
            return;
        }
        if let Err(e) = self.write_end() {
            let e = self.fail(e);
            log::warn!("recording {}: could not finish it: {e}", self.path().display());
        }
        self.finished = true;
    }
}

/// How many bytes an element ID takes (its marker: the leading 1 bit of its first byte).
fn id_len(id: u32) -> usize {
    match id {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_by_their_length() {
        assert_eq!(id_len(id::INFO), 4);
        assert_eq!(id_len(id::CUES), 4);
        assert_eq!(id_len(id::SEEK), 2);
        assert_eq!(id_len(id::VOID), 1);
    }
}
