//! The SFU's thread: one UDP socket, every participant's `Rtc`, their timers, and the routing
//! between them. See the crate documentation for the design.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::crypto::CryptoProvider;
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::bwe::Bitrate;
use str0m::{Candidate, Input, Rtc};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

use crate::layers::{choose_layer, vp8_keyframe_size, LayerKey, Wanted};
use crate::participant::{AnswerError, Forwarded, Happened, Participant, HOLD_MAX_AGE};
use crate::record::{Failure, RecordedFile, RoomRecording};
use crate::speakers::Speakers;
use crate::{GoneReason, MediaKind, ParticipantId, Patience, SfuCounters, SfuError, SfuEvent};

/// The longest the thread sleeps in `recv_from` before looking at its commands: a command (a
/// join, an answer) waits at most this long when no packet arrives. The price is 200 wake-ups a
/// second when idle (not measured yet: the capacity benchmark will); a waker on the socket
/// would remove both, a later change.
const COMMAND_POLL: Duration = Duration::from_millis(5);
/// Larger than any datagram a WebRTC client sends (they keep under ~1200 bytes for the MTU).
const RECV_BUFFER: usize = 2_048;
/// How often the engine looks at what is wanted as a whole: the layers each publisher must
/// send ([`SfuEvent::LayersWanted`]) and the bitrate each subscriber's estimator probes for.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Each subscriber's bandwidth estimate starts here (str0m's TWCC estimator then moves it). On a
/// LAN most links carry far more, and a low start would hold every picture at the low layer for
/// the first seconds of a call.
const INITIAL_ESTIMATE_BPS: u64 = 2_500_000;
/// The least a subscriber's estimator probes for (one small picture and the voices).
const MIN_DESIRED_BPS: u64 = 300_000;

