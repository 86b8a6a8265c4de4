//! One peer connection to one remote participant, negotiated by the rules of ui/js/lib/call.js:
//! W3C "perfect negotiation" (politeness by session), the impolite side laying out microphone
//! (audio, sendrecv), camera (video, sendrecv) and the data channel `lancall`, the polite side
//! taking the first audio and video transceivers of the first offer, trickle ICE, and ICE
//! restarts while the path is down.
//!
//! A [`PeerLink`] is a thin layer over [`BridgePc`], the one Rust `RTCPeerConnection` (the Linux
//! app's page drives the same object over IPC): it drives it the way call.js drives a browser's,
//! and nothing else. Media, stats and the data channel are the bridge's.
//!
//! Each link is an actor: one task handles, in order, what arrives from the remote
//! (descriptions, candidates), from the connection (its events) and from the owner (chat, bye,
//! stats, close). Handling one thing at a time is what `r.chain` gives the web client; it makes
//! the perfect-negotiation flags trivially consistent (there is no `makingOffer` window: an
//! offer is made and sent within one step).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_protocol::sync::lock;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use crate::bridge::{BridgeEvent, BridgePc, Snapshot};
pub use crate::link_stats::{LinkStats, StreamStats};
use crate::link_stats::StatsRates;
use crate::error::PeerError;
use crate::media::{LinkFrameSink, LinkId, LocalMedia, MediaKind, RemoteFrame, TrackRole};
use crate::messages::{ChannelMessage, Description, PeerMessage};
pub use crate::stack::engine::{IceServer, LinkConfig};

/// A connection that stays `disconnected` this long gets an ICE restart (call.js
/// `DISCONNECTED_RESTART_MS`; a test holds the two to each other).
pub const DISCONNECTED_RESTART: Duration = Duration::from_millis(2_500);
/// While a connection is not back, ICE is restarted again this often (call.js
/// `RESTART_RETRY_MS`).
pub const RESTART_RETRY: Duration = Duration::from_secs(8);
/// The data channel's label (docs/PROTOCOL.md).
pub const CHANNEL_LABEL: &str = "lancall";
/// The number we give the data channel we open (the bridge numbers the page's channels).
const OWN_CHANNEL: u32 = 1;

/// What a link reports to its owner.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// A peer message to relay to the remote through the hub.
    Signal(PeerMessage),
    /// `connectionState` changed (`new`, `connecting`, `connected`, `disconnected`, `failed`,
    /// `closed`).
    Connection(&'static str),
    /// A remote track started (first packet).
    Track {
        /// Audio or video.
        kind: MediaKind,
        /// Camera/microphone or screen.
        role: TrackRole,
    },
    /// The data channel opened.
    ChannelOpen,
    /// The data channel closed.
    ChannelClosed,
    /// A chat line arrived.
    Chat {
        /// The line.
        text: String,
        /// The sender's clock (ms since the epoch), if it said.
        at: Option<f64>,
    },
    /// The remote's raised hand and recording (`status` on the data channel).
    Status {
        /// Its hand is raised.
        hand: bool,
        /// It records the call.
        recording: bool,
    },
    /// A reaction from the remote (one of the protocol's list).
    Reaction(String),
    /// The remote said `bye` on the data channel.
    Bye,
}

enum Input {
    Remote(PeerMessage),
    Chat(String, oneshot::Sender<bool>),
    Bye(oneshot::Sender<()>),
    Stats(oneshot::Sender<LinkStats>),
    Close(oneshot::Sender<()>),
    /// From the connection.
    Bridge(BridgeEvent),
    /// A restart was asked for from outside (the owner knows the remote is reachable again).
    RestartIce,
}

/// Handle to one connection. Dropping it does not close the connection: call [`PeerLink::close`].
#[derive(Clone)]
pub struct PeerLink {
    id: LinkId,
    polite: bool,
    inbox: mpsc::UnboundedSender<Input>,
}

/// Which transceivers carry the camera and microphone (call.js `r.tx.audio`/`r.tx.video`):
/// known before any of their packets arrive (laid out, or taken at the first offer), so the
/// frame sink can tell them from a shared screen without waiting for the actor.
#[derive(Default)]
struct MainTransceivers {
    audio: Option<usize>,
    video: Option<usize>,
}

impl MainTransceivers {
    fn get(&self, kind: MediaKind) -> Option<usize> {
        match kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        }
    }

    fn set(&mut self, kind: MediaKind, index: usize) {
        match kind {
            MediaKind::Audio => self.audio = Some(index),
            MediaKind::Video => self.video = Some(index),
        }
    }

    fn role(&self, index: usize) -> TrackRole {
        if self.audio == Some(index) || self.video == Some(index) {
            TrackRole::Main
        } else {
            TrackRole::Screen
        }
    }
}

