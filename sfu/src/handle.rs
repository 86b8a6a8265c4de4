//! The handle the owner (the hub, a test) holds: requests go to the SFU's thread over a
//! channel and come back on a oneshot; what happens by itself comes on the event stream.

use std::future::Future;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;
use str0m::Candidate;
use tokio::sync::{mpsc::UnboundedReceiver, oneshot};

use crate::RecordedFile;
use crate::engine::{Command, Counters, Engine};
use crate::layers::Wanted;
use crate::SfuError;

/// Where the SFU listens and what it tells clients.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP media port's address (port 0: any free port; the IP may be unspecified).
    pub bind: SocketAddr,
    /// The addresses advertised as host candidates, all with the bound port (the hub passes its
    /// LAN addresses, hub/src/netif.rs).
    pub advertise: Vec<IpAddr>,
    /// How long a participant may take to connect, or stay disconnected.
    pub patience: Patience,
    /// Also listen on TCP for ICE-TCP (RFC 6544), for networks that block UDP
    /// ([`Sfu::tcp_addr`]).
    pub tcp: bool,
    /// The TCP port to try first for ICE-TCP (then the next, then any); `None`: the UDP port's
    /// number. A host whose HTTPS port has the media port's number passes another, since the
    /// SFU starts before the HTTPS port is bound.
    pub tcp_port: Option<u16>,
}

impl SfuConfig {
    /// Listening on `bind`, advertising `advertise`, with the default [`Patience`].
    pub fn new(bind: SocketAddr, advertise: Vec<IpAddr>) -> SfuConfig {
        SfuConfig {
            bind,
            advertise,
            patience: Patience::default(),
            tcp: true,
            tcp_port: None,
        }
    }
}

/// How long the SFU waits for a participant's connection before removing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// From joining to ICE and DTLS up ([`GoneReason::NeverConnected`] after). Default 30 s.
    pub connect: Duration,
    /// ICE disconnected ([`GoneReason::IceTimeout`] after). str0m itself reports
    /// `Disconnected` only after its checks went unanswered through 9 retransmissions (backoff
    /// 250 ms to 3 s: about 20 s; `tests/timeouts.rs` saw a removal 20.8 s after a client
    /// vanished, with 1 s here), so a participant that vanishes without a word is removed
    /// about 20 s plus this after. Default 5 s. (The hub
    /// removes a participant whose signaling connection closes much sooner.)
    pub disconnected: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            connect: Duration::from_secs(30),
            disconnected: Duration::from_secs(5),
        }
    }
}

/// A participant, numbered by the SFU from 1 in the order they join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Opus.
    Audio,
    /// VP8.
    Video,
}

/// Why a participant left the SFU by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoneReason {
    /// ICE and DTLS did not come up in time ([`Patience::connect`]).
    NeverConnected,
    /// ICE stayed disconnected too long ([`Patience::disconnected`]).
    IceTimeout,
    /// It closed the connection (DTLS close_notify).
    Closed,
    /// Its connection failed (the str0m error, or a refused answer).
    Error(String),
    /// Processing it panicked (a bug); the panic was contained to it.
    Panicked(String),
}

impl std::fmt::Display for GoneReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoneReason::NeverConnected => write!(f, "it never connected"),
            GoneReason::IceTimeout => write!(f, "its connection stayed down"),
            GoneReason::Closed => write!(f, "it closed its connection"),
            GoneReason::Error(e) => write!(f, "its connection failed: {e}"),
            GoneReason::Panicked(e) => write!(f, "the SFU failed on it: {e}"),
        }
    }
}

