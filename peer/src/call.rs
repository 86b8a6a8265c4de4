//! The call, in either of the room's topologies (`welcome.topology`), driven by the hub's
//! messages with the same rules as ui/js/lib/call.js.
//!
//! - **mesh**: one [`PeerLink`] per remote participant: a connection is made when a peer's first `state`
//!   arrives, sessions decide politeness and survive rejoins (the connection is adopted under the
//!   new peer id), a peer whose hub connection dropped while media still flows is kept 30 s, `bye`
//!   on the data channel drops a peer at once.
//! - **sfu**: one [`SfuLink`] to the host's SFU carrying everyone's tracks, each told apart by
//!   its owner (the msid stream id, a peer id) and handed to the sink under that participant's
//!   [`LinkId`]; a participant exists once its `state` arrives (as in the mesh); the data
//!   channel's messages (chat, status, reaction, bye) go through the hub as `signal {message}`.
//!   `media-failed` (or the connection failing) makes a new connection, after 1 s, then 2, 4…
//!   up to 16 s. A switch of an `auto` room (`topology`) closes the old way at once and opens
//!   the new one: the pictures pause until the new way is up (the browser client keeps the old
//!   way until the new one carries media; this peer does not yet).
//!
//! [`Call`] does not own a socket: it reads hub messages handed to [`Call::hub_message`] and
//! writes the messages it wants sent to the `hub_out` channel. [`crate::hub_client`] pumps them
//! over WSS; the app can pump them over its in-process hub or IPC the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lancall_protocol::hub::{ClientMessage, ErrorCode, ServerMessage, Topology};
use lancall_protocol::sync::lock;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::connection::{LinkConfig, LinkEvent, LinkStats, PeerLink};
use crate::media::{LinkFrameSink, LinkId, LocalMedia, MediaKind, RemoteFrame, TrackRole};
use crate::messages::{random_id, ChannelMessage, Muted, PeerMessage, PeerState};
use crate::sfu_link::{OwnedFrameSink, SfuLink, SfuLinkEvent, TrackOwner};

/// After a peer's hub connection drops, how long its media may keep flowing while we wait for
/// it to rejoin (as in call.js).
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// The first wait before a new connection to the SFU after one failed (call.js `SFU_RETRY_MS`),
/// doubled on each failure up to [`SFU_RETRY_MAX`]; back to it once connected.
pub const SFU_RETRY: Duration = Duration::from_secs(1);
/// The longest wait before a new connection to the SFU (call.js `SFU_RETRY_MAX_MS`).
pub const SFU_RETRY_MAX: Duration = Duration::from_secs(16);


/// What the call reports. Serialised with an `event` field (the CLI's `--json` lines, and the
/// shape an IPC shim can forward as is).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum CallEvent {
    /// The hub let us in (again, after a rejoin).
    Joined {
        /// Our peer id for this hub connection.
        self_id: String,
        /// The room.
        room: String,
        /// True after a rejoin.
        rejoined: bool,
        /// Our session (stable for the whole call).
        session: String,
        /// How the room's media travels: `mesh` or `sfu`.
        topology: &'static str,
    },
    /// A connection to a new participant was made.
    RemoteAdded {
        /// Connection id.
        link: LinkId,
        /// Current peer id.
        peer: Option<String>,
        /// Display name.
        name: String,
        /// We are the polite side.
        polite: bool,
    },
    /// Name, peer id, mute state, connection state or chat state of a participant changed.
    RemoteUpdated {
        /// Connection id.
        link: LinkId,
        /// Current peer id (null while between hub connections).
        peer: Option<String>,
        /// Display name.
        name: String,
        /// What it says it has turned off.
        muted: Muted,
        /// Its shared screen's stream id.
        screen: Option<String>,
        /// `connectionState`.
        connection: String,
        /// The data channel is open.
        chat_open: bool,
        /// Its hand is raised (its `status` on the data channel).
        hand: bool,
        /// It records the call.
        recording: bool,
    },
    /// A participant is gone (`left`, `hangup`, `disconnected`, `timeout`, `gone`, ...).
    RemoteRemoved {
        /// Connection id.
        link: LinkId,
        /// Last peer id.
        peer: Option<String>,
        /// Display name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A remote track started sending.
    Track {
        /// Connection id.
        link: LinkId,
        /// Current peer id.
        peer: Option<String>,
        /// Audio or video.
        kind: MediaKind,
        /// Camera/microphone or screen.
        role: TrackRole,
    },
    /// A chat line arrived.
    Chat {
        /// Connection id.
        link: LinkId,
        /// Sender's peer id.
        peer: Option<String>,
        /// Sender's display name.
        name: String,
        /// The line.
        text: String,
    },
    /// A reaction arrived (one of the protocol's list).
    Reaction {
        /// Connection id.
        link: LinkId,
        /// Sender's peer id.
        peer: Option<String>,
        /// Sender's display name.
        name: String,
        /// The emoji.
        emoji: String,
    },
    /// The join cannot succeed as it is (wrong link, room full, ...).
    Fatal {
        /// The hub's code.
        code: String,
        /// The hub's sentence for a person.
        message: String,
    },
    /// The host is shutting down.
    Closing {
        /// The hub's sentence.
        message: String,
    },
}

