//! Media through the host: the hub's side of the SFU, for rooms whose topology is `sfu`.
//!
//! One task (per hub) owns the [`Sfu`] handle, which peer is which SFU participant, and every
//! request in flight. Clients' `media-*` messages reach it as [`Request`]s, in the order they
//! arrived; it sends each to the SFU at once (the SFU serves requests in that order) and keeps
//! the replies in a queue served before anything else. The SFU answers a request before it emits
//! any event that follows from it (an offer of its own after answering the client's), so serving
//! ready replies first means a client always gets the answer to its offer before the SFU's next
//! offer: the negotiation cannot cross.
//!
//! A peer that leaves its room leaves the SFU ([`Request::Left`]); a participant the SFU drops by
//! itself (its connection failed or never came up) is told `media-failed`, and its next offer
//! makes it a new participant.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use futures_util::stream::{FuturesOrdered, StreamExt};
use lancall_sfu::{ParticipantId, Sfu, SfuCounters, SfuError, SfuEvent};
use tokio::sync::mpsc;

use super::{Hub, Inner, Outgoing};
use crate::protocol::{encode, ErrorCode, ProtocolError, ServerMessage, TrackWant};
use lancall_protocol::peer::{Candidate, Description};

/// What a client asked of the SFU, or a peer leaving.
#[derive(Debug)]
pub(crate) enum Request {
    /// `media-description`, from a peer of `room`.
    Description { peer: String, room: String, name: String, description: Description },
    /// `media-candidate`.
    Candidate { peer: String, candidate: Candidate },
    /// `media-want`.
    Want { peer: String, tracks: Vec<TrackWant> },
    /// The peer left its room.
    Left { peer: String },
}

/// The hub's handle on its media task.
pub(crate) struct MediaLink {
    requests: mpsc::UnboundedSender<Request>,
    sfu: Arc<Sfu>,
}

impl MediaLink {
    pub(crate) fn sfu(&self) -> &Sfu {
        &self.sfu
    }

    pub(crate) fn request(&self, request: Request) {
        if self.requests.send(request).is_err() {
            log::error!("media: the SFU's task has stopped; a media request was dropped");
        }
    }
}

/// The media server's numbers, for `/healthz` and the benchmarks.
pub type MediaCounters = SfuCounters;

impl Hub {
    /// Lets rooms of this hub forward media through `sfu` (topology `sfu`): starts the task that
    /// carries `media-*` messages between clients and the SFU. Needs a tokio runtime.
    pub fn attach_sfu(&self, sfu: Sfu, events: mpsc::UnboundedReceiver<SfuEvent>) -> Result<(), super::HubError> {
        let sfu = Arc::new(sfu);
        let (requests, rx) = mpsc::unbounded_channel();
        self.inner
            .media
            .set(MediaLink { requests, sfu: sfu.clone() })
            .map_err(|_| super::HubError::MediaServerAttached)?;
        tokio::spawn(run(Arc::downgrade(&self.inner), sfu, rx, events));
        Ok(())
    }

    /// The SFU's counters, when one is attached.
    pub fn media_counters(&self) -> Option<MediaCounters> {
        self.inner.media.get().map(|m| m.sfu.counters())
    }

    /// The SFU's media port, when one is attached.
    pub fn media_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.media.get().map(|m| m.sfu.local_addr())
    }

    /// The SFU's ICE-TCP port (for networks that block UDP), when one is open.
    pub fn media_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.media.get().and_then(|m| m.sfu.tcp_addr())
    }

    /// The addresses the SFU offers now (empty without one).
    pub fn media_addresses(&self) -> Vec<std::net::IpAddr> {
        self.inner.media.get().map(|m| m.sfu.addresses()).unwrap_or_default()
    }

    /// Tells the SFU (when one is attached) the addresses to offer from now on: people who join
    /// (or restart ICE) after a LAN change get candidates that work.
    pub async fn set_media_addresses(&self, addresses: Vec<std::net::IpAddr>) -> Result<(), SfuError> {
        match self.inner.media.get() {
            Some(m) => m.sfu.set_addresses(addresses).await,
            None => Ok(()),
        }
    }
}

/// Where a peer stands with the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Its first offer is with the SFU.
    Adding,
    /// It is this participant.
    Joined(ParticipantId),
}

/// A reply from the SFU, for whom.
enum Done {
    Added { peer: String, room: String, result: Result<(ParticipantId, String), SfuError> },
    Answered { peer: String, result: Result<String, SfuError> },
    Accepted { peer: String, result: Result<(), SfuError> },
}

type Pending = Pin<Box<dyn Future<Output = Done> + Send>>;

