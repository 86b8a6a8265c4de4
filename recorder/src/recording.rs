//! [`Recording`]: one person's picture and sound as it arrives, into one or more WebM files.
//! Frames are put in timestamp order within a small window first, and a change of picture
//! size ends the file and starts the next (`name-2.webm`, `name-3.webm`…), each playable alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::error::RecordError;
use crate::interleave::Interleaver;
use crate::writer::{FileSummary, Tracks, VideoWritten, WebmWriter};

/// How late a frame may arrive (after a newer one of any track) and still be put in its place.
/// Audio and video reach a recorder on separate paths (network jitter, the app's IPC, an
/// encoder thread): 250 ms covers what a LAN and a busy machine add, at the cost of holding
/// a quarter second of media in memory.
pub const REORDER_WINDOW: Duration = Duration::from_millis(250);

/// How a [`Recording`] is set up.
#[derive(Debug, Clone, Copy)]
pub struct RecordingConfig {
    /// Its tracks (each file has them all).
    pub tracks: Tracks,
    /// See [`REORDER_WINDOW`].
    pub reorder_window: Duration,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig { tracks: Tracks::video_and_audio(), reorder_window: REORDER_WINDOW }
    }
}

enum Frame {
    Video(Bytes),
    Audio(Bytes),
}

/// One recording: frames in (video and audio, timestamped on one clock the caller keeps: see
/// [`crate::clock`]), WebM files out. Not thread-safe by design: give it a thread (or task) of
/// its own and send it frames; file writes happen on the calls that push.
pub struct Recording {
    first: PathBuf,
    config: RecordingConfig,
    window: Interleaver<Frame>,
    writer: Option<WebmWriter>,
    /// The caller's time that is 0 in the current file.
    origin: Option<Duration>,
    done: Vec<FileSummary>,
    part: u32,
    keyframe_wanted: bool,
    stopped: bool,
}

impl Recording {
    /// Starts a recording into `path` (which must not exist: recordings never overwrite).
    pub fn create(path: &Path, config: RecordingConfig) -> Result<Recording, RecordError> {
        let writer = WebmWriter::create(path, config.tracks)?;
        Ok(Recording {
            first: path.to_owned(),
            config,
            window: Interleaver::new(config.reorder_window),
            writer: Some(writer),
            origin: None,
            done: Vec::new(),
            part: 1,
            keyframe_wanted: config.tracks.video.is_some(),
            stopped: false,
        })
    }

    /// One VP8 frame, `at` on the caller's clock.
    pub fn push_video(&mut self, at: Duration, frame: Bytes) -> Result<(), RecordError> {
        self.push(at, Frame::Video(frame))
    }

    /// One Opus packet, `at` on the caller's clock.
    pub fn push_audio(&mut self, at: Duration, packet: Bytes) -> Result<(), RecordError> {
        self.push(at, Frame::Audio(packet))
    }

    /// True once after the recording found it needs a keyframe (at its start, and when it got
    /// delta frames it cannot use): ask the sender for one.
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted)
    }

    /// The files so far (the one being written last).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.done.iter().map(|s| s.path.clone()).collect();
        if let Some(w) = &self.writer {
            files.push(w.path().to_owned());
        }
        files
    }

    /// Ends the recording: every frame held is written and each file finished. Answers what
    /// each file holds. After an earlier error this finishes nothing more and reports the files
    /// as they are.
    pub fn finish(mut self) -> Result<Vec<FileSummary>, RecordError> {
        if !self.stopped {
            let held: Vec<(Duration, Frame)> = self.window.drain().collect();
            for (at, frame) in held {
                if let Err(e) = self.write(at, frame) {
                    log::warn!("recording {}: the last frames were not written: {e}", self.first.display());
                    break;
                }
            }
        }
        if let Some(writer) = self.writer.take() {
            self.done.push(writer.finish()?);
        }
        // A file that a full disk left with nothing playable was removed: not a recording.
        self.done.retain(|s| s.path.exists());
        Ok(self.done)
    }

    fn push(&mut self, at: Duration, frame: Frame) -> Result<(), RecordError> {
        if self.stopped {
            return Err(RecordError::Stopped { path: self.current_path() });
        }
        self.window.push(at, frame);
        while let Some((at, frame)) = self.window.pop_ready() {
            if let Err(e) = self.write(at, frame) {
                self.stopped = true;
                return Err(e);
            }
        }
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.writer.as_ref().map_or_else(|| self.first.clone(), |w| w.path().to_owned())
    }

    fn write(&mut self, at: Duration, frame: Frame) -> Result<(), RecordError> {
        let origin = *self.origin.get_or_insert(at);
        let Some(writer) = self.writer.as_mut() else {
            return Err(RecordError::Stopped { path: self.first.clone() });
        };
        let t = at.saturating_sub(origin);
        match frame {
            Frame::Audio(packet) => writer.write_audio(t, &packet),
            Frame::Video(data) => match writer.write_video(t, &data)? {
                VideoWritten::Written => Ok(()),
                VideoWritten::WaitingForKeyframe => {
                    self.keyframe_wanted = true;
                    Ok(())
                }
                VideoWritten::SizeChanged { from, to } => {
                    log::info!(
                        "recording {}: the picture went from {}x{} to {}x{}: a new file",
                        writer.path().display(),
                        from.0,
                        from.1,
                        to.0,
                        to.1
                    );
                    self.next_file()?;
                    self.origin = Some(at);
                    match self.writer.as_mut().map(|w| w.write_video(Duration::ZERO, &data)) {
                        Some(Ok(_)) => Ok(()),
                        Some(Err(e)) => Err(e),
                        None => Ok(()),
                    }
                }
            },
        }
    }

    /// Finishes the current file and starts the next part.
    fn next_file(&mut self) -> Result<(), RecordError> {
        if let Some(writer) = self.writer.take() {
            self.done.push(writer.finish()?);
        }
        self.part += 1;
        let path = part_path(&self.first, self.part);
        self.part = path.1;
        self.writer = Some(WebmWriter::create(&path.0, self.config.tracks)?);
        Ok(())
    }
}

/// Part `n` of a recording whose first file is `first`: `name-n.webm` beside it, or the next
/// number not taken. Answers the path and its number.
pub fn part_path(first: &Path, mut n: u32) -> (PathBuf, u32) {
    let stem = first.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = first.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "webm".into());
    loop {
        let candidate = first.with_file_name(format!("{stem}-{n}.{ext}"));
        if !candidate.exists() || n == u32::MAX {
            return (candidate, n);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::part_path;

    #[test]
    fn parts_are_numbered_beside_the_first_file_and_skip_taken_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = dir.path().join("lancall_Grace.webm");
        assert_eq!(part_path(&first, 2), (dir.path().join("lancall_Grace-2.webm"), 2));
        std::fs::write(dir.path().join("lancall_Grace-2.webm"), b"x").expect("write");
        assert_eq!(part_path(&first, 2), (dir.path().join("lancall_Grace-3.webm"), 3));
    }
}
