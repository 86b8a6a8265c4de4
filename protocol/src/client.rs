//! The one pinned connection to a host's hub (feature `client`): TCP, then TLS that accepts the
//! host only if its chain ends at the CA whose fingerprint the joiner pinned (from the join
//! link, the QR code or the mDNS record), then the WebSocket at `/ws`. The app's signaling
//! sessions and the CLI peer both connect through it, and tell a host whose identity changed
//! from one that cannot be reached in the same way.

use std::sync::Arc;
use std::time::Duration;

use lancall_certs::Fingerprint;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::link::HostAddr;

/// Each step (TCP, TLS, WebSocket) gives up after this long: on a LAN a live host answers in
/// milliseconds, and a person waiting on a Join button should hear why soon.
pub const CONNECT_STEP_TIMEOUT: Duration = Duration::from_secs(6);

/// An open WebSocket to a hub over pinned TLS.
pub type HubStream = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

/// Why a pinned connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host presented a CA other than the pinned one: another device answers at that
    /// address, or someone is in between.
    #[error("the host at {address} is not the one this link or the network announced: its identity changed")]
    IdentityChanged {
        /// `host:port`.
        address: String,
    },
    /// The handshake failed for another certificate reason (expired, wrong address).
    #[error("the host at {address} did not prove who it is: {detail}")]
    BadCertificate {
        /// `host:port`.
        address: String,
        /// rustls's words.
        detail: String,
    },
    /// Nothing answered in time, or the connection broke.
    #[error("cannot reach the host at {address}: {detail}")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// What failed.
        detail: String,
    },
    /// The host's name cannot be checked against a certificate.
    #[error("\"{host}\" cannot be checked against a certificate")]
    BadName {
        /// The name.
        host: String,
    },
}

/// TLS to `addr` that succeeds only if the host presents the CA `pin`.
pub async fn connect_tls(addr: &HostAddr, pin: Fingerprint) -> Result<TlsStream<TcpStream>, ConnectError> {
    lancall_certs::install_crypto_provider();
    let address = addr.to_string();
    let unreachable = |detail: String| ConnectError::Unreachable { address: address.clone(), detail };
    let secs = CONNECT_STEP_TIMEOUT.as_secs();
    let tcp = tokio::time::timeout(CONNECT_STEP_TIMEOUT, TcpStream::connect((addr.host.as_str(), addr.port)))
        .await
        .map_err(|_| unreachable(format!("no answer within {secs} seconds")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(addr.host.clone()).map_err(|_| ConnectError::BadName { host: addr.host.clone() })?;
    let connector = TlsConnector::from(Arc::new(lancall_certs::client_config_pinned(pin)));
    let tls = tokio::time::timeout(CONNECT_STEP_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| unreachable(format!("the secure connection did not complete within {secs} seconds")))?;
    tls.map_err(|e| classify_tls_error(&address, &e))
}

/// `wss://addr/ws` over [`connect_tls`].
pub async fn connect_hub(addr: &HostAddr, pin: Fingerprint) -> Result<HubStream, ConnectError> {
    let tls = connect_tls(addr, pin).await?;
    let address = addr.to_string();
    let (ws, _response) = tokio::time::timeout(
        CONNECT_STEP_TIMEOUT,
        tokio_tungstenite::client_async(format!("wss://{address}/ws"), tls),
    )
    .await
    .map_err(|_| ConnectError::Unreachable {
        address: address.clone(),
        detail: "the host did not accept the call connection in time".into(),
    })?
    .map_err(|e| ConnectError::Unreachable { address: address.clone(), detail: format!("WebSocket handshake failed: {e}") })?;
    Ok(ws)
}

/// Checks that `addr` answers and presents the pinned CA, then hangs up (what the app does
/// before it sends a person into a join).
pub async fn probe(addr: &HostAddr, pin: Fingerprint) -> Result<(), ConnectError> {
    let mut tls = connect_tls(addr, pin).await?;
    let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
    Ok(())
}

fn classify_tls_error(address: &str, e: &std::io::Error) -> ConnectError {
    if lancall_certs::find_cert_error(e).is_some_and(|c| c.is_identity_changed()) {
        return ConnectError::IdentityChanged { address: address.to_owned() };
    }
    match e.get_ref().and_then(|inner| inner.downcast_ref::<lancall_certs::rustls::Error>()) {
        Some(err) => ConnectError::BadCertificate { address: address.to_owned(), detail: err.to_string() },
        None => ConnectError::Unreachable { address: address.to_owned(), detail: e.to_string() },
    }
}
