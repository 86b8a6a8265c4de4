//! The call: one [`PeerLink`] per remote participant (full mesh), driven by the hub's messages,
//! with the same rules as ui/js/lib/call.js: a connection is made when a peer's first `state`
//! arrives, sessions decide politeness and survive rejoins (the connection is adopted under the
//! new peer id), a peer whose hub connection dropped while media still flows is kept 30 s, `bye`
//! on the data channel drops a peer at once.
//!
//! [`Call`] does not own a socket: it reads hub messages handed to [`Call::hub_message`] and
//! writes the messages it wants sent to the `hub_out` channel. [`crate::hub_client`] pumps them
//! over WSS; the app can pump them over its in-process hub or IPC the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lancall_protocol::hub::{ClientMessage, ErrorCode, ServerMessage};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::connection::{LinkConfig, LinkEvent, LinkStats, PeerLink};
use crate::media::{LinkFrameSink, LinkId, LocalMedia, MediaKind, TrackRole};
use crate::messages::{random_id, Muted, PeerMessage, PeerState};

/// After a peer's hub connection drops, how long its media may keep flowing while we wait for
/// it to rejoin (as in call.js).
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);


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
        };
        tokio::spawn(actor.run(rx, link_rx));
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
    link: PeerLink,
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
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Input>,
        mut link_rx: mpsc::UnboundedReceiver<(LinkId, LinkEvent)>,
    ) {
        loop {
            let next_orphan = self.remotes.values().filter_map(|r| r.orphan_until).min();
            tokio::select! {
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
            r.link.close().await;
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
                for r in self.remotes.values() {
                    if r.chat_open && r.link.send_chat(&text).await {
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
                            r.link.send_bye().await;
                        }
                    }
                    self.send_hub(ClientMessage::Leave);
                    let links: Vec<LinkId> = self.remotes.keys().copied().collect();
                    for link in links {
                        self.remove_remote(link, "hangup").await;
                    }
                }
                let _ = done.send(());
            }
            Input::Stats(done) => {
                let mut out = Vec::new();
                for (link, r) in &self.remotes {
                    if let Some(stats) = r.link.stats().await {
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
                if topology == lancall_protocol::hub::Topology::Sfu {
                    log::error!(
                        "room \"{room}\" sends its media through the host (SFU), which this peer cannot join yet: the others will not see or hear it"
                    );
                }
                let rejoined = self.self_id.is_some();
                self.self_id = Some(me.id.clone());
                self.room = room.into_owned();
                self.config.link.ice_servers = ice_servers.into_owned();
                self.known.clear();
                if rejoined {
                    // Our old peer id is gone; every connection waits for its peer to say who it is.
                    let links: Vec<LinkId> = self.remotes.keys().copied().collect();
                    for link in links {
                        self.orphan(link);
                    }
                    self.by_peer.clear();
                }
                self.emit(CallEvent::Joined {
                    self_id: me.id.clone(),
                    room: self.room.clone(),
                    rejoined,
                    session: self.session.clone(),
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
            // Only in rooms whose media goes through the host (see the welcome).
            | ServerMessage::MediaDescription { .. }
            | ServerMessage::MediaLayers { .. }
            | ServerMessage::Speakers { .. } => {}
            ServerMessage::Topology { topology } => {
                if topology == lancall_protocol::hub::Topology::Sfu {
                    log::error!("the call now sends its media through the host (SFU), which this peer cannot join yet: the others will stop seeing and hearing it");
                }
            }
        }
    }

    async fn on_peer_left(&mut self, id: &str, reason: &str) {
        self.known.remove(id);
        let Some(link) = self.by_peer.remove(id) else {
            return;
        };
        let still_flowing = self
            .remotes
            .get(&link)
            .is_some_and(|r| r.connection == "connected");
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
        if let Some(r) = self.remotes.get(&link) {
            r.link.remote_message(message);
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
                r.link.restart_ice();
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
                link,
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
        let handle = r.link.clone();
        tokio::spawn(async move { handle.close().await });
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