struct Media {
    hub: Weak<Inner>,
    sfu: Arc<Sfu>,
    slots: HashMap<String, Slot>,
    peers: HashMap<ParticipantId, String>,
    pending: FuturesOrdered<Pending>,
    /// Each subscriber's last `media-want` (by peer id), applied again when it or a publisher
    /// it names becomes an SFU participant.
    wants: HashMap<String, Vec<TrackWant>>,
    /// Each SFU participant's room (the SFU keeps rooms apart).
    rooms: HashMap<ParticipantId, String>,
    /// An offer the SFU made to a participant whose addition we have not handled yet (it offers
    /// what the others publish right after answering): delivered after that answer.
    early_offers: HashMap<ParticipantId, String>,
}

async fn run(
    hub: Weak<Inner>,
    sfu: Arc<Sfu>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut events: mpsc::UnboundedReceiver<SfuEvent>,
) {
    let mut media =
        Media {
        hub,
        sfu,
        slots: HashMap::new(),
        peers: HashMap::new(),
        pending: FuturesOrdered::new(),
        wants: HashMap::new(),
        rooms: HashMap::new(),
        early_offers: HashMap::new(),
    };
    loop {
        tokio::select! {
            biased;
            Some(done) = media.pending.next(), if !media.pending.is_empty() => media.done(done),
            request = requests.recv() => match request {
                Some(request) => media.request(request),
                None => break, // the hub is gone
            },
            event = events.recv() => match event {
                Some(event) => media.event(event),
                None => {
                    log::error!("media: the SFU stopped; calls through this host have no media until it restarts");
                    break;
                }
            },
        }
    }
}

fn failed(message: String) -> Outgoing {
    Outgoing::from(ProtocolError::new(ErrorCode::MediaFailed, message).re("media-description").encode())
}

impl Media {
    /// Queues `text` for `peer`; false when the peer (or the whole hub) is gone.
    fn send(&self, peer: &str, text: Outgoing) -> bool {
        match self.hub.upgrade() {
            Some(inner) => Hub { inner }.send_to_peer(peer, text),
            None => false,
        }
    }

    fn description(&self, peer: &str, kind: &str, sdp: String) {
        let description = Description { kind: kind.to_owned(), sdp };
        let text = encode(&ServerMessage::MediaDescription { description: Cow::Owned(description) });
        self.send(peer, Outgoing::from(text));
    }

    fn forget(&mut self, peer: &str) -> Option<ParticipantId> {
        match self.slots.remove(peer) {
            Some(Slot::Joined(id)) => {
                self.peers.remove(&id);
                self.rooms.remove(&id);
                Some(id)
            }
            _ => None,
        }
    }

