//! The webrtc-rs toolkit under lancall's peer connections ([`crate::bridge::BridgePc`] and
//! [`crate::connection::PeerLink`]): how a connection is built, descriptions and candidates as
//! signalled, stats, and receiving media. Each module has one job; none keeps a connection.

pub(crate) mod engine;
pub(crate) mod rtp;
pub(crate) mod sdp;
pub(crate) mod stats;
