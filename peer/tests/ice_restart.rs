//! A native peer whose only network path is cut and restored: the connection goes
//! `disconnected`, ICE restarts through the hub (perfect negotiation, both sides may offer), and
//! media resumes on the same connection, with nobody leaving or rejoining.
//!
//! One peer runs in-process in the main namespace with the host; the other is the
//! `lancall-peer` CLI in a second namespace behind a veth pair the test takes down and up.
//! Needs root; skips otherwise.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run_inside_namespace_with, Host, Peer, INSIDE_ENV, REMOTE_ENV};
use lancall_peer::CallEvent;

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ip {} failed", args.join(" "));
}

async fn scenario() {
    let remote_ns = std::env::var(REMOTE_ENV).expect("the second namespace");
    let host = Host::start();
    let ada = Peer::join(&host.join_url, "Ada").await;

    // Bee: the CLI, in the namespace whose link can be cut.
    let mut bee = Command::new("ip")
        .args([
            "netns",
            "exec",
            &remote_ns,
            env!("CARGO_BIN_EXE_lancall-peer"),
        ])
        .args(["--join", &host.join_url, "--name", "Bee", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start lancall-peer");
    let bee_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let (out, lines) = (bee.stdout.take().expect("stdout"), bee_lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(line);
            }
        });
    }

    let (_, link) = ada
        .wait_for("Bee to join", Duration::from_secs(20), |e| match e {
            CallEvent::RemoteAdded { link, name, .. } if name == "Bee" => Some(*link),
            _ => None,
        })
        .await;
    ada.wait_media("Bee's pictures", Duration::from_secs(20), |r| {
        r.distinct_pictures() >= 5
    })
    .await;

    // Cut Bee's only path.
    ip(&["link", "set", "lcx0", "down"]);
    let cut = Instant::now();
    ada.wait_for(
        "the connection to Bee to go down",
        Duration::from_secs(20),
        |e| match e {
            CallEvent::RemoteUpdated {
                link: l,
                connection,
                ..
            } if *l == link && (connection == "disconnected" || connection == "failed") => Some(()),
            _ => None,
        },
    )
    .await;
    eprintln!("connection down {:?} after the cut", cut.elapsed());
    // Long enough for the restart timers (2.5 s after `disconnected`) to fire on both sides.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = ada.received.lock().expect("received").video_decoded();
    ip(&["link", "set", "lcx0", "up"]);
    let restored = Instant::now();

    ada.wait_media("Bee's pictures again", Duration::from_secs(30), |r| {
        r.video_decoded() >= before + 15
    })
    .await;
    eprintln!(
        "media back {:?} after the path came back",
        restored.elapsed()
    );
    let since_restore = |e: &CallEvent| match e {
        CallEvent::RemoteUpdated {
            link: l,
            connection,
            ..
        } if *l == link && connection == "connected" => Some(()),
        _ => None,
    };
    assert!(ada.find(since_restore).is_some());
    // Nobody left or rejoined: same connection, no removal.
    assert!(
        ada.find(|e| matches!(e, CallEvent::RemoteRemoved { .. }).then_some(()))
            .is_none(),
        "the connection was dropped instead of restarted"
    );
    let rejoined = bee_lines
        .lock()
        .expect("lines")
        .iter()
        .any(|l| l.contains(r#""rejoined":true"#));
    assert!(!rejoined, "Bee had to rejoin the hub");

    if let Some(stdin) = bee.stdin.as_mut() {
        let _ = stdin.write_all(b"{\"cmd\":\"hangup\"}\n");
    }
    let end = Instant::now() + Duration::from_secs(5);
    while bee.try_wait().ok().flatten().is_none() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = bee.kill();
    ada.call.hangup().await;
}

#[test]
fn a_cut_path_comes_back_by_ice_restart_without_rejoining() {
    const NAME: &str = "a_cut_path_comes_back_by_ice_restart_without_rejoining";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace_with(NAME, true);
        return;
    }
    common::run_scenario(Duration::from_secs(100), scenario());
}