/// How a call is set up.
#[derive(Debug, Clone, Default)]
pub struct CallConfig {
    /// Connection settings (local addresses). The hub's `iceServers` are added from `welcome`.
    pub link: LinkConfig,
    /// Our session id (32 lowercase hex characters); random when `None`. Politeness follows
    /// from it (the lower one is polite): tests pin it to exercise both roles.
    pub session: Option<String>,
}

/// Stats of one participant's connection.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteStats {
    /// Connection id.
    pub link: LinkId,
    /// Current peer id.
    pub peer: Option<String>,
    /// Display name.
    pub name: String,
    /// The numbers.
    pub stats: LinkStats,
}

enum Input {
    Hub(ServerMessage<'static>),
    Chat(String, oneshot::Sender<usize>),
    SetMuted(MediaKind, bool),
    Hangup(oneshot::Sender<()>),
    Stats(oneshot::Sender<Vec<RemoteStats>>),
}

/// Handle to a running call (cheap to clone).
#[derive(Clone)]
pub struct Call {
    inbox: mpsc::UnboundedSender<Input>,
    session: String,
}

impl Call {
    /// Starts a call. Hub messages to send come out of `hub_out` (all but the `join`: whoever
    /// owns the hub connection sends that); events come out of the returned
    /// receiver; remote frames go to `sink`.
    pub fn start(
        config: CallConfig,
        media: Arc<LocalMedia>,
        sink: LinkFrameSink,
        hub_out: mpsc::UnboundedSender<ClientMessage>,
    ) -> (Call, mpsc::UnboundedReceiver<CallEvent>) {
        let (inbox, rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let (sfu_tx, sfu_rx) = mpsc::unbounded_channel();
        let session = config.session.clone().unwrap_or_else(random_id);
        let actor = Actor {
            config,
            media,
            sink,
            hub_out,
            events: events_tx,
            link_events: link_tx,
            session: session.clone(),
            self_id: None,
            room: String::new(),
            known: HashMap::new(),
            remotes: HashMap::new(),
            by_peer: HashMap::new(),
            next_link: 1,
            muted: Muted::default(),
            ended: false,
            topology: Topology::Mesh,
            sfu: None,
            sfu_events: sfu_tx,
            sfu_generation: 0,
            sfu_state: "new",
            sfu_retry: SFU_RETRY,
            sfu_reopen_at: None,
            routes: Arc::default(),
        };
        tokio::spawn(actor.run(rx, link_rx, sfu_rx));
        (Call { inbox, session }, events_rx)
    }

    /// Our session id (random per call, kept across rejoins).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Hands over one message from the hub (`welcome`, `peer-joined`, `signal`, ...).
    pub fn hub_message(&self, message: ServerMessage<'static>) {
        let _ = self.inbox.send(Input::Hub(message));
    }

    /// Sends a chat line to everyone whose data channel is open; returns how many got it.
    pub async fn send_chat(&self, text: &str) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Chat(text.to_owned(), tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Turns our microphone or camera off (stops sending it) or on, and tells everyone.
    pub fn set_muted(&self, kind: MediaKind, muted: bool) {
        let _ = self.inbox.send(Input::SetMuted(kind, muted));
    }

    /// Hangs up: `bye` to every peer, `leave` to the hub, every connection closed.
    pub async fn hangup(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Hangup(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stats of every connection.
    pub async fn stats(&self) -> Vec<RemoteStats> {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Stats(tx)).is_err() {
            return vec![];
        }
        rx.await.unwrap_or_default()
    }
}

struct Remote {
    /// The peer connection (mesh); `None` when the media comes through the SFU.
    link: Option<PeerLink>,
    id: Option<String>,
    session: Option<String>,
    name: String,
    muted: Muted,
    screen: Option<String>,
    connection: &'static str,
    chat_open: bool,
    hand: bool,
    recording: bool,
    orphan_until: Option<Instant>,
}

struct Actor {
    config: CallConfig,
    media: Arc<LocalMedia>,
    sink: LinkFrameSink,
    hub_out: mpsc::UnboundedSender<ClientMessage>,
    events: mpsc::UnboundedSender<CallEvent>,
    link_events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    session: String,
    self_id: Option<String>,
    room: String,
    known: HashMap<String, String>,
    remotes: HashMap<LinkId, Remote>,
    by_peer: HashMap<String, LinkId>,
    next_link: LinkId,
    muted: Muted,
    ended: bool,
    /// How the room's media travels now.
    topology: Topology,
    /// The connection to the SFU (topology sfu), with its generation.
    sfu: Option<(u64, SfuLink)>,
    sfu_events: mpsc::UnboundedSender<(u64, SfuLinkEvent)>,
    sfu_generation: u64,
    /// The SFU connection's `connectionState`: every relayed participant's.
    sfu_state: &'static str,
    sfu_retry: Duration,
    /// When to make a new SFU connection after one failed.
    sfu_reopen_at: Option<Instant>,
    /// Topology sfu: each participant's [`LinkId`] and screen mid by peer id, read by the frame
    /// sink on the SFU connection's receive task.
    routes: Arc<std::sync::Mutex<HashMap<String, Route>>>,
}

/// Where a forwarded track's frames go.
#[derive(Clone)]
struct Route {
    link: LinkId,
    screen_mid: Option<String>,
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Input>,
        mut link_rx: mpsc::UnboundedReceiver<(LinkId, LinkEvent)>,
        mut sfu_rx: mpsc::UnboundedReceiver<(u64, SfuLinkEvent)>,
    ) {
        loop {
            let next_orphan = self.remotes.values().filter_map(|r| r.orphan_until).min();
            let reopen_at = self.sfu_reopen_at;
            tokio::select! {
                Some((generation, ev)) = sfu_rx.recv() => self.on_sfu_event(generation, ev).await,
                _ = async {
                    match reopen_at {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.sfu_reopen_at = None;
                    if self.topology == Topology::Sfu && !self.ended {
                        self.open_sfu().await;
                    }
                }
                input = rx.recv() => match input {
                    Some(i) => self.handle(i).await,
                    None => break,
                },
                Some((link, ev)) = link_rx.recv() => self.on_link_event(link, ev).await,
                _ = async {
                    match next_orphan {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    let expired: Vec<LinkId> = self
                        .remotes
                        .iter()
                        .filter(|(_, r)| r.orphan_until.is_some_and(|t| t <= now))
                        .map(|(k, _)| *k)
                        .collect();
                    for link in expired {
                        self.remove_remote(link, "gone").await;
                    }
                }
            }
        }
        // Every handle is gone: close what is left.
        for (_, r) in self.remotes.drain() {
            if let Some(link) = r.link {
                link.close().await;
            }
        }
        if let Some((_, sfu)) = self.sfu.take() {
            sfu.close().await;
        }
    }

    fn emit(&self, event: CallEvent) {
        let _ = self.events.send(event);
    }

    fn send_hub(&self, msg: ClientMessage) {
        let _ = self.hub_out.send(msg);
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Hub(msg) => self.on_hub(msg).await,
            Input::Chat(text, done) => {
                let mut sent = 0;
                let message = ChannelMessage::Chat { text, at: None };
                for r in self.remotes.values() {
                    if r.chat_open && self.send_channel(r, &message).await {
                        sent += 1;
                    }
                }
                let _ = done.send(sent);
            }
            Input::SetMuted(kind, muted) => {
                self.media.set_enabled(kind, !muted);
                match kind {
                    MediaKind::Audio => self.muted.audio = muted,
                    MediaKind::Video => self.muted.video = muted,
                }
                let ids: Vec<String> = self.known.keys().cloned().collect();
                for id in ids {
                    self.send_state(&id);
                }
            }
            Input::Hangup(done) => {
                if !self.ended {
                    self.ended = true;
                    for r in self.remotes.values() {
                        if r.chat_open {
                            self.send_channel(r, &ChannelMessage::Bye).await;
                        }
                    }
                    self.send_hub(ClientMessage::Leave);
                    let links: Vec<LinkId> = self.remotes.keys().copied().collect();
                    for link in links {
                        self.remove_remote(link, "hangup").await;
                    }
                    self.close_sfu().await;
                }
                let _ = done.send(());
            }
            Input::Stats(done) => {
                let mut out = Vec::new();
                let mut relayed: HashMap<String, LinkStats> = match &self.sfu {
                    Some((_, sfu)) => sfu.stats().await.into_iter().collect(),
                    None => HashMap::new(),
                };
                for (link, r) in &self.remotes {
                    let stats = match &r.link {
                        Some(l) => l.stats().await,
                        None => r.id.as_ref().map(|id| {
                            relayed.remove(id).unwrap_or_else(|| LinkStats {
                                connection: self.sfu_state.to_owned(),
                                ..LinkStats::default()
                            })
                        }),
                    };
                    if let Some(stats) = stats {
                        out.push(RemoteStats {
                            link: *link,
                            peer: r.id.clone(),
                            name: r.name.clone(),
                            stats,
                        });
                    }
                }
                out.sort_by_key(|s| s.link);
                let _ = done.send(out);
            }
        }
    }

    async fn on_hub(&mut self, msg: ServerMessage<'static>) {
        if self.ended {
            return;
        }
        match msg {
            ServerMessage::Welcome { room, me, peers, ice_servers, topology, .. } => {
                let rejoined = self.self_id.is_some();
                self.self_id = Some(me.id.clone());
                self.room = room.into_owned();
                self.config.link.ice_servers = ice_servers.into_owned();
                self.known.clear();
                if rejoined && (topology == Topology::Sfu || self.topology == Topology::Sfu) {
                    // Through the SFU, everyone's media went with our old peer id: start over.
                    let links: Vec<LinkId> = self.remotes.keys().copied().collect();
                    for link in links {
                        self.remove_remote(link, "rejoined").await;
                    }
                    self.by_peer.clear();
                } else if rejoined {
                    // Our old peer id is gone; every connection waits for its peer to say who it is.
                    let links: Vec<LinkId> = self.remotes.keys().copied().collect();
                    for link in links {
                        self.orphan(link);
                    }
                    self.by_peer.clear();
                }
                self.topology = topology;
                if topology == Topology::Sfu {
                    self.sfu_retry = SFU_RETRY;
                    self.open_sfu().await;
                } else {
                    self.close_sfu().await;
                }
                self.emit(CallEvent::Joined {
                    self_id: me.id.clone(),
                    room: self.room.clone(),
                    rejoined,
                    session: self.session.clone(),
                    topology: topology.as_str(),
                });
                for p in peers {
                    self.known.insert(p.id.clone(), p.name.clone());
                    self.send_state(&p.id);
                }
            }
            ServerMessage::PeerJoined { peer } => {
                if Some(&peer.id) == self.self_id.as_ref() {
                    return;
                }
                self.known.insert(peer.id.clone(), peer.name.clone());
                self.send_state(&peer.id);
            }
            ServerMessage::PeerLeft { peer, reason } => {
                self.on_peer_left(&peer.id, reason.as_str()).await;
            }
            ServerMessage::Signal { from, data } => {
                let Some(message) = PeerMessage::from_raw(&data) else {
                    return;
                };
                self.on_signal(from.into_owned(), message).await;
            }
            ServerMessage::Error { code, message, re, peer } => {
                if code == ErrorCode::UnknownPeer {
                    if let Some(peer) = peer {
                        self.on_peer_left(&peer, "unknown").await;
                    }
                } else if code == ErrorCode::MediaFailed {
                    self.sfu_failed(&message).await;
                } else if matches!(re.as_deref(), Some("join" | "knock")) && code.ends_join() {
                    self.emit(CallEvent::Fatal { code: code.as_str().to_owned(), message: message.into_owned() });
                } else {
                    log::warn!("hub error {}: {message}", code.as_str());
                }
            }
            ServerMessage::Closing { message } => {
                self.emit(CallEvent::Closing { message: message.into_owned() });
            }
            ServerMessage::Pong
            | ServerMessage::KnockWait { .. }
            | ServerMessage::Admitted { .. }
            | ServerMessage::Refused { .. }
            // One layer is sent (no simulcast to pause), and who speaks is not shown.
            | ServerMessage::MediaLayers { .. }
            | ServerMessage::Speakers { .. } => {}
            ServerMessage::Recording { active, by } => match (active, by) {
                (true, Some(by)) => log::info!("the host records this call (started by {by})"),
                (true, None) => log::info!("the host records this call"),
                (false, _) => log::info!("the host stopped recording this call"),
            },
            ServerMessage::MediaDescription { description } => {
                if let Some((_, sfu)) = &self.sfu {
                    sfu.description(description.into_owned());
                }
            }
            ServerMessage::Topology { topology } => self.on_topology(topology).await,
        }
    }

    async fn on_peer_left(&mut self, id: &str, reason: &str) {
        self.known.remove(id);
        let Some(link) = self.by_peer.remove(id) else {
            return;
        };
        // Through the SFU, its media went with its peer id: nothing to keep.
        let still_flowing = self
            .remotes
            .get(&link)
            .is_some_and(|r| r.connection == "connected" && r.link.is_some());
        if reason != "left" && reason != "unknown" && still_flowing {
            self.orphan(link);
        } else {
            self.remove_remote(link, reason).await;
        }
    }

    fn orphan(&mut self, link: LinkId) {
        if let Some(r) = self.remotes.get_mut(&link) {
            r.id = None;
            r.orphan_until = Some(Instant::now() + ORPHAN_GRACE);
        }
        self.emit_updated(link);
    }

    async fn on_signal(&mut self, from: String, message: PeerMessage) {
        if let PeerMessage::State(state) = message {
            self.on_state(from, state).await;
            return;
        }
        if let PeerMessage::Channel(message) = message {
            // A data channel message relayed by the hub (topology sfu).
            if let Some(link) = self.by_peer.get(&from).copied() {
                if self.remotes.get(&link).is_some_and(|r| r.link.is_none()) {
                    self.on_link_event(link, channel_event(message)).await;
                }
            }
            return;
        }
        if self.topology == Topology::Sfu {
            // Descriptions and candidates go to the host in an SFU room.
            return;
        }
        let link = match self.by_peer.get(&from) {
            Some(l) => *l,
            None => {
                // A description before the peer's state: only after a lost state message.
                if !matches!(message, PeerMessage::Description(_)) {
                    return;
                }
                let polite = self.self_id.as_deref().is_none_or(|me| me <= from.as_str());
                match self.add_remote(from, None, polite).await {
                    Some(l) => l,
                    None => return,
                }
            }
        };
        if let Some(link) = self.remotes.get(&link).and_then(|r| r.link.as_ref()) {
            link.remote_message(message);
        }
    }

    async fn on_state(&mut self, from: String, state: PeerState) {
        let session = state.session.clone();
        let mut link = self.by_peer.get(&from).copied();
        if link.is_none() {
            if let Some(s) = &session {
                // The same participant under a new peer id: keep the connection.
                link = self
                    .remotes
                    .iter()
                    .find(|(_, r)| r.session.as_ref() == Some(s))
                    .map(|(k, _)| *k);
                if let Some(l) = link {
                    self.adopt(l, &from);
                }
            }
        }
        let link = match link {
            Some(l) => l,
            None if self.topology == Topology::Sfu => self.add_relayed(from, session.clone()),
            None => {
                let polite = match &session {
                    Some(s) => self.session.as_str() < s.as_str(),
                    None => self.self_id.as_deref().is_some_and(|me| me < from.as_str()),
                };
                match self.add_remote(from, session.clone(), polite).await {
                    Some(l) => l,
                    None => return,
                }
            }
        };
        if let Some(r) = self.remotes.get_mut(&link) {
            if r.session.is_none() {
                r.session = session;
            }
            r.muted = state.muted;
            r.screen = state.screen;
            if let (None, Some(id)) = (&r.link, &r.id) {
                if let Some(route) = lock(&self.routes).get_mut(id) {
                    route.screen_mid = state.screen_mid;
                }
            }
        }
        self.emit_updated(link);
    }

    fn adopt(&mut self, link: LinkId, id: &str) {
        self.by_peer.retain(|_, l| *l != link);
        self.by_peer.insert(id.to_owned(), link);
        let name = self.known.get(id).cloned();
        if let Some(r) = self.remotes.get_mut(&link) {
            r.orphan_until = None;
            r.id = Some(id.to_owned());
            if let Some(n) = name {
                r.name = n;
            }
            if r.connection != "connected" && r.connection != "new" {
                if let Some(link) = &r.link {
                    link.restart_ice();
                }
            }
        }
    }

    async fn add_remote(
        &mut self,
        id: String,
        session: Option<String>,
        polite: bool,
    ) -> Option<LinkId> {
        let link_id = self.next_link;
        self.next_link += 1;
        let events = self.link_events.clone();
        let link = match PeerLink::new(
            link_id,
            polite,
            &self.config.link,
            self.media.clone(),
            self.sink.clone(),
            events,
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                log::error!("could not make a connection to {id}: {e}");
                return None;
            }
        };
        let name = self
            .known
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "Guest".into());
        self.by_peer.insert(id.clone(), link_id);
        self.remotes.insert(
            link_id,
            Remote {
                link: Some(link),
                id: Some(id.clone()),
                session,
                name: name.clone(),
                muted: Muted::default(),
                screen: None,
                connection: "new",
                chat_open: false,
                hand: false,
                recording: false,
                orphan_until: None,
            },
        );
        self.emit(CallEvent::RemoteAdded {
            link: link_id,
            peer: Some(id),
            name,
            polite,
        });
        Some(link_id)
    }

    async fn on_link_event(&mut self, link: LinkId, ev: LinkEvent) {
        let Some(r) = self.remotes.get_mut(&link) else {
            return;
        };
        match ev {
            LinkEvent::Signal(message) => {
                if let Some(to) = &r.id {
                    let _ = self.hub_out.send(message.signal_to(to));
                }
            }
            LinkEvent::Connection(state) => {
                r.connection = state;
                if state == "closed" {
                    self.remove_remote(link, "disconnected").await;
                } else {
                    self.emit_updated(link);
                }
            }
            LinkEvent::Track { kind, role } => {
                let peer = r.id.clone();
                self.emit(CallEvent::Track {
                    link,
                    peer,
                    kind,
                    role,
                });
            }
            LinkEvent::ChannelOpen => {
                r.chat_open = true;
                self.emit_updated(link);
            }
            LinkEvent::ChannelClosed => {
                r.chat_open = false;
                // The other side closed its page or hung up: do not wait for the hub to say so.
                if r.orphan_until.is_some() || r.connection != "connected" {
                    self.remove_remote(link, "disconnected").await;
                } else {
                    self.emit_updated(link);
                }
            }
            LinkEvent::Chat { text, .. } => {
                let (peer, name) = (r.id.clone(), r.name.clone());
                self.emit(CallEvent::Chat {
                    link,
                    peer,
                    name,
                    text,
                });
            }
            LinkEvent::Status { hand, recording } => {
                r.hand = hand;
                r.recording = recording;
                self.emit_updated(link);
            }
            LinkEvent::Reaction(emoji) => {
                let (peer, name) = (r.id.clone(), r.name.clone());
                self.emit(CallEvent::Reaction { link, peer, name, emoji });
            }
            LinkEvent::Bye => self.remove_remote(link, "left").await,
        }
    }

    /// Sends a data channel message: on the channel (mesh) or through the hub (sfu).
    async fn send_channel(&self, r: &Remote, message: &ChannelMessage) -> bool {
        match (&r.link, &r.id) {
            (Some(link), _) => match message {
                ChannelMessage::Chat { text, .. } => link.send_chat(text).await,
                ChannelMessage::Bye => {
                    link.send_bye().await;
                    true
                }
                // The mesh link sends no status or reaction of ours yet.
                _ => false,
            },
            (None, Some(id)) => {
                self.send_hub(PeerMessage::Channel(message.clone()).signal_to(id));
                true
            }
            (None, None) => false,
        }
    }

    /// A participant of an SFU room, once its `state` arrived: its media comes through the SFU.
    fn add_relayed(&mut self, id: String, session: Option<String>) -> LinkId {
        let link_id = self.next_link;
        self.next_link += 1;
        let name = self.known.get(&id).cloned().unwrap_or_else(|| "Guest".into());
        self.by_peer.insert(id.clone(), link_id);
        lock(&self.routes).insert(id.clone(), Route { link: link_id, screen_mid: None });
        let remote = Remote {
            link: None,
            id: Some(id.clone()),
            session,
            name: name.clone(),
            muted: Muted::default(),
            screen: None,
            connection: self.sfu_state,
            chat_open: true,
            hand: false,
            recording: false,
            orphan_until: None,
        };
        // As when a data channel opens: it learns our hand and recording.
        self.send_hub(PeerMessage::Channel(ChannelMessage::Status { hand: false, recording: false }).signal_to(&id));
        self.remotes.insert(link_id, remote);
        self.emit(CallEvent::RemoteAdded { link: link_id, peer: Some(id), name, polite: false });
        link_id
    }

    /// Opens (again) the connection to the SFU; the previous one, if any, is closed.
    async fn open_sfu(&mut self) {
        self.close_sfu().await;
        self.sfu_generation += 1;
        let generation = self.sfu_generation;
        let (routes, sink) = (self.routes.clone(), self.sink.clone());
        let owned: OwnedFrameSink = Arc::new(move |owner: &TrackOwner, frame: RemoteFrame| {
            let route = lock(&routes).get(&owner.peer).cloned();
            if let Some(route) = route {
                let role = if route.screen_mid.as_deref() == Some(owner.mid.as_str()) {
                    TrackRole::Screen
                } else {
                    TrackRole::Main
                };
                sink(route.link, RemoteFrame { role, ..frame });
            }
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let events = self.sfu_events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if events.send((generation, ev)).is_err() {
                    break;
                }
            }
        });
        match SfuLink::new(&self.config.link, self.media.clone(), owned, tx).await {
            Ok(link) => self.sfu = Some((generation, link)),
            Err(e) => {
                log::error!("could not make a connection to the host's SFU: {e}");
                self.schedule_sfu_reopen();
            }
        }
        self.set_sfu_state("new");
    }

