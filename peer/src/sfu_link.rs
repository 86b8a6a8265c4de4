//! The one connection to the host's selective forwarding unit (SFU), in a room whose topology is
//! `sfu` (docs/PROTOCOL.md, "media-description"): ui/js/lib/sfu-link.js in Rust, over a
//! [`BridgePc`].
//!
//! It publishes the microphone (audio, `sendonly`) and the camera (video, `sendonly`, one layer)
//! and receives every other participant's tracks, told apart
//! by their msid (`PEER-ID PEER-ID-MID`: the publisher's peer id is the owner, the part after the
//! last `-` of the track id the publisher's own mid). Negotiation is perfect negotiation with this
//! side impolite: an SFU offer that arrives while our offer is out is ignored (the SFU drops it
//! and offers again after answering ours). As in [`crate::connection`], the link is an actor
//! handling one thing at a time, so an offer is made and sent within one step.
//!
//! One layer, not simulcast: webrtc-rs 0.21 can send simulcast (`RTCRtpTransceiverInit`'s
//! `send_encodings` with rids; the `rtc` crate's `simulcast_bidirection` example), but
//! [`BridgePc`] gives each transceiver one sample track fed by one [`LocalMedia`] encoder; two
//! layers would need an encoding per rid and a second encoder (or a second pre-encoded loop).
//!
//! A connection that is `failed`, or that cannot apply a description, reports
//! [`SfuLinkEvent::Failed`]: the owner ([`crate::Call`]) then makes a new one, as it does when
//! the hub says `media-failed`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_protocol::hub::ClientMessage;
use lancall_protocol::sync::lock;
use tokio::sync::{mpsc, oneshot};

use crate::bridge::{BridgeEvent, BridgePc, Snapshot};
use crate::connection::{LinkConfig, LinkStats, DISCONNECTED_RESTART};
use crate::error::PeerError;
use crate::link_stats::StatsRates;
use crate::media::{LocalMedia, MediaKind, RemoteFrame};
use crate::messages::Description;

/// A received track's publisher: its peer id and its own mid of the track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOwner {
    /// The publisher's peer id (the msid stream id).
    pub peer: String,
    /// The publisher's mid of the track (`state.screenMid` names its screen by it).
    pub mid: String,
}

/// Where the frames the SFU forwards go, with their publisher. Called on the connection's
/// receive task: keep it quick.
pub type OwnedFrameSink = Arc<dyn Fn(&TrackOwner, RemoteFrame) + Send + Sync>;

/// What an [`SfuLink`] reports to its owner.
#[derive(Debug)]
pub enum SfuLinkEvent {
    /// A `media-description` or `media-candidate` to send to the hub.
    Hub(ClientMessage),
    /// `connectionState` changed.
    Connection(&'static str),
    /// A forwarded track started (its first packet).
    Track {
        /// Whose it is.
        owner: TrackOwner,
        /// Audio or video.
        kind: MediaKind,
    },
    /// The connection cannot go on (failed, or a description could not be applied): make a new
    /// one. The sentence says why.
    Failed(String),
}

/// Each media section's mid and msid in an SDP (sfu-link.js `msidByMid`): mid -> owner.
/// Sections without an msid of two parts are left out.
pub fn owners_by_mid(sdp: &str) -> HashMap<String, TrackOwner> {
    let mut out = HashMap::new();
    for section in sdp.split("\nm=").skip(1) {
        let line = |prefix: &str| {
            section
                .lines()
                .find_map(|l| l.trim_end().strip_prefix(prefix).map(str::trim))
        };
        let (Some(mid), Some(msid)) = (line("a=mid:"), line("a=msid:")) else {
            continue;
        };
        let mut parts = msid.split_whitespace();
        let (Some(stream), Some(track)) = (parts.next(), parts.next()) else {
            continue;
        };
        let pub_mid = track
            .strip_prefix(stream)
            .and_then(|t| t.strip_prefix('-'))
            .unwrap_or(track);
        out.insert(
            mid.to_owned(),
            TrackOwner {
                peer: stream.to_owned(),
                mid: pub_mid.to_owned(),
            },
        );
    }
    out
}

enum Input {
    Description(Description),
    Bridge(BridgeEvent),
    /// The 2.5 s after `disconnected` are over (checked against the current state).
    DisconnectedTimeout,
    Stats(oneshot::Sender<Vec<(String, LinkStats)>>),
    Close(oneshot::Sender<()>),
}

/// Which transceiver carries which publisher's track, shared with the frame sink.
type Routes = Arc<Mutex<HashMap<usize, TrackOwner>>>;

/// Handle to the connection to the SFU. Dropping every handle closes it.
#[derive(Clone)]
pub struct SfuLink {
    inbox: mpsc::UnboundedSender<Input>,
}

impl SfuLink {
    /// Makes the connection and lays it out (microphone and camera from `media`, both
    /// `sendonly`): its offer comes out as an [`SfuLinkEvent::Hub`]. Forwarded frames go to
    /// `sink` with their owner.
    pub async fn new(
        config: &LinkConfig,
        media: Arc<LocalMedia>,
        sink: OwnedFrameSink,
        events: mpsc::UnboundedSender<SfuLinkEvent>,
    ) -> Result<SfuLink, PeerError> {
        let (inbox, rx) = mpsc::unbounded_channel();
        let to_actor = inbox.clone();
        let routes: Routes = Arc::default();
        let frame_routes = routes.clone();
        let pc = BridgePc::new(
            config,
            Arc::new(move |event| drop(to_actor.send(Input::Bridge(event)))),
            Arc::new(move |frame: RemoteFrame| {
                let owner = lock(&frame_routes).get(&frame.transceiver).cloned();
                if let Some(owner) = owner {
                    sink(&owner, frame);
                }
            }),
        )
        .await?;
        let mut main = (None, None);
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let t = pc.add_transceiver(kind, "sendonly", Some(media.clone())).await?;
            match kind {
                MediaKind::Audio => main.0 = Some(t.index),
                MediaKind::Video => main.1 = Some(t.index),
            }
        }
        let actor = Actor {
            pc,
            events,
            inbox: inbox.clone(),
            routes,
            owners: HashMap::new(),
            signaling: "stable",
            connection: "new",
            own: main,
            closed: false,
            rates: StatsRates::default(),
        };
        tokio::spawn(actor.run(rx));
        Ok(SfuLink { inbox })
    }

