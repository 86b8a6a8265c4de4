//! The one error type of the SFU's handle: each variant is a sentence a caller (the hub) can act on.

use std::net::SocketAddr;

use crate::ParticipantId;

/// What went wrong with a request to the SFU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SfuError {
    /// The media port could not be opened.
    #[error("The SFU could not open its UDP media port {addr}: {source}. Choose another port (0 picks a free one) or free this one.")]
    Bind {
        /// What was asked for.
        addr: SocketAddr,
        /// Why the system refused.
        source: std::io::Error,
    },
    /// The SFU has nothing to advertise.
    #[error("The SFU needs at least one IP address to advertise as its host candidate; pass the LAN addresses clients reach it on.")]
    NoAddresses,
    /// A participant's offer was not one the SFU can answer.
    #[error("The SFU could not answer this offer: {0}. Send a complete SDP offer with Opus audio and/or VP8 video.")]
    BadOffer(String),
    /// A participant's answer to the SFU's offer was refused.
    #[error("The SFU refused participant {participant}'s answer: {reason}. The participant was disconnected; it should rejoin.")]
    BadAnswer {
        /// Whose answer.
        participant: ParticipantId,
        /// Why.
        reason: String,
    },
    /// An answer arrived while no offer to that participant was outstanding.
    #[error("Participant {0} sent an answer but the SFU has no offer outstanding towards it; drop the answer.")]
    NoOfferOutstanding(ParticipantId),
    /// A trickled candidate could not be read.
    #[error("The SFU could not read the ICE candidate \"{candidate}\": {reason}.")]
    BadCandidate {
        /// The candidate text.
        candidate: String,
        /// Why.
        reason: String,
    },
    /// The participant is not (or no longer) in the SFU.
    #[error("Participant {0} is not in the SFU (it left or was disconnected); ask it to rejoin.")]
    NoSuchParticipant(ParticipantId),
    /// A room is recorded already.
    #[error("Room \"{0}\" is being recorded already.")]
    AlreadyRecording(String),
    /// A room is not being recorded.
    #[error("Room \"{0}\" is not being recorded.")]
    NotRecording(String),
    /// The recordings' folder could not be made or written to.
    #[error("Cannot record into {}: {source}. Free some space or choose a folder you may write to.", dir.display())]
    RecordingFolder {
        /// The folder.
        dir: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SFU's thread has ended.
    #[error("The SFU has stopped; restart it (the host logs say why it stopped).")]
    Stopped,
}