    async fn close_sfu(&mut self) {
        self.sfu_reopen_at = None;
        if let Some((_, sfu)) = self.sfu.take() {
            tokio::spawn(async move { sfu.close().await });
        }
    }

    fn schedule_sfu_reopen(&mut self) {
        self.sfu_reopen_at = Some(Instant::now() + self.sfu_retry);
        self.sfu_retry = (self.sfu_retry * 2).min(SFU_RETRY_MAX);
    }

    /// `media-failed`, or the connection failed: a new connection soon.
    async fn sfu_failed(&mut self, why: &str) {
        if self.ended || self.topology != Topology::Sfu || self.sfu.is_none() {
            return;
        }
        log::warn!("the connection to the host's SFU ended ({why}): making a new one in {:?}", self.sfu_retry);
        self.close_sfu().await;
        self.set_sfu_state("failed");
        self.schedule_sfu_reopen();
    }

    fn set_sfu_state(&mut self, state: &'static str) {
        self.sfu_state = state;
        let relayed: Vec<LinkId> = self
            .remotes
            .iter_mut()
            .filter(|(_, r)| r.link.is_none())
            .map(|(k, r)| {
                r.connection = state;
                *k
            })
            .collect();
        for link in relayed {
            self.emit_updated(link);
        }
    }

