//! One peer connection to one remote participant, negotiated exactly like ui/js/lib/call.js does:
//! W3C "perfect negotiation" (politeness by session), the impolite side laying out microphone
//! (audio, sendrecv), camera (video, sendrecv) and the data channel `lancall`, trickle ICE, and
//! ICE restarts while the path is down.
//!
//! Each [`PeerLink`] is an actor: one task owns the `RTCPeerConnection` and handles, in order,
//! what arrives from the remote (descriptions, candidates), from the WebRTC stack (negotiation
//! needed, candidates, state changes, tracks, the data channel) and from the owner (chat, bye,
//! stats, close). Handling one thing at a time is what `r.chain` gives the web client; it makes
//! the perfect-negotiation flags trivially consistent. The webrtc-rs toolkit it stands on
//! (building the connection, SDP and the DTLS role, stats, receiving media) is in `crate::stack`,
//! shared with [`crate::bridge::BridgePc`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionIceEvent, RTCPeerConnectionState};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

use crate::codec::vp8_keyframe_size;
use crate::error::PeerError;
use crate::media::{EncodedSample, FrameSink, LinkId, LocalMedia, MediaKind, TrackRole};
use crate::messages::{ChannelMessage, Description, PeerMessage};
pub use crate::stack::engine::{IceServer, LinkConfig};
use crate::stack::engine::{
    build_peer_connection, negotiated_pt, new_local_track, state_name, StackEvent, StackHandler,
    NO_PT,
};
use crate::stack::rtp::receive_media;
use crate::stack::sdp::{candidate_init, description_from, signalled_candidate, SetupRole};
use crate::stack::stats::{path_stats, Counter};

/// A connection that stays `disconnected` this long gets an ICE restart (as in call.js).
pub const DISCONNECTED_RESTART: Duration = Duration::from_millis(2_500);
/// While a connection is not back, ICE is restarted again this often (as in call.js).
pub const RESTART_RETRY: Duration = Duration::from_secs(8);
/// The data channel's label (docs/PROTOCOL.md).
pub const CHANNEL_LABEL: &str = "lancall";

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
    /// The remote said `bye` on the data channel.
    Bye,
}

/// Live numbers of one connection, from our own counters and the WebRTC stack's stats.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkStats {
    /// `connectionState`.
    pub connection: String,
    /// Local candidate type of the selected pair (`host` on a LAN).
    pub local_candidate_type: Option<String>,
    /// Remote candidate type of the selected pair.
    pub remote_candidate_type: Option<String>,
    /// ICE round-trip time of the selected pair, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Video we receive.
    pub video_in: StreamStats,
    /// Audio we receive.
    pub audio_in: StreamStats,
    /// Video we send.
    pub video_out: StreamStats,
    /// Audio we send.
    pub audio_out: StreamStats,
}

/// One direction of one kind of media.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    /// `video/VP8`, `audio/opus`.
    pub codec: Option<String>,
    /// Frames (video) or packets (audio), total.
    pub frames: u64,
    /// Payload bytes, total.
    pub bytes: u64,
    /// Frames per second since the previous stats call.
    pub fps: f64,
    /// Kilobits per second since the previous stats call.
    pub kbps: f64,
    /// Last picture size seen in a keyframe (video).
    pub width: u32,
    /// Last picture size seen in a keyframe (video).
    pub height: u32,
    /// RTP packets lost (inbound: as we counted; outbound: as the remote reported).
    pub packets_lost: i64,
}

/// State shared between the actor and the send/receive tasks.
struct Shared {
    id: LinkId,
    /// Per kind: negotiated payload type (u32::MAX = not yet) for our sender.
    video_pt: AtomicU32,
    audio_pt: AtomicU32,
    video_in: Counter,
    audio_in: Counter,
    video_out: Counter,
    audio_out: Counter,
    media: Arc<LocalMedia>,
    /// DTLS is up: writing before that only makes the stack log errors.
    connected: std::sync::atomic::AtomicBool,
}

