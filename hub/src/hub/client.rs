//! One connection's side of the hub: what a client says is checked (rate, size, JSON) and acted
//! on here (join, knock, signal, leave), and what the hub tells it comes out of its queue.
//!
//! A [`Client`] takes the hub's one lock for each message, like the host's side in the parent
//! module, so a client's join and the others' `peer-joined` happen in one order for everyone.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use lancall_protocol::names::normalize_name;
use tokio::sync::mpsc;

use super::{random_id, token_error, CloseReason, ConnControl, Effects, Hub, HubEvent, KnockEntry, KnockInfo, Outgoing, PeerEntry};
use crate::protocol::{
    self, decode, encode, ClientMessage, ErrorCode, LeaveReason, PeerInfo, ProtocolError, ServerMessage, Topology, TrackWant,
    MAX_FRAME_BYTES, PROTOCOL_VERSION,
};
use lancall_protocol::peer::{Candidate, Description};
use lancall_protocol::sync::lock;

/// The handles of a connection the hub has just registered as `conn`.
pub(super) fn open(hub: Hub, conn: u64, rx: mpsc::Receiver<Outgoing>, control: Arc<ConnControl>) -> (Client, ClientReceiver) {
    let bucket = TokenBucket::new(hub.inner.config.rate_burst, hub.inner.config.rate_per_sec);
    (Client { hub, conn, bucket }, ClientReceiver { rx, control })
}

/// A client's message allowance: `burst` at once, refilled at `per_sec`.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(burst: f64, per_sec: f64) -> Self {
        TokenBucket { tokens: burst, burst, per_sec, last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a connection says to the hub. Dropping it is hanging up: its room is told `peer-left`.
pub struct Client {
    hub: Hub,
    conn: u64,
    bucket: TokenBucket,
}

/// What the hub says to a connection.
pub struct ClientReceiver {
    rx: mpsc::Receiver<Outgoing>,
    control: Arc<ConnControl>,
}

impl ClientReceiver {
    /// The next message for this client, or `None` once the hub has dropped it and everything
    /// queued before that was read.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        if !self.control.kick.is_cancelled() {
            tokio::select! {
                biased;
                msg = self.rx.recv() => return msg,
                _ = self.control.kick.cancelled() => {}
            }
        }
        match self.close_reason() {
            // It was not reading: do not push the backlog at it, just end.
            Some(CloseReason::TooSlow) => None,
            // Deliver what was queued before the kick (for a shutdown, that ends with
            // `closing`), but do not wait for more.
            _ => self.rx.try_recv().ok(),
        }
    }

    /// The next message if one is queued now.
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        self.rx.try_recv().ok()
    }

    /// Why the hub ended this connection, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        *lock(&self.control.reason)
    }
}

impl Client {
    /// Handles one text frame as it arrived: checks rate and size, decodes, acts. Every
    /// problem is answered with an `error` on this client's own queue; nothing else changes.
    pub fn handle_text(&mut self, text: &str) {
        if !self.bucket.take() {
            self.reply_error(ProtocolError::new(
                ErrorCode::RateLimited,
                "Too many messages too fast: that one was dropped. Slow down and send it again.",
            ));
            return;
        }
        if text.len() > MAX_FRAME_BYTES {
            self.reply_error(ProtocolError::new(
                ErrorCode::TooLarge,
                format!("That message is {} bytes; the limit is {MAX_FRAME_BYTES}. Send less at once.", text.len()),
            ));
            return;
        }
        match decode(text) {
            Ok(msg) => self.handle(msg),
            Err(e) => self.reply_error(e),
        }
    }

    /// Answers a frame that is not text (the protocol is JSON text only).
    pub fn handle_binary(&mut self) {
        self.reply_error(ProtocolError::new(ErrorCode::BadJson, "Binary frames are not part of the protocol: send JSON text."));
    }

    /// Acts on one decoded message.
    pub fn handle(&mut self, msg: ClientMessage) {
        let kind = msg.kind();
        let result = match msg {
            ClientMessage::Join { room, token, name } => self.join(&room, token.as_deref(), &name),
            ClientMessage::Signal { to, data } => self.signal(&to, &data),
            ClientMessage::Knock { room, name } => self.knock(&room, &name),
            ClientMessage::Leave => self.leave(LeaveReason::Left),
            ClientMessage::Ping => {
                self.reply(Outgoing::from(encode(&ServerMessage::Pong)));
                Ok(())
            }
            ClientMessage::MediaDescription { description } => self.media(MediaMessage::Description(description)),
            ClientMessage::MediaCandidate { candidate } => self.media(MediaMessage::Candidate(candidate)),
            ClientMessage::MediaWant { tracks } => self.media(MediaMessage::Want(tracks)),
            ClientMessage::Record { active } => self.record(active),
        };
        if let Err(e) = result {
            self.reply_error(e.re(kind));
        }
    }

    /// Ends this client's connection for `reason` (for example [`LeaveReason::Timeout`]).
    pub fn disconnect(mut self, reason: LeaveReason) {
        self.close(reason);
    }

