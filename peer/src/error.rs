//! The one error type of this crate.

/// What can go wrong in the native peer. Messages are sentences a person can act on; the cause
/// chain goes to the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The join link cannot be used as it is.
    #[error("this join link cannot be used: {0}")]
    BadLink(String),
    /// The host presented a certificate that does not chain to the pinned CA.
    #[error(
        "the host at {address} is not the one this link was made for: its certificate authority \
         changed (pinned {pinned}). Ask the host for a new link; do not join if you did not expect this."
    )]
    IdentityChanged {
        /// host:port dialled.
        address: String,
        /// The fingerprint the link pinned.
        pinned: String,
    },
    /// The host could not be reached or the connection broke.
    #[error("could not reach the host at {address}: {reason}")]
    Unreachable {
        /// host:port dialled.
        address: String,
        /// What failed.
        reason: String,
    },
    /// The hub refused the join (wrong token, room full, ...): its own sentence.
    #[error("the host refused to let us in ({code}): {message}")]
    Refused {
        /// The hub's stable error code.
        code: String,
        /// The hub's message for a person.
        message: String,
    },
    /// The hub connection closed.
    #[error("the connection to the host closed: {0}")]
    HubClosed(String),
    /// A codec refused its input or could not start.
    #[error("{0}")]
    Codec(String),
    /// The WebRTC stack failed.
    #[error("WebRTC: {0}")]
    Webrtc(String),
    /// The caller asked for something that cannot be done (a request from the page over IPC, a
    /// transceiver or channel that does not exist): the sentence says what to do instead.
    #[error("{0}")]
    BadRequest(String),
    /// A recording could not start or go on (a folder that cannot be written, a full disk).
    #[error(transparent)]
    Recording(#[from] lancall_recorder::RecordError),
    /// The call or connection is gone.
    #[error("the call has ended")]
    Closed,
}

impl From<webrtc::error::Error> for PeerError {
    fn from(e: webrtc::error::Error) -> Self {
        PeerError::Webrtc(e.to_string())
    }
}