/// Our two outgoing tracks on one connection.
struct LocalTracks {
    audio: Arc<TrackLocalStaticSample>,
    audio_ssrc: u32,
    video: Arc<TrackLocalStaticSample>,
    video_ssrc: u32,
    stream_id: String,
}

enum Input {
    Remote(PeerMessage),
    Chat(String, oneshot::Sender<bool>),
    Bye(oneshot::Sender<()>),
    Stats(oneshot::Sender<LinkStats>),
    Close(oneshot::Sender<()>),
    /// From the WebRTC stack.
    Stack(StackEvent),
    ChannelOpen(u64),
    ChannelClosed(u64),
    ChannelText(u64, String),
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

impl PeerLink {
    /// Makes the connection. The impolite side (`polite == false`) lays it out at once, which
    /// fires negotiation: its offer comes out as a [`LinkEvent::Signal`]. Events go to `events`
    /// tagged with `id`; remote frames go to `sink`.
    pub async fn new(
        id: LinkId,
        polite: bool,
        config: &LinkConfig,
        media: Arc<LocalMedia>,
        sink: FrameSink,
        events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    ) -> Result<PeerLink, PeerError> {
        let (inbox, rx) = mpsc::unbounded_channel();
        let pc =
            build_peer_connection(config, StackHandler::new(inbox.clone(), Input::Stack)).await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let shared = Arc::new(Shared {
            id,
            video_pt: AtomicU32::new(NO_PT),
            audio_pt: AtomicU32::new(NO_PT),
            video_in: Counter::default(),
            audio_in: Counter::default(),
            video_out: Counter::default(),
            audio_out: Counter::default(),
            media,
            connected: std::sync::atomic::AtomicBool::new(false),
        });
        let tracks = Arc::new(make_local_tracks(id)?);
        let mut actor = Actor {
            shared: shared.clone(),
            pc: pc.clone(),
            polite,
            events,
            sink,
            inbox: inbox.clone(),
            tracks: tracks.clone(),
            tracks_attached: false,
            senders: HashMap::new(),
            ignore_offer: false,
            pending_negotiation: false,
            channel: None,
            channel_seq: 0,
            channel_open: false,
            connection: "new",
            restart_at: None,
            restart_retry_at: None,
            closed: false,
            stats_prev: None,
            seen_tracks: Vec::new(),
            setup: SetupRole::default(),
        };
        if !polite {
            actor.lay_out().await?;
        }
        tokio::spawn(send_media(shared.clone(), tracks, pc.clone()));
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

fn make_local_tracks(id: LinkId) -> Result<LocalTracks, PeerError> {
    let stream_id = format!("lancall-native-{}", crate::messages::random_id());
    let make = |kind: MediaKind| {
        new_local_track(
            &stream_id,
            format!("{stream_id}-{}-{id}", kind.as_str()),
            kind,
        )
    };
    let (audio, audio_ssrc) = make(MediaKind::Audio)?;
    let (video, video_ssrc) = make(MediaKind::Video)?;
    Ok(LocalTracks {
        audio,
        audio_ssrc,
        video,
        video_ssrc,
        stream_id,
    })
}

struct Actor {
    shared: Arc<Shared>,
    pc: Arc<dyn PeerConnection>,
    polite: bool,
    events: mpsc::UnboundedSender<(LinkId, LinkEvent)>,
    sink: FrameSink,
    inbox: mpsc::UnboundedSender<Input>,
    tracks: Arc<LocalTracks>,
    /// Our tracks are on the main transceivers (impolite: from the start; polite: from the first
    /// offer on).
    tracks_attached: bool,
    senders: HashMap<MediaKind, Arc<dyn RtpSender>>,
    ignore_offer: bool,
    /// Negotiation was needed while not stable: offer once stable again.
    pending_negotiation: bool,
    channel: Option<Arc<dyn DataChannel>>,
    channel_seq: u64,
    channel_open: bool,
    connection: &'static str,
    restart_at: Option<tokio::time::Instant>,
    restart_retry_at: Option<tokio::time::Instant>,
    closed: bool,
    stats_prev: Option<(Instant, [(u64, u64); 4])>,
    seen_tracks: Vec<String>,
    /// The DTLS role our answers must say.
    setup: SetupRole,
}

impl Actor {
    fn emit(&self, event: LinkEvent) {
        let _ = self.events.send((self.shared.id, event));
    }

    /// The impolite side's layout: microphone, camera, data channel (call.js `addRemote`).
    async fn lay_out(&mut self) -> Result<(), PeerError> {
        for (kind, track) in [
            (MediaKind::Audio, self.tracks.audio.clone()),
            (MediaKind::Video, self.tracks.video.clone()),
        ] {
            let t = self
                .pc
                .add_transceiver_from_track(
                    track as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendrecv,
                        streams: vec![self.tracks.stream_id.clone()],
                        send_encodings: vec![],
                    }),
                )
                .await?;
            if let Ok(Some(sender)) = t.sender().await {
                self.senders.insert(kind, sender);
            }
        }
        self.tracks_attached = true;
        self.watch_keyframe_requests();
        let channel = self
            .pc
            .create_data_channel(
                CHANNEL_LABEL,
                Some(rtc::data_channel::RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                }),
            )
            .await?;
        self.attach_channel(channel);
        Ok(())
    }