    fn remove(&self, id: ParticipantId) {
        let removing = self.sfu.remove_participant(id);
        tokio::spawn(async move {
            if let Err(e) = removing.await {
                log::debug!("media: removing {id}: {e}");
            }
        });
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Description { peer, room, name, description } => match (description.kind.as_str(), self.slots.get(&peer).copied()) {
                ("offer", None) => {
                    self.slots.insert(peer.clone(), Slot::Adding);
                    let adding = self.sfu.add_participant_named(&room, &peer, &name, &description.sdp);
                    self.pending.push_back(Box::pin(async move { Done::Added { peer, room, result: adding.await } }));
                }
                ("offer", Some(Slot::Adding)) => {
                    self.send(
                        &peer,
                        failed("Your first offer is still being answered: wait for the host's answer before offering again.".into()),
                    );
                }
                ("offer", Some(Slot::Joined(id))) => {
                    let answering = self.sfu.accept_offer(id, &description.sdp);
                    self.pending.push_back(Box::pin(async move { Done::Answered { peer, result: answering.await } }));
                }
                (_, Some(Slot::Joined(id))) => {
                    let accepting = self.sfu.accept_answer(id, &description.sdp);
                    self.pending.push_back(Box::pin(async move { Done::Accepted { peer, result: accepting.await } }));
                }
                (_, _) => {
                    self.send(&peer, failed("The host made no offer to answer: start with an offer of your own.".into()));
                }
            },
            Request::Candidate { peer, candidate } => {
                // Optional on a LAN (the SFU learns the address from the first ICE check), and
                // a browser's mDNS `.local` candidates cannot be read: dropped quietly.
                if let Some(Slot::Joined(id)) = self.slots.get(&peer).copied() {
                    let adding = self.sfu.add_remote_candidate(id, &candidate.candidate);
                    tokio::spawn(async move {
                        if let Err(e) = adding.await {
                            log::debug!("media: a candidate from {id} was not used: {e}");
                        }
                    });
                }
            }
            Request::Want { peer, tracks } => {
                self.wants.insert(peer.clone(), tracks);
                self.apply_wants(&peer, None);
            }
            Request::Left { peer } => {
                self.wants.remove(&peer);
                if let Some(id) = self.forget(&peer) {
                    self.remove(id);
                }
            }
        }
    }

    /// Tells the SFU what `subscriber` wants of each track it named (only those of `publisher`,
    /// when given), for the participants that are in the SFU now.
    fn apply_wants(&self, subscriber: &str, publisher: Option<&str>) {
        let Some(Slot::Joined(me)) = self.slots.get(subscriber).copied() else { return };
        for want in self.wants.get(subscriber).into_iter().flatten() {
            if publisher.is_some_and(|p| p != want.peer) {
                continue;
            }
            let Some(Slot::Joined(them)) = self.slots.get(&want.peer).copied() else { continue };
            let setting = self.sfu.set_wanted(me, them, &want.mid, want.height);
            tokio::spawn(async move {
                if let Err(e) = setting.await {
                    log::debug!("media: a wanted size for {me} was not set: {e}");
                }
            });
        }
    }

    fn done(&mut self, done: Done) {
        match done {
            Done::Added { peer, room, result: Ok((id, answer)) } => {
                if self.slots.get(&peer) != Some(&Slot::Adding) {
                    // It left while the SFU was adding it.
                    self.early_offers.remove(&id);
                    self.remove(id);
                    return;
                }
                self.slots.insert(peer.clone(), Slot::Joined(id));
                self.peers.insert(id, peer.clone());
                self.rooms.insert(id, room);
                log::debug!("media: peer {peer} is SFU participant {id}");
                // What it asked for before it was in, and what others asked of it.
                self.apply_wants(&peer, None);
                let subscribers: Vec<String> = self.wants.keys().filter(|s| **s != peer).cloned().collect();
                for subscriber in subscribers {
                    self.apply_wants(&subscriber, Some(&peer));
                }
                let description = Description { kind: "answer".into(), sdp: answer };
                let text = encode(&ServerMessage::MediaDescription { description: Cow::Owned(description) });
                if !self.send(&peer, Outgoing::from(text)) {
                    self.early_offers.remove(&id);
                    self.forget(&peer);
                    self.remove(id);
                    return;
                }
                if let Some(sdp) = self.early_offers.remove(&id) {
                    self.description(&peer, "offer", sdp);
                }
            }
            Done::Added { peer, result: Err(e), .. } => {
                if self.slots.get(&peer) == Some(&Slot::Adding) {
                    self.slots.remove(&peer);
                }
                log::info!("media: the SFU refused {peer}'s offer: {e}");
                self.send(&peer, failed(format!("The host could not use your offer ({e}). Make a new connection and offer again.")));
            }
            Done::Answered { peer, result: Ok(answer) } => self.description(&peer, "answer", answer),
            Done::Answered { peer, result: Err(e) } | Done::Accepted { peer, result: Err(e) } => {
                log::info!("media: the SFU refused a description from {peer}: {e}");
                // A refused description ends the participant's session in the SFU: start over.
                if let Some(id) = self.forget(&peer) {
                    self.remove(id);
                }
                self.send(&peer, failed(format!("The host could not use your description ({e}). Make a new connection and offer again.")));
            }
            Done::Accepted { result: Ok(()), .. } => {}
        }
    }

    fn event(&mut self, event: SfuEvent) {
        match event {
            SfuEvent::Offer { participant, sdp } => {
                if let Some(peer) = self.peers.get(&participant).cloned() {
                    self.description(&peer, "offer", sdp);
                } else if self.slots.values().any(|s| *s == Slot::Adding) {
                    // Its addition's reply is still on its way: the answer goes first.
                    self.early_offers.insert(participant, sdp);
                }
            }
            SfuEvent::Gone { participant, reason } => {
                self.early_offers.remove(&participant);
                if let Some(peer) = self.peers.remove(&participant) {
                    self.slots.remove(&peer);
                    self.rooms.remove(&participant);
                    log::info!("media: {peer}'s connection to the SFU ended: {reason}");
                    self.send(&peer, failed(format!("Your media connection to the host ended ({reason}). Make a new one.")));
                }
            }
            SfuEvent::Connected { participant } => log::debug!("media: {participant} connected"),
            SfuEvent::Speakers { room, loudest } => {
                // Everyone of that room in the SFU hears who speaks there.
                let peers: Vec<Cow<'_, str>> =
                    loudest.iter().filter_map(|id| self.peers.get(id)).map(|p| Cow::Borrowed(p.as_str())).collect();
                let text = Outgoing::from(encode(&ServerMessage::Speakers { peers }));
                for (id, peer) in &self.peers {
                    if self.rooms.get(id) == Some(&room) {
                        self.send(peer, text.clone());
                    }
                }
            }
            SfuEvent::LayersWanted { participant, mid, rids } => {
                if let Some(peer) = self.peers.get(&participant) {
                    let rids = rids.iter().map(|r| Cow::Borrowed(r.as_str())).collect();
                    let text = encode(&ServerMessage::MediaLayers { mid: Cow::Borrowed(&mid), rids });
                    self.send(peer, Outgoing::from(text));
                }
            }
            SfuEvent::RecordingStopped { room, files, error } => {
                if let Some(inner) = self.hub.upgrade() {
                    Hub { inner }.recording_ended(&room, files, Some(error));
                }
            }
            SfuEvent::MediaAdded { participant, kind, mid, rids } => {
                log::debug!("media: {participant} publishes {kind:?} {mid} (layers {rids:?})")
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}