    /// A `media-description` from the hub (the SFU's answer, or its own offer).
    pub fn description(&self, description: Description) {
        let _ = self.inbox.send(Input::Description(description));
    }

    /// Stats of what each publisher sends us (and of what we send), by publisher peer id.
    pub async fn stats(&self) -> Vec<(String, LinkStats)> {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Input::Stats(tx)).is_err() {
            return vec![];
        }
        rx.await.unwrap_or_default()
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
    pc: BridgePc,
    events: mpsc::UnboundedSender<SfuLinkEvent>,
    inbox: mpsc::UnboundedSender<Input>,
    routes: Routes,
    /// What the SFU's descriptions said of each mid.
    owners: HashMap<String, TrackOwner>,
    signaling: &'static str,
    connection: &'static str,
    /// Our microphone's and camera's transceivers.
    own: (Option<usize>, Option<usize>),
    closed: bool,
    rates: StatsRates,
}

impl Actor {
    fn emit(&self, event: SfuLinkEvent) {
        let _ = self.events.send(event);
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        while let Some(input) = rx.recv().await {
            let stop = matches!(input, Input::Close(_));
            self.handle(input).await;
            if stop {
                break;
            }
        }
        if !self.closed {
            self.closed = true;
            self.pc.close().await;
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Close(done) => {
                self.closed = true;
                self.pc.close().await;
                let _ = done.send(());
            }
            Input::Stats(done) => {
                let _ = done.send(self.stats().await);
            }
            _ if self.closed => {}
            Input::Description(d) => {
                if let Err(e) = self.on_description(d).await {
                    self.fail(format!("a description from the host's SFU could not be applied: {e}"));
                }
            }
            Input::Bridge(event) => self.on_bridge_event(event).await,
            Input::DisconnectedTimeout => {
                if self.connection == "disconnected" {
                    if let Err(e) = self.pc.restart_ice().await {
                        log::warn!("SFU link: ICE restart failed: {e}");
                    }
                }
            }
        }
    }

    fn fail(&mut self, why: String) {
        log::warn!("SFU link: {why}");
        self.emit(SfuLinkEvent::Failed(why));
    }