/// What the SFU reports by itself, in the order it happened.
#[derive(Debug, Clone)]
pub enum SfuEvent {
    /// ICE and DTLS are up: media can flow.
    Connected {
        /// Who.
        participant: ParticipantId,
    },
    /// A participant publishes a new track (every other participant will be offered it).
    MediaAdded {
        /// The publisher.
        participant: ParticipantId,
        /// Audio or video.
        kind: MediaKind,
        /// Its media section in the publisher's session.
        mid: String,
        /// Simulcast layers as the publisher listed them (empty: no simulcast).
        rids: Vec<String>,
    },
    /// Send this offer to the participant, and give its answer to [`Sfu::accept_answer`]. At
    /// most one is outstanding per participant; none is made before the participant has applied
    /// the SFU's answer to its own offer (its first packet proves that).
    Offer {
        /// To whom.
        participant: ParticipantId,
        /// The SDP.
        sdp: String,
    },
    /// The participant left by itself (not after [`Sfu::remove_participant`]); its tracks are
    /// being removed from everyone else's session.
    Gone {
        /// Who.
        participant: ParticipantId,
        /// Why.
        reason: GoneReason,
    },
    /// The simulcast layers of one of a participant's video tracks that at least one
    /// subscriber needs changed: the publisher should keep sending these and may pause the
    /// others (in the browser: `active: false` on those encodings). Emitted only on a change;
    /// a layer nobody needs is dropped 2 s after it was last needed, one somebody needs is
    /// added at once, and the lowest layer stays while a subscriber is short of bandwidth (so
    /// its next switch down is instant). Before the first of these, every layer is wanted.
    LayersWanted {
        /// The publisher.
        participant: ParticipantId,
        /// Its track's media section in the publisher's session.
        mid: String,
        /// The rids needed, low to high as the publisher listed them (empty: none).
        rids: Vec<String>,
    },
    /// Who is speaking changed: up to 3 participants whose voice (RFC 6464 level, smoothed over
    /// about 300 ms) is above a silence threshold, loudest first. Emitted when the set changes,
    /// at most every 250 ms. Each subscriber receives the voices of the 3 loudest others (and
    /// a voice that just left them for 1 s more).
    Speakers {
        /// The room ([`Sfu::add_participant_in`]; "" for [`Sfu::add_participant`]).
        room: String,
        /// Loudest first (empty: nobody speaks).
        loudest: Vec<ParticipantId>,
    },
    /// A room's recording stopped by itself: a file could not be written (the disk is full,
    /// the folder went away). Every file of it is finished and plays up to where it stopped;
    /// the call goes on.
    RecordingStopped {
        /// The room.
        room: String,
        /// What was recorded.
        files: Vec<RecordedFile>,
        /// Why, as a sentence for the person who started it.
        error: String,
    },
}

/// The SFU's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SfuCounters {
    /// Datagrams read from the media port.
    pub datagrams_received: u64,
    /// Dropped: neither STUN, DTLS, RTP nor RTCP (random bytes, truncated headers).
    pub datagrams_unreadable: u64,
    /// Dropped: well-formed, but from an address no participant uses and not a STUN check with
    /// a participant's credentials (strays, spoofs, RTP for nobody).
    pub datagrams_unrouted: u64,
    /// Datagrams the system refused to send.
    pub send_errors: u64,
    /// Frames (video) and packets (audio) written to a subscriber.
    pub frames_forwarded: u64,
    /// Keyframe requests (PLI/FIR) sent to publishers.
    pub keyframe_requests: u64,
    /// Keyframe requests (PLI/FIR) subscribers' clients sent about a track they receive (each
    /// relayed to the publisher, within the 500 ms limit per track).
    pub keyframe_requests_from_clients: u64,
    /// Participants disconnected because their connection failed (a str0m error).
    pub participants_failed: u64,
    /// Panics caught while processing one participant (that participant was removed).
    pub panics_contained: u64,
    /// Frames a participant sent that could not be depacketized (a short or corrupt VP8
    /// packet): dropped; the participant goes on.
    pub frames_malformed: u64,
    /// Video frames not sent to a subscriber because they were of another layer than the one
    /// it receives (or of one it is waiting to switch to, until that layer's keyframe).
    pub frames_not_chosen: u64,
    /// Video frames not sent to a subscriber because it does not show the track (paused by
    /// [`Sfu::set_wanted`] with height 0).
    pub frames_paused: u64,
    /// Times a subscriber was switched to another layer of a track (on that layer's keyframe).
    pub layer_switches: u64,
    /// Audio packets not sent to a subscriber because their speaker was not among the 3
    /// loudest others (nor held after leaving them).
    pub audio_not_loudest: u64,
    /// Video frames held for a subscriber whose track is still being negotiated (or whose
    /// connection is not up yet), from a keyframe on, to be written the moment it can take
    /// them: its first picture without waiting for a keyframe asked for only then.
    pub frames_held: u64,
}

impl SfuCounters {
    /// Every datagram dropped at the door.
    pub fn dropped(&self) -> u64 {
        self.datagrams_unreadable + self.datagrams_unrouted
    }
}

