//! Shared by the SFU's tests: a network namespace the test enters, webrtc-rs clients (the
//! `lancall-peer` crate's `BridgePc`) that publish a moving test pattern and a tone and decode
//! what the SFU forwards, and the driver that carries the SFU's offers to them.
#![allow(dead_code)]

pub mod simulcast;
pub mod str0m_peer;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_peer::bridge::{BridgeEvent, BridgePc};
use lancall_peer::messages::Description;
use lancall_peer::synthetic::{spawn_feed, transceiver_sink, FeedConfig};
use lancall_peer::{LinkConfig, LocalMedia, LocalMediaConfig, MediaKind};
use lancall_sfu::{ParticipantId, Sfu, SfuConfig, SfuEvent};

/// How long a wait for something that must happen may take before the test fails. Generous:
/// these tests check that things happen, not how fast, on two shared cores.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The SFU's address inside the namespace, and the clients'.
pub const SFU_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 6, 1);
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 6, 2);

// ---- the namespace ---------------------------------------------------------------------------

/// A network namespace with a veth pair whose both ends are inside (10.99.6.1/24 and
/// 10.99.6.2/24), no default route: nothing sent inside can leave. Deleted on drop.
pub struct Namespace {
    name: String,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let status = Command::new("ip")
        .args(args)
        .status()
        .map_err(|e| format!("ip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed", args.join(" ")))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Makes a namespace and moves the calling thread into it (threads it starts afterwards, the
/// tokio runtime's and the SFU's, are inside too). `None` (after saying why) where namespaces
/// cannot be made: the test then skips.
pub fn enter_namespace(test: &str) -> Option<Namespace> {
    if !is_root() {
        eprintln!(
            "SKIP {test}: needs root to make a network namespace (ip netns); CI runs as root"
        );
        return None;
    }
    let name = format!("lc-sfu-{}-{test:.16}", std::process::id());
    let ns = Namespace { name: name.clone() };
    let made = (|| {
        ip(&["netns", "add", &name])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &name, "link", "add", "lcsf0", "type", "veth", "peer", "name", "lcsf1",
        ])?;
        ip(&["-n", &name, "addr", "add", "10.99.6.1/24", "dev", "lcsf0"])?;
        ip(&["-n", &name, "addr", "add", "10.99.6.2/24", "dev", "lcsf1"])?;
        ip(&["-n", &name, "link", "set", "lcsf0", "up"])?;
        ip(&["-n", &name, "link", "set", "lcsf1", "up"])?;
        let file =
            std::fs::File::open(format!("/var/run/netns/{name}")).map_err(|e| e.to_string())?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns: {e}"))
    })();
    match made {
        Ok(()) => Some(ns),
        Err(e) => {
            eprintln!("SKIP {test}: could not make a network namespace: {e}");
            None
        }
    }
}

/// The address of a client in a [`remote_namespace`], and the SFU's side of its link.
pub const REMOTE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 2);

/// A second namespace behind a veth pair of its own (lcr0 10.99.8.1 in `main`, lcr1
/// 10.99.8.2 inside, a route back to 10.99.6.0/24), whose link from `main` is shaped with a
/// token bucket (`tc qdisc … tbf rate RATE`; this kernel has no netem). Deleted on drop.
pub fn remote_namespace(main: &Namespace, rate: &str) -> Result<Namespace, String> {
    let name = format!("{}-r", main.name);
    let ns = Namespace { name: name.clone() };
    ip(&["netns", "add", &name])?;
    ip(&["-n", &name, "link", "set", "lo", "up"])?;
    ip(&[
        "-n", &main.name, "link", "add", "lcr0", "type", "veth", "peer", "name", "lcr1", "netns",
        &name,
    ])?;
    ip(&["-n", &main.name, "addr", "add", "10.99.8.1/24", "dev", "lcr0"])?;
    ip(&["-n", &main.name, "link", "set", "lcr0", "up"])?;
    ip(&["-n", &name, "addr", "add", "10.99.8.2/24", "dev", "lcr1"])?;
    ip(&["-n", &name, "link", "set", "lcr1", "up"])?;
    ip(&["-n", &name, "route", "add", "10.99.6.0/24", "via", "10.99.8.1"])?;
    let status = Command::new("ip")
        .args(["netns", "exec", &main.name, "tc", "qdisc", "add", "dev", "lcr0", "root", "tbf"])
        .args(["rate", rate, "burst", "8kb", "latency", "200ms"])
        .status()
        .map_err(|e| format!("tc: {e}"))?;
    if !status.success() {
        return Err(format!("tc could not shape lcr0 to {rate}"));
    }
    Ok(ns)
}

/// Runs `f` on a thread of its own inside `ns` (sockets it opens, and threads it starts, stay
/// there).
pub fn in_namespace<T: Send>(ns: &Namespace, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(format!("/var/run/netns/{}", ns.name))
                    .expect("the namespace");
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("the thread in the namespace")
    })
}

