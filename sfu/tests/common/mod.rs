//! Shared by the SFU's tests: a network namespace the test enters, webrtc-rs clients (the
//! `lancall-peer` crate's `BridgePc`) that publish a moving test pattern and a tone and decode
//! what the SFU forwards, and the driver that carries the SFU's offers to them.
#![allow(dead_code)]

pub mod str0m_peer;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_peer::bridge::{BridgeEvent, BridgePc};
use lancall_peer::codec::opus::rms;
use lancall_peer::codec::{I420Frame, OpusDecoder, Vp8Decoder};
use lancall_peer::messages::Description;
use lancall_peer::testsrc::{TestPattern, Tone};
use lancall_peer::{LinkConfig, LocalMedia, LocalMediaConfig, MediaKind, RemoteFrame, TrackRole};
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

// ---- what a client received ------------------------------------------------------------------

pub struct VideoIn {
    decoder: Vp8Decoder,
    pub decoded: u64,
    pub size: (u32, u32),
    pub distinct: HashSet<u64>,
}

pub struct AudioIn {
    decoder: OpusDecoder,
    pub packets: u64,
    pub loudest: f64,
}

/// Per transceiver: the decoded remote video and audio.
#[derive(Default)]
pub struct Received {
    pub video: HashMap<usize, VideoIn>,
    pub audio: HashMap<usize, AudioIn>,
}

impl Received {
    /// The picture sizes of the remote videos with at least `frames` decoded pictures of which
    /// more than half are distinct (moving), sorted.
    pub fn moving_videos(&self, frames: u64) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .video
            .values()
            .filter(|v| v.decoded >= frames && v.distinct.len() as u64 > frames / 2)
            .map(|v| v.size)
            .collect();
        v.sort();
        v
    }

    /// How many remote audio tracks carried at least `packets` audible packets.
    pub fn audible(&self, packets: u64) -> usize {
        self.audio
            .values()
            .filter(|a| a.packets >= packets && a.loudest > 0.05)
            .count()
    }

    pub fn total_decoded(&self) -> u64 {
        self.video.values().map(|v| v.decoded).sum()
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (t, v) in &self.video {
            s += &format!(
                "video#{t} {}x{} {} decoded ({} distinct); ",
                v.size.0,
                v.size.1,
                v.decoded,
                v.distinct.len()
            );
        }
        for (t, a) in &self.audio {
            s += &format!(
                "audio#{t} {} packets (loudest {:.3}); ",
                a.packets, a.loudest
            );
        }
        s
    }
}

fn decoding_sink(received: Arc<Mutex<Received>>) -> lancall_peer::FrameSink {
    Arc::new(move |f: RemoteFrame| {
        if f.role != TrackRole::Main {
            return;
        }
        let mut r = received.lock().expect("received");
        match f.kind {
            MediaKind::Video => {
                let v = r.video.entry(f.transceiver).or_insert_with(|| VideoIn {
                    decoder: Vp8Decoder::new().expect("vp8 decoder"),
                    decoded: 0,
                    size: (0, 0),
                    distinct: HashSet::new(),
                });
                if let Ok(Some(pic)) = v.decoder.decode(&f.data) {
                    v.decoded += 1;
                    v.size = (pic.width, pic.height);
                    let sum = pic
                        .luma()
                        .iter()
                        .step_by(31)
                        .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
                    v.distinct.insert(sum);
                }
            }
            MediaKind::Audio => {
                let a = r.audio.entry(f.transceiver).or_insert_with(|| AudioIn {
                    decoder: OpusDecoder::new().expect("opus decoder"),
                    packets: 0,
                    loudest: 0.0,
                });
                if let Ok(pcm) = a.decoder.decode(&f.data) {
                    a.packets += 1;
                    a.loudest = a.loudest.max(rms(pcm));
                }
            }
        }
    })
}

/// Pushes a moving test pattern of `size` (25 pictures a second) and a tone at `hz` (50 packets
/// a second) into `media` until `stop`.
fn feed(media: Arc<LocalMedia>, stop: Arc<AtomicBool>, size: (u32, u32), hz: f64) {
    std::thread::spawn(move || {
        let mut pattern = TestPattern::new(size.0, size.1);
        let mut tone = Tone::new(hz, 0.3);
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let _ = media.push_audio_pcm(tone.next_frame(), now);
            if n % 2 == 0 {
                let data = pattern.next_frame(n);
                let _ = media.push_video_i420(
                    &I420Frame {
                        width: size.0,
                        height: size.1,
                        data,
                    },
                    now,
                );
            }
            n += 1;
            std::thread::sleep(Duration::from_millis(20).saturating_sub(now.elapsed()));
        }
    });
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
            decoding_sink(received.clone()),
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
