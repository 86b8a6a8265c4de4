//! Rooms, peers and relaying: the part of the host that decides who hears what.
//!
//! The hub has no sockets. Each connection, a WebSocket from a browser or the app's own webview
//! through Tauri IPC, gets a [`Client`] (what it says goes in) and a [`ClientReceiver`] (what it
//! is told comes out, as JSON text); those live in `client.rs`. The WebSocket server in
//! [`crate::server`] is one user of this API; the Tauri app hosting in-process is another, with
//! no socket at all. This module holds the rooms and the host's side: [`Hub`] makes rooms,
//! answers knocks, counts, and shuts down.
//!
//! All state sits behind one mutex, held only for map look-ups and non-blocking queue pushes.
//! That single order of events is what gives the protocol's guarantees cheaply: a `welcome`
//! always precedes the `peer-joined` others see, and signals between two peers keep their order.
//! A client that stops reading is never waited for: when its queue is full it is dropped
//! (`too-slow`) and the room goes on.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_protocol::IceServer;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use lancall_protocol::sync::lock;

mod client;
pub use client::{Client, ClientReceiver};
#[cfg(feature = "sfu")]
mod media;
#[cfg(feature = "sfu")]
pub use media::MediaCounters;
#[cfg(feature = "sfu")]
mod recording;

use crate::protocol::{self, encode, ErrorCode, LeaveReason, PeerInfo, ProtocolError, ServerMessage, Topology};

/// Knocks and wrong tokens one address may send within [`ADDRESS_WINDOW`] before it is refused
/// with `rate-limited`: enough for a person who mistypes, too few to guess a 128-bit token or to
/// flood the host with knocks.
pub const ADDRESS_STRIKES: usize = 20;
/// The window for [`ADDRESS_STRIKES`].
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(60);

/// One JSON text from the hub to a client. Cheap to clone, so a message for a whole room is
/// encoded once.
pub type Outgoing = Utf8Bytes;

/// Limits and settings of a hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Peers per room unless a room says otherwise.
    pub default_capacity: usize,
    /// Messages a client may send in a burst (the size of its token bucket).
    pub rate_burst: f64,
    /// Messages per second a client may send over time (the bucket's refill rate).
    /// 50/s covers a newcomer offering to seven peers with a dozen ICE candidates each.
    pub rate_per_sec: f64,
    /// Messages queued for one client before it counts as too slow and is dropped.
    pub queue_len: usize,
    /// Handed to clients in `welcome.iceServers`.
    pub ice_servers: Vec<IceServer>,
    /// The largest file people may send each other in a call, in bytes (`welcome.maxFileBytes`;
    /// the files never pass through the host, so the clients keep to it); `None`: no cap.
    pub max_file_bytes: Option<u64>,
    /// Where the host's recordings of rooms go (rooms through the SFU); `None`: this hub does
    /// not record.
    pub recordings: Option<std::path::PathBuf>,
    /// Participants may start and stop the host's recording (`record`, `welcome.recordOnHost`).
    pub participants_may_record: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            default_capacity: 8,
            rate_burst: 200.0,
            rate_per_sec: 50.0,
            queue_len: 1024,
            ice_servers: Vec::new(),
            max_file_bytes: None,
            recordings: None,
            participants_may_record: false,
        }
    }
}

/// Errors of the host-side API (room management). Client mistakes are
/// [`ProtocolError`](crate::protocol::ProtocolError)s instead.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A room of that name exists already.
    #[error("a room named \"{0}\" exists already on this host: pick another name")]
    RoomExists(String),
    /// The room name breaks the syntax rule.
    #[error("\"{0}\" cannot be a room name: use 1 to 64 letters, digits, '-', '_' or '.'")]
    BadRoomName(String),
    /// A capacity of zero or over the limit.
    #[error("a room holds 2 to 64 peers, not {0}")]
    BadCapacity(usize),
    /// The hub is shutting down and takes no new connections or rooms.
    #[error("the host is shutting down")]
    Closing,
    /// A given token is not 32 lowercase hex characters.
    #[error("a room token is 32 lowercase hex characters (128 random bits)")]
    BadToken,
    /// No knock with that id is waiting (answered already, or the knocker left).
    #[error("that knock is no longer waiting: the person left or was answered already")]
    UnknownKnock,
    /// A room whose media goes through the host, on a hub with no SFU attached.
    #[error("room \"{0}\" cannot forward media through this host: it has no media server (start it with --topology sfu, or use mesh)")]
    NoMediaServer(String),
    /// [`Hub::attach_sfu`] a second time.
    #[error("this hub has a media server already")]
    MediaServerAttached,
    /// No room of that name.
    #[error("there is no room \"{0}\" on this host")]
    UnknownRoom(String),
    /// A recording could not be started or stopped: the sentence says why.
    #[error("cannot record: {0}")]
    Recording(String),
}

/// How the host sets a room's media up: what [`RoomSpec::topology`] asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoomTopology {
    /// Always directly between devices.
    #[default]
    Mesh,
    /// Always through the host's SFU.
    Sfu,
    /// Directly while two people talk (the lowest delay), through the SFU from the third person
    /// on, and directly again when two remain: the hub tells everyone with `topology`, live.
    Auto,
}