/// One counter readable from any thread.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The engine's counters (see [`SfuCounters`] for what each one means).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) datagrams_received: Counter,
    pub(crate) datagrams_unreadable: Counter,
    pub(crate) datagrams_unrouted: Counter,
    pub(crate) send_errors: Counter,
    pub(crate) frames_forwarded: Counter,
    pub(crate) keyframe_requests: Counter,
    pub(crate) keyframe_requests_from_clients: Counter,
    pub(crate) participants_failed: Counter,
    pub(crate) panics_contained: Counter,
    pub(crate) frames_malformed: Counter,
    pub(crate) frames_not_chosen: Counter,
    pub(crate) frames_paused: Counter,
    pub(crate) layer_switches: Counter,
    pub(crate) audio_not_loudest: Counter,
    pub(crate) frames_held: Counter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SfuCounters {
        SfuCounters {
            datagrams_received: self.datagrams_received.get(),
            datagrams_unreadable: self.datagrams_unreadable.get(),
            datagrams_unrouted: self.datagrams_unrouted.get(),
            send_errors: self.send_errors.get(),
            frames_forwarded: self.frames_forwarded.get(),
            keyframe_requests: self.keyframe_requests.get(),
            keyframe_requests_from_clients: self.keyframe_requests_from_clients.get(),
            participants_failed: self.participants_failed.get(),
            panics_contained: self.panics_contained.get(),
            frames_malformed: self.frames_malformed.get(),
            frames_not_chosen: self.frames_not_chosen.get(),
            frames_paused: self.frames_paused.get(),
            layer_switches: self.layer_switches.get(),
            audio_not_loudest: self.audio_not_loudest.get(),
            frames_held: self.frames_held.get(),
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// What the handle asks of the thread.
pub(crate) enum Command {
    Add {
        room: String,
        label: String,
        /// A person's name, for the files of a recording.
        name: String,
        offer: SdpOffer,
        reply: Reply<(ParticipantId, String)>,
    },
    /// Record `room` into `dir` from now on.
    StartRecording {
        room: String,
        dir: std::path::PathBuf,
        reply: Reply<()>,
    },
    /// Stop recording `room`: the reply comes once every file is finished.
    StopRecording {
        room: String,
        reply: Reply<Vec<RecordedFile>>,
    },
    Offer {
        participant: ParticipantId,
        offer: SdpOffer,
        reply: Reply<String>,
    },
    Answer {
        participant: ParticipantId,
        answer: SdpAnswer,
        reply: Reply<()>,
    },
    Candidate {
        participant: ParticipantId,
        candidate: Candidate,
        reply: Reply<()>,
    },
    Remove {
        participant: ParticipantId,
        reply: Reply<()>,
    },
    Want {
        subscriber: ParticipantId,
        publisher: ParticipantId,
        mid: Mid,
        wanted: Wanted,
        reply: Reply<()>,
    },
    Addresses {
        advertise: Vec<IpAddr>,
        reply: Reply<()>,
    },
    /// An ICE-TCP connection opened: packets to `remote` go to `writer`.
    TcpOpened {
        remote: SocketAddr,
        writer: crate::tcp::TcpWriter,
    },
    /// A packet that came over ICE-TCP from `source`, to our `local` address.
    TcpIn {
        data: Vec<u8>,
        source: SocketAddr,
        local: SocketAddr,
        at: Instant,
    },
    /// An ICE-TCP connection closed.
    TcpClosed {
        remote: SocketAddr,
    },
    /// Test hook: whether bandwidth estimates may limit layers.
    BandwidthLimits {
        on: bool,
    },
    /// Test hook: how old a held keyframe may be (see `participant::Held`).
    HoldMaxAge {
        age: Duration,
    },
    /// Test hook: panic inside this participant's processing.
    Panic {
        participant: ParticipantId,
    },
    Stop,
}

pub(crate) struct Engine {
    socket: UdpSocket,
    local_addr: SocketAddr,
    advertise: Vec<IpAddr>,
    patience: Patience,
    crypto: Arc<CryptoProvider>,
    /// The one DTLS certificate every participant's connection presents (as Janus does): made
    /// once at start instead of on each join, where it was on the path to the first picture.
    /// Each DTLS handshake still agrees fresh keys. `None`: each `Rtc` makes its own.
    dtls_cert: Option<DtlsCert>,
    participants: HashMap<ParticipantId, Participant>,
    /// Source address -> participant, learned from accepted STUN (the fast path of the demux).
    by_addr: HashMap<SocketAddr, ParticipantId>,
    /// Each participant's one pending timer, soonest first.
    timers: BTreeSet<(Instant, ParticipantId)>,
    next_id: u64,
    events: UnboundedSender<SfuEvent>,
    counters: Arc<Counters>,
    /// What one participant said that others must hear, in order.
    work: VecDeque<(ParticipantId, Happened)>,
    /// When the housekeeping last ran.
    housekept: Instant,
    /// Who is speaking: whose voice each subscriber receives.
    /// Who speaks, per room.
    speakers: HashMap<String, Speakers>,
    /// Bandwidth estimates may limit layers (a test hook turns this off).
    bandwidth_limits: bool,
    hold_max_age: Duration,
    /// Each participant's name (for recordings' file names).
    names: HashMap<ParticipantId, String>,
    /// The rooms being recorded.
    recordings: HashMap<String, RoomRecording>,
    /// Writer threads that failed say so here.
    failures: (std::sync::mpsc::Sender<Failure>, Receiver<Failure>),
    /// The ICE-TCP port, when one is open; its connections' writers by remote address.
    pub(crate) tcp_port: Option<u16>,
    tcp_writers: HashMap<SocketAddr, crate::tcp::TcpWriter>,
    /// Held while the engine runs (the ICE-TCP acceptor stops when it is gone).
    pub(crate) alive: Arc<()>,
}

/// Where a participant's packets go out: the UDP socket, or its ICE-TCP connection.
pub(crate) struct Net<'a> {
    pub(crate) udp: &'a UdpSocket,
    pub(crate) tcp: &'a HashMap<SocketAddr, crate::tcp::TcpWriter>,
}

impl Engine {
    pub(crate) fn new(
        socket: UdpSocket,
        advertise: Vec<IpAddr>,
        patience: Patience,
        events: UnboundedSender<SfuEvent>,
        counters: Arc<Counters>,
    ) -> std::io::Result<Engine> {
        let local_addr = socket.local_addr()?;
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        let dtls_cert = catch_unwind(AssertUnwindSafe(|| crypto.dtls_provider.generate_certificate()))
            .ok()
            .flatten();
        if dtls_cert.is_none() {
            log::warn!("sfu: no shared DTLS certificate could be made: each participant makes its own");
        }
        Ok(Engine {
            socket,
            local_addr,
            advertise,
            patience,
            crypto,
            dtls_cert,
            participants: HashMap::new(),
            by_addr: HashMap::new(),
            timers: BTreeSet::new(),
            next_id: 1,
            events,
            counters,
            work: VecDeque::new(),
            housekept: Instant::now(),
            speakers: HashMap::new(),
            bandwidth_limits: true,
            hold_max_age: HOLD_MAX_AGE,
            names: HashMap::new(),
            recordings: HashMap::new(),
            failures: std::sync::mpsc::channel(),
            tcp_port: None,
            tcp_writers: HashMap::new(),
            alive: Arc::new(()),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The thread's loop: commands, datagrams, due timers; until stopped or the handle is gone.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut receiver = crate::recv::Receiver::new(&self.socket);
        loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Stop) | Err(TryRecvError::Disconnected) => {
                        log::info!("sfu: stopping ({} participants)", self.participants.len());
                        return;
                    }
                    Ok(c) => self.command(c),
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            let wait = match self.timers.first() {
                Some((t, _)) => t.saturating_duration_since(now).min(COMMAND_POLL),
                None => COMMAND_POLL,
            };
            // A zero read timeout is an error: 1 ms is the shortest wait.
            let _ = self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
            match receiver.recv(&self.socket, &mut buf) {
                Ok((n, source, at)) => self.datagram(&buf[..n], source, at),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // ICMP errors on Linux and similar: nothing to do but go on, without spinning.
                    log::debug!("sfu: receive failed: {e}");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            self.fire_due_timers();
            self.process_work();
            if self.housekept.elapsed() >= HOUSEKEEPING {
                self.housekeeping();
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Add {
                room,
                label,
                name,
                offer,
                reply,
            } => {
                let added = self.add(room, label, offer);
                let id = added.as_ref().ok().map(|(id, _)| *id);
                if let Some(id) = id {
                    self.names.insert(id, name);
                }
                let _ = reply.send(added);
                // What the others already publish is offered at once, not after the joiner's
                // first ICE check: the reply above goes first, and the owner delivers the answer
                // before this offer (the hub holds an offer for a participant it does not know
                // yet). The joiner's first pictures came ~70 ms later when this waited.
                if let Some(id) = id {
                    self.negotiate(id);
                }
            }
            Command::StartRecording { room, dir, reply } => {
                let result = if self.recordings.contains_key(&room) {
                    Err(SfuError::AlreadyRecording(room))
                } else {
                    match RoomRecording::start(&room, &dir, self.failures.0.clone()) {
                        Ok(r) => {
                            log::info!("sfu: recording room \"{room}\" into {}", dir.display());
                            self.recordings.insert(room, r);
                            Ok(())
                        }
                        Err(source) => Err(SfuError::RecordingFolder { dir, source }),
                    }
                };
                let _ = reply.send(result);
                // The recording needs every layer it takes flowing.
                self.update_layers_wanted();
            }
            Command::StopRecording { room, reply } => match self.recordings.remove(&room) {
                None => {
                    let _ = reply.send(Err(SfuError::NotRecording(room)));
                }
                Some(r) => {
                    log::info!("sfu: recording of room \"{room}\" stops");
                    let finish = r.stop();
                    // Writers finish their files on their own threads; this one does not wait.
                    let spawned = std::thread::Builder::new().name("lancall-rec-stop".into()).spawn(move || {
                        let (files, errors) = finish();
                        for e in errors {
                            log::warn!("recording: {e}");
                        }
                        let _ = reply.send(Ok(files));
                    });
                    if let Err(e) = spawned {
                        log::error!("sfu: no thread to finish the recording of \"{room}\": {e}");
                    }
                }
            },
            Command::Offer {
                participant,
                offer,
                reply,
            } => {
                let result = self.with(participant, |p, _, _, _| p.accept_offer(offer));
                let result = match result {
                    None => Err(SfuError::NoSuchParticipant(participant)),
                    Some(Err(e)) => Err(SfuError::BadOffer(e)),
                    Some(Ok(answer)) => Ok(answer),
                };
                let _ = reply.send(result);
                self.negotiate(participant);
            }
            Command::Answer {
                participant,
                answer,
                reply,
            } => {
                let result = self.with(participant, |p, _, _, out| p.accept_answer(answer, out));
                let result = match result {
                    None => Err(SfuError::NoSuchParticipant(participant)),
                    Some(Ok(())) => {
                        // What came for its new tracks while they were being negotiated.
                        self.write_held(participant);
                        // Changes that waited for this answer.
                        self.negotiate(participant);
                        Ok(())
                    }
                    Some(Err(AnswerError::NoOffer)) => {
                        Err(SfuError::NoOfferOutstanding(participant))
                    }
                    Some(Err(AnswerError::Refused(reason))) => {
                        self.remove(
                            participant,
                            Some(GoneReason::Error(format!(
                                "its answer was refused: {reason}"
                            ))),
                        );
                        Err(SfuError::BadAnswer {
                            participant,
                            reason,
                        })
                    }
                };
                let _ = reply.send(result);
            }
            Command::Candidate {
                participant,
                candidate,
                reply,
            } => {
                let result = self.with(participant, |p, _, _, _| {
                    p.rtc.add_remote_candidate(candidate)
                });
                let _ = reply.send(result.ok_or(SfuError::NoSuchParticipant(participant)));
            }
            Command::Remove { participant, reply } => {
                let found = self.participants.contains_key(&participant);
                self.remove(participant, None);
                let _ = reply.send(if found {
                    Ok(())
                } else {
                    Err(SfuError::NoSuchParticipant(participant))
                });
            }
            Command::Want {
                subscriber,
                publisher,
                mid,
                wanted,
                reply,
            } => {
                let result = if !self.participants.contains_key(&publisher) {
                    Err(SfuError::NoSuchParticipant(publisher))
                } else {
                    self.with(subscriber, |p, _, _, _| {
                        p.set_wanted((publisher, mid), wanted)
                    })
                    .ok_or(SfuError::NoSuchParticipant(subscriber))
                };
                let _ = reply.send(result);
                // A layer somebody needs now is asked for at once.
                self.update_layers_wanted();
            }
            Command::Addresses { advertise, reply } => {
                log::info!("sfu: advertising {advertise:?} to participants joining from now on");
                self.advertise = advertise;
                let _ = reply.send(Ok(()));
            }
            Command::TcpOpened { remote, writer } => {
                self.tcp_writers.insert(remote, writer);
            }
            Command::TcpIn { data, source, local, at } => self.datagram_on(Protocol::Tcp, &data, source, Some(local), at),
            Command::TcpClosed { remote } => {
                self.tcp_writers.remove(&remote);
                self.by_addr.remove(&remote);
            }
            Command::BandwidthLimits { on } => {
                self.bandwidth_limits = on;
                for p in self.participants.values_mut() {
                    p.bandwidth_limits = on;
                }
            }
            Command::HoldMaxAge { age } => {
                self.hold_max_age = age;
                for p in self.participants.values_mut() {
                    p.hold_max_age = age;
                }
            }
            Command::Panic { participant } => {
                self.with(participant, |p, _, _, _| {
                    // The test hook of the crate docs' containment claim.
                    #[allow(clippy::panic)]
                    {
                        panic!("sfu: test-injected panic in participant {}", p.id)
                    }
                });
            }
            Command::Stop => {}
        }
        self.process_work();
    }

    pub(crate) fn add(&mut self, room: String, label: String, offer: SdpOffer) -> Result<(ParticipantId, String), SfuError> {
        let id = ParticipantId(self.next_id);
        self.next_id += 1;
        let now = Instant::now();
        let (crypto, port, advertise, dtls_cert, tcp_port) = (
            self.crypto.clone(),
            self.local_addr.port(),
            self.advertise.clone(),
            self.dtls_cert.clone(),
            self.tcp_port,
        );
        // Building an Rtc makes its DTLS certificate, and str0m panics if that fails: contained too.
        let built = catch_unwind(AssertUnwindSafe(
            move || -> Result<(Rtc, String), String> {
                let mut builder = Rtc::builder()
                    .set_crypto_provider(crypto)
                    .clear_codecs()
                    .enable_opus(true, false)
                    .enable_vp8(true)
                    .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE_BPS)));
                if let Some(cert) = dtls_cert {
                    builder = builder.set_dtls_cert(cert);
                }
                let mut rtc = builder.build(now);
                for ip in advertise {
                    let addr = SocketAddr::new(ip, port);
                    match Candidate::host(addr, Protocol::Udp) {
                        Ok(c) => {
                            rtc.add_local_candidate(c);
                        }
                        Err(e) => log::warn!("sfu: cannot advertise {addr}: {e}"),
                    }
                    // ICE-TCP: a passive candidate (the client connects), ranked below UDP.
                    if let Some(tcp_port) = tcp_port {
                        let addr = SocketAddr::new(ip, tcp_port);
                        match Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build() {
                            Ok(c) => {
                                rtc.add_local_candidate(c);
                            }
                            Err(e) => log::warn!("sfu: cannot advertise TCP {addr}: {e}"),
                        }
                    }
                }
                let answer = rtc
                    .sdp_api()
                    .accept_offer(offer)
                    .map_err(|e| e.to_string())?;
                Ok((rtc, answer.to_sdp_string()))
            },
        ));
        let (rtc, answer) = match built {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(SfuError::BadOffer(e)),
            Err(panic) => {
                self.counters.panics_contained.add();
                return Err(SfuError::BadOffer(format!(
                    "the SFU failed on it ({})",
                    panic_text(&panic)
                )));
            }
        };
        log::info!("sfu: participant {id} ({label}) joins room \"{room}\"");
        let mut p = Participant::new(id, label, rtc, self.patience, now);
        p.room = room;
        p.bandwidth_limits = self.bandwidth_limits;
        p.hold_max_age = self.hold_max_age;
        p.advertise = self.advertise.clone();
        // It receives what everyone else in its room already publishes (offered once it is
        // heard from).
        let room = p.room.clone();
        for other in self.participants.values().filter(|o| o.room == room) {
            for (mid, t) in &other.tracks_in {
                p.subscribe((other.id, *mid), t.kind, &other.label);
            }
        }
        // What its client offered to receive on carries them from the start.
        let answer = p.bind_slots(&answer);
        self.participants.insert(id, p);
        // `with` drains it (its first timer, the answer's side effects).
        self.with(id, |_, _, _, _| ());
        // Its first pictures of the others need their keyframes: asked now, while it is still
        // negotiating and connecting, and held for it as they come (see `participant::Held`),
        // they are written the moment it can take them, a round trip and an encode sooner.
        let video: Vec<(ParticipantId, Mid)> = self
            .participants
            .values()
            .filter(|o| o.room == room && o.id != id)
            .flat_map(|o| {
                o.tracks_in
                    .iter()
                    .filter(|(_, t)| t.kind == MediaKind::Video)
                    .map(move |(mid, _)| (o.id, *mid))
            })
            .collect();
        for (publisher, mid) in video {
            self.request_keyframe(publisher, mid, None, KeyframeRequestKind::Pli, "a new subscriber");
        }
        Ok((id, answer))
    }

    /// Runs `f` on one participant, then drains its `Rtc`, inside `catch_unwind`: a panic ends
    /// that participant only. What it says is queued for the others. `None`: no such participant
    /// (or it panicked).
    fn with<T>(
        &mut self,
        id: ParticipantId,
        f: impl FnOnce(&mut Participant, &Net<'_>, &Counters, &mut Vec<Happened>) -> T,
    ) -> Option<T> {
        let p = self.participants.get_mut(&id)?;
        let old_timer = p.timer;
        let mut out = Vec::new();
        let net = Net { udp: &self.socket, tcp: &self.tcp_writers };
        let (socket, counters) = (&net, &*self.counters);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let value = f(p, socket, counters, &mut out);
            p.drain(socket, counters, &mut out);
            value
        }));
        match result {
            Ok(value) => {
                let new_timer = p.timer;
                if new_timer != old_timer || !self.timers.contains(&(old_timer, id)) {
                    self.timers.remove(&(old_timer, id));
                    self.timers.insert((new_timer, id));
                }
                for h in out {
                    self.work.push_back((id, h));
                }
                Some(value)
            }
            Err(panic) => {
                self.counters.panics_contained.add();
                let text = panic_text(&panic);
                log::error!(
                    "sfu: participant {id} panicked ({text}); removing it, the others go on"
                );
                self.timers.remove(&(old_timer, id));
                self.remove(id, Some(GoneReason::Panicked(text)));
                None
            }
        }
    }

    /// Routes one datagram: by source address, else by which `Rtc` accepts it (STUN with its
    /// credentials), learning the address. Anything else is dropped and counted.
    /// A datagram that arrived `now` (the kernel's time where it gives one: see `recv`).
    pub(crate) fn datagram(&mut self, data: &[u8], source: SocketAddr, now: Instant) {
        self.datagram_on(Protocol::Udp, data, source, None, now);
    }

    /// [`Engine::datagram`] for a packet that came over `proto`; `to` is the local address it
    /// reached when known (an ICE-TCP connection's).
    fn datagram_on(&mut self, proto: Protocol, data: &[u8], source: SocketAddr, to: Option<SocketAddr>, now: Instant) {
        self.counters.datagrams_received.add();
        let local = to.unwrap_or(self.local_addr);
        // Each participant was given the addresses advertised when it joined
        // ([`Sfu::set_addresses`] changes them for later ones): the local address a datagram
        // reached is worked out from that participant's.
        let input_for = |p: &Participant| {
            let destination = to.unwrap_or_else(|| destination(local, &p.advertise, source));
            Receive::new(proto, source, destination, data)
                .ok()
                .map(|r| Input::Receive(now, r))
        };
        let known = self
            .by_addr
            .get(&source)
            .and_then(|id| self.participants.get(id))
            .and_then(|p| input_for(p).filter(|i| p.rtc.accepts(i)).map(|i| (p.id, i)));
        let target = match known {
            Some(found) => Some(found),
            None => {
                if Receive::new(proto, source, local, data).is_err() {
                    self.counters.datagrams_unreadable.add();
                    return;
                }
                let found = self.participants.values().filter(|p| !p.is_gone()).find_map(|p| {
                    input_for(p)
                        .filter(|i| p.rtc.accepts(i))
                        .map(|i| (p.id, i))
                });
                if let Some((id, _)) = &found {
                    log::debug!("sfu: {source} is participant {id}");
                    self.by_addr.insert(source, *id);
                }
                found
            }
        };
        let Some((id, input)) = target else {
            self.counters.datagrams_unrouted.add();
            log::trace!("sfu: dropped a datagram from {source}: no participant takes it");
            return;
        };
        self.with(id, |p, _, _, out| p.handle_input(input, out));
    }

    pub(crate) fn fire_due_timers(&mut self) {
        let now = Instant::now();
        // Each due timer fires once per turn, even if its Rtc asks again for a time already past
        // (the next turn comes within milliseconds).
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            due.push(id);
        }
        for id in due {
            self.with(id, |p, _, _, out| p.handle_input(Input::Timeout(now), out));
        }
    }

    /// Acts on what participants said, until nothing is left (forwarding may make more).
    pub(crate) fn process_work(&mut self) {
        // Whom the changes below need an offer for: made once the whole batch is seen, so that
        // a publisher's audio and video (one offer of theirs, two str0m events) reach each
        // subscriber in one offer, not in two negotiations one after the other.
        let mut to_negotiate: Vec<ParticipantId> = Vec::new();
        while let Some((from, h)) = self.work.pop_front() {
            match h {
                Happened::Connected => {
                    log::info!("sfu: participant {from} connected");
                    self.emit(SfuEvent::Connected { participant: from });
                    self.write_held(from);
                }
                Happened::TrackIn { mid, kind, rids } => {
                    let label = match self.participants.get(&from) {
                        Some(p) => p.label.clone(),
                        None => continue,
                    };
                    self.emit(SfuEvent::MediaAdded {
                        participant: from,
                        kind,
                        mid: mid.to_string(),
                        rids: rids.iter().map(|r| r.to_string()).collect(),
                    });
                    self.resubscribe_others(from, &mut to_negotiate, |p| p.subscribe((from, mid), kind, &label));
                }
                Happened::TrackInEnded { mid } => {
                    self.resubscribe_others(from, &mut to_negotiate, |p| p.unsubscribe((from, mid)));
                }
                Happened::Media(data) => self.forward(from, *data),
                Happened::KeyframeWanted {
                    by_client,
                    source,
                    layer,
                    kind,
                } => {
                    if by_client {
                        self.counters.keyframe_requests_from_clients.add();
                    }
                    // A subscriber that has received nothing yet wants the keyframe of the
                    // layer it would be given now (or, before any layer has been seen, of the
                    // layer chosen when the first frame arrives: see forward). Asked at once, the
                    // keyframe is on its way ~a frame interval sooner.
                    if let Some(layer) = layer.or_else(|| self.target_layer(from, source)) {
                        let why = if by_client { "its subscriber asked" } else { "a track opened or reconnected" };
                        self.request_keyframe(source.0, source.1, Some(layer), kind, why)
                    }
                }
                Happened::Gone(reason) => self.remove(from, Some(reason)),
            }
        }
        for id in to_negotiate {
            self.negotiate(id);
        }
    }

    fn forward(&mut self, from: ParticipantId, data: str0m::media::MediaData) {
        let now = Instant::now();
        let Some(track) = self
            .participants
            .get_mut(&from)
            .and_then(|p| p.tracks_in.get_mut(&data.mid))
        else {
            return;
        };
        let audio = track.kind == MediaKind::Audio;
        let layers = if track.kind == MediaKind::Video {
            let size = if data.is_keyframe() {
                vp8_keyframe_size(&data.data)
            } else {
                None
            };
            track.layers.on_frame(data.rid, data.data.len(), size, now);
            track.layers.info(now)
        } else {
            let room = self.room_of(from);
            self.speakers
                .entry(room)
                .or_default()
                .on_audio(from, data.ext_vals.audio_level, now);
            Vec::new()
        };
        let source = (from, data.mid);
        let mut keyframes: Vec<LayerKey> = Vec::new();
        let room = self.room_of(from);
        if let Some(recording) = self.recordings.get_mut(&room) {
            let video_mids: Vec<Mid> = self.participants.get(&from).map_or_else(Vec::new, |p| {
                p.tracks_in.iter().filter(|(_, t)| t.kind == MediaKind::Video).map(|(m, _)| *m).collect()
            });
            let name = self.names.get(&from).map_or("someone", String::as_str);
            let kind = if audio { MediaKind::Audio } else { MediaKind::Video };
            if let Some(layer) = recording.tap(from, name, kind, &video_mids, &data, &layers, now) {
                keyframes.push(layer);
            }
        }
        for id in self.others(from) {
            let forwarded = !audio
                || self
                    .speakers
                    .get_mut(&room)
                    .is_some_and(|s| s.forwards(from, id, now));
            if !forwarded {
                self.counters.audio_not_loudest.add();
                continue;
            }
            let done = self.with(id, |p, _, _, out| {
                p.forward(source, &data, &layers, now, out)
            });
            self.tally(done, &mut keyframes);
        }
        for layer in keyframes {
            self.request_keyframe(from, data.mid, Some(layer), KeyframeRequestKind::Pli, "a switch or a recording");
        }
    }

    /// Counts what became of a frame written towards one subscriber; a layer it needs a
    /// keyframe of is added to `keyframes`.
    fn tally(&self, done: Option<Forwarded>, keyframes: &mut Vec<LayerKey>) {
        match done {
            Some(Forwarded::Written { switched }) => {
                self.counters.frames_forwarded.add();
                if switched {
                    self.counters.layer_switches.add();
                }
            }
            Some(Forwarded::NotChosen) => self.counters.frames_not_chosen.add(),
            Some(Forwarded::Paused) => self.counters.frames_paused.add(),
            Some(Forwarded::WantKeyframe(layer)) => {
                self.counters.frames_not_chosen.add();
                if !keyframes.contains(&layer) {
                    keyframes.push(layer);
                }
            }
            Some(Forwarded::Held) => self.counters.frames_held.add(),
            Some(Forwarded::NotOpen) | None => {}
        }
    }

    /// Writes to `id` the frames held for the tracks that can flow to it now (see
    /// `participant::Held`), through the same layer choice as live frames.
    fn write_held(&mut self, id: ParticipantId) {
        let now = Instant::now();
        let ready = self.with(id, |p, _, _, _| p.take_held(now)).unwrap_or_default();
        for (source, frames) in ready {
            let layers = self
                .participants
                .get(&source.0)
                .and_then(|p| p.tracks_in.get(&source.1))
                .map(|t| t.layers.info(now))
                .unwrap_or_default();
            // Start on the layer it will receive when a keyframe of it is held (one picture
            // size from the first frame on), else on the first keyframe of any.
            let target = self.target_layer(id, source);
            let start = frames
                .iter()
                .position(|f| f.is_keyframe() && Some(f.rid) == target)
                .unwrap_or(0);
            let frames = &frames[start..];
            let mut written = 0;
            let mut keyframes: Vec<LayerKey> = Vec::new();
            for data in frames {
                let done = self.with(id, |p, _, _, out| p.forward(source, data, &layers, now, out));
                written += usize::from(matches!(done, Some(Forwarded::Written { .. })));
                self.tally(done, &mut keyframes);
            }
            log::debug!(
                "sfu: participant {id}: {written} of {} held frames of {}'s {} written",
                frames.len(),
                source.0,
                source.1
            );
            for layer in keyframes {
                self.request_keyframe(source.0, source.1, Some(layer), KeyframeRequestKind::Pli, "a switch after held frames");
            }
        }
    }

    /// The layer of `source` that `subscriber` would be given now, if any is arriving.
    fn target_layer(&self, subscriber: ParticipantId, source: (ParticipantId, Mid)) -> Option<LayerKey> {
        let track = self.participants.get(&source.0)?.tracks_in.get(&source.1)?;
        if track.kind != MediaKind::Video {
            return None;
        }
        let layers = track.layers.info(Instant::now());
        let p = self.participants.get(&subscriber)?;
        choose_layer(&layers, p.wanted_of(source), p.budget_for(source), None, true)
    }

    fn request_keyframe(
        &mut self,
        publisher: ParticipantId,
        mid: Mid,
        layer: Option<LayerKey>,
        kind: KeyframeRequestKind,
        why: &'static str,
    ) {
        let now = Instant::now();
        if self.with(publisher, |p, _, _, _| {
            p.request_keyframe(mid, layer, kind, now, why)
        }) == Some(true)
        {
            self.counters.keyframe_requests.add();
        }
    }

    /// What is looked at as a whole, every [`HOUSEKEEPING`].
    pub(crate) fn housekeeping(&mut self) {
        let now = Instant::now();
        self.housekept = now;
        for p in self.participants.values_mut() {
            p.check_shortage(now);
        }
        let mut reports = Vec::new();
        for (room, speakers) in self.speakers.iter_mut() {
            if let Some(loudest) = speakers.report(now) {
                reports.push(SfuEvent::Speakers { room: room.clone(), loudest });
            }
        }
        for e in reports {
            log::debug!("sfu: {e:?}");
            self.emit(e);
        }
        while let Ok(failure) = self.failures.1.try_recv() {
            self.recording_failed(failure);
        }
        // Rooms nobody is in any more.
        let rooms: std::collections::HashSet<&String> = self.participants.values().map(|p| &p.room).collect();
        self.speakers.retain(|room, _| rooms.contains(room));
        self.update_layers_wanted();
    }

    /// For every published video track, the layers its subscribers need (each one's choice
    /// among all the publisher's layers, arriving or not: a layer the publisher paused because
    /// nobody needed it must be asked back); emits [`SfuEvent::LayersWanted`] where that set
    /// changed. Also tells each subscriber's estimator what to probe for.
    fn update_layers_wanted(&mut self) {
        let now = Instant::now();
        let layers: HashMap<(ParticipantId, Mid), Vec<crate::layers::LayerInfo>> = self
            .participants
            .values()
            .flat_map(|p| {
                p.tracks_in
                    .iter()
                    .filter(|(_, t)| t.kind == MediaKind::Video)
                    .map(move |(mid, t)| ((p.id, *mid), t.layers.info(now)))
            })
            .collect();
        let mut needed: HashMap<(ParticipantId, Mid), Vec<LayerKey>> = HashMap::new();
        // Tracks a subscriber receives below the layer it wants, for want of bandwidth: their
        // lowest layer stays, so the next switch down is instant.
        let mut short: HashSet<(ParticipantId, Mid)> = HashSet::new();
        let mut desired: Vec<(ParticipantId, u64)> = Vec::new();
        for p in self.participants.values() {
            let mut bps = 0;
            for sub in p.video_subscriptions() {
                let Some(info) = layers.get(&sub.source) else {
                    continue;
                };
                let entry = needed.entry(sub.source).or_default();
                let chosen = choose_layer(info, sub.wanted, sub.budget, sub.current.as_ref(), false);
                let Some(layer) = chosen else {
                    continue;
                };
                entry.push(layer);
                // What it would receive with no bandwidth limit.
                if let Some(unlimited) = choose_layer(info, sub.wanted, None, None, false) {
                    if unlimited != layer {
                        short.insert(sub.source);
                    }
                    bps += info
                        .iter()
                        .find(|l| l.rid == unlimited)
                        .map_or(0, |l| l.bitrate);
                }
            }
            if !p.is_gone() {
                desired.push((p.id, bps));
            }
        }
        // A recorded track keeps its highest layer flowing (the recording takes it).
        for ((publisher, mid), info) in &layers {
            let recorded = self
                .participants
                .get(publisher)
                .and_then(|p| self.recordings.get(&p.room))
                .is_some();
            if recorded {
                if let Some(top) = choose_layer(info, Wanted::Default, None, None, false) {
                    needed.entry((*publisher, *mid)).or_default().push(top);
                }
            }
        }
        let mut changed = Vec::new();
        for p in self.participants.values_mut() {
            for (mid, t) in p.tracks_in.iter_mut() {
                if t.kind != MediaKind::Video {
                    continue;
                }
                let need = needed.get(&(p.id, *mid)).map(|v| v.as_slice());
                if let Some(rids) = t.layers.update_needed(need, short.contains(&(p.id, *mid)), now) {
                    changed.push(SfuEvent::LayersWanted {
                        participant: p.id,
                        mid: mid.to_string(),
                        rids: rids.iter().map(|r| r.to_string()).collect(),
                    });
                }
            }
        }
        for e in changed {
            log::debug!("sfu: {e:?}");
            self.emit(e);
        }
        for (id, bps) in desired {
            // A fifth more than the layers cost, for the estimator to find room to switch up.
            let want = (bps + bps / 5 + 120_000).max(MIN_DESIRED_BPS);
            if self
                .participants
                .get(&id)
                .is_some_and(|p| p.desired_bitrate_differs(want))
            {
                self.with(id, |p, _, _, _| p.desire_bitrate(want));
            }
        }
    }

    /// Everyone in `of`'s room but `of`.
    fn others(&self, of: ParticipantId) -> Vec<ParticipantId> {
        let Some(room) = self.participants.get(&of).map(|p| p.room.clone()) else {
            return Vec::new();
        };
        self.participants
            .values()
            .filter(|p| p.id != of && p.room == room)
            .map(|p| p.id)
            .collect()
    }

    /// The room of `id` ("" when it is gone).
    fn room_of(&self, id: ParticipantId) -> String {
        self.participants.get(&id).map(|p| p.room.clone()).unwrap_or_default()
    }

    /// Changes what everyone but `of` receives; they are added to `to_negotiate`.
    fn resubscribe_others(&mut self, of: ParticipantId, to_negotiate: &mut Vec<ParticipantId>, change: impl Fn(&mut Participant)) {
        for id in self.others(of) {
            self.with(id, |p, _, _, _| change(p));
            if !to_negotiate.contains(&id) {
                to_negotiate.push(id);
            }
        }
    }

    /// Makes the next offer towards `id` if one is needed.
    fn negotiate(&mut self, id: ParticipantId) {
        let alive: HashMap<ParticipantId, Vec<Mid>> = self
            .participants
            .iter()
            .map(|(pid, p)| (*pid, p.tracks_in.keys().copied().collect()))
            .collect();
        let is_alive = move |(pid, mid): (ParticipantId, Mid)| {
            alive.get(&pid).is_some_and(|m| m.contains(&mid))
        };
        if let Some(Some(sdp)) = self.with(id, |p, _, _, _| p.negotiate(&is_alive)) {
            self.emit(SfuEvent::Offer {
                participant: id,
                sdp,
            });
        }
    }

    /// Removes a participant (with `reason`: it went by itself, and the owner is told), and
    /// stops its tracks at everyone else.
    fn remove(&mut self, id: ParticipantId, reason: Option<GoneReason>) {
        // Who shared its room, asked before it leaves the map (the room is known through it).
        let others = self.others(id);
        let Some(mut p) = self.participants.remove(&id) else {
            return;
        };
        self.timers.remove(&(p.timer, id));
        self.by_addr.retain(|_, pid| *pid != id);
        self.names.remove(&id);
        if let Some(r) = self.recordings.get_mut(&p.room) {
            r.participant_left(id);
        }
        if let Some(s) = self.speakers.get_mut(&p.room) {
            s.remove(id);
        }
        // Dropping an Rtc whose state a panic may have broken: contained as well.
        let _ = catch_unwind(AssertUnwindSafe(move || {
            p.rtc.disconnect();
            drop(p);
        }));
        if let Some(reason) = reason {
            if matches!(reason, GoneReason::Error(_)) {
                self.counters.participants_failed.add();
            }
            log::info!("sfu: participant {id} gone: {reason}");
            self.emit(SfuEvent::Gone {
                participant: id,
                reason,
            });
        }
        for other in others {
            self.with(other, |p, _, _, _| p.unsubscribe_all_of(id));
            self.negotiate(other);
        }
    }

    /// A file of `failure.room`'s recording could not be written: the room's recording stops
    /// (what was written plays), and the owner is told why.
    fn recording_failed(&mut self, failure: Failure) {
        let Some(r) = self.recordings.remove(&failure.room) else {
            return; // stopped already (several files fail together on a full disk)
        };
        log::warn!("sfu: the recording of room \"{}\" stops: {}", failure.room, failure.message);
        let finish = r.stop();
        let events = self.events.clone();
        let spawned = std::thread::Builder::new().name("lancall-rec-stop".into()).spawn(move || {
            let (files, _) = finish();
            let _ = events.send(SfuEvent::RecordingStopped { room: failure.room, files, error: failure.message });
        });
        if let Err(e) = spawned {
            log::error!("sfu: no thread to finish a failed recording: {e}");
        }
    }

    fn emit(&self, e: SfuEvent) {
        // Nobody listening is fine: the owner dropped the receiver.
        let _ = self.events.send(e);
    }
}

