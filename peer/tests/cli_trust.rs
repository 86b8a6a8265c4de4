//! `lancall-peer` checks the host before it joins: a link whose pinned fingerprint does not
//! match the host's CA is refused with a sentence saying so, and a broken link is explained.
//!
//! Loopback only: the host listens on 127.0.0.1 without mDNS, and the peer stops at the TLS
//! handshake, before any WebRTC (so no namespace is needed).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn host_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LANCALL_HOST_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("lancall-host");
    bin.exists().then_some(bin)
}

#[test]
fn a_host_whose_ca_is_not_the_pinned_one_is_refused() {
    let Some(host_bin) = host_binary() else {
        eprintln!(
            "SKIP: lancall-host is not built (cargo build -p lancall-hub --bin lancall-host)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut host = Command::new(host_bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-http",
            "--no-mdns",
            "--json",
            "--knock",
            "refuse",
            "--log-level",
            "warn",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start lancall-host");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines.next().expect("no ready line").expect("read");
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["event"] == "ready" {
            break v["join_url"].as_str().expect("join_url").to_owned();
        }
    };
    let (before, fp) = url.rsplit_once("fp=").expect("fp in the link");
    let other = if fp.starts_with('0') {
        "1".repeat(64)
    } else {
        "0".repeat(64)
    };
    let forged = format!("{before}fp={other}");

    let out = Command::new(env!("CARGO_BIN_EXE_lancall-peer"))
        .args([
            "--join",
            &forged,
            "--name",
            "Bot",
            "--json",
            "--seconds",
            "5",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run lancall-peer");
    let _ = host.kill();
    let _ = host.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("is not the one this link was made for"),
        "{stderr}"
    );
    assert!(stdout.contains(r#""event":"error""#), "{stdout}");
}

#[test]
fn a_broken_link_is_explained() {
    let out = Command::new(env!("CARGO_BIN_EXE_lancall-peer"))
        .args(["--join", "https://127.0.0.1:9/#room=call", "--name", "Bot"])
        .stdin(Stdio::null())
        .output()
        .expect("run lancall-peer");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fingerprint"), "{stderr}");
}