impl RoomTopology {
    /// The setting's name (`--topology`).
    pub fn as_str(self) -> &'static str {
        match self {
            RoomTopology::Mesh => "mesh",
            RoomTopology::Sfu => "sfu",
            RoomTopology::Auto => "auto",
        }
    }

    /// Whether it may use the host's SFU.
    pub fn needs_media_server(self) -> bool {
        self != RoomTopology::Mesh
    }

    /// The topology a room of this setting has with `people` in it.
    pub fn for_people(self, people: usize) -> Topology {
        match self {
            RoomTopology::Mesh => Topology::Mesh,
            RoomTopology::Sfu => Topology::Sfu,
            RoomTopology::Auto if people >= AUTO_SFU_FROM => Topology::Sfu,
            RoomTopology::Auto => Topology::Mesh,
        }
    }
}

/// In an `auto` room, media goes through the SFU from this many people on.
pub const AUTO_SFU_FROM: usize = 3;

/// What a room is, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room name, as in links.
    pub name: String,
    /// The token joiners need; `None` for a room open to the LAN.
    pub token: Option<String>,
    /// Peers it holds at most.
    pub capacity: usize,
    /// Who is in it, oldest first.
    pub peers: Vec<PeerInfo>,
    /// How the host set its media up.
    pub setting: RoomTopology,
    /// How its media travels now.
    pub topology: Topology,
}

/// What the host asks for when it makes a room.
#[derive(Debug, Clone)]
pub struct RoomSpec {
    /// Room name: 1–64 of `A–Z a–z 0–9 - _ .`.
    pub name: String,
    /// Open to anyone on the LAN, with no token.
    pub open: bool,
    /// Peers at most; the hub's default when `None`.
    pub capacity: Option<usize>,
    /// The token to use (32 lowercase hex characters), so that links survive a restart; a
    /// fresh random one when `None`. Ignored for an open room.
    pub token: Option<String>,
    /// How its media travels; `sfu` and `auto` need a media server ([`Hub::attach_sfu`]).
    pub topology: RoomTopology,
}

/// Someone asking to be let into a room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KnockInfo {
    /// Id to answer it with ([`Hub::answer_knock`]).
    pub id: String,
    /// The room knocked on.
    pub room: String,
    /// The knocker's display name (trimmed and checked).
    pub name: String,
    /// The knocker's address, when it came over the network.
    pub addr: Option<IpAddr>,
}

/// Something the host's own UI or log may want to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    /// Someone knocks: the host should admit or refuse ([`Hub::answer_knock`]).
    Knock(KnockInfo),
    /// A knock ended without an answer (the knocker left).
    KnockWithdrawn {
        /// The knock's id.
        id: String,
    },
    /// The host answered a knock.
    KnockAnswered {
        /// The knock's id.
        id: String,
        /// Let in or not.
        admitted: bool,
    },
    /// A peer entered a room.
    PeerJoined {
        /// Room name.
        room: String,
        /// Who.
        peer: PeerInfo,
    },
    /// A room's media changed how it travels (an `auto` room: the third person came, or only
    /// two remain).
    TopologyChanged {
        /// Room name.
        room: String,
        /// How it travels now.
        topology: Topology,
    },
    /// A peer left a room.
    PeerLeft {
        /// Room name.
        room: String,
        /// Who.
        peer: PeerInfo,
        /// Why.
        reason: LeaveReason,
    },
    /// A room was made or removed while the host runs (the list is [`Hub::rooms`]).
    RoomsChanged,
    /// The host started or stopped recording a room.
    Recording {
        /// Room name.
        room: String,
        /// Recording now.
        active: bool,
        /// Who started it (a participant's name); `None`: the host.
        by: Option<String>,
        /// When it stopped: the files made.
        files: Vec<std::path::PathBuf>,
        /// When it stopped by itself: why (a full disk).
        error: Option<String>,
    },
}

/// Counts for `/healthz` and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    /// Rooms the host made.
    pub rooms: usize,
    /// Peers in rooms.
    pub peers: usize,
    /// Open connections, in a room or not.
    pub connections: usize,
}

/// Why the hub ended a connection from its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client's queue was full: it was not reading.
    TooSlow,
    /// The hub is shutting down; a `closing` message is the last thing queued.
    HostClosing,
}

/// The signaling hub. Clone it freely: clones share one hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    state: Mutex<State>,
    events: broadcast::Sender<HubEvent>,
    closing: AtomicBool,
    /// The media server, once attached.
    #[cfg(feature = "sfu")]
    media: std::sync::OnceLock<media::MediaLink>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Room>,
    peers: HashMap<String, PeerEntry>,
    conns: HashMap<u64, ConnEntry>,
    knocks: HashMap<String, KnockEntry>,
    /// Recent knocks and wrong tokens per address, for [`ADDRESS_STRIKES`].
    strikes: AddressLimit,
    next_conn: u64,
}

struct KnockEntry {
    info: KnockInfo,
    conn: u64,
}

struct Room {
    token: Option<String>,
    capacity: usize,
    setting: RoomTopology,
    /// How its media travels now.
    topology: Topology,
    /// Peer ids, oldest first.
    members: Vec<String>,
    /// Recorded by the host now, started by whom.
    recording: Option<RecordingBy>,
}