/// A running SFU: one UDP port, its own thread. Dropping it stops the thread and closes the port.
pub struct Sfu {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    counters: Arc<Counters>,
    /// What it offers now (see [`Sfu::set_addresses`]).
    advertised: Arc<Mutex<Vec<IpAddr>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sfu {
    /// Opens the media port and starts the SFU's thread. Events come on the returned receiver
    /// (an unbounded channel: read it, or drop it if you do not care).
    pub fn start(config: SfuConfig) -> Result<(Sfu, UnboundedReceiver<SfuEvent>), SfuError> {
        if config.advertise.is_empty() {
            return Err(SfuError::NoAddresses);
        }
        let bind_error = |source| SfuError::Bind {
            addr: config.bind,
            source,
        };
        let socket = UdpSocket::bind(config.bind).map_err(bind_error)?;
        size_buffers(&socket);
        let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let engine = Engine::new(
            socket,
            config.advertise.clone(),
            config.patience,
            events_tx,
            counters.clone(),
        )
        .map_err(bind_error)?;
        let mut engine = engine;
        let local_addr = engine.local_addr();
        let listener = if config.tcp { crate::tcp::bind(local_addr.ip(), config.tcp_port.unwrap_or(local_addr.port())) } else { None };
        let tcp_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        engine.tcp_port = tcp_addr.map(|a| a.port());
        let alive = std::sync::Arc::downgrade(&engine.alive);
        let (commands, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lancall-sfu".into())
            .spawn(move || engine.run(rx))
            .map_err(bind_error)?;
        if let Some(listener) = listener {
            if let Err(e) = crate::tcp::serve(listener, commands.clone(), alive) {
                log::warn!("sfu: ICE-TCP could not start ({e}): UDP only");
            }
        }
        log::info!(
            "sfu: media port {local_addr} (UDP){}, advertising {:?}",
            tcp_addr.map(|a| format!(", ICE-TCP on {a}")).unwrap_or_default(),
            config.advertise
        );
        Ok((
            Sfu {
                commands,
                local_addr,
                tcp_addr,
                counters,
                advertised: Arc::new(Mutex::new(config.advertise.clone())),
                thread: Mutex::new(Some(thread)),
            },
            events,
        ))
    }

    /// The media port's address (with the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ICE-TCP port's address, when one is open.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The counters now.
    pub fn counters(&self) -> SfuCounters {
        self.counters.snapshot()
    }

    /// Sends the request now (so requests reach the SFU in the order they are made, even when
    /// their replies are awaited elsewhere); the reply is the returned future's.
    fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, SfuError>>) -> Command,
    ) -> impl Future<Output = Result<T, SfuError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(make(tx));
        async move {
            sent.map_err(|_| SfuError::Stopped)?;
            rx.await.map_err(|_| SfuError::Stopped)?
        }
    }


    /// Adds a participant from its SDP offer; returns its id and the SDP answer. `label` names
    /// it in logs and is the msid stream id of its tracks at the others (so a client can tell
    /// whose track it receives): the hub passes its peer id.
    ///
    /// Like every request here, it reaches the SFU when this is called, not when the returned
    /// future is first polled: requests keep the order they are made in.
    pub fn add_participant(
        &self,
        label: &str,
        offer_sdp: &str,
    ) -> impl Future<Output = Result<(ParticipantId, String), SfuError>> + Send + 'static {
        self.add_participant_in("", label, offer_sdp)
    }

    /// [`Sfu::add_participant`] into `room`: it receives the tracks of the participants of the
    /// same room only, and they receive its tracks (one SFU serves several rooms apart).
    pub fn add_participant_in(
        &self,
        room: &str,
        label: &str,
        offer_sdp: &str,
    ) -> impl Future<Output = Result<(ParticipantId, String), SfuError>> + Send + 'static {
        self.add_participant_named(room, label, label, offer_sdp)
    }

    /// [`Sfu::add_participant_in`], with the person's `name` for the files of a recording.
    ///
    /// What the room's others publish is offered to it at once, in an [`SfuEvent::Offer`]
    /// emitted after this reply is sent: deliver the answer to the participant before that offer
    /// (the offer may reach you before you have handled the reply; hold it until then).
    pub fn add_participant_named(
        &self,
        room: &str,
        label: &str,
        name: &str,
        offer_sdp: &str,
    ) -> impl Future<Output = Result<(ParticipantId, String), SfuError>> + Send + 'static {
        let name = name.to_owned();
        let reply = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| SfuError::BadOffer(e.to_string()))
            .map(|offer| {
                let (room, label) = (room.to_owned(), label.to_owned());
                self.ask(move |reply| Command::Add {
                    room,
                    label,
                    name,
                    offer,
                    reply,
                })
            });
        async move { reply?.await }
    }

    /// An offer the participant made later (it added or removed media); returns the answer. An
    /// offer of the SFU's still outstanding is dropped (the SFU is the polite side) and made
    /// again after this one: the reply is sent before that [`SfuEvent::Offer`] is emitted, so
    /// deliver the answer to the participant before acting on later events for it (an answer
    /// of theirs to the dropped offer is refused with [`SfuError::NoOfferOutstanding`]).
    pub fn accept_offer(
        &self,
        participant: ParticipantId,
        offer_sdp: &str,
    ) -> impl Future<Output = Result<String, SfuError>> + Send + 'static {
        let reply = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| SfuError::BadOffer(e.to_string()))
            .map(|offer| {
                self.ask(move |reply| Command::Offer {
                    participant,
                    offer,
                    reply,
                })
            });
        async move { reply?.await }
    }

    /// The participant's answer to the SFU's last [`SfuEvent::Offer`]. A refused answer
    /// disconnects the participant (its session is no longer known).
    pub fn accept_answer(
        &self,
        participant: ParticipantId,
        answer_sdp: &str,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        let reply = SdpAnswer::from_sdp_string(answer_sdp)
            .map_err(|e| SfuError::BadAnswer {
                participant,
                reason: e.to_string(),
            })
            .map(|answer| {
                self.ask(move |reply| Command::Answer {
                    participant,
                    answer,
                    reply,
                })
            });
        async move { reply?.await }
    }

    /// A candidate the participant trickled (`candidate:…`, with or without `a=`). Optional on
    /// a LAN: the SFU also learns the participant's address from its first STUN check.
    pub fn add_remote_candidate(
        &self,
        participant: ParticipantId,
        candidate: &str,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        let text = candidate.trim().trim_start_matches("a=");
        let reply = Candidate::from_sdp_string(text)
            .map_err(|e| SfuError::BadCandidate {
                candidate: text.to_owned(),
                reason: e.to_string(),
            })
            .map(|candidate| {
                self.ask(move |reply| Command::Candidate {
                    participant,
                    candidate,
                    reply,
                })
            });
        async move { reply?.await }
    }

    /// Removes a participant (it left); its tracks are removed from everyone else's session.
    pub fn remove_participant(
        &self,
        participant: ParticipantId,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        self.ask(move |reply| Command::Remove { participant, reply })
    }

    /// How tall `subscriber` shows `publisher`'s video track `publisher_mid` (the publisher's
    /// own mid): `max_height` is the tile's height in CSS pixels times devicePixelRatio; 0
    /// means not shown, and nothing of that track is sent to that subscriber until it is
    /// shown again. The subscriber receives the smallest layer at least that tall (the highest
    /// if none is), lowered to fit its share of its bandwidth estimate; the switch happens on
    /// that layer's next keyframe (asked for at once). Before any call: the highest layer.
    /// Fails with [`SfuError::NoSuchParticipant`] when either participant is not in the SFU;
    /// a track the publisher does not publish (yet) keeps the setting for when it does.
    pub fn set_wanted(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        publisher_mid: &str,
        max_height: u32,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        let mid = Mid::from(publisher_mid);
        self.ask(move |reply| Command::Want {
            subscriber,
            publisher,
            mid,
            wanted: Wanted::from_max_height(max_height),
            reply,
        })
    }

    /// The addresses advertised as host candidates (all with the media port) to participants
    /// added from now on; those already in keep theirs. The hub calls this when the LAN
    /// addresses change (hub/src/netif.rs). Fails with [`SfuError::NoAddresses`] when empty.
    pub fn set_addresses(
        &self,
        advertise: Vec<IpAddr>,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        let advertised = self.advertised.clone();
        let reply = if advertise.is_empty() {
            Err(SfuError::NoAddresses)
        } else {
            let wanted = advertise.clone();
            Ok((wanted, self.ask(move |reply| Command::Addresses { advertise, reply })))
        };
        async move {
            let (wanted, asked) = reply?;
            asked.await?;
            *lock_list(&advertised) = wanted;
            Ok(())
        }
    }

    /// The addresses it offers to participants who join now.
    pub fn addresses(&self) -> Vec<IpAddr> {
        lock_list(&self.advertised).clone()
    }

    /// Starts recording `room` into `dir` (made if missing): one WebM file per participant
    /// (camera and voice; a second video track, a shared screen, in a file of its own), from
    /// their next keyframe, for everyone in the room now and who joins later, until
    /// [`Sfu::stop_recording`] or a write error ([`SfuEvent::RecordingStopped`]).
    pub fn start_recording(
        &self,
        room: &str,
        dir: &std::path::Path,
    ) -> impl Future<Output = Result<(), SfuError>> + Send + 'static {
        let (room, dir) = (room.to_owned(), dir.to_owned());
        self.ask(move |reply| Command::StartRecording { room, dir, reply })
    }

    /// Stops recording `room`; answers, once every file is finished, what was recorded.
    pub fn stop_recording(&self, room: &str) -> impl Future<Output = Result<Vec<RecordedFile>, SfuError>> + Send + 'static {
        let room = room.to_owned();
        self.ask(move |reply| Command::StopRecording { room, reply })
    }

    /// Test hook: with `false`, bandwidth estimates no longer limit anyone's layers (tests of
    /// the choice by tile size, whose test clients' estimates follow the machine's load).
    #[doc(hidden)]
    pub fn set_bandwidth_limits(&self, on: bool) {
        let _ = self.commands.send(Command::BandwidthLimits { on });
    }

    /// Test hook: how old a keyframe held for a new subscriber may be when its track opens (a
    /// test whose timing follows the machine's load makes it long).
    #[doc(hidden)]
    pub fn set_hold_max_age(&self, age: std::time::Duration) {
        let _ = self.commands.send(Command::HoldMaxAge { age });
    }

    /// Test hook: makes the processing of `participant` panic, to check that the panic ends
    /// that participant only (see the crate documentation).
    #[doc(hidden)]
    pub fn inject_panic(&self, participant: ParticipantId) {
        let _ = self.commands.send(Command::Panic { participant });
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            // It looks at its commands at least every few milliseconds.
            let _ = thread.join();
        }
    }
}