/// The local address a datagram from `source` reached. Bound to one address, that one; bound to
/// all (0.0.0.0), the advertised address sharing the longest prefix with the source (on a LAN:
/// the interface on the sender's subnet), which str0m needs to match its host candidate.
/// IP_PKTINFO would give the exact one: a later change.
fn destination(local: SocketAddr, advertise: &[IpAddr], source: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    let ip = advertise
        .iter()
        .filter(|ip| ip.is_ipv4() == source.is_ipv4())
        .max_by_key(|ip| common_prefix(ip, &source.ip()))
        .copied()
        .unwrap_or(local.ip());
    SocketAddr::new(ip, local.port())
}

fn common_prefix(a: &IpAddr, b: &IpAddr) -> u32 {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(*a) ^ u32::from(*b)).leading_zeros(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(*a) ^ u128::from(*b)).leading_zeros(),
        _ => 0,
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn a_socket_bound_to_one_address_is_reached_on_that_address() {
        let local = addr("10.0.0.5:4000");
        let ips = ["192.168.1.2".parse().expect("ip")];
        assert_eq!(destination(local, &ips, addr("192.168.1.9:5000")), local);
    }

    #[test]
    fn a_socket_bound_to_all_is_reached_on_the_advertised_address_of_the_senders_subnet() {
        let local = addr("0.0.0.0:4000");
        let ips: Vec<IpAddr> = ["10.0.0.5", "192.168.1.2", "fd00::1"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect();
        assert_eq!(
            destination(local, &ips, addr("192.168.1.77:5000")),
            addr("192.168.1.2:4000")
        );
        assert_eq!(
            destination(local, &ips, addr("10.0.0.200:5000")),
            addr("10.0.0.5:4000")
        );
        assert_eq!(
            destination(local, &ips, addr("[fd00::9]:5000")),
            addr("[fd00::1]:4000")
        );
    }
}
