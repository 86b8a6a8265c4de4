//! Shared by the namespace tests: the namespace (made outside, the test binary re-run inside it),
//! a real `lancall-host`, and an in-process native peer that decodes what it receives.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_peer::synthetic::{spawn_feed, FeedConfig};
use lancall_peer::{Call, CallConfig, CallEvent, HubSocket, JoinLink, LocalMedia, LocalMediaConfig};

/// Set (to the namespace's name) in the copy of this binary that runs inside the namespace.
pub const INSIDE_ENV: &str = "LANCALL_PEER_TEST_NETNS";
pub const HOST_ADDR: &str = "10.99.3.1";

// ---- outside: the namespace ------------------------------------------------------------------

/// A network namespace with a veth pair whose both ends are inside (10.99.3.1/24, 10.99.3.2/24),
/// no default route; deleted on drop, with anything still running in it.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn create() -> Result<Namespace, String> {
        let name = format!("lc-np-{}", std::process::id());
        let ns = Namespace { name: name.clone() };
        let ip = |args: &[&str]| -> Result<(), String> {
            let status = Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| format!("ip: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("ip {} failed", args.join(" ")))
            }
        };
        ip(&["netns", "add", &name])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &name, "link", "add", "lcnp0", "type", "veth", "peer", "name", "lcnp1",
        ])?;
        ip(&["-n", &name, "addr", "add", "10.99.3.1/24", "dev", "lcnp0"])?;
        ip(&["-n", &name, "addr", "add", "10.99.3.2/24", "dev", "lcnp1"])?;
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])
            .status();
        ip(&["-n", &name, "link", "set", "lcnp0", "up"])?;
        ip(&["-n", &name, "link", "set", "lcnp1", "up"])?;
        Ok(ns)
    }
}

/// Kills whatever still runs in namespace `name`, then deletes it (also after a failed test).
fn delete_namespace(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).status();
}

/// Runs a test scenario on a 2-thread runtime, failing it after `limit`.
pub fn run_scenario<F: std::future::Future<Output = ()>>(limit: std::time::Duration, scenario: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(limit, scenario)
            .await
            .unwrap_or_else(|_| panic!("the scenario took over {limit:?}"));
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
}

impl Drop for Namespace {
    fn drop(&mut self) {
        delete_namespace(&self.name);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn host_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LANCALL_HOST_BIN") {
        return Ok(PathBuf::from(p));
    }
    // target/<profile>/deps/native_call-… -> target/<profile>/lancall-host
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .ok_or("no target folder")?;
    let bin = dir.join("lancall-host");
    if !bin.exists() {
        // `cargo test -p lancall-peer` alone does not build the hub's binary.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "lancall-hub", "--bin", "lancall-host"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .map_err(|e| format!("cargo build lancall-host: {e}"))?;
        if !status.success() || !bin.exists() {
            return Err(format!("could not build {}", bin.display()));
        }
    }
    Ok(bin)
}

/// Runs the scenario in a copy of this test binary inside a fresh namespace.
pub fn run_inside_namespace(test_name: &str) {
    run_inside_namespace_with(test_name, false)
}

/// Set (to its name) when the test made a second, "remote" namespace (see [`RemoteNamespace`]).
pub const REMOTE_ENV: &str = "LANCALL_PEER_TEST_REMOTE_NETNS";

/// A second namespace behind a veth pair of its own, whose only path to the main one can be cut:
/// lcx0 10.99.4.1 in the main namespace, lcx1 10.99.4.2 here, with a route to 10.99.3.0/24.
pub struct RemoteNamespace {
    pub name: String,
}

impl RemoteNamespace {
    fn create(main: &str) -> Result<RemoteNamespace, String> {
        let name = format!("{main}-b");
        let ns = RemoteNamespace { name: name.clone() };
        let ip = |args: &[&str]| -> Result<(), String> {
            let status = Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| format!("ip: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("ip {} failed", args.join(" ")))
            }
        };
        ip(&["netns", "add", &name])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", main, "link", "add", "lcx0", "type", "veth", "peer", "name", "lcx1", "netns",
            &name,
        ])?;
        ip(&["-n", main, "addr", "add", "10.99.4.1/24", "dev", "lcx0"])?;
        ip(&["-n", main, "link", "set", "lcx0", "up"])?;
        ip(&["-n", &name, "addr", "add", "10.99.4.2/24", "dev", "lcx1"])?;
        ip(&["-n", &name, "link", "set", "lcx1", "up"])?;
        ip(&[
            "-n",
            &name,
            "route",
            "add",
            "10.99.3.0/24",
            "via",
            "10.99.4.1",
        ])?;
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])
            .status();
        Ok(ns)
    }
}

impl Drop for RemoteNamespace {
    fn drop(&mut self) {
        delete_namespace(&self.name);
    }
}