    async fn on_sfu_event(&mut self, generation: u64, ev: SfuLinkEvent) {
        if self.sfu.as_ref().map(|(g, _)| *g) != Some(generation) || self.ended {
            return;
        }
        match ev {
            SfuLinkEvent::Hub(message) => self.send_hub(message),
            SfuLinkEvent::Connection(state) => {
                if state == "connected" {
                    self.sfu_retry = SFU_RETRY;
                }
                self.set_sfu_state(state);
            }
            SfuLinkEvent::Track { owner, kind } => {
                let route = lock(&self.routes).get(&owner.peer).cloned();
                if let Some(route) = route {
                    let role = if route.screen_mid.as_deref() == Some(owner.mid.as_str()) {
                        TrackRole::Screen
                    } else {
                        TrackRole::Main
                    };
                    self.emit(CallEvent::Track { link: route.link, peer: Some(owner.peer), kind, role });
                }
            }
            SfuLinkEvent::Failed(why) => self.sfu_failed(&why).await,
        }
    }

    /// An `auto` room switched: the old way is closed at once, the new one opened.
    async fn on_topology(&mut self, topology: Topology) {
        if self.ended || topology == self.topology {
            return;
        }
        self.topology = topology;
        let links: Vec<LinkId> = self.remotes.keys().copied().collect();
        if topology == Topology::Sfu {
            self.sfu_retry = SFU_RETRY;
            self.open_sfu().await;
            for link in links {
                let Some(r) = self.remotes.get_mut(&link) else { continue };
                if let Some(old) = r.link.take() {
                    tokio::spawn(async move { old.close().await });
                }
                r.orphan_until = None;
                r.chat_open = true;
                r.connection = self.sfu_state;
                if let Some(id) = r.id.clone() {
                    lock(&self.routes).insert(id, Route { link, screen_mid: None });
                }
                self.emit_updated(link);
            }
        } else {
            self.close_sfu().await;
            for link in links {
                let Some(r) = self.remotes.get(&link) else { continue };
                let (Some(id), None) = (r.id.clone(), &r.link) else { continue };
                let session = r.session.clone();
                // The impolite side offers, as always.
                let polite = match &session {
                    Some(s) => self.session.as_str() < s.as_str(),
                    None => self.self_id.as_deref().is_some_and(|me| me < id.as_str()),
                };
                let made = PeerLink::new(
                    link,
                    polite,
                    &self.config.link,
                    self.media.clone(),
                    self.sink.clone(),
                    self.link_events.clone(),
                )
                .await;
                match made {
                    Ok(peer_link) => {
                        if let Some(r) = self.remotes.get_mut(&link) {
                            r.link = Some(peer_link);
                            r.chat_open = false;
                            r.connection = "new";
                        }
                        self.emit_updated(link);
                    }
                    Err(e) => {
                        log::error!("could not make a connection to {id}: {e}");
                        self.remove_remote(link, "disconnected").await;
                    }
                }
            }
            lock(&self.routes).clear();
        }
    }