impl PeerLink {
    /// Makes the connection. The impolite side (`polite == false`) lays it out at once, which
    /// fires negotiation: its offer comes out as a [`LinkEvent::Signal`]. Our microphone and
    /// camera come from `media`; events go to `events` tagged with `id`; remote frames go to
    /// `sink`, tagged with `id` and the track's role.
    pub async fn new(
        id: LinkId,
        polite: bool,
        config: &LinkConfig,
        media: Arc<LocalMedia>,
        sink: LinkFrameSink,
        events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    ) -> Result<PeerLink, PeerError> {
        let (inbox, rx) = mpsc::unbounded_channel();
        let to_actor = inbox.clone();
        let main = Arc::new(Mutex::new(MainTransceivers::default()));
        let frames_main = main.clone();
        let pc = BridgePc::new(
            config,
            Arc::new(move |event| drop(to_actor.send(Input::Bridge(event)))),
            // The bridge tags a frame with its transceiver; the owner also wants the link, and
            // whether it is the camera or a shared screen.
            Arc::new(move |frame: RemoteFrame| {
                let role = lock(&frames_main).role(frame.transceiver);
                sink(id, RemoteFrame { role, ..frame });
            }),
        )
        .await?;
        let mut actor = Actor {
            id,
            pc,
            polite,
            events,
            media,
            main,
            signaling: "stable",
            ignore_offer: false,
            channel: None,
            channel_open: false,
            connection: "new",
            restart_at: None,
            restart_retry_at: None,
            closed: false,
            rates: StatsRates::default(),
        };
        if !polite {
            actor.lay_out().await?;
        }
        tokio::spawn(actor.run(rx));
        Ok(PeerLink { id, polite, inbox })
    }

    /// This connection's id.
    pub fn id(&self) -> LinkId {
        self.id
    }

    /// Whether we are the polite side.
    pub fn polite(&self) -> bool {
        self.polite
    }

    /// Hands over a description or candidate the remote sent (`signal.data`). `state` messages
    /// are the owner's business and ignored here.
    pub fn remote_message(&self, message: PeerMessage) {
        let _ = self.inbox.send(Input::Remote(message));
    }

    /// Sends a chat line on the data channel; false when it is not open.
    pub async fn send_chat(&self, text: &str) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Chat(text.to_owned(), tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Says `bye` on the data channel (if open); resolves once handed to the stack.
    pub async fn send_bye(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Bye(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(500), rx).await;
        }
    }

    /// Restarts ICE now unless connected (used when the remote becomes reachable again).
    pub fn restart_ice(&self) {
        let _ = self.inbox.send(Input::RestartIce);
    }

    /// Current numbers; rates are since the previous call.
    pub async fn stats(&self) -> Option<LinkStats> {
        let (tx, rx) = oneshot::channel();
        self.inbox.send(Input::Stats(tx)).ok()?;
        rx.await.ok()
    }

    /// Closes the connection (idempotent).
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Close(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }
}

struct Actor {
    id: LinkId,
    pc: BridgePc,
    polite: bool,
    events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    /// Our microphone and camera.
    media: Arc<LocalMedia>,
    main: Arc<Mutex<MainTransceivers>>,
    /// `signalingState` after the last description.
    signaling: &'static str,
    ignore_offer: bool,
    /// The data channel we chat on: ours (impolite), or the remote's `lancall` one (polite),
    /// by the bridge's number.
    channel: Option<u32>,
    /// That channel is open.
    channel_open: bool,
    connection: &'static str,
    restart_at: Option<tokio::time::Instant>,
    restart_retry_at: Option<tokio::time::Instant>,
    closed: bool,
    /// For the stats' bit rates.
    rates: StatsRates,
}

impl Actor {
    fn emit(&self, event: LinkEvent) {
        let _ = self.events.send((self.id, event));
    }

