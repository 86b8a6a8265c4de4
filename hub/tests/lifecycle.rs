//! Connections that go quiet, and a host that stops: the room is told, clients are told.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use lancall_hub::server::Timing;
use serde_json::json;

fn fast_timing() -> Timing {
    Timing {
        ping_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(1200),
        ..Timing::default()
    }
}

#[tokio::test]
async fn a_silent_client_is_dropped_and_the_room_told() {
    let th = start_host_with(fast_timing(), false, 8).await;
    let (mut alive, _) = WsClient::joined(&th, "Alive").await;
    let (silent, silent_id) = WsClient::joined(&th, "Silent").await;
    assert_eq!(alive.recv().await["type"], "peer-joined");
    // `silent` is never read again, so it never answers the hub's pings. `alive` keeps
    // reading, which answers pings, so it must stay.
    let left = alive.recv().await;
    assert_eq!(left["type"], "peer-left");
    assert_eq!(left["peer"]["id"], silent_id);
    assert_eq!(left["reason"], "timeout");
    // Past another timeout, reading (and so answering pings) but hearing nothing new.
    assert!(alive.try_recv(Duration::from_millis(1500)).await.is_none());
    alive.send(json!({"type": "ping"})).await;
    assert_eq!(alive.recv().await["type"], "pong", "a client that answers pings stays");
    assert_eq!(th.host.hub.stats().peers, 1);
    drop(silent);
    th.host.stop().await;
}

#[tokio::test]
async fn stopping_the_host_tells_every_client_it_is_closing() {
    let th = start_host().await;
    let (mut a, _) = WsClient::joined(&th, "A").await;
    let mut lobby = WsClient::connect(&th).await; // connected, not in a room
    let hub = th.host.hub.clone();
    let stop = tokio::spawn(th.host.stop());
    let closing = a.recv().await;
    assert_eq!(closing["type"], "closing");
    assert!(closing["message"].as_str().unwrap().contains("shutting down"));
    assert_eq!(a.closed().await.map(|f| u16::from(f.code)), Some(1001));
    assert_eq!(lobby.recv().await["type"], "closing");
    stop.await.unwrap();
    assert!(hub.is_closing());
    assert!(hub.connect().is_err(), "no new clients after shutdown");
}

/// The real binary: SIGTERM makes it tell its clients before it exits.
/// `lancall-host --json` on 127.0.0.1 with no mDNS, data in `dir`, plus `extra`; its stdout lines.
fn json_host(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, std::io::Lines<std::io::BufReader<std::process::ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lancall-host"))
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--json", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lancall-host starts");
    let stdout = child.stdout.take().unwrap();
    (child, std::io::BufRead::lines(std::io::BufReader::new(stdout)))
}

#[tokio::test]
async fn lancall_host_on_sigterm_says_closing_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = json_host(dir.path(), &["--room", "standup"]);
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["room"], "standup");
    let token = ready["token"].as_str().unwrap().to_owned();
    let fp = ready["ca_sha256"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    assert!(ready["join_url"].as_str().unwrap().ends_with(&format!("#room=standup&token={token}&fp={fp}")));

    // Connect with a client that pins the fingerprint from the ready line.
    let port = ready["https_port"].as_u64().unwrap() as u16;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let config = lancall_certs::client_config_pinned(fp.parse().unwrap());
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/ws"), tls).await.unwrap();
    let mut c = WsClient { ws };
    let w = c.join("standup", Some(&token), "Listener").await;
    assert_eq!(w["type"], "welcome");
    let joined: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(joined["event"], "peer-joined");
    assert_eq!(joined["peer"]["name"], "Listener");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(c.recv().await["type"], "closing");
    assert_eq!(c.closed().await.map(|f| u16::from(f.code)), Some(1001));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains(r#""event":"stopped""#)), "{rest:?}");
    let status = child.wait().unwrap();
    assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
}

/// The stop signal is listened for before "ready" is printed: a SIGTERM the moment a supervisor
/// sees "ready" still stops the host cleanly (before, the handler was installed by a task that
/// might not have run yet, and the signal killed the host with no goodbye).
#[test]
fn a_sigterm_right_after_ready_still_stops_the_host_cleanly() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, mut lines) = json_host(dir.path(), &["--no-http"]);
        let ready = lines.next().unwrap().unwrap();
        assert!(ready.contains(r#""event":"ready""#), "{ready}");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "killed by the signal instead of stopping: {status:?}");
        assert!(rest.iter().any(|l| l.contains(r#""event":"stopped""#)), "{rest:?}");
    }
}

#[tokio::test]
async fn a_wrong_pinned_fingerprint_is_refused_before_any_http() {
    let th = start_host().await;
    let other = lancall_certs::Authority::generate().unwrap();
    let config = lancall_certs::client_config_pinned(other.fingerprint());
    let tcp = tokio::net::TcpStream::connect(th.addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let err = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap_err();
    let cause = lancall_certs::find_cert_error(&err).expect("the verifier's own error");
    assert!(cause.is_identity_changed(), "{cause}");
    assert!(cause.to_string().contains("identity changed"), "a sentence a person can act on: {cause}");
    th.host.stop().await;
}