/// Runs a scenario on a 2-thread runtime (made on this thread: inside the namespace), failing
/// it after `limit`.
pub fn run_scenario<F: std::future::Future<Output = ()>>(limit: Duration, scenario: F) {
    let _ = env_logger::builder().is_test(true).try_init();
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
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// An SFU bound to [`SFU_ADDR`], advertising it.
pub fn start_sfu() -> (Arc<Sfu>, tokio::sync::mpsc::UnboundedReceiver<SfuEvent>) {
    start_sfu_on(IpAddr::V4(SFU_ADDR))
}

/// An SFU bound to `bind` (any port), advertising [`SFU_ADDR`].
pub fn start_sfu_on(bind: IpAddr) -> (Arc<Sfu>, tokio::sync::mpsc::UnboundedReceiver<SfuEvent>) {
    start_sfu_with(SfuConfig::new(
        SocketAddr::new(bind, 0),
        vec![IpAddr::V4(SFU_ADDR)],
    ))
}

/// An SFU with `config`.
pub fn start_sfu_with(
    config: SfuConfig,
) -> (Arc<Sfu>, tokio::sync::mpsc::UnboundedReceiver<SfuEvent>) {
    let (sfu, events) = Sfu::start(config).expect("start the SFU");
    (Arc::new(sfu), events)
}

// ---- what a client received: lancall_peer::synthetic::ReceivedMedia, by transceiver -----------

pub use lancall_peer::synthetic::ReceivedMedia as Received;

/// Pushes a moving test pattern of `size` (25 pictures a second) and a tone at `hz` (50 packets
/// a second) into `media` until `stop`.
fn feed(media: Arc<LocalMedia>, stop: Arc<AtomicBool>, size: (u32, u32), hz: f64) {
    let config = FeedConfig {
        tone_hz: hz,
        ..FeedConfig::new(size)
    };
    spawn_feed(media, config, stop).expect("a media thread");
}

// ---- a client ------------------------------------------------------------------------------

/// A webrtc-rs participant: publishes its camera (a test pattern of its own size) and microphone
/// to the SFU, decodes everything it receives.
pub struct Client {
    pub name: String,
    pub id: ParticipantId,
    pub pc: BridgePc,
    pub received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Client {
    /// Joins: offers send-only audio and video, takes the SFU's answer, trickles its candidates
    /// to the SFU.
    pub async fn join(sfu: &Arc<Sfu>, name: &str, size: (u32, u32)) -> Client {
        Client::join_with(sfu, name, size, LocalMediaConfig::default()).await
    }

    /// [`Client::join`] with the encoder settings `config`.
    pub async fn join_with(
        sfu: &Arc<Sfu>,
        name: &str,
        size: (u32, u32),
        config: LocalMediaConfig,
    ) -> Client {
        let media = LocalMedia::new(config);
        let stop = Arc::new(AtomicBool::new(false));
        feed(media.clone(), stop.clone(), size, 440.0);
        let received: Arc<Mutex<Received>> = Arc::default();
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let config = LinkConfig {
            bind: vec![IpAddr::V4(CLIENT_ADDR)],
            ..LinkConfig::default()
        };
        let pc = BridgePc::new(
            &config,
            Arc::new(move |e| drop(tx.send(e))),
            transceiver_sink(received.clone()),
        )
        .await
        .expect("a peer connection");
        pc.add_transceiver(MediaKind::Audio, "sendonly", Some(media.clone()))
            .await
            .expect("audio transceiver");
        pc.add_transceiver(MediaKind::Video, "sendonly", Some(media.clone()))
            .await
            .expect("video transceiver");
        let offer = pc
            .set_local_description(false)
            .await
            .expect("offer")
            .local_description
            .expect("the offer");
        let (id, answer) = sfu
            .add_participant(name, &offer.sdp)
            .await
            .expect("the SFU answers");
        pc.set_remote_description(Description {
            kind: "answer".into(),
            sdp: answer,
        })
        .await
        .expect("the client takes the SFU's answer");
        {
            let sfu = sfu.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if let BridgeEvent::IceCandidate { candidate } = e {
                        if let Err(e) = sfu.add_remote_candidate(id, &candidate.candidate).await {
                            eprintln!("{id}: candidate {}: {e}", candidate.candidate);
                        }
                    }
                }
            });
        }
        Client {
            name: name.to_owned(),
            id,
            pc,
            received,
            stop,
        }
    }

    /// Publishes a second video track (a screen, say: a test pattern of `size`) by an offer of
    /// its own, as a browser does when it starts sharing its screen.
    pub async fn publish_another_video(&self, sfu: &Sfu, size: (u32, u32)) {
        let media = LocalMedia::new(LocalMediaConfig::default());
        feed(media.clone(), self.stop.clone(), size, 660.0);
        self.pc
            .add_transceiver(MediaKind::Video, "sendonly", Some(media))
            .await
            .expect("another video transceiver");
        let offer = self
            .pc
            .set_local_description(false)
            .await
            .expect("offer")
            .local_description
            .expect("the offer");
        let answer = sfu
            .accept_offer(self.id, &offer.sdp)
            .await
            .expect("the SFU answers");
        self.pc
            .set_remote_description(Description {
                kind: "answer".into(),
                sdp: answer,
            })
            .await
            .expect("the client takes the SFU's answer");
    }

    /// Waits until `f` holds of what it received.
    pub async fn wait_received(&self, what: &str, f: impl Fn(&Received) -> bool) {
        let end = Instant::now() + PATIENCE;
        loop {
            {
                let r = self.received.lock().expect("received");
                if f(&r) {
                    return;
                }
                assert!(
                    Instant::now() < end,
                    "{}: timed out after {PATIENCE:?} waiting for {what}: {}",
                    self.name,
                    r.summary()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Carries the SFU's offers to the clients and their answers back, and keeps every event.
pub struct Driver {
    pub log: Arc<Mutex<Vec<SfuEvent>>>,
    clients: Arc<Mutex<HashMap<ParticipantId, BridgePc>>>,
}

impl Driver {
    pub fn start(
        sfu: Arc<Sfu>,
        mut events: tokio::sync::mpsc::UnboundedReceiver<SfuEvent>,
    ) -> Driver {
        let log: Arc<Mutex<Vec<SfuEvent>>> = Arc::default();
        let clients: Arc<Mutex<HashMap<ParticipantId, BridgePc>>> = Arc::default();
        let (log2, clients2) = (log.clone(), clients.clone());
        tokio::spawn(async move {
            // Offers for a participant whose client is not registered yet wait here.
            let mut waiting: Vec<(ParticipantId, String)> = Vec::new();
            loop {
                let e = tokio::select! {
                    e = events.recv() => match e { Some(e) => Some(e), None => break },
                    _ = tokio::time::sleep(Duration::from_millis(20)), if !waiting.is_empty() => None,
                };
                if let Some(e) = e {
                    log2.lock().expect("log").push(e.clone());
                    if let SfuEvent::Offer { participant, sdp } = e {
                        waiting.push((participant, sdp));
                    }
                }
                while let Some(i) = waiting
                    .iter()
                    .position(|(p, _)| clients2.lock().expect("clients").contains_key(p))
                {
                    let (participant, sdp) = waiting.remove(i);
                    let pc = clients2.lock().expect("clients").get(&participant).cloned();
                    let Some(pc) = pc else { continue };
                    pc.set_remote_description(Description {
                        kind: "offer".into(),
                        sdp,
                    })
                    .await
                    .expect("the client takes the SFU's offer");
                    let answer = pc
                        .set_local_description(false)
                        .await
                        .expect("the client answers")
                        .local_description
                        .expect("the answer");
                    if let Err(e) = sfu.accept_answer(participant, &answer.sdp).await {
                        // A participant removed meanwhile is fine; anything else is a bug.
                        assert!(
                            matches!(e, lancall_sfu::SfuError::NoSuchParticipant(_)),
                            "the SFU refused {participant}'s answer: {e}"
                        );
                    }
                }
            }
        });
        Driver { log, clients }
    }

    pub fn register(&self, c: &Client) {
        self.clients
            .lock()
            .expect("clients")
            .insert(c.id, c.pc.clone());
    }

    /// How many offers the SFU made so far.
    pub fn offers(&self) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|e| matches!(e, SfuEvent::Offer { .. }))
            .count()
    }

    /// The SDP of every offer the SFU made to `to`, in order.
    pub fn offers_to(&self, to: ParticipantId) -> Vec<String> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter_map(|e| match e {
                SfuEvent::Offer { participant, sdp } if *participant == to => Some(sdp.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn saw(&self, f: impl Fn(&SfuEvent) -> bool) -> bool {
        self.log.lock().expect("log").iter().any(f)
    }

    pub async fn wait_for(&self, what: &str, f: impl Fn(&SfuEvent) -> bool) {
        self.wait_log(what, |log| log.iter().any(&f)).await
    }

    /// [`Driver::wait_for`] with a patience of `limit` instead of [`PATIENCE`].
    pub async fn wait_for_within(
        &self,
        what: &str,
        limit: Duration,
        f: impl Fn(&SfuEvent) -> bool,
    ) {
        self.wait_log_within(what, limit, |log| log.iter().any(&f))
            .await
    }

    /// Waits until `f` holds of the whole event log.
    pub async fn wait_log(&self, what: &str, f: impl Fn(&[SfuEvent]) -> bool) {
        self.wait_log_within(what, PATIENCE, f).await
    }

    async fn wait_log_within(&self, what: &str, limit: Duration, f: impl Fn(&[SfuEvent]) -> bool) {
        let end = Instant::now() + limit;
        while !f(&self.log.lock().expect("log")) {
            assert!(
                Instant::now() < end,
                "timed out after {limit:?} waiting for {what}: {:?}",
                self.log.lock().expect("log")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
