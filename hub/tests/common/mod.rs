//! Shared test helpers: a real host on 127.0.0.1 and a real TLS WebSocket client that trusts
//! only that host's CA (pinned by fingerprint).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lancall_hub::host::{self, HostConfig, RunningHost};
use lancall_hub::server::Timing;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long a test waits for a message it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct TestHost {
    pub host: RunningHost,
    pub dir: tempfile::TempDir,
}

impl TestHost {
    pub fn addr(&self) -> SocketAddr {
        self.host.https_addr
    }
    pub fn token(&self) -> Option<String> {
        self.host.room.token.clone()
    }
}

pub fn loopback() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
}

/// A host on 127.0.0.1 with any free ports, a fresh data folder, and the given timing.
pub async fn start_host_with(timing: Timing, open: bool, capacity: usize) -> TestHost {
    // RUST_LOG=debug shows the host's log for a failing test.
    let _ = env_logger::builder().is_test(true).try_init();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = HostConfig::new(dir.path().to_path_buf());
    config.https_listen = loopback();
    config.http_listen = Some(loopback());
    config.display_name = "test host".into();
    config.open = open;
    config.capacity = capacity;
    config.timing = timing;
    let host = host::start(config).await.expect("host starts");
    TestHost { host, dir }
}

pub async fn start_host() -> TestHost {
    start_host_with(Timing::default(), false, 8).await
}

pub type Ws = WebSocketStream<TlsStream<TcpStream>>;

pub struct WsClient {
    pub ws: Ws,
}

/// A TLS connection to the host that accepts it only if it presents the pinned CA.
pub async fn tls_connect(th: &TestHost) -> TlsStream<TcpStream> {
    let fp = th.host.ca_fingerprint.expect("generated CA");
    let config = lancall_certs::client_config_pinned(fp);
    let tcp = TcpStream::connect(th.addr()).await.expect("tcp connect");
    tcp.set_nodelay(true).ok();
    let name = rustls_pki_types::ServerName::IpAddress(th.addr().ip().into());
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake with the pinned CA")
}

impl WsClient {
    pub async fn connect(th: &TestHost) -> WsClient {
        let tls = tls_connect(th).await;
        let url = format!("wss://{}/ws", th.addr());
        let (ws, _resp) = tokio_tungstenite::client_async(url, tls).await.expect("websocket handshake");
        WsClient { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("send");
    }

    pub async fn send_text(&mut self, s: impl Into<String>) {
        self.ws.send(Message::text(s.into())).await.expect("send");
    }

    /// The next JSON message, skipping control frames. Panics after [`PATIENCE`].
    pub async fn recv(&mut self) -> Value {
        match self.try_recv(PATIENCE).await {
            Some(v) => v,
            None => panic!("no message within {PATIENCE:?}, or the connection closed"),
        }
    }

    /// The next JSON message within `wait`, or `None`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            match frame {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).expect("hub sends JSON")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Reads until the connection closes; returns the close frame, failing on any JSON message
    /// other than those `allow`ed.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection not closed within {PATIENCE:?}"),
                Ok(None) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) => return None,
            }
        }
    }

    pub async fn join(&mut self, room: &str, token: Option<&str>, name: &str) -> Value {
        self.send(json!({"type": "join", "room": room, "token": token, "name": name})).await;
        self.recv().await
    }

    pub async fn joined(th: &TestHost, name: &str) -> (WsClient, String) {
        let mut c = WsClient::connect(th).await;
        let welcome = c.join("call", th.token().as_deref(), name).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let id = welcome["self"]["id"].as_str().expect("self.id").to_owned();
        (c, id)
    }
}