    fn close(&mut self, reason: LeaveReason) {
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        state.withdraw_knock(self.conn, &mut fx);
        if let Some(entry) = state.conns.remove(&self.conn) {
            if let Some(peer) = entry.peer {
                state.remove_peer(&peer, reason, &mut fx);
            }
        }
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
    }

    fn reply(&self, text: Outgoing) {
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        state.send(self.conn, text, &mut fx);
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
    }

    fn reply_error(&self, error: ProtocolError) {
        log::debug!("client error: {error}");
        self.reply(Outgoing::from(error.encode()));
    }

    fn join(&mut self, room_name: &str, token: Option<&str>, name: &str) -> Result<(), ProtocolError> {
        let name = normalize_name(name)?;
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        let Some(conn) = state.conns.get(&self.conn) else {
            return Ok(()); // dropped by the hub a moment ago; the connection is closing
        };
        if conn.peer.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::AlreadyJoined,
                "This connection is in a room already. Send \"leave\" first to join another.",
            ));
        }
        let Some(room) = state.rooms.get(room_name) else {
            return Err(ProtocolError::new(
                ErrorCode::UnknownRoom,
                format!(
                    "There is no room \"{room_name}\" on this host. Check the link, or ask the host for a new one."
                ),
            ));
        };
        if let Some(message) = token_error(room_name, room.token.as_deref(), token) {
            let addr = conn.addr;
            if state.strike(addr, Instant::now()) {
                return Err(too_many_tries());
            }
            return Err(ProtocolError::new(ErrorCode::WrongToken, message));
        }
        if room.members.len() >= room.capacity {
            return Err(ProtocolError::new(
                ErrorCode::RoomFull,
                format!("Room \"{room_name}\" is full ({} people). Try again when someone leaves.", room.capacity),
            ));
        }
        let me = PeerInfo { id: random_id(), name };
        let others: Vec<(PeerInfo, u64)> =
            room.members.iter().filter_map(|m| state.peers.get(m)).map(|p| (p.info.clone(), p.conn)).collect();
        // An `auto` room goes through the SFU from its third person on.
        let topology = room.setting.for_people(others.len() + 1);
        let switched = (topology != room.topology).then_some(topology);
        let members = room.members.clone();
        let recording_by = room.recording.as_ref().map(|by| by.name.clone());
        let welcome = encode(&ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            room: room_name.into(),
            me: Cow::Borrowed(&me),
            peers: others.iter().map(|(info, _)| Cow::Borrowed(info)).collect(),
            ice_servers: Cow::Borrowed(&self.hub.inner.config.ice_servers),
            topology,
            max_file_bytes: self.hub.inner.config.max_file_bytes,
            // The host's own device (an in-process client, no address: the app that hosts)
            // may always record; others when the host lets them.
            record_on_host: (self.hub.inner.config.participants_may_record || conn.addr.is_none())
                && self.hub.inner.config.recordings.is_some(),
        });
        state.send(self.conn, Outgoing::from(welcome), &mut fx);
        if let Some(by) = recording_by {
            // Whoever joins a recorded call hears so first.
            let text = encode(&ServerMessage::Recording { active: true, by: by.map(Cow::Owned) });
            state.send(self.conn, Outgoing::from(text), &mut fx);
        }
        if let Some(topology) = switched {
            // The others hear it before they hear of the newcomer, so they meet it the new way.
            if let Some(room) = state.rooms.get_mut(room_name) {
                room.topology = topology;
            }
            state.announce_topology(room_name, &members, topology, &mut fx);
        }
        let joined = Outgoing::from(encode(&ServerMessage::PeerJoined { peer: Cow::Borrowed(&me) }));
        for (_, conn) in &others {
            state.send(*conn, joined.clone(), &mut fx);
        }
        if let Some(room) = state.rooms.get_mut(room_name) {
            room.members.push(me.id.clone());
        }
        state.withdraw_knock(self.conn, &mut fx);
        if let Some(conn) = state.conns.get_mut(&self.conn) {
            conn.peer = Some(me.id.clone());
        }
        state.peers.insert(me.id.clone(), PeerEntry { info: me.clone(), room: room_name.to_owned(), conn: self.conn });
        fx.events.push(HubEvent::PeerJoined { room: room_name.to_owned(), peer: me });
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
        Ok(())
    }

    fn knock(&mut self, room_name: &str, name: &str) -> Result<(), ProtocolError> {
        let name = normalize_name(name)?;
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        let Some(conn) = state.conns.get(&self.conn) else { return Ok(()) };
        if conn.peer.is_some() {
            return Err(ProtocolError::new(ErrorCode::AlreadyJoined, "You are in a room already."));
        }
        if conn.knock.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::AlreadyKnocking,
                "You knocked already: wait for the host's answer.",
            ));
        }
        let addr = conn.addr;
        let open = match state.rooms.get(room_name) {
            None => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownRoom,
                    format!("There is no room \"{room_name}\" on this host. Check the name, or ask the host."),
                ))
            }
            Some(room) => room.token.is_none(),
        };
        if open {
            // Nothing to ask: anyone may join an open room.
            let text = encode(&ServerMessage::Admitted { room: room_name.into(), token: None });
            state.send(self.conn, Outgoing::from(text), &mut fx);
        } else {
            if state.strike(addr, Instant::now()) {
                return Err(too_many_tries());
            }
            let id = random_id();
            let info = KnockInfo { id: id.clone(), room: room_name.to_owned(), name, addr };
            state.knocks.insert(id.clone(), KnockEntry { info: info.clone(), conn: self.conn });
            if let Some(conn) = state.conns.get_mut(&self.conn) {
                conn.knock = Some(id);
            }
            state.send(self.conn, Outgoing::from(encode(&ServerMessage::KnockWait { room: room_name.into() })), &mut fx);
            fx.events.push(HubEvent::Knock(info));
        }
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
        Ok(())
    }

    fn signal(&mut self, to: &str, data: &serde_json::value::RawValue) -> Result<(), ProtocolError> {
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        let Some(my_id) = state.conns.get(&self.conn).and_then(|c| c.peer.clone()) else {
            return Err(not_joined());
        };
        let target = match (state.peers.get(&my_id), state.peers.get(to)) {
            (Some(me), Some(them)) if them.room == me.room && them.info.id != my_id => them.conn,
            _ => {
                let mut e = ProtocolError::new(
                    ErrorCode::UnknownPeer,
                    "That peer is not in your room any more (it may have left). Remove it from the call.",
                );
                e.peer = Some(protocol::printable(to));
                return Err(e);
            }
        };
        let text = encode(&ServerMessage::Signal { from: Cow::Borrowed(&my_id), data: Cow::Borrowed(data) });
        state.send(target, Outgoing::from(text), &mut fx);
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
        Ok(())
    }

    /// A `media-*` message: to the SFU, when this client's room forwards media through the host.
    fn media(&mut self, msg: MediaMessage) -> Result<(), ProtocolError> {
        let state = lock(&self.hub.inner.state);
        let Some(my_id) = state.conns.get(&self.conn).and_then(|c| c.peer.clone()) else {
            return Err(not_joined());
        };
        let room = state.peers.get(&my_id).map(|p| p.room.clone()).unwrap_or_default();
        let name = state.peers.get(&my_id).map(|p| p.info.name.clone()).unwrap_or_default();
        let topology = state.rooms.get(&room).map(|r| r.topology);
        drop(state);
        if topology != Some(Topology::Sfu) {
            return Err(no_media_server());
        }
        #[cfg(feature = "sfu")]
        if let Some(media) = self.hub.inner.media.get() {
            media.request(match msg {
                MediaMessage::Description(description) => super::media::Request::Description { peer: my_id, room, name, description },
                MediaMessage::Candidate(candidate) => super::media::Request::Candidate { peer: my_id, candidate },
                MediaMessage::Want(tracks) => super::media::Request::Want { peer: my_id, tracks },
            });
            return Ok(());
        }
        let _ = (msg, room, name);
        Err(no_media_server())
    }

    /// `record`: a participant starts or stops the host's recording of its room.
    fn record(&mut self, active: bool) -> Result<(), ProtocolError> {
        let state = lock(&self.hub.inner.state);
        let Some(my_id) = state.conns.get(&self.conn).and_then(|c| c.peer.clone()) else {
            return Err(not_joined());
        };
        let room = state.peers.get(&my_id).map(|p| p.room.clone()).unwrap_or_default();
        let on_this_device = state.conns.get(&self.conn).is_some_and(|c| c.addr.is_none());
        drop(state);
        #[cfg(feature = "sfu")]
        return super::recording::participant_record(&self.hub, &my_id, &room, active, on_this_device);
        #[cfg(not(feature = "sfu"))]
        {
            let _ = (active, room, on_this_device);
            Err(no_media_server())
        }
    }

    fn leave(&mut self, reason: LeaveReason) -> Result<(), ProtocolError> {
        let mut fx = Effects::default();
        let mut state = lock(&self.hub.inner.state);
        let Some(my_id) = state.conns.get(&self.conn).and_then(|c| c.peer.clone()) else {
            return Err(not_joined());
        };
        state.remove_peer(&my_id, reason, &mut fx);
        state.drop_slow(&mut fx);
        drop(state);
        self.hub.finish(fx);
        Ok(())
    }
}

pub(super) fn too_many_tries() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::RateLimited,
        "Too many knocks or wrong links from this device. Wait a minute, then try again.",
    )
}

/// What a `media-*` message carries.
#[cfg_attr(not(feature = "sfu"), allow(dead_code))]
enum MediaMessage {
    Description(Description),
    Candidate(Candidate),
    Want(Vec<TrackWant>),
}

fn no_media_server() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::NoMediaServer,
        "This room's media goes directly between devices, not through the host: use peer connections (see welcome.topology).",
    )
}

fn not_joined() -> ProtocolError {
    ProtocolError::new(ErrorCode::NotJoined, "Join a room first: send \"join\" with the room and token from the link.")
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close(LeaveReason::Disconnected);
    }
}