    fn attach_channel(&mut self, channel: Arc<dyn DataChannel>) {
        self.channel_seq += 1;
        let seq = self.channel_seq;
        self.channel = Some(channel.clone());
        self.channel_open = false;
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            while let Some(ev) = channel.poll().await {
                let input = match ev {
                    DataChannelEvent::OnOpen => Input::ChannelOpen(seq),
                    DataChannelEvent::OnClose => Input::ChannelClosed(seq),
                    DataChannelEvent::OnMessage(m) if m.is_string => {
                        match String::from_utf8(m.data.to_vec()) {
                            Ok(text) => Input::ChannelText(seq, text),
                            Err(_) => continue,
                        }
                    }
                    _ => continue,
                };
                let last = matches!(input, Input::ChannelClosed(_));
                if inbox.send(input).is_err() || last {
                    break;
                }
            }
        });
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
            let _ = self.pc.close().await;
        }
    }

    async fn handle(&mut self, input: Input) {
        if self.closed {
            match input {
                Input::Close(done) => {
                    let _ = done.send(());
                }
                Input::Chat(_, done) => {
                    let _ = done.send(false);
                }
                Input::Bye(done) => {
                    let _ = done.send(());
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
                    log::warn!("link {}: negotiation failed: {e}", self.shared.id);
                }
            }
            Input::Remote(PeerMessage::Candidate(Some(c))) => {
                if let Err(e) = self.pc.add_ice_candidate(candidate_init(c)).await {
                    if !self.ignore_offer {
                        log::debug!("link {}: ICE candidate not added: {e}", self.shared.id);
                    }
                }
            }
            Input::Remote(_) => {}
            Input::Stack(StackEvent::NegotiationNeeded) => self.on_negotiation_needed().await,
            Input::Stack(StackEvent::Candidate(ev)) => self.on_local_candidate(ev).await,
            Input::Stack(StackEvent::Connection(s)) => self.on_connection_state(s).await,
            Input::Stack(StackEvent::Ice(_)) => {}
            Input::Stack(StackEvent::Track(track)) => self.on_track(track).await,
            Input::Stack(StackEvent::Channel(ch)) => {
                // The impolite side made it; we are the polite side (or a renegotiated one).
                let label = ch.label().await.unwrap_or_default();
                if label == CHANNEL_LABEL {
                    self.attach_channel(ch);
                }
            }
            Input::ChannelOpen(seq) if seq == self.channel_seq => {
                self.channel_open = true;
                self.emit(LinkEvent::ChannelOpen);
            }
            Input::ChannelClosed(seq) if seq == self.channel_seq => {
                self.channel_open = false;
                self.emit(LinkEvent::ChannelClosed);
            }
            Input::ChannelText(seq, text) if seq == self.channel_seq => {
                match ChannelMessage::parse(&text) {
                    Some(ChannelMessage::Chat { text, at }) => {
                        self.emit(LinkEvent::Chat { text, at })
                    }
                    Some(ChannelMessage::Bye) => self.emit(LinkEvent::Bye),
                    None => {}
                }
            }
            Input::ChannelOpen(_) | Input::ChannelClosed(_) | Input::ChannelText(..) => {}
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
                let s = self.stats().await;
                let _ = done.send(s);
            }
            Input::RestartIce => self.restart_ice().await,
            Input::Close(done) => {
                self.closed = true;
                if let Some(ch) = &self.channel {
                    let _ = ch.close().await;
                }
                let _ = self.pc.close().await;
                self.emit(LinkEvent::Connection("closed"));
                let _ = done.send(());
            }
        }
    }

    async fn send_channel(&self, msg: &ChannelMessage) -> bool {
        match (&self.channel, self.channel_open) {
            (Some(ch), true) => ch.send_text(&msg.to_text()).await.is_ok(),
            _ => false,
        }
    }

    async fn is_stable(&self) -> bool {
        self.pc.pending_local_description().await.is_none()
            && self.pc.pending_remote_description().await.is_none()
    }

    async fn on_negotiation_needed(&mut self) {
        if !self.is_stable().await {
            self.pending_negotiation = true;
            return;
        }
        self.pending_negotiation = false;
        let result: Result<(), PeerError> = async {
            let offer = self.pc.create_offer(None).await?;
            self.pc.set_local_description(offer).await?;
            self.send_local_description().await;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            log::warn!("link {}: could not make an offer: {e}", self.shared.id);
        }
    }

    async fn send_local_description(&self) {
        if let Some(desc) = self.pc.local_description().await {
            self.emit(LinkEvent::Signal(PeerMessage::Description(
                self.setup.signalled(desc),
            )));
        }
    }

    /// call.js `handleNegotiation` for a description.
    async fn on_description(&mut self, d: Description) -> Result<(), PeerError> {
        let is_offer = d.kind == "offer";
        let stable = self.is_stable().await;
        let have_local_offer = self.pc.pending_local_description().await.is_some();
        let collision = is_offer && !stable;
        self.ignore_offer = !self.polite && collision;
        if self.ignore_offer {
            log::debug!(
                "link {}: ignoring a colliding offer (impolite)",
                self.shared.id
            );
            return Ok(());
        }
        if collision && have_local_offer {
            // Polite: roll our offer back and take theirs (browsers do this implicitly).
            self.pc
                .set_local_description(description_from("rollback", String::new())?)
                .await?;
        }
        self.pc
            .set_remote_description(description_from(&d.kind, d.sdp)?)
            .await?;
        if is_offer {
            self.take_main_transceivers().await;
            self.setup.answer(self.pc.as_ref()).await?;
            self.send_local_description().await;
        }
        if self.is_stable().await {
            self.refresh_payload_types().await;
            if self.pending_negotiation {
                let _ = self.inbox.send(Input::Stack(StackEvent::NegotiationNeeded));
            }
        }
        Ok(())
    }

    /// The polite side answers the first offer with its own microphone and camera on the first
    /// audio and video transceivers (addTrack re-uses a remote-made transceiver of that kind).
    async fn take_main_transceivers(&mut self) {
        if self.tracks_attached {
            return;
        }
        for (kind, track) in [
            (MediaKind::Audio, self.tracks.audio.clone()),
            (MediaKind::Video, self.tracks.video.clone()),
        ] {
            match self.pc.add_track(track as Arc<dyn TrackLocal>).await {
                Ok(sender) => {
                    let _ = sender
                        .set_streams(vec![self.tracks.stream_id.clone()])
                        .await;
                    self.senders.insert(kind, sender);
                }
                Err(e) => log::warn!(
                    "link {}: could not attach our {} track: {e}",
                    self.shared.id,
                    kind.as_str()
                ),
            }
        }
        self.tracks_attached = true;
        self.watch_keyframe_requests();
    }

    /// Keyframe requests about our video (see crate::keyframe) make the next picture a keyframe.
    /// Started once the track is bound: `poll` ends at once on an unbound track.
    fn watch_keyframe_requests(&self) {
        let (track, media) = (self.tracks.video.clone(), self.shared.media.clone());
        tokio::spawn(async move {
            while let Some(ev) = track.poll().await {
                if let webrtc::media_stream::track_local::TrackLocalEvent::OnRtcpPacket(_) = ev {
                    log::debug!("keyframe requested");
                    media.request_keyframe();
                }
            }
        });
    }

    /// `write_sample` stamps each packet with the payload type; read the negotiated one.
    async fn refresh_payload_types(&mut self) {
        for (kind, sender) in &self.senders {
            let Some(pt) = negotiated_pt(sender, *kind).await else {
                continue;
            };
            let slot = match kind {
                MediaKind::Audio => &self.shared.audio_pt,
                MediaKind::Video => &self.shared.video_pt,
            };
            if slot.swap(pt, Ordering::Relaxed) != pt && *kind == MediaKind::Video {
                self.shared.media.request_keyframe();
            }
        }
    }

    async fn on_local_candidate(&mut self, ev: RTCPeerConnectionIceEvent) {
        if let Some(c) = signalled_candidate(self.pc.as_ref(), &ev).await {
            self.emit(LinkEvent::Signal(PeerMessage::Candidate(Some(c))));
        }
    }

    async fn on_connection_state(&mut self, s: RTCPeerConnectionState) {
        let name = state_name(s);
        self.connection = name;
        self.restart_at = None;
        self.shared
            .connected
            .store(s == RTCPeerConnectionState::Connected, Ordering::Relaxed);
        match s {
            RTCPeerConnectionState::Connected => {
                self.restart_retry_at = None;
                self.shared.media.request_keyframe();
            }
            RTCPeerConnectionState::Failed => self.restart_ice().await,
            RTCPeerConnectionState::Disconnected => {
                self.restart_at = Some(tokio::time::Instant::now() + DISCONNECTED_RESTART);
            }
            _ => {}
        }
        self.emit(LinkEvent::Connection(name));
    }

    /// call.js `restartIce`: unless connected, ask for new candidates on both sides (our next
    /// offer carries new credentials), and again every 8 s until the path is back.
    async fn restart_ice(&mut self) {
        if self.connection == "connected" || self.connection == "new" {
            return;
        }
        log::info!(
            "link {}: restarting ICE ({})",
            self.shared.id,
            self.connection
        );
        if let Err(e) = self.pc.restart_ice().await {
            log::warn!("link {}: ICE restart failed: {e}", self.shared.id);
        }
        self.restart_retry_at = Some(tokio::time::Instant::now() + RESTART_RETRY);
        // Unlike a browser's restartIce(), the webrtc crate only marks the next offer: make it.
        self.on_negotiation_needed().await;
    }

    async fn on_track(&mut self, track: Arc<dyn TrackRemote>) {
        let track_id = track.track_id().await;
        if self.seen_tracks.contains(&track_id) {
            return;
        }
        self.seen_tracks.push(track_id.clone());
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            _ => MediaKind::Video,
        };
        // Its place among the transceivers of its kind: the first is the main one.
        let mut role = TrackRole::Main;
        let mut index_of_kind = 0usize;
        // In the order they were made (the crate lists them in hash order; ids are places).
        let mut transceivers = self.pc.get_transceivers().await;
        transceivers.sort_by_key(|t| t.id());
        for t in transceivers {
            let Ok(Some(receiver)) = t.receiver().await else {
                continue;
            };
            let rk = receiver.track().kind().await;
            if (rk == RtpCodecKind::Audio) != (kind == MediaKind::Audio) {
                continue;
            }
            if receiver.track().track_id().await == track_id {
                role = if index_of_kind == 0 {
                    TrackRole::Main
                } else {
                    TrackRole::Screen
                };
                break;
            }
            index_of_kind += 1;
        }
        self.emit(LinkEvent::Track { kind, role });
        let shared = self.shared.clone();
        tokio::spawn(receive_media(
            track,
            self.shared.id,
            kind,
            role,
            self.sink.clone(),
            move |bytes, size| {
                // The stats count the camera and microphone, not a shared screen.
                if role == TrackRole::Main {
                    match kind {
                        MediaKind::Audio => shared.audio_in.add(bytes, size),
                        MediaKind::Video => shared.video_in.add(bytes, size),
                    }
                }
            },
        ));
    }

    async fn stats(&mut self) -> LinkStats {
        let report = self
            .pc
            .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
            .await;
        let mut out = LinkStats {
            connection: self.connection.to_owned(),
            ..Default::default()
        };
        let path = path_stats(&report);
        out.rtt_ms = path.rtt_s.map(|s| s * 1000.0);
        let lost = |m: &HashMap<MediaKind, i64>, k| m.get(&k).copied().unwrap_or(0);
        out.video_in.packets_lost = lost(&path.lost_in, MediaKind::Video);
        out.audio_in.packets_lost = lost(&path.lost_in, MediaKind::Audio);
        out.video_out.packets_lost = lost(&path.lost_out, MediaKind::Video);
        out.audio_out.packets_lost = lost(&path.lost_out, MediaKind::Audio);
        if let Some((local, remote)) = path.path {
            out.local_candidate_type = Some(local);
            out.remote_candidate_type = Some(remote);
        }
        let sh = &self.shared;
        let now = Instant::now();
        let counters = [&sh.video_in, &sh.audio_in, &sh.video_out, &sh.audio_out];
        let totals: [(u64, u64); 4] = counters.map(|c| {
            (
                c.frames.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed),
            )
        });
        let prev = self.stats_prev.replace((now, totals));
        let streams = [
            &mut out.video_in,
            &mut out.audio_in,
            &mut out.video_out,
            &mut out.audio_out,
        ];
        for (i, s) in streams.into_iter().enumerate() {
            s.frames = totals[i].0;
            s.bytes = totals[i].1;
            s.codec = Some(
                if i % 2 == 0 {
                    "video/VP8"
                } else {
                    "audio/opus"
                }
                .to_owned(),
            );
            let size = counters[i].size.load(Ordering::Relaxed);
            s.width = (size >> 32) as u32;
            s.height = size as u32;
            if let Some((then, before)) = prev {
                let secs = now.duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    s.fps = (totals[i].0.saturating_sub(before[i].0)) as f64 / secs;
                    s.kbps = (totals[i].1.saturating_sub(before[i].1)) as f64 * 8.0 / 1000.0 / secs;
                }
            }
        }
        out
    }
}

