//! lancall's WebM writer: VP8 and Opus frames as they arrive, with no re-encoding, into WebM
//! files that play at every moment (an abrupt stop or a full disk leaves a file that plays up
//! to there).
//!
//! - [`WebmWriter`]: one file, frames in the order given. The layout and why: [`writer`].
//! - [`Recording`]: what a recorder uses: a small reorder window so audio and video interleave
//!   in timestamp order, a new file (`name-2.webm`) when the picture size changes, and the
//!   keyframe requests a sender needs to hear.
//! - [`clock`]: a sender's RTP timestamps placed on one local clock for both tracks, by arrival
//!   and, when the sender's RTCP reports are at hand, lined up as it captured them.
//!
//! Two users: the Linux app (frames from its own encoders and its webrtc-rs receivers) and, to
//! come, the host's SFU (str0m's `MediaData`, as forwarded).

pub mod clock;
mod ebml;
mod error;
mod interleave;
mod opus;
mod recording;
mod sink;
mod vp8;
pub mod writer;

pub use clock::{AvClock, RtpUnwrap, StreamClock};
pub use error::RecordError;
pub use interleave::Interleaver;
pub use recording::{part_path, Recording, RecordingConfig, REORDER_WINDOW};
pub use writer::{AudioTrack, FileSummary, Tracks, VideoTrack, VideoWritten, WebmWriter};
