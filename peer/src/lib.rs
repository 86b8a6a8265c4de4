//! lancall's native peer: what a browser does in a lancall call, in Rust.
//!
//! Debian's WebKitGTK (the Linux webview of the desktop app) has no `RTCPeerConnection`. This
//! crate moves the peer connection to Rust (webrtc-rs), speaking exactly the peer messages of
//! ui/js/lib/call.js, so browsers and apps in the call cannot tell the difference.
//!
//! Layers, from the wire up:
//! - [`messages`]: the peer messages inside the hub's `signal.data` and on the data channel.
//! - [`codec`]: VP8 (libvpx) and Opus (libopus).
//! - [`media`]: [`LocalMedia`] (encode once, send to every connection) and [`RemoteFrame`]
//!   (whole encoded frames that arrive).
//! - [`bridge`]: [`bridge::BridgePc`], the one Rust `RTCPeerConnection`: W3C-shaped, driven
//!   over IPC by the Linux app's page and in Rust by [`PeerLink`]. Its webrtc-rs toolkit
//!   (building, SDP, stats, receiving) is the private `stack` module.
//! - [`connection`]: [`PeerLink`], a thin layer driving a `BridgePc` by call.js's rules.
//! - [`ipc`]: that IPC layer without Tauri: connections and media sources by the page's ids,
//!   the typed and bounded operations, the encoder thread per camera, the frame envelope.
//! - [`sfu_link`]: [`sfu_link::SfuLink`], the one connection to the host's SFU (a room whose
//!   topology is `sfu`), ui/js/lib/sfu-link.js in Rust.
//! - [`call`]: [`Call`], driven by hub messages: the full mesh, or the SFU link.
//! - [`hub_client`]: the pinned WSS connection to a host.
//! - [`crowd`]: many synthetic participants from one process (`lancall-peer --synthetic N`).
//! - [`testsrc`]: a moving, time-stamped test pattern and a tone.
//! - [`synthetic`]: a synthetic participant's media (that pattern and tone fed live or as a
//!   pre-encoded loop) and a decoding, counting sink for what it receives.

pub mod bridge;
pub mod call;
pub mod codec;
pub mod connection;
pub mod crowd;
pub mod error;
pub mod hub_client;
pub mod ipc;
mod link_stats;
mod stack;
mod keyframe;
pub mod media;
/// The peer messages (the `lancall-protocol` crate's peer half).
pub use lancall_protocol::peer as messages;
pub mod sfu_link;
pub mod synthetic;
pub mod testsrc;

pub use call::{Call, CallConfig, CallEvent, RemoteStats};
pub use connection::{LinkConfig, LinkEvent, LinkStats, PeerLink, StreamStats};
pub use error::PeerError;
pub use hub_client::{HubSocket, JoinLink};
pub use media::{
    EncodedSample, FrameSink, LinkFrameSink, LinkId, LocalMedia, LocalMediaConfig, MediaKind, RemoteFrame,
    TrackRole,
};
pub use messages::Muted;
