//! lancall's certificates: how a host serves HTTPS/WSS on plain LAN IP addresses.
//!
//! Browsers and the app require TLS for a video call page (`getUserMedia` needs a secure
//! context) and no public CA will certify `192.168.1.20`. So the host does what
//! `mkcert create-ca` / `mkcert create-cert <ip>` did in the course this product grows from:
//!
//! 1. [`Authority::load_or_create`] makes a local CA once and keeps it in the data folder. It is
//!    name-constrained to private address ranges, `localhost` and `.local`, so installing it on
//!    a phone cannot be used against public sites.
//! 2. [`Authority::ensure_leaf`] issues (or reuses) a leaf for the host's current addresses
//!    ([`LeafNames::for_host`]; which addresses are the LAN is the caller's decision — the hub's
//!    `netif` module makes it), which the server presents as `[leaf, CA]` through
//!    [`ReloadableCert`] and [`server_config`]; the leaf can be swapped while the server runs.
//! 3. Joiners trust the host either by pinning the CA's [`Fingerprint`] (the app:
//!    [`client_config_pinned`]) or by installing the CA ([`Authority::ca_pem`] /
//!    [`Authority::ca_der`]; in Rust: [`client_config_trusting`]).
//!
//! A host with a real certificate for a public domain uses [`Leaf::load_pem_files`] instead.

mod authority;
mod error;
mod fingerprint;
mod leaf;
mod names;
mod store;
mod tls;
mod words;

pub use authority::{
    Authority, BACKDATE, CA_CERT_FILE, CA_KEY_FILE, CA_VALIDITY, LEAF_VALIDITY, RENEW_BEFORE,
};
pub use error::{find_cert_error, CertError};
pub use fingerprint::Fingerprint;
pub use words::WORDS;
pub use leaf::{Leaf, LEAF_CERT_FILE, LEAF_KEY_FILE};
pub use names::{
    dns_label, hostname, is_permitted_ip, LeafNames, PERMITTED_DNS_NAMES,
    PERMITTED_IP_RANGES,
};
pub use tls::{
    client_config_pinned, client_config_probe, client_config_trusting, install_crypto_provider, server_config,
    PinnedCaVerifier, ReloadableCert, ALPN_HTTP11,
};

/// Re-exported so callers name the same rustls and pki-types versions this crate uses.
pub use rustls;
pub use rustls_pki_types;

// The host shares these between tasks and threads.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Authority>();
    send_sync::<Leaf>();
    send_sync::<ReloadableCert>();
    send_sync::<CertError>();
};
