//! The app's signaling sessions against a real host on 127.0.0.1: in-process to this device's
//! hub, and over WSS to another host with its CA fingerprint pinned; a wrong fingerprint is
//! refused as an identity change before anything is sent.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lancall_certs::Fingerprint;
use lancall_hub::host::{self, HostConfig, RunningHost};
use lancall_protocol::HostAddr;
use lancall_lib::signaling::{probe, SessionEvent, Sessions, Target};
use tokio::sync::mpsc;

async fn start_host(dir: &std::path::Path) -> RunningHost {
    let mut config = HostConfig::new(dir.to_path_buf());
    config.https_listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.http_listen = None;
    config.open = true;
    host::start(config).await.unwrap_or_else(|e| panic!("host did not start: {e}"))
}

fn collector() -> (lancall_lib::signaling::Emit, mpsc::UnboundedReceiver<SessionEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(move |e| drop(tx.send(e))), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no session event within 10 s"))
        .unwrap_or_else(|| panic!("the session ended without a close event"))
}

async fn join_and_expect_welcome(sessions: &Sessions, id: &str, rx: &mut mpsc::UnboundedReceiver<SessionEvent>) -> serde_json::Value {
    let open = next(rx).await;
    assert_eq!((open.kind, open.session.as_str()), ("open", id));
    let join = serde_json::json!({"type": "join", "room": "call", "name": "App"}).to_string();
    sessions.send(id, join).unwrap_or_else(|e| panic!("send failed: {e}"));
    let welcome = next(rx).await;
    assert_eq!(welcome.kind, "message");
    serde_json::from_str(welcome.text.as_deref().unwrap_or_default()).unwrap_or_default()
}

#[tokio::test]
async fn a_pinned_session_reaches_another_host_and_a_wrong_pin_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let host = start_host(dir.path()).await;
    let addr = HostAddr::from_socket(host.https_addr);
    let pin = host.ca_fingerprint.unwrap_or_else(|| panic!("the host has a CA"));

    probe(&addr, pin).await.unwrap_or_else(|e| panic!("the right pin was refused: {e}"));
    let wrong = Fingerprint([0xab; 32]);
    let refused = probe(&addr, wrong).await.err().map(|e| e.code());
    assert_eq!(refused, Some("identity-changed"));

    let sessions = Sessions::default();
    let (emit, mut rx) = collector();
    sessions.open("s1", Target::Remote { addr: addr.clone(), pin }, emit).unwrap_or_else(|e| panic!("{e}"));
    let welcome = join_and_expect_welcome(&sessions, "s1", &mut rx).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["self"]["name"], "App");
    assert_eq!(host.hub.room("call").map(|r| r.peers.len()), Some(1));
    sessions.close("s1");
    let closed = next(&mut rx).await;
    assert_eq!((closed.kind, closed.code, closed.was_open), ("close", Some(1000), true));

    // A wrong pin: the session never opens and says why, in words and as a code.
    let (emit, mut rx) = collector();
    sessions.open("s2", Target::Remote { addr, pin: wrong }, emit).unwrap_or_else(|e| panic!("{e}"));
    let failed = next(&mut rx).await;
    assert_eq!((failed.kind, failed.error, failed.was_open), ("close", Some("identity-changed"), false));
    assert!(failed.reason.unwrap_or_default().contains("identity changed"));
    host.stop().await;
}

#[tokio::test]
async fn an_in_process_session_joins_this_devices_hub_and_hears_the_host_close() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let host = start_host(dir.path()).await;
    let sessions = Sessions::default();
    let (emit, mut rx) = collector();
    sessions.open("local", Target::Local(host.hub.clone()), emit).unwrap_or_else(|e| panic!("{e}"));
    let welcome = join_and_expect_welcome(&sessions, "local", &mut rx).await;
    assert_eq!(welcome["room"], "call");
    assert_eq!(host.hub.room("call").map(|r| r.peers.len()), Some(1));
    host.hub.shutdown("The host ended the call.");
    let closing = next(&mut rx).await;
    assert!(closing.text.unwrap_or_default().contains("closing"));
    let closed = next(&mut rx).await;
    assert_eq!((closed.kind, closed.code), ("close", Some(1001)));
    host.stop().await;
}
