//! lancall's host runtime, testable without a webview.
//!
//! - [`hub`]: rooms, peers, knocks and relaying, with no sockets: the host's [`hub::Hub`] and
//!   one [`hub::Client`] per connection (a WebSocket, or the app's own UI in-process).
//! - [`server`]: the HTTPS/WSS port (UI, `/ws`, `/ca.crt`, `/healthz`) and the plain-HTTP
//!   helper port, which serves the [`trust_page`].
//! - [`host`]: certificates, hub, room, ports and mDNS started together (used by `lancall-host`
//!   and the app).
//! - [`discovery`]: mDNS / DNS-SD, advertising a host and browsing for hosts.
//! - [`netif`]: which interfaces and addresses count as the LAN, and watching them change.
//! - [`qr`]: QR codes of join links (the app, the page's `/qr`, the terminal).
//! - [`protocol`]: the signaling messages of `docs/PROTOCOL.md` (from the `lancall-protocol`
//!   crate).
//!
//! The binary `lancall-host` (`src/bin/lancall-host/`) is the headless host and the
//! `discover` command.

pub mod discovery;
pub mod host;
pub mod hub;
pub mod netif;
/// The signaling protocol this hub speaks (the `lancall-protocol` crate's hub half).
pub use lancall_protocol::hub as protocol;
pub mod qr;
pub mod server;
pub mod trust_page;
