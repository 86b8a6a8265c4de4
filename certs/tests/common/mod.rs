//! Helpers shared by the integration tests: a TLS echo server on 127.0.0.1 and a client.
//! Every socket here is on loopback; "dialling" another address only changes the name the
//! client checks the certificate against (the TLS server name), never where packets go.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use lancall_certs::rustls::{ClientConfig, ServerConfig};
use lancall_certs::rustls_pki_types::ServerName;
use lancall_certs::{Authority, LeafNames};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// The names of a typical host: one private LAN address, loopback, localhost, testhost.local.
pub fn lan_names() -> LeafNames {
    LeafNames::for_host(&[ip("192.168.77.10")], Some("TestHost"))
}

pub fn ip_name(s: &str) -> ServerName<'static> {
    ServerName::IpAddress(ip(s).into())
}

pub fn dns_name(s: &str) -> ServerName<'static> {
    ServerName::try_from(s.to_owned()).expect("test DNS name")
}

pub fn new_ca() -> Authority {
    Authority::generate().expect("in-memory CA")
}

/// Starts a TLS server on 127.0.0.1 that answers each line with `echo:` + the line.
/// Handshake failures are ignored (the client side reports them).
pub async fn serve(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 256];
                let Ok(n) = tls.read(&mut buf).await else {
                    return;
                };
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = tls.write_all(&reply).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// Connects to `addr` (always loopback), checks the certificate against `name`, sends `msg`
/// and returns the reply and the negotiated ALPN protocol.
pub async fn exchange(
    addr: SocketAddr,
    config: ClientConfig,
    name: ServerName<'static>,
    msg: &[u8],
) -> io::Result<(Vec<u8>, Option<Vec<u8>>)> {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback");
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = connector.connect(name, tcp).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(msg).await?;
    let mut reply = Vec::new();
    tls.read_to_end(&mut reply).await?;
    Ok((reply, alpn))
}

/// The rustls error inside an io::Error from tokio-rustls.
pub fn rustls_error(e: &io::Error) -> &lancall_certs::rustls::Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<lancall_certs::rustls::Error>())
        .unwrap_or_else(|| panic!("expected a rustls error, got {e:?}"))
}
