//! lancall's host runtime, testable without a webview.
//!
//! - [`protocol`]: the signaling messages of `docs/PROTOCOL.md`, their decoder and encoder.
//! - [`hub`]: rooms, peers and relaying, with an in-process client API.
//! - [`host`]: certificates, hub, room and ports started together (used by `lancall-host` and the app).
//! - [`server`]: the HTTPS/WSS port (UI, `/ws`, `/ca.crt`, `/healthz`) and the plain-HTTP helper port.

pub mod discovery;
pub mod host;
pub mod hub;
pub mod netif;
/// The signaling protocol this hub speaks (the `lancall-protocol` crate's hub half).
pub use lancall_protocol::hub as protocol;
pub mod server;
mod sync;
pub mod trust_page;
