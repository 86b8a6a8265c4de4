//! lancall's wire protocol, typed, with no I/O. `docs/PROTOCOL.md` is its prose twin (a test,
//! `tests/protocol_doc.rs`, checks that the two name the same messages and error codes).
//!
//! - [`hub`]: what a client and the hub say to each other over `/ws` (version
//!   [`hub::PROTOCOL_VERSION`]): [`hub::ClientMessage`], [`hub::ServerMessage`], the stable
//!   [`hub::ErrorCode`]s, and the decoder that names a bad field precisely.
//! - [`peer`]: what peers say to each other inside the hub's `signal.data` and on the `lancall`
//!   data channel (the web client's `call.js` speaks the same shapes).
//! - [`names`]: the display-name rules every client and the hub agree on.
//! - [`ice`]: the ICE servers handed to clients in `welcome.iceServers`.
//! - [`link`]: a host's address and a join link, read the one way (the app and the CLI peer).
//! - `client` (feature `client`): the one pinned TLS/WebSocket connection to a hub.
//! - [`sync`]: the one poison-ignoring `lock` (not protocol, but every crate depends on this one).
//!
//! Both directions of every message serialise *and* deserialise, so the hub, the CLI peer and the
//! app read the same types.

pub mod hub;
#[cfg(feature = "client")]
pub mod client;
pub mod ice;
pub mod ids;
pub mod link;
pub mod names;
pub mod peer;
pub mod sync;

pub use hub::{ClientMessage, ErrorCode, PeerInfo, ProtocolError, ServerMessage, PROTOCOL_VERSION};
pub use ice::IceServer;
pub use ids::random_id;
pub use link::{HostAddr, JoinLink, LinkError};
pub use names::normalize_name;