/// Who started a room's recording.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecordingBy {
    /// The participant's peer id; `None`: the host.
    peer: Option<String>,
    /// Their name (for the others' indicator).
    name: Option<String>,
}

struct PeerEntry {
    info: PeerInfo,
    room: String,
    conn: u64,
}

struct ConnEntry {
    tx: mpsc::Sender<Outgoing>,
    control: Arc<ConnControl>,
    peer: Option<String>,
    /// The knock this connection is waiting on.
    knock: Option<String>,
    addr: Option<IpAddr>,
}

/// Lets the hub end a connection that it cannot reach through the connection's queue.
struct ConnControl {
    kick: CancellationToken,
    reason: Mutex<Option<CloseReason>>,
}

impl ConnControl {
    fn kick(&self, reason: CloseReason) {
        *lock(&self.reason) = Some(reason);
        self.kick.cancel();
    }
}

/// 32 random lowercase hex characters (tokens, peer ids): `lancall_protocol::random_id`.
pub use lancall_protocol::random_id;

/// Whether `s` has the form of a token or peer id: 32 lowercase hex characters.
pub fn is_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compares tokens in time independent of where they first differ.
fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// At most [`ADDRESS_STRIKES`] events per address in any [`ADDRESS_WINDOW`] (knocks and wrong
/// tokens in the hub; the scan's probes at the server, counted apart).
#[derive(Debug, Default)]
pub struct AddressLimit {
    times: HashMap<IpAddr, VecDeque<Instant>>,
}

impl AddressLimit {
    /// Counts one event from `addr` at `now`; true (and not counted) when it is over the limit.
    pub fn over_limit(&mut self, addr: IpAddr, now: Instant) -> bool {
        // Forget addresses whose events are all old, so the map stays small.
        if self.times.len() > 4096 {
            self.times.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < ADDRESS_WINDOW));
        }
        let times = self.times.entry(addr).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= ADDRESS_WINDOW) {
            times.pop_front();
        }
        if times.len() >= ADDRESS_STRIKES {
            return true;
        }
        times.push_back(now);
        false
    }
}

/// Why `given` does not open room `room_name` whose token is `expected` (`None`: open room), in
/// words for the person; `None` when it does.
fn token_error(room_name: &str, expected: Option<&str>, given: Option<&str>) -> Option<String> {
    match (expected, given) {
        (None, _) => None,
        (Some(_), None) => Some(format!(
            "Room \"{room_name}\" needs the token from the host's link. Open the full link the host shared, or knock to ask the host."
        )),
        (Some(expected), Some(given)) if !token_matches(expected, given) => Some(format!(
            "This link's token is not right for room \"{room_name}\". Ask the host for a new link, or knock."
        )),
        _ => None,
    }
}

/// Who is in a room, as someone with its link may see before joining ([`Hub::peek`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomPeek {
    /// Room name.
    pub room: String,
    /// The names of the people in it, oldest first.
    pub people: Vec<String>,
    /// Peers it holds at most.
    pub capacity: usize,
}

/// Messages to queue and events to publish, gathered under the lock and sent after it.
#[derive(Default)]
struct Effects {
    events: Vec<HubEvent>,
    /// Connections whose queue overflowed while delivering.
    slow: Vec<u64>,
    /// Peers that left a room whose media goes through the host: the SFU lets them go.
    media_left: Vec<String>,
}

impl State {
    /// Counts a knock or a wrong token against `addr`; true when it is over the limit.
    /// In-process clients (no address) are never limited.
    fn strike(&mut self, addr: Option<IpAddr>, now: Instant) -> bool {
        let Some(addr) = addr else { return false };
        self.strikes.over_limit(addr, now)
    }

    /// Forgets the knock a connection was waiting on, if any.
    fn withdraw_knock(&mut self, conn: u64, fx: &mut Effects) {
        let Some(id) = self.conns.get_mut(&conn).and_then(|c| c.knock.take()) else { return };
        if self.knocks.remove(&id).is_some() {
            fx.events.push(HubEvent::KnockWithdrawn { id });
        }
    }