    async fn on_bridge_event(&mut self, event: BridgeEvent) {
        match event {
            BridgeEvent::NegotiationNeeded => self.offer().await,
            BridgeEvent::IceCandidate { candidate } => {
                self.emit(SfuLinkEvent::Hub(ClientMessage::MediaCandidate { candidate }))
            }
            BridgeEvent::ConnectionState { state } => {
                self.connection = state;
                self.emit(SfuLinkEvent::Connection(state));
                match state {
                    "failed" => self.fail("the connection to the host's SFU failed".into()),
                    "disconnected" => {
                        let inbox = self.inbox.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(DISCONNECTED_RESTART).await;
                            let _ = inbox.send(Input::DisconnectedTimeout);
                        });
                    }
                    _ => {}
                }
            }
            BridgeEvent::Track { transceiver, kind } => {
                let owner = lock(&self.routes).get(&transceiver).cloned();
                match owner {
                    Some(owner) => self.emit(SfuLinkEvent::Track { owner, kind }),
                    None => log::debug!("SFU link: a {} track on transceiver {transceiver} with no owner", kind.as_str()),
                }
            }
            // The SFU opens no data channels (chat goes through the hub).
            BridgeEvent::DataChannel { channel, .. } => self.pc.channel_close(channel).await,
            BridgeEvent::IceConnectionState { .. }
            | BridgeEvent::ChannelOpen { .. }
            | BridgeEvent::ChannelClose { .. }
            | BridgeEvent::ChannelMessage { .. }
            | BridgeEvent::ChannelBytes { .. } => {}
        }
    }

    async fn offer(&mut self) {
        match self.pc.set_local_description(false).await {
            Ok(snapshot) => self.send_local(snapshot),
            Err(e) => self.fail(format!("could not make an offer to the host's SFU: {e}")),
        }
    }

    fn send_local(&mut self, snapshot: Snapshot) {
        self.signaling = snapshot.signaling_state;
        self.learn(&snapshot);
        if let Some(description) = snapshot.local_description {
            self.emit(SfuLinkEvent::Hub(ClientMessage::MediaDescription { description }));
        }
    }

    async fn on_description(&mut self, d: Description) -> Result<(), PeerError> {
        match d.kind.as_str() {
            "offer" => {
                // The SFU is polite: while our offer is out it drops its own and offers again.
                if self.signaling != "stable" {
                    log::debug!("SFU link: ignoring the SFU's offer while ours is out");
                    return Ok(());
                }
                self.owners.extend(owners_by_mid(&d.sdp));
                let snapshot = self.pc.set_remote_description(d).await?;
                self.learn(&snapshot);
                let answer = self.pc.set_local_description(false).await?;
                self.send_local(answer);
            }
            "answer" => {
                if self.signaling != "have-local-offer" {
                    log::debug!("SFU link: an answer with no offer out, ignored");
                    return Ok(());
                }
                self.owners.extend(owners_by_mid(&d.sdp));
                let snapshot = self.pc.set_remote_description(d).await?;
                self.signaling = snapshot.signaling_state;
                self.learn(&snapshot);
            }
            other => log::debug!("SFU link: a description of type {other:?}, ignored"),
        }
        Ok(())
    }

    /// Which transceiver carries whose track, from the descriptions seen so far.
    fn learn(&self, snapshot: &Snapshot) {
        let mut routes = lock(&self.routes);
        for t in &snapshot.transceivers {
            if Some(t.index) == self.own.0 || Some(t.index) == self.own.1 {
                continue;
            }
            if let Some(owner) = t.mid.as_ref().and_then(|m| self.owners.get(m)) {
                routes.insert(t.index, owner.clone());
            }
        }
    }

    /// One [`LinkStats`] per publisher: its first audio and video transceivers.
    async fn stats(&mut self) -> Vec<(String, LinkStats)> {
        let entries = self.pc.stats().await;
        let mut by_owner: HashMap<String, (Option<usize>, Option<usize>)> = HashMap::new();
        let kinds: HashMap<usize, MediaKind> = self
            .pc
            .transceivers()
            .await
            .into_iter()
            .map(|t| (t.index, t.kind))
            .collect();
        let mut routes: Vec<(usize, TrackOwner)> =
            lock(&self.routes).iter().map(|(i, o)| (*i, o.clone())).collect();
        routes.sort_by_key(|(i, _)| *i);
        for (index, owner) in routes {
            let slot = by_owner.entry(owner.peer).or_default();
            match kinds.get(&index) {
                Some(MediaKind::Audio) if slot.0.is_none() => slot.0 = Some(index),
                Some(MediaKind::Video) if slot.1.is_none() => slot.1 = Some(index),
                _ => {}
            }
        }
        let now = Instant::now();
        let mut out: Vec<(String, LinkStats)> = by_owner
            .into_iter()
            .map(|(peer, (audio, video))| {
                let mut s = LinkStats::from_w3c(&entries, audio, video);
                s.connection = self.connection.to_owned();
                (peer, s)
            })
            .collect();
        // Our outgoing numbers are the same for every publisher; rates from one clock.
        let mut own = LinkStats::from_w3c(&entries, self.own.0, self.own.1);
        self.rates.fill(&mut own, now);
        for (_, s) in &mut out {
            s.audio_out = own.audio_out.clone();
            s.video_out = own.video_out.clone();
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_tracks_are_owned_by_their_msid_stream_and_named_by_the_publishers_mid() {
        let sdp = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=msid:c04d c04d-1\r\na=sendonly\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:3\r\na=msid:5b1e 5b1e-0\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\na=msid:odd\r\n";
        let owners = owners_by_mid(sdp);
        assert_eq!(owners.len(), 2);
        assert_eq!(owners["2"], TrackOwner { peer: "c04d".into(), mid: "1".into() });
        assert_eq!(owners["3"], TrackOwner { peer: "5b1e".into(), mid: "0".into() });
    }
}