    /// The impolite side's layout: microphone, camera, data channel (call.js `addRemote`).
    async fn lay_out(&mut self) -> Result<(), PeerError> {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let t = self
                .pc
                .add_transceiver(kind, "sendrecv", Some(self.media.clone()))
                .await?;
            lock(&self.main).set(kind, t.index);
        }
        self.pc
            .create_data_channel(OWN_CHANNEL, CHANNEL_LABEL, true)
            .await?;
        self.channel = Some(OWN_CHANNEL);
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        loop {
            let deadline = match (self.restart_at, self.restart_retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let input = tokio::select! {
                input = rx.recv() => match input {
                    Some(i) => i,
                    None => break,
                },
                _ = async {
                    match deadline {
                        Some(d) => sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = tokio::time::Instant::now();
                    if self.restart_at.is_some_and(|d| d <= now) {
                        self.restart_at = None;
                    }
                    if self.restart_retry_at.is_some_and(|d| d <= now) {
                        self.restart_retry_at = None;
                    }
                    Input::RestartIce
                }
            };
            let stop = matches!(input, Input::Close(_));
            self.handle(input).await;
            if stop {
                break;
            }
        }
        // Owner dropped every handle, or close: make sure the connection is gone.
        if !self.closed {
            self.closed = true;
            self.pc.close().await;
        }
    }

    async fn handle(&mut self, input: Input) {
        if self.closed {
            match input {
                Input::Close(done) | Input::Bye(done) => {
                    let _ = done.send(());
                }
                Input::Chat(_, done) => {
                    let _ = done.send(false);
                }
                Input::Stats(done) => {
                    let _ = done.send(LinkStats {
                        connection: "closed".into(),
                        ..Default::default()
                    });
                }
                _ => {}
            }
            return;
        }
        match input {
            Input::Remote(PeerMessage::Description(d)) => {
                if let Err(e) = self.on_description(d).await {
                    log::warn!("link {}: negotiation failed: {e}", self.id);
                }
            }
            Input::Remote(PeerMessage::Candidate(Some(c))) => {
                if let Err(e) = self.pc.add_ice_candidate(c).await {
                    if !self.ignore_offer {
                        log::debug!("link {}: ICE candidate not added: {e}", self.id);
                    }
                }
            }
            Input::Remote(_) => {}
            Input::Bridge(event) => self.on_bridge_event(event).await,
            Input::Chat(text, done) => {
                let sent = self
                    .send_channel(&ChannelMessage::Chat { text, at: None })
                    .await;
                let _ = done.send(sent);
            }
            Input::Bye(done) => {
                self.send_channel(&ChannelMessage::Bye).await;
                let _ = done.send(());
            }
            Input::Stats(done) => {
                let entries = self.pc.stats().await;
                let main = {
                    let main = lock(&self.main);
                    (main.audio, main.video)
                };
                let mut stats = LinkStats::from_w3c(&entries, main.0, main.1);
                stats.connection = self.connection.to_owned();
                self.rates.fill(&mut stats, Instant::now());
                let _ = done.send(stats);
            }
            Input::RestartIce => self.restart_ice().await,
            Input::Close(done) => {
                self.closed = true;
                self.pc.close().await;
                self.emit(LinkEvent::Connection("closed"));
                let _ = done.send(());
            }
        }
    }

    async fn on_bridge_event(&mut self, event: BridgeEvent) {
        match event {
            BridgeEvent::NegotiationNeeded => self.offer().await,
            BridgeEvent::IceCandidate { candidate } => {
                self.emit(LinkEvent::Signal(PeerMessage::Candidate(Some(candidate))))
            }
            BridgeEvent::ConnectionState { state } => self.on_connection_state(state).await,
            BridgeEvent::IceConnectionState { .. } => {}
            BridgeEvent::Track { transceiver, kind } => {
                let role = lock(&self.main).role(transceiver);
                self.emit(LinkEvent::Track { kind, role });
            }
            // The impolite side opened it; we are the polite side. Channels of other labels
            // are not lancall's: closed at once.
            BridgeEvent::DataChannel { channel, label, .. } if label != CHANNEL_LABEL => {
                self.pc.channel_close(channel).await;
            }
            BridgeEvent::DataChannel { channel, .. } => {
                self.channel = Some(channel);
                self.channel_open = false;
            }
            BridgeEvent::ChannelOpen { channel } if self.channel == Some(channel) => {
                self.channel_open = true;
                self.emit(LinkEvent::ChannelOpen);
            }
            BridgeEvent::ChannelClose { channel } if self.channel == Some(channel) => {
                self.channel_open = false;
                self.emit(LinkEvent::ChannelClosed);
            }
            BridgeEvent::ChannelOpen { .. } | BridgeEvent::ChannelClose { .. } | BridgeEvent::ChannelBytes { .. } => {}
            BridgeEvent::ChannelMessage { channel, .. } if self.channel != Some(channel) => {}
            BridgeEvent::ChannelMessage { text, .. } => match ChannelMessage::parse(&text) {
                Some(ChannelMessage::Chat { text, at }) => self.emit(LinkEvent::Chat { text, at }),
                Some(ChannelMessage::Status { hand, recording }) => self.emit(LinkEvent::Status { hand, recording }),
                Some(ChannelMessage::Reaction { emoji }) => self.emit(LinkEvent::Reaction(emoji)),
                Some(ChannelMessage::Bye) => self.emit(LinkEvent::Bye),
                None => {}
            },
        }
    }

    /// Sends on the data channel; false when it is not open.
    async fn send_channel(&self, msg: &ChannelMessage) -> bool {
        match (self.channel, self.channel_open) {
            (Some(id), true) => self.pc.channel_send(id, &msg.to_text()).await.is_ok(),
            _ => false,
        }
    }

    /// call.js's `negotiationneeded` handler (the bridge fires it only while stable).
    async fn offer(&mut self) {
        match self.pc.set_local_description(false).await {
            Ok(snapshot) => self.send_local_description(snapshot),
            Err(e) => log::warn!("link {}: could not make an offer: {e}", self.id),
        }
    }

    fn send_local_description(&mut self, snapshot: Snapshot) {
        self.signaling = snapshot.signaling_state;
        if let Some(desc) = snapshot.local_description {
            self.emit(LinkEvent::Signal(PeerMessage::Description(desc)));
        }
    }

    /// call.js `handleNegotiation` for a description.
    async fn on_description(&mut self, d: Description) -> Result<(), PeerError> {
        let is_offer = d.kind == "offer";
        let collision = is_offer && self.signaling != "stable";
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            log::debug!("link {}: ignoring a colliding offer (impolite)", self.id);
            return Ok(());
        }
        // A colliding offer rolls ours back first (the bridge does it as browsers do).
        let snapshot = self.pc.set_remote_description(d).await?;
        self.signaling = snapshot.signaling_state;
        if is_offer {
            self.take_main_transceivers(&snapshot).await;
            let answer = self.pc.set_local_description(false).await?;
            self.send_local_description(answer);
        }
        Ok(())
    }