/// What the media socket's receive and send buffers are asked to hold: about 250 ms of the
/// datagrams a 20-person call brings in (~2 500 a second of up to 1 200 bytes) and sends out.
/// Linux's default (212 992 bytes, ~160 datagrams) fills in ~60 ms whenever the SFU's thread is
/// off the CPU, and what does not fit is lost.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Sizes the media socket's buffers: `SO_RCVBUF`/`SO_SNDBUF` (capped by the kernel at
/// `net.core.rmem_max`/`wmem_max`), or past the cap with `SO_RCVBUFFORCE`/`SO_SNDBUFFORCE` where
/// the process may (root, `CAP_NET_ADMIN`). Says what it got, and how to get more, in the log.
#[cfg(unix)]
fn size_buffers(socket: &UdpSocket) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    let want = SOCKET_BUFFER_BYTES;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let forced = (
        setsockopt(socket, sockopt::RcvBufForce, &want).is_ok(),
        setsockopt(socket, sockopt::SndBufForce, &want).is_ok(),
    );
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let forced = (false, false);
    if !forced.0 {
        let _ = setsockopt(socket, sockopt::RcvBuf, &want);
    }
    if !forced.1 {
        let _ = setsockopt(socket, sockopt::SndBuf, &want);
    }
    // Linux reports twice what was set (it counts its own bookkeeping): half is the payload.
    let got_rx = getsockopt(socket, sockopt::RcvBuf).unwrap_or(0) / 2;
    let got_tx = getsockopt(socket, sockopt::SndBuf).unwrap_or(0) / 2;
    if got_rx < want {
        log::warn!(
            "sfu: the media socket's receive buffer is {} KiB, not the {} KiB wanted: a large call may \
             lose packets when the host is busy. Raise the cap (sysctl -w net.core.rmem_max={want}) \
             or run lancall-host with CAP_NET_ADMIN",
            got_rx / 1024,
            want / 1024
        );
    } else {
        log::info!(
            "sfu: media socket buffers {} KiB in, {} KiB out",
            got_rx / 1024,
            got_tx / 1024
        );
    }
}

#[cfg(not(unix))]
fn size_buffers(socket: &UdpSocket) {
    let _ = socket;
}

/// A lock that survives a panic elsewhere while it was held (the data is a plain list).
fn lock_list<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