    fn emit_updated(&self, link: LinkId) {
        if let Some(r) = self.remotes.get(&link) {
            self.emit(CallEvent::RemoteUpdated {
                link,
                peer: r.id.clone(),
                name: r.name.clone(),
                muted: r.muted,
                screen: r.screen.clone(),
                connection: r.connection.to_owned(),
                chat_open: r.chat_open,
                hand: r.hand,
                recording: r.recording,
            });
        }
    }

    async fn remove_remote(&mut self, link: LinkId, reason: &str) {
        let Some(r) = self.remotes.remove(&link) else {
            return;
        };
        self.by_peer.retain(|_, l| *l != link);
        lock(&self.routes).retain(|_, route| route.link != link);
        if let Some(handle) = r.link.clone() {
            tokio::spawn(async move { handle.close().await });
        }
        self.emit(CallEvent::RemoteRemoved {
            link,
            peer: r.id,
            name: r.name,
            reason: reason.to_owned(),
        });
    }

    fn send_state(&self, to: &str) {
        let state = PeerState {
            session: Some(self.session.clone()),
            muted: self.muted,
            screen: None,
            screen_mid: None,
        };
        self.send_hub(PeerMessage::State(state).signal_to(to));
    }
}

/// A data channel message relayed by the hub, as the link would have reported it.
fn channel_event(message: ChannelMessage) -> LinkEvent {
    match message {
        ChannelMessage::Chat { text, at } => LinkEvent::Chat { text, at },
        ChannelMessage::Status { hand, recording } => LinkEvent::Status { hand, recording },
        ChannelMessage::Reaction { emoji } => LinkEvent::Reaction(emoji),
        ChannelMessage::Bye => LinkEvent::Bye,
    }
}