/// Writes every encoded sample to this connection's tracks, once negotiation set a payload type.
async fn send_media(shared: Arc<Shared>, tracks: Arc<LocalTracks>, pc: Arc<dyn PeerConnection>) {
    let mut rx = shared.media.subscribe();
    let weak_pc = Arc::downgrade(&pc);
    drop(pc);
    loop {
        let sample: Arc<EncodedSample> = match rx.recv().await {
            Ok(s) => s,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                log::debug!("link {}: sender fell {n} samples behind", shared.id);
                shared.media.request_keyframe();
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        if weak_pc.strong_count() == 0 {
            break; // the connection is gone
        }
        let (track, ssrc, pt, counter) = match sample.kind {
            MediaKind::Audio => (
                &tracks.audio,
                tracks.audio_ssrc,
                shared.audio_pt.load(Ordering::Relaxed),
                &shared.audio_out,
            ),
            MediaKind::Video => (
                &tracks.video,
                tracks.video_ssrc,
                shared.video_pt.load(Ordering::Relaxed),
                &shared.video_out,
            ),
        };
        if pt == NO_PT || !shared.connected.load(Ordering::Relaxed) {
            continue;
        }
        let s = Sample {
            data: sample.data.clone(),
            duration: sample.duration,
            ..Sample::new(sample.captured)
        };
        // Not bound yet (DTLS still connecting) is an error we expect: skip the sample.
        if track.write_sample(ssrc, pt as u8, &s, &[]).await.is_ok() {
            let size = if sample.kind == MediaKind::Video {
                vp8_keyframe_size(&sample.data)
            } else {
                None
            };
            counter.add(sample.data.len(), size);
        }
    }
}