    fn send(&mut self, conn: u64, text: Outgoing, fx: &mut Effects) {
        if let Some(entry) = self.conns.get(&conn) {
            match entry.tx.try_send(text) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => fx.slow.push(conn),
                // The receiver is gone: the connection is closing and its Client will clean up.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Takes a peer out of its room and tells the others.
    fn remove_peer(&mut self, peer_id: &str, reason: LeaveReason, fx: &mut Effects) {
        let Some(peer) = self.peers.remove(peer_id) else { return };
        if let Some(conn) = self.conns.get_mut(&peer.conn) {
            conn.peer = None;
        }
        let (members, switched) = match self.rooms.get_mut(&peer.room) {
            Some(room) => {
                room.members.retain(|m| m != peer_id);
                if room.topology == Topology::Sfu {
                    fx.media_left.push(peer_id.to_owned());
                }
                let now = room.setting.for_people(room.members.len());
                let switched = (now != room.topology).then_some(now);
                room.topology = now;
                (room.members.clone(), switched)
            }
            None => (Vec::new(), None),
        };
        let text = Outgoing::from(encode(&ServerMessage::PeerLeft { peer: Cow::Borrowed(&peer.info), reason }));
        for member in &members {
            if let Some(conn) = self.peers.get(member).map(|p| p.conn) {
                self.send(conn, text.clone(), fx);
            }
        }
        let room_name = peer.room.clone();
        fx.events.push(HubEvent::PeerLeft { room: peer.room, peer: peer.info, reason });
        if let Some(topology) = switched {
            self.announce_topology(&room_name, &members, topology, fx);
        }
    }

    /// Tells `members` of `room` that its media now travels as `topology`.
    fn announce_topology(&mut self, room: &str, members: &[String], topology: Topology, fx: &mut Effects) {
        let text = Outgoing::from(encode(&ServerMessage::Topology { topology }));
        for member in members {
            if let Some(conn) = self.peers.get(member).map(|p| p.conn) {
                self.send(conn, text.clone(), fx);
            }
        }
        fx.events.push(HubEvent::TopologyChanged { room: room.to_owned(), topology });
    }

    /// Drops every connection that could not take its messages, and whatever that causes.
    fn drop_slow(&mut self, fx: &mut Effects) {
        while let Some(conn) = fx.slow.pop() {
            self.withdraw_knock(conn, fx);
            if let Some(entry) = self.conns.remove(&conn) {
                log::warn!("dropping a client that does not read its messages (queue full)");
                entry.control.kick(CloseReason::TooSlow);
                if let Some(peer) = entry.peer {
                    self.remove_peer(&peer, LeaveReason::TooSlow, fx);
                }
            }
        }
    }
}

impl Hub {
    /// A hub with no rooms yet.
    pub fn new(config: HubConfig) -> Hub {
        let (events, _) = broadcast::channel(256);
        Hub {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                events,
                closing: AtomicBool::new(false),
                #[cfg(feature = "sfu")]
                media: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes a room. A room that is not open gets a fresh random token.
    pub fn create_room(&self, spec: RoomSpec) -> Result<RoomInfo, HubError> {
        if self.is_closing() {
            return Err(HubError::Closing);
        }
        if protocol::check_room_name(&spec.name).is_err() {
            return Err(HubError::BadRoomName(spec.name));
        }
        let capacity = spec.capacity.unwrap_or(self.inner.config.default_capacity);
        if !(2..=64).contains(&capacity) {
            return Err(HubError::BadCapacity(capacity));
        }
        if spec.topology.needs_media_server() && !self.has_media_server() {
            return Err(HubError::NoMediaServer(spec.name));
        }
        let mut state = lock(&self.inner.state);
        if state.rooms.contains_key(&spec.name) {
            return Err(HubError::RoomExists(spec.name));
        }
        let token = match (spec.open, spec.token) {
            (true, _) => None,
            (false, Some(t)) if is_token(&t) => Some(t),
            (false, Some(_)) => return Err(HubError::BadToken),
            (false, None) => Some(random_id()),
        };
        let setting = spec.topology;
        let topology = setting.for_people(0);
        state.rooms.insert(spec.name.clone(), Room { token: token.clone(), capacity, setting, topology, members: Vec::new(), recording: None });
        log::info!(
            "room \"{}\" made ({}, up to {capacity} peers, media {})",
            spec.name,
            if spec.open { "open to the LAN" } else { "token needed" },
            match setting {
                RoomTopology::Mesh => "directly between devices",
                RoomTopology::Sfu => "through this host",
                RoomTopology::Auto => "directly for two, through this host from three",
            }
        );
        drop(state);
        self.publish(vec![HubEvent::RoomsChanged]);
        Ok(RoomInfo { name: spec.name, token, capacity, peers: Vec::new(), setting, topology })
    }

    /// Every room, in name order.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        let state = lock(&self.inner.state);
        let mut rooms: Vec<RoomInfo> = state.rooms.iter().map(|(name, room)| room_info(&state, name, room)).collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Removes a room while the host runs: everyone in it is told (`closing`, with a sentence
    /// naming the room) and disconnected (a client that comes back hears `unknown-room`), knocks
    /// on it are refused, and its recording, if any, stops.
    pub fn remove_room(&self, name: &str) -> Result<(), HubError> {
        let mut fx = Effects::default();
        let mut state = lock(&self.inner.state);
        let Some(room) = state.rooms.remove(name) else {
            return Err(HubError::UnknownRoom(name.to_owned()));
        };
        let text = Outgoing::from(encode(&ServerMessage::Closing {
            message: format!("The host closed the room \"{name}\".").into(),
        }));
        for member in &room.members {
            let Some(peer) = state.peers.remove(member) else { continue };
            if room.topology == Topology::Sfu {
                fx.media_left.push(member.clone());
            }
            if let Some(entry) = state.conns.remove(&peer.conn) {
                // Best effort: a full queue means the client is not reading anyway.
                let _ = entry.tx.try_send(text.clone());
                entry.control.kick(CloseReason::HostClosing);
            }
            fx.events.push(HubEvent::PeerLeft { room: name.to_owned(), peer: peer.info, reason: LeaveReason::HostClosing });
        }
        let knocks: Vec<(String, u64)> =
            state.knocks.iter().filter(|(_, k)| k.info.room == name).map(|(id, k)| (id.clone(), k.conn)).collect();
        for (id, conn) in knocks {
            state.knocks.remove(&id);
            if let Some(c) = state.conns.get_mut(&conn) {
                c.knock = None;
            }
            let refused = encode(&ServerMessage::Refused { room: name.into(), message: "The host closed that room.".into() });
            state.send(conn, Outgoing::from(refused), &mut fx);
            fx.events.push(HubEvent::KnockAnswered { id, admitted: false });
        }
        fx.events.push(HubEvent::RoomsChanged);
        state.drop_slow(&mut fx);
        drop(state);
        log::info!("room \"{name}\" removed ({} people were in it)", room.members.len());
        #[cfg(feature = "sfu")]
        if room.recording.is_some() {
            if let (Some(media), Ok(rt)) = (self.inner.media.get(), tokio::runtime::Handle::try_current()) {
                let stopping = media.sfu().stop_recording(name);
                let name = name.to_owned();
                rt.spawn(async move {
                    match stopping.await {
                        Ok(files) => log::info!("the recording of removed room \"{name}\" stopped: {} files", files.len()),
                        Err(e) => log::warn!("the recording of removed room \"{name}\": {e}"),
                    }
                });
            }
        }
        self.finish(fx);
        Ok(())
    }

    /// One room, with who is in it.
    pub fn room(&self, name: &str) -> Option<RoomInfo> {
        let state = lock(&self.inner.state);
        state.rooms.get(name).map(|room| room_info(&state, name, room))
    }

    /// Who is in `room_name`, for a pre-join card: what `join` would check (the room exists, the
    /// token opens it; a wrong token counts against `addr` the same way), without joining.
    pub fn peek(&self, room_name: &str, token: Option<&str>, addr: Option<IpAddr>) -> Result<RoomPeek, ProtocolError> {
        let mut state = lock(&self.inner.state);
        let Some(room) = state.rooms.get(room_name) else {
            return Err(ProtocolError::new(
                ErrorCode::UnknownRoom,
                format!("There is no room \"{room_name}\" on this host. Check the link, or ask the host for a new one."),
            ));
        };
        if let Some(message) = token_error(room_name, room.token.as_deref(), token) {
            if state.strike(addr, Instant::now()) {
                return Err(client::too_many_tries());
            }
            return Err(ProtocolError::new(ErrorCode::WrongToken, message));
        }
        let people = room.members.iter().filter_map(|m| state.peers.get(m)).map(|p| p.info.name.clone()).collect();
        Ok(RoomPeek { room: room_name.to_owned(), people, capacity: room.capacity })
    }

    /// Whether any room is open to the LAN (advertised in mDNS).
    pub fn has_open_rooms(&self) -> bool {
        lock(&self.inner.state).rooms.values().any(|r| r.token.is_none())
    }

    /// Counts of rooms, peers and connections.
    pub fn stats(&self) -> HubStats {
        let state = lock(&self.inner.state);
        HubStats { rooms: state.rooms.len(), peers: state.peers.len(), connections: state.conns.len() }
    }

    /// Joins and leaves as they happen, for the host's UI and log. A slow subscriber misses
    /// events (it gets `Lagged`) rather than slowing the hub.
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.inner.events.subscribe()
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// A new in-process client connection (the app's own UI): no address, so no per-address limits.
    pub fn connect(&self) -> Result<(Client, ClientReceiver), HubError> {
        self.connect_from(None)
    }

    /// A new client connection from `addr` (a WebSocket).
    pub fn connect_from(&self, addr: Option<IpAddr>) -> Result<(Client, ClientReceiver), HubError> {
        if self.is_closing() {
            return Err(HubError::Closing);
        }
        let (tx, rx) = mpsc::channel(self.inner.config.queue_len);
        let control = Arc::new(ConnControl { kick: CancellationToken::new(), reason: Mutex::new(None) });
        let conn = {
            let mut state = lock(&self.inner.state);
            state.next_conn += 1;
            let conn = state.next_conn;
            state.conns.insert(conn, ConnEntry { tx, control: control.clone(), peer: None, knock: None, addr });
            conn
        };
        Ok(client::open(self.clone(), conn, rx, control))
    }

    /// Tells every client the host is closing (`closing`), then ends their connections.
    /// New connections are refused from now on.
    pub fn shutdown(&self, message: &str) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let text = Outgoing::from(encode(&ServerMessage::Closing { message: message.into() }));
        let mut fx = Effects::default();
        let mut state = lock(&self.inner.state);
        let conns: Vec<u64> = state.conns.keys().copied().collect();
        state.knocks.clear();
        for conn in conns {
            if let Some(entry) = state.conns.remove(&conn) {
                // Best effort: a full queue means the client is not reading anyway.
                let _ = entry.tx.try_send(text.clone());
                entry.control.kick(CloseReason::HostClosing);
                if let Some(peer) = entry.peer {
                    if let Some(p) = state.peers.remove(&peer) {
                        if let Some(room) = state.rooms.get_mut(&p.room) {
                            room.members.retain(|m| *m != peer);
                        }
                        fx.events.push(HubEvent::PeerLeft { room: p.room, peer: p.info, reason: LeaveReason::HostClosing });
                    }
                }
            }
        }
        drop(state);
        self.finish(fx);
        log::info!("hub closed: every client was told");
    }

    /// Knocks waiting for an answer, oldest first.
    pub fn pending_knocks(&self) -> Vec<KnockInfo> {
        let state = lock(&self.inner.state);
        let mut knocks: Vec<(u64, KnockInfo)> = state.knocks.values().map(|k| (k.conn, k.info.clone())).collect();
        knocks.sort_by_key(|(conn, _)| *conn);
        knocks.into_iter().map(|(_, k)| k).collect()
    }

    /// Admits or refuses a knock. An admitted knocker is sent the room's token and joins with it.
    pub fn answer_knock(&self, id: &str, admit: bool) -> Result<(), HubError> {
        let mut fx = Effects::default();
        let mut state = lock(&self.inner.state);
        let knock = state.knocks.remove(id).ok_or(HubError::UnknownKnock)?;
        if let Some(conn) = state.conns.get_mut(&knock.conn) {
            conn.knock = None;
        }
        let room = knock.info.room.as_str();
        let text = match (admit, state.rooms.get(room)) {
            (true, Some(r)) => encode(&ServerMessage::Admitted { room: room.into(), token: r.token.as_deref().map(Cow::Borrowed) }),
            (true, None) => encode(&ServerMessage::Refused { room: room.into(), message: "That room was closed while you waited.".into() }),
            (false, _) => encode(&ServerMessage::Refused {
                room: room.into(),
                message: "The host did not let you in. Ask them for the link, or try again later.".into(),
            }),
        };
        state.send(knock.conn, Outgoing::from(text), &mut fx);
        fx.events.push(HubEvent::KnockAnswered { id: id.to_owned(), admitted: admit });
        state.drop_slow(&mut fx);
        drop(state);
        self.finish(fx);
        Ok(())
    }

    /// Whether a media server is attached (rooms may have topology `sfu`).
    pub fn has_media_server(&self) -> bool {
        #[cfg(feature = "sfu")]
        return self.inner.media.get().is_some();
        #[cfg(not(feature = "sfu"))]
        return false;
    }

    /// Queues `text` for peer `peer_id`; false when it is not here any more.
    #[cfg_attr(not(feature = "sfu"), allow(dead_code))]
    fn send_to_peer(&self, peer_id: &str, text: Outgoing) -> bool {
        let mut fx = Effects::default();
        let mut state = lock(&self.inner.state);
        let Some(conn) = state.peers.get(peer_id).map(|p| p.conn) else { return false };
        state.send(conn, text, &mut fx);
        state.drop_slow(&mut fx);
        drop(state);
        self.finish(fx);
        true
    }

    /// Publishes what happened under the lock, and lets the SFU go of peers that left.
    fn finish(&self, fx: Effects) {
        #[cfg(feature = "sfu")]
        if let Some(media) = self.inner.media.get() {
            for peer in fx.media_left {
                media.request(media::Request::Left { peer });
            }
        }
        self.publish(fx.events);
    }

    fn publish(&self, events: Vec<HubEvent>) {
        for event in events {
            match &event {
                HubEvent::Knock(k) => {
                    log::info!("{} knocks on \"{}\" ({})", protocol::printable(&k.name), k.room, k.addr.map(|a| a.to_string()).unwrap_or_else(|| "this device".into()))
                }
                HubEvent::KnockWithdrawn { id } => log::info!("knock {id} withdrawn"),
                HubEvent::KnockAnswered { id, admitted } => {
                    log::info!("knock {id} {}", if *admitted { "admitted" } else { "refused" })
                }
                HubEvent::PeerJoined { room, peer } => log::info!("{} joined \"{room}\"", protocol::printable(&peer.name)),
                HubEvent::PeerLeft { room, peer, reason } => {
                    log::info!("{} left \"{room}\" ({reason:?})", protocol::printable(&peer.name))
                }
                HubEvent::RoomsChanged => log::debug!("the rooms changed"),
                HubEvent::Recording { room, active, by, files, error } => match (active, error) {
                    (true, _) => log::info!("room \"{room}\" is being recorded (started by {})", by.as_deref().map_or_else(|| "the host".to_owned(), protocol::printable)),
                    (false, None) => log::info!("room \"{room}\": recording stopped, {} files", files.len()),
                    (false, Some(e)) => log::warn!("room \"{room}\": recording stopped by itself: {e}"),
                },
                HubEvent::TopologyChanged { room, topology } => log::info!(
                    "room \"{room}\": media now goes {}",
                    match topology {
                        Topology::Mesh => "directly between the two devices",
                        Topology::Sfu => "through this host",
                    }
                ),
            }
            // No subscribers is fine.
            let _ = self.inner.events.send(event);
        }
    }
}

fn room_info(state: &State, name: &str, room: &Room) -> RoomInfo {
    RoomInfo {
        name: name.to_owned(),
        token: room.token.clone(),
        capacity: room.capacity,
        peers: room.members.iter().filter_map(|m| state.peers.get(m)).map(|p| p.info.clone()).collect(),
        setting: room.setting,
        topology: room.topology,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &Outgoing) -> serde_json::Value {
        serde_json::from_str(text.as_str()).unwrap_or(serde_json::Value::Null)
    }

    fn next(rx: &mut ClientReceiver) -> serde_json::Value {
        rx.try_recv().map(|t| json(&t)).unwrap_or(serde_json::Value::Null)
    }

    fn hub_with_room(open: bool) -> (Hub, RoomInfo) {
        let hub = Hub::new(HubConfig::default());
        let room = hub.create_room(RoomSpec { name: "call".into(), open, capacity: Some(3), token: None, topology: RoomTopology::Mesh });
        (hub, room.unwrap_or_else(|e| panic!("{e}")))
    }

    fn join(hub: &Hub, token: Option<&str>, name: &str) -> (Client, ClientReceiver, serde_json::Value) {
        let (mut c, mut rx) = hub.connect().unwrap_or_else(|e| panic!("{e}"));
        let msg = serde_json::json!({"type":"join","room":"call","token":token,"name":name}).to_string();
        c.handle_text(&msg);
        let reply = next(&mut rx);
        (c, rx, reply)
    }

    #[test]
    fn in_process_clients_meet_and_relay() {
        let (hub, room) = hub_with_room(false);
        let token = room.token.as_deref();
        let (mut a, mut arx, welcome_a) = join(&hub, token, "Ada");
        assert_eq!(welcome_a["type"], "welcome");
        assert_eq!(welcome_a["peers"].as_array().map(Vec::len), Some(0));
        let (_b, mut brx, welcome_b) = join(&hub, token, "Grace");
        assert_eq!(welcome_b["peers"][0]["name"], "Ada");
        let joined = next(&mut arx);
        assert_eq!(joined["type"], "peer-joined");
        let b_id = joined["peer"]["id"].as_str().unwrap_or_default().to_owned();
        a.handle_text(&format!(r#"{{"type":"signal","to":"{b_id}","data":{{"n":1}}}}"#));
        let got = next(&mut brx);
        assert_eq!(got["type"], "signal");
        assert_eq!(got["data"]["n"], 1);
        assert_eq!(got["from"], welcome_a["self"]["id"]);
        assert_eq!(hub.room("call").map(|r| r.peers.len()), Some(2));
    }

    #[test]
    fn wrong_token_full_room_and_second_join_are_refused() {
        let (hub, room) = hub_with_room(false);
        let (_x, _xrx, r) = join(&hub, Some("00000000000000000000000000000000"), "Eve");
        assert_eq!(r["code"], "wrong-token");
        let (_y, _yrx, r) = join(&hub, None, "Eve");
        assert_eq!(r["code"], "wrong-token");
        let token = room.token.as_deref();
        let (mut a, mut arx, _) = join(&hub, token, "A");
        let (_b, _brx, _) = join(&hub, token, "B");
        let (_c, _crx, _) = join(&hub, token, "C");
        let (_d, _drx, r) = join(&hub, token, "D");
        assert_eq!(r["code"], "room-full");
        let _ = (next(&mut arx), next(&mut arx)); // peer-joined B, C
        a.handle_text(&serde_json::json!({"type":"join","room":"call","token":token,"name":"A"}).to_string());
        assert_eq!(next(&mut arx)["code"], "already-joined");
        assert_eq!(hub.stats().peers, 3);
    }

    #[test]
    fn dropping_a_client_tells_the_room() {
        let (hub, _) = hub_with_room(true);
        let (a, _arx, _) = join(&hub, None, "A");
        let (_b, mut brx, _) = join(&hub, None, "B");
        drop(a);
        let left = next(&mut brx);
        assert_eq!(left["type"], "peer-left");
        assert_eq!(left["reason"], "disconnected");
        assert_eq!(hub.stats().connections, 1);
    }

    #[test]
    fn a_client_that_does_not_read_is_dropped_not_waited_for() {
        let hub = Hub::new(HubConfig { queue_len: 4, ..HubConfig::default() });
        let _ = hub.create_room(RoomSpec { name: "call".into(), open: true, capacity: None, token: None, topology: RoomTopology::Mesh });
        let (mut a, _arx, _) = join(&hub, None, "A");
        let (_b, brx, w) = join(&hub, None, "B");
        let b_id = w["self"]["id"].as_str().unwrap_or_default().to_owned();
        for i in 0..5 {
            a.handle_text(&format!(r#"{{"type":"signal","to":"{b_id}","data":{i}}}"#));
        }
        assert_eq!(brx.close_reason(), Some(CloseReason::TooSlow));
        assert_eq!(hub.stats().peers, 1);
    }

    #[test]
    fn a_participant_may_not_record_unless_the_host_allows_it() {
        let (hub, _) = hub_with_room(true);
        let (mut a, mut arx) = hub.connect_from(Some("10.0.0.9".parse().unwrap_or_else(|e| panic!("{e}")))).unwrap_or_else(|e| panic!("{e}"));
        a.handle_text(r#"{"type":"join","room":"call","name":"A"}"#);
        let w = next(&mut arx);
        assert!(w.get("recordOnHost").is_none(), "welcome says nothing of recording: {w}");
        a.handle_text(r#"{"type":"record","active":true}"#);
        let reply = next(&mut arx);
        assert_eq!((reply["code"].as_str(), reply["re"].as_str()), (Some("not-allowed"), Some("record")), "{reply}");
        assert!(reply["message"].as_str().is_some_and(|m| m.contains("Ask the host")), "{reply}");
        a.handle_text(r#"{"type":"record","active":"yes"}"#);
        assert_eq!(next(&mut arx)["code"], "invalid-field");
        // The host's own device (in-process, no address) is offered it when the hub records.
        let recording_hub = Hub::new(HubConfig { recordings: Some("/nonexistent".into()), ..HubConfig::default() });
        let _ = recording_hub.create_room(RoomSpec { name: "call".into(), open: true, capacity: None, token: None, topology: RoomTopology::Mesh });
        assert_eq!(join(&recording_hub, None, "Host").2["recordOnHost"], true);
        // Allowed, but this hub forwards no media: nothing to record with.
        let hub = Hub::new(HubConfig { participants_may_record: true, recordings: Some("/nonexistent".into()), ..HubConfig::default() });
        let _ = hub.create_room(RoomSpec { name: "call".into(), open: true, capacity: None, token: None, topology: RoomTopology::Mesh });
        let (mut a, mut arx, w) = join(&hub, None, "A");
        assert_eq!(w["recordOnHost"], true);
        a.handle_text(r#"{"type":"record","active":true}"#);
        assert_eq!(next(&mut arx)["code"], "no-media-server");
    }

    #[test]
    fn media_messages_in_a_mesh_room_say_there_is_no_media_server() {
        let (hub, _) = hub_with_room(true);
        let (mut a, mut arx, _) = join(&hub, None, "A");
        a.handle_text(r#"{"type":"media-description","description":{"type":"offer","sdp":"v=0\r\n"}}"#);
        let reply = next(&mut arx);
        assert_eq!((reply["code"].as_str(), reply["re"].as_str()), (Some("no-media-server"), Some("media-description")));
        a.handle_text(r#"{"type":"media-want","tracks":[]}"#);
        assert_eq!(next(&mut arx)["code"], "no-media-server");
        let spec = RoomSpec { name: "big".into(), open: true, capacity: None, token: None, topology: RoomTopology::Sfu };
        assert!(matches!(hub.create_room(spec), Err(HubError::NoMediaServer(_))), "no SFU attached: no sfu room");
        let (mut b, mut brx) = hub.connect().unwrap_or_else(|e| panic!("{e}"));
        b.handle_text(r#"{"type":"media-candidate","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host"}}"#);
        assert_eq!(next(&mut brx)["code"], "not-joined");
    }

    #[cfg(feature = "sfu")]
    #[tokio::test]
    async fn an_auto_room_tells_everyone_when_its_media_changes_route() {
        let hub = Hub::new(HubConfig::default());
        let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let config = lancall_sfu::SfuConfig::new(std::net::SocketAddr::new(loopback, 0), vec![loopback]);
        let (sfu, events) = lancall_sfu::Sfu::start(config).unwrap_or_else(|e| panic!("{e}"));
        hub.attach_sfu(sfu, events).unwrap_or_else(|e| panic!("{e}"));
        let spec = RoomSpec { name: "call".into(), open: true, capacity: None, token: None, topology: RoomTopology::Auto };
        hub.create_room(spec).unwrap_or_else(|e| panic!("{e}"));
        let mut events = hub.subscribe();
        let (_a, mut arx, wa) = join(&hub, None, "A");
        let (_b, mut brx, wb) = join(&hub, None, "B");
        assert_eq!((wa["topology"].as_str(), wb["topology"].as_str()), (Some("mesh"), Some("mesh")), "two talk directly");
        assert_eq!(next(&mut arx)["type"], "peer-joined");
        let (c, _crx, wc) = join(&hub, None, "C");
        assert_eq!(wc["topology"], "sfu", "the third meets the room through the SFU");
        for rx in [&mut arx, &mut brx] {
            let first = next(rx);
            assert_eq!((first["type"].as_str(), first["topology"].as_str()), (Some("topology"), Some("sfu")));
            assert_eq!(next(rx)["type"], "peer-joined", "the switch comes before the newcomer");
        }
        assert_eq!(hub.room("call").map(|r| r.topology), Some(Topology::Sfu));
        drop(c);
        for rx in [&mut arx, &mut brx] {
            assert_eq!(next(rx)["type"], "peer-left");
            let back = next(rx);
            assert_eq!((back["type"].as_str(), back["topology"].as_str()), (Some("topology"), Some("mesh")));
        }
        let mut changes = Vec::new();
        while let Ok(e) = events.try_recv() {
            if let HubEvent::TopologyChanged { topology, .. } = e {
                changes.push(topology);
            }
        }
        assert_eq!(changes, [Topology::Sfu, Topology::Mesh]);
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
        assert_eq!(random_id().len(), 32);
        assert_ne!(random_id(), random_id());
    }
}