    /// call.js `takeMainTransceivers`: the polite side answers the first offer with its own
    /// microphone and camera on the first audio and video transceivers.
    async fn take_main_transceivers(&mut self, snapshot: &Snapshot) {
        for t in &snapshot.transceivers {
            if lock(&self.main).get(t.kind).is_some() {
                continue; // this kind's main transceiver is taken (a later one is a screen)
            }
            lock(&self.main).set(t.kind, t.index);
            let result = async {
                self.pc.set_direction(t.index, "sendrecv").await?;
                self.pc.set_source(t.index, Some(self.media.clone())).await
            }
            .await;
            if let Err(e) = result {
                log::warn!(
                    "link {}: could not send our {} on transceiver {}: {e}",
                    self.id,
                    t.kind.as_str(),
                    t.index
                );
            }
        }
    }

    async fn on_connection_state(&mut self, state: &'static str) {
        self.connection = state;
        self.restart_at = None;
        match state {
            "connected" => self.restart_retry_at = None,
            "failed" => self.restart_ice().await,
            "disconnected" => {
                self.restart_at = Some(tokio::time::Instant::now() + DISCONNECTED_RESTART);
            }
            _ => {}
        }
        self.emit(LinkEvent::Connection(state));
    }

    /// call.js `restartIce`: unless connected, ask for new candidates on both sides (our next
    /// offer carries new credentials; the bridge asks for that negotiation), and again every
    /// [`RESTART_RETRY`] until the path is back.
    async fn restart_ice(&mut self) {
        if self.connection == "connected" || self.connection == "new" {
            return;
        }
        log::info!("link {}: restarting ICE ({})", self.id, self.connection);
        if let Err(e) = self.pc.restart_ice().await {
            log::warn!("link {}: ICE restart failed: {e}", self.id);
        }
        self.restart_retry_at = Some(tokio::time::Instant::now() + RESTART_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::{DISCONNECTED_RESTART, RESTART_RETRY};

    /// The timers are the web client's: call.js names them, this crate follows.
    #[test]
    fn the_restart_timers_are_call_js_timers() {
        let call_js = include_str!("../../ui/js/lib/call.js");
        let ms = |name: &str| -> u128 {
            let line = call_js
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("const {name} =")))
                .unwrap_or_else(|| panic!("call.js names {name}"));
            let value: String = line
                .split('=')
                .nth(1)
                .unwrap_or_default()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            value.parse().unwrap_or_else(|_| panic!("{name} is a number: {line}"))
        };
        assert_eq!(ms("DISCONNECTED_RESTART_MS"), DISCONNECTED_RESTART.as_millis());
        assert_eq!(ms("RESTART_RETRY_MS"), RESTART_RETRY.as_millis());
        assert_eq!(ms("ORPHAN_GRACE_MS"), crate::call::ORPHAN_GRACE.as_millis());
    }
}