/// Runs the scenario in a copy of this test binary inside a fresh namespace (and, with
/// `remote`, a second one it can cut off).
pub fn run_inside_namespace_with(test_name: &str, remote: bool) {
    if !is_root() {
        eprintln!(
            "SKIP {test_name}: needs root to make a network namespace (ip netns); CI runs as root"
        );
        return;
    }
    let host = match host_binary() {
        Ok(h) => h,
        Err(e) => panic!("lancall-host is needed: {e}"),
    };
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("SKIP {test_name}: could not make a network namespace: {e}");
            return;
        }
    };
    let remote_ns = if remote {
        match RemoteNamespace::create(&ns.name) {
            Ok(r) => Some(r),
            Err(e) => panic!("could not make the second namespace: {e}"),
        }
    } else {
        None
    };
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(INSIDE_ENV, &ns.name)
        .env(
            REMOTE_ENV,
            remote_ns.as_ref().map(|r| r.name.as_str()).unwrap_or(""),
        )
        .env("LANCALL_HOST_BIN", &host)
        .stdin(Stdio::null())
        .spawn()
        .expect("run the test inside the namespace");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{test_name} did not finish in 120 s inside the namespace");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(remote_ns);
    drop(ns);
    assert!(
        status.success(),
        "{test_name} failed inside the namespace ({status})"
    );
}

// ---- inside: the host ------------------------------------------------------------------------

pub struct Host {
    child: Child,
    pub join_url: String,
    _dir: tempfile::TempDir,
}

impl Host {
    pub fn start() -> Host {
        Host::start_with(&[])
    }

    /// [`Host::start`] with more options (`--topology sfu --media-port 0`, say).
    pub fn start_with(extra: &[&str]) -> Host {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = std::env::var("LANCALL_HOST_BIN").expect("LANCALL_HOST_BIN");
        let mut child = Command::new(bin)
            .args([
                "--listen",
                &format!("{HOST_ADDR}:0"),
                "--no-http",
                "--room",
                "call",
                "--no-mdns",
                "--json",
            ])
            .args(extra)
            .args(["--knock", "refuse", "--log-level", "warn", "--data-dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start lancall-host");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready: serde_json::Value = loop {
            let line = lines
                .next()
                .expect("lancall-host printed no ready line")
                .expect("read");
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["event"] == "ready" {
                break v;
            }
        };
        // Keep reading so the host never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let join_url = ready["join_url"].as_str().expect("join_url").to_owned();
        Host {
            child,
            join_url,
            _dir: dir,
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- inside: a native peer -------------------------------------------------------------------

/// What a peer decoded: by connection (a call) or by transceiver (a bridged connection).
#[allow(unused_imports)]
pub use lancall_peer::synthetic::{link_sink, transceiver_sink, ReceivedMedia as Received};

/// Pushes a moving test pattern of `size` (25 pictures a second) and a tone at `hz` (50 packets a
/// second) into `media` until `stop`.
pub fn feed(
    media: Arc<LocalMedia>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    size: (u32, u32),
    hz: f64,
) {
    let config = FeedConfig {
        tone_hz: hz,
        ..FeedConfig::new(size)
    };
    spawn_feed(media, config, stop).expect("a media thread");
}

pub struct Peer {
    pub call: Call,
    pub events: Arc<Mutex<Vec<(Instant, CallEvent)>>>,
    pub received: Arc<Mutex<Received>>,
    stop_media: Arc<std::sync::atomic::AtomicBool>,
}

impl Peer {
    pub async fn join(url: &str, name: &str) -> Peer {
        let link = JoinLink::parse(url).expect("join link");
        let socket = HubSocket::connect(&link).await.expect("reach the hub");
        let media = LocalMedia::new(LocalMediaConfig::default());
        let stop_media = Arc::new(std::sync::atomic::AtomicBool::new(false));
        feed(media.clone(), stop_media.clone(), (640, 480), 523.0);
        let received: Arc<Mutex<Received>> = Arc::default();
        let sink = link_sink(received.clone());
        let (hub_tx, hub_rx) = tokio::sync::mpsc::unbounded_channel();
        let (call, mut rx) = Call::start(CallConfig::default(), media, sink, hub_tx);
        let events: Arc<Mutex<Vec<(Instant, CallEvent)>>> = Arc::default();
        {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    events.lock().expect("events").push((Instant::now(), ev));
                }
            });
        }
        {
            let (call, name) = (call.clone(), name.to_owned());
            tokio::spawn(async move {
                if let Err(e) = socket.run(&link, &name, &call, hub_rx).await {
                    eprintln!("{name}: hub connection ended: {e}");
                }
            });
        }
        Peer {
            call,
            events,
            received,
            stop_media,
        }
    }

    pub fn find<T>(&self, f: impl Fn(&CallEvent) -> Option<T>) -> Option<(Instant, T)> {
        let events = self.events.lock().expect("events");
        events.iter().find_map(|(t, e)| f(e).map(|v| (*t, v)))
    }

    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&CallEvent) -> Option<T>,
    ) -> (Instant, T) {
        let end = Instant::now() + timeout;
        loop {
            if let Some(found) = self.find(&f) {
                return found;
            }
            assert!(
                Instant::now() < end,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_media(&self, what: &str, timeout: Duration, f: impl Fn(&Received) -> bool) {
        let end = Instant::now() + timeout;
        loop {
            if f(&self.received.lock().expect("received")) {
                return;
            }
            let r = self.received.lock().expect("received");
            assert!(
                Instant::now() < end,
                "timed out after {timeout:?} waiting for {what}: {}",
                r.summary()
            );
            drop(r);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop_media
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
