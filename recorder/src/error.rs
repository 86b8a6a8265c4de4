//! What can go wrong while recording, as sentences a person can act on.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a recording could not go on. After any of these the file on disk still plays up to
/// where it stopped (the writer seals it: whole elements only, cluster sizes and the duration
/// written where there was room).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The disk (or the person's quota) is full: the recording stopped; the file keeps the
    /// first `kept` of it.
    #[error("{}", disk_full(path, *kept))]
    DiskFull {
        /// The file that was being written.
        path: PathBuf,
        /// How much of the recording is in it.
        kept: Duration,
    },
    /// Any other failure to make or write the file (a folder that is not writable, a file that
    /// exists: recordings never overwrite one).
    #[error("Could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("make the recording", "write the recording").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The recording had already stopped after an earlier error (which was reported then).
    #[error("The recording {} has stopped (see the error before this one).", path.display())]
    Stopped {
        /// The file.
        path: PathBuf,
    },
    /// A recording with neither video nor audio was asked for.
    #[error("A recording needs a video or an audio track.")]
    NoTracks,
}

/// What [`RecordError::DiskFull`] says: what is left, or that nothing is.
fn disk_full(path: &std::path::Path, kept: Duration) -> String {
    if kept.is_zero() {
        format!("The disk is full: nothing could be recorded into {} (no file was kept). Free some space to record again.", path.display())
    } else {
        format!(
            "The disk is full: the recording {} stopped after {}; what was recorded until then plays. Free some space to record again.",
            path.display(),
            minutes(kept)
        )
    }
}

/// `1 min 05 s`, `12 s`.
fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// True for "no room left" (ENOSPC, and EDQUOT on Linux).
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || (cfg!(target_os = "linux") && e.raw_os_error() == Some(122))
}
