//! One peer connection to one remote participant, negotiated exactly like ui/js/call.js does:
//! W3C "perfect negotiation" (politeness by session), the impolite side laying out microphone
//! (audio, sendrecv), camera (video, sendrecv) and the data channel `lancall`, trickle ICE, and
//! ICE restarts while the path is down.
//!
//! Each [`PeerLink`] is an actor: one task owns the `RTCPeerConnection` and handles, in order,
//! what arrives from the remote (descriptions, candidates), from the WebRTC stack (negotiation
//! needed, candidates, state changes, tracks, the data channel) and from the owner (chat, bye,
//! stats, close). Handling one thing at a time is what `r.chain` gives the web client; it makes
//! the perfect-negotiation flags trivially consistent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;

use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp::codec::vp8::Vp8Packet as Vp8Depacketizer;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::statistics::report::RTCStatsReport;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceConnectionState, RTCIceServer,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

use crate::codec::{vp8_is_keyframe, vp8_keyframe_size};
use crate::error::PeerError;
use crate::media::{
    EncodedSample, FrameSink, LinkId, LocalMedia, MediaKind, RemoteFrame, TrackRole,
};
use crate::messages::{Candidate, ChannelMessage, Description, PeerMessage};

/// A connection that stays `disconnected` this long gets an ICE restart (as in call.js).
pub const DISCONNECTED_RESTART: Duration = Duration::from_millis(2_500);
/// While a connection is not back, ICE is restarted again this often (as in call.js).
pub const RESTART_RETRY: Duration = Duration::from_secs(8);
/// The data channel's label (docs/PROTOCOL.md).
pub const CHANNEL_LABEL: &str = "lancall";
/// Between ICE connectivity checks (see `build_peer_connection`).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// At most one picture-loss request per this interval.
const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// Payload types we offer: the ones Chromium uses, so SDP diffs stay readable.
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;

/// How connections are built.
#[derive(Debug, Clone, Default)]
pub struct LinkConfig {
    /// The hub's `iceServers` (empty on a LAN: host candidates suffice).
    pub ice_servers: Vec<IceServer>,
    /// Local addresses to gather host candidates on; empty means every non-loopback IPv4
    /// interface (`0.0.0.0`, expanded by the webrtc crate).
    pub bind: Vec<IpAddr>,
}

/// One entry of the hub's `iceServers`.
pub use lancall_protocol::IceServer;

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

#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) size: AtomicU64, // width << 32 | height
}

impl Counter {
    pub(crate) fn add(&self, bytes: usize, size: Option<(u32, u32)>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some((w, h)) = size {
            self.size
                .store((u64::from(w) << 32) | u64::from(h), Ordering::Relaxed);
        }
    }
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

pub(crate) const NO_PT: u32 = u32::MAX;

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

pub(crate) async fn build_peer_connection(
    config: &LinkConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<impl PeerConnection, PeerError> {
    let mut media_engine = MediaEngine::default();
    register_codecs(&mut media_engine)?;
    let registry =
        webrtc::peer_connection::register_default_interceptors(Registry::new(), &mut media_engine)?
            .with(
                rtc::interceptor::Slot::from(crate::keyframe::SLOT),
                crate::keyframe::KeyframeRequests::default(),
            );
    let ice_servers = config
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .filter(|s| !s.urls.is_empty())
        .collect();
    let rtc_config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .build();
    // mDNS candidates cannot resolve in a namespace without a multicast route (and a LAN call
    // does not need them): gather plain host candidates.
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        // On a LAN the first check answers in a millisecond: checking every 50 ms instead of the
        // default 200 ms (same 1.4 s budget per pair) lets the controlling side nominate sooner,
        // and a peer-reflexive pair (a browser's checks arriving before its trickled candidate)
        // need not wait a second to be used.
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(28))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .build();
    let addrs: Vec<String> = if config.bind.is_empty() {
        vec!["0.0.0.0:0".to_owned()]
    } else {
        config
            .bind
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, 0).to_string())
            .collect()
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(rtc_config)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(addrs)
        .build()
        .await?;
    Ok(pc)
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: "video/VP8".to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![
            fb("goog-remb", ""),
            fb("ccm", "fir"),
            fb("nack", ""),
            fb("nack", "pli"),
        ],
    }
}

/// Only VP8 and Opus: what we can encode, what the app's webview can decode, and what every
/// browser offers. Registering nothing else makes both directions use them.
fn register_codecs(engine: &mut MediaEngine) -> Result<(), PeerError> {
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    )?;
    Ok(())
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b) | 1
}

/// A local track of `kind` in stream `stream_id`, sending VP8 or Opus on a random SSRC (returned
/// with it).
pub(crate) fn new_local_track(
    stream_id: &str,
    track_id: String,
    kind: MediaKind,
) -> Result<(Arc<TrackLocalStaticSample>, u32), PeerError> {
    let (codec_kind, codec) = match kind {
        MediaKind::Audio => (RtpCodecKind::Audio, opus_codec()),
        MediaKind::Video => (RtpCodecKind::Video, vp8_codec()),
    };
    let ssrc = random_u32();
    let track = MediaStreamTrack::new(
        stream_id.to_owned(),
        track_id,
        format!("lancall {}", kind.as_str()),
        codec_kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    Ok((
        Arc::new(TrackLocalStaticSample::new(Instant::now(), track)?),
        ssrc,
    ))
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

/// The WebRTC stack's callbacks, as values (see [`StackHandler`]).
pub(crate) enum StackEvent {
    NegotiationNeeded,
    Candidate(RTCPeerConnectionIceEvent),
    Connection(RTCPeerConnectionState),
    Ice(RTCIceConnectionState),
    Channel(Arc<dyn DataChannel>),
    Track(Arc<dyn TrackRemote>),
}

/// Forwards the stack's callbacks, in order, to whoever owns the connection (never blocks the
/// driver: calling back into the connection from a callback could).
pub(crate) struct StackHandler<T> {
    tx: mpsc::UnboundedSender<T>,
    wrap: fn(StackEvent) -> T,
}

impl<T> StackHandler<T> {
    pub(crate) fn new(tx: mpsc::UnboundedSender<T>, wrap: fn(StackEvent) -> T) -> Arc<Self> {
        Arc::new(StackHandler { tx, wrap })
    }

    fn send(&self, ev: StackEvent) {
        let _ = self.tx.send((self.wrap)(ev));
    }
}

#[async_trait::async_trait]
impl<T: Send + 'static> PeerConnectionEventHandler for StackHandler<T> {
    async fn on_negotiation_needed(&self) {
        self.send(StackEvent::NegotiationNeeded);
    }
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.send(StackEvent::Candidate(event));
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(StackEvent::Connection(state));
    }
    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.send(StackEvent::Ice(state));
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        self.send(StackEvent::Channel(channel));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.send(StackEvent::Track(track));
    }
}

/// The payload type negotiated for `kind` (VP8 or Opus) on `sender` ([`NO_PT`] before that);
/// None when the sender cannot say (keep what was known).
pub(crate) async fn negotiated_pt(sender: &Arc<dyn RtpSender>, kind: MediaKind) -> Option<u32> {
    let params = sender.get_parameters().await.ok()?;
    let want = match kind {
        MediaKind::Audio => "audio/opus",
        MediaKind::Video => "video/vp8",
    };
    Some(
        params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(want))
            .map(|c| u32::from(c.payload_type))
            .unwrap_or(NO_PT),
    )
}

/// A local candidate as browsers want it signalled (None for the end of candidates). The webrtc
/// crate leaves sdpMid empty; browsers look the section up by it. With BUNDLE every candidate
/// belongs to the first section: name its mid and this generation's ufrag.
pub(crate) async fn signalled_candidate(
    pc: &dyn PeerConnection,
    ev: &RTCPeerConnectionIceEvent,
) -> Option<Candidate> {
    let init = ev.candidate.to_json().ok()?;
    if init.candidate.is_empty() {
        return None;
    }
    let (mid, ufrag) = match pc.local_description().await {
        Some(d) => (
            first_attr(&d.sdp, "a=mid:"),
            first_attr(&d.sdp, "a=ice-ufrag:"),
        ),
        None => (None, None),
    };
    Some(Candidate {
        candidate: init.candidate,
        sdp_mid: Some(mid.unwrap_or_else(|| "0".to_owned())),
        sdp_mline_index: Some(0),
        username_fragment: ufrag,
    })
}

/// A signalled candidate in the shape webrtc-rs takes.
pub(crate) fn candidate_init(c: Candidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
        url: None,
    }
}

/// What a stats report says about the path and the losses.
#[derive(Default)]
pub(crate) struct PathStats {
    /// Candidate types of the nominated pair, local and remote (an end without candidate stats
    /// was learned from a connectivity check, never signalled: `prflx`); None before a pair.
    pub(crate) path: Option<(String, String)>,
    /// Round trip, seconds: the pair's, else a remote-inbound report's.
    pub(crate) rtt_s: Option<f64>,
    /// Packets lost, by kind, of what we receive (inbound-rtp) and what we send
    /// (remote-inbound-rtp).
    pub(crate) lost_in: HashMap<MediaKind, i64>,
    pub(crate) lost_out: HashMap<MediaKind, i64>,
}

pub(crate) fn path_stats(report: &RTCStatsReport) -> PathStats {
    use rtc::statistics::report::RTCStatsReportEntry as E;
    let kind_of = |k: RtpCodecKind| {
        if k == RtpCodecKind::Audio {
            MediaKind::Audio
        } else {
            MediaKind::Video
        }
    };
    let mut out = PathStats::default();
    let mut pair_ids = None;
    let mut remote_rtt = None;
    for entry in report.iter() {
        match entry {
            E::IceCandidatePair(p) if p.nominated || pair_ids.is_none() => {
                pair_ids = Some((p.local_candidate_id.clone(), p.remote_candidate_id.clone()));
                if p.current_round_trip_time > 0.0 {
                    out.rtt_s = Some(p.current_round_trip_time);
                }
            }
            E::InboundRtp(s) => {
                let k = kind_of(s.received_rtp_stream_stats.rtp_stream_stats.kind);
                *out.lost_in.entry(k).or_default() += s.received_rtp_stream_stats.packets_lost;
            }
            E::RemoteInboundRtp(s) => {
                let k = kind_of(s.received_rtp_stream_stats.rtp_stream_stats.kind);
                *out.lost_out.entry(k).or_default() += s.received_rtp_stream_stats.packets_lost;
                if remote_rtt.is_none() && s.round_trip_time > 0.0 {
                    remote_rtt = Some(s.round_trip_time);
                }
            }
            _ => {}
        }
    }
    out.rtt_s = out.rtt_s.or(remote_rtt);
    let Some((local, remote)) = pair_ids else {
        return out;
    };
    // The pair names its candidates by their ICE ids; the candidates' own stats ids carry a
    // prefix (`RTCLocalIceCandidate_<id>`, webrtc-rs 0.21): accept either.
    let names = |stats_id: &str, id: &str| {
        stats_id == id || stats_id.strip_suffix(id).is_some_and(|p| p.ends_with('_'))
    };
    let (mut lt, mut rt) = (None, None);
    for entry in report.iter() {
        match entry {
            E::LocalCandidate(c) if names(&c.stats.id, &local) => {
                lt = Some(c.candidate_type.to_string())
            }
            E::RemoteCandidate(c) if names(&c.stats.id, &remote) => {
                rt = Some(c.candidate_type.to_string())
            }
            _ => {}
        }
    }
    out.path = Some((
        lt.unwrap_or_else(|| "prflx".to_owned()),
        rt.unwrap_or_else(|| "prflx".to_owned()),
    ));
    out
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

pub(crate) fn state_name(s: RTCPeerConnectionState) -> &'static str {
    match s {
        RTCPeerConnectionState::New => "new",
        RTCPeerConnectionState::Connecting => "connecting",
        RTCPeerConnectionState::Connected => "connected",
        RTCPeerConnectionState::Disconnected => "disconnected",
        RTCPeerConnectionState::Failed => "failed",
        RTCPeerConnectionState::Closed => "closed",
        _ => "new",
    }
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

pub(crate) fn description_from(
    kind: &str,
    sdp: String,
) -> Result<RTCSessionDescription, PeerError> {
    // The struct has a private cache field: build it the way it is deserialised.
    serde_json::from_value(serde_json::json!({ "type": kind, "sdp": sdp }))
        .map_err(|e| PeerError::Webrtc(format!("bad session description of type {kind:?}: {e}")))
}

/// Our side's DTLS role (`a=setup`) for the life of a connection, so that every answer we signal
/// says it.
///
/// webrtc-rs 0.21 writes its configured answering role (`active`) into every answer, a
/// renegotiation's too, even in a session where it is `passive` because it made the first offer
/// and the browser answered `active`. JSEP wants a later answer to keep the established role, and
/// browsers refuse one that does not ("Failed to set SSL role for the transport"): the browser
/// stays in have-local-offer and what its offer added (a shared screen) never flows. The crate
/// only accepts the answer it wrote, and takes its role from the first exchange alone, so the
/// answer is corrected where it is signalled.
#[derive(Default)]
pub(crate) struct SetupRole(OnceLock<&'static str>);

impl SetupRole {
    /// `setLocalDescription()` of the answer to the remote offer `pc` holds, once the role is
    /// known (learnt before the answer replaces the current descriptions).
    pub(crate) async fn answer(&self, pc: &dyn PeerConnection) -> Result<(), PeerError> {
        self.learn(pc).await;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        Ok(())
    }

    /// Learns the role from the last completed exchange, if not known yet: the current
    /// descriptions are then the ones the crate wrote and the other side accepted.
    async fn learn(&self, pc: &dyn PeerConnection) {
        if self.0.get().is_some() {
            return;
        }
        let local = pc.current_local_description().await;
        let remote = pc.current_remote_description().await;
        if let Some(role) = established_setup(
            local.as_ref().map(|d| d.sdp.as_str()),
            remote.as_ref().map(|d| d.sdp.as_str()),
        ) {
            let _ = self.0.set(role);
        }
    }

    /// `desc` as it is to be signalled: an answer with the session's role.
    pub(crate) fn signalled(&self, desc: RTCSessionDescription) -> Description {
        let kind = desc.sdp_type.to_string();
        match self.0.get() {
            Some(role)
                if kind == "answer"
                    && first_attr(&desc.sdp, "a=setup:").as_deref() != Some(*role) =>
            {
                log::debug!("signalling the answer with a=setup:{role}, the role this session has");
                Description {
                    kind,
                    sdp: with_setup(&desc.sdp, role),
                }
            }
            _ => Description {
                kind,
                sdp: desc.sdp,
            },
        }
    }
}

/// Our side's `a=setup` value in the session the current descriptions made: ours when we
/// answered (active or passive), the opposite of theirs when we offered (actpass). `None` before
/// the first exchange completed.
fn established_setup(local: Option<&str>, remote: Option<&str>) -> Option<&'static str> {
    match first_attr(local?, "a=setup:")?.as_str() {
        "active" => Some("active"),
        "passive" => Some("passive"),
        _ => match first_attr(remote?, "a=setup:")?.as_str() {
            "active" => Some("passive"),
            "passive" => Some("active"),
            _ => None,
        },
    }
}

/// `sdp` with every `a=setup` line saying `role`.
fn with_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            let end = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str(end);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn first_attr(sdp: &str, prefix: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().to_owned())
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

/// Reassembles whole frames from a remote track's RTP packets and hands them to the sink, tagged
/// `link`; `count` hears each frame's size (and a keyframe's picture size). Asks for a keyframe
/// (PLI, at most every [`PLI_INTERVAL`]) when pictures were lost.
pub(crate) async fn receive_media(
    track: Arc<dyn TrackRemote>,
    link: LinkId,
    kind: MediaKind,
    role: TrackRole,
    sink: FrameSink,
    count: impl Fn(usize, Option<(u32, u32)>) + Send + 'static,
) {
    let mut vp8 = Vp8Assembler::default();
    let mut last_pli: Option<Instant> = None;
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let now = Instant::now();
        let (data, keyframe, size) = match kind {
            MediaKind::Audio => {
                if pkt.payload.is_empty() {
                    continue;
                }
                (pkt.payload.clone(), true, None)
            }
            MediaKind::Video => {
                let (frame, want_keyframe) = vp8.push(&pkt);
                if want_keyframe && last_pli.is_none_or(|t| now.duration_since(t) >= PLI_INTERVAL) {
                    last_pli = Some(now);
                    let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: pkt.header.ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
                let Some(data) = frame else {
                    continue;
                };
                let size = vp8_keyframe_size(&data);
                let keyframe = vp8_is_keyframe(&data);
                (data, keyframe, size)
            }
        };
        count(data.len(), size);
        sink(RemoteFrame {
            link,
            kind,
            role,
            data,
            keyframe,
            rtp_timestamp: pkt.header.timestamp,
            received: now,
            size,
        });
    }
}

/// Collects the packets of one VP8 frame (same RTP timestamp, consecutive sequence numbers,
/// from the start-of-partition packet to the marker). A frame with a hole is dropped, and frames
/// are then held back until the next keyframe (a decoder cannot use them), asking for one.
#[derive(Default)]
struct Vp8Assembler {
    buf: BytesMut,
    timestamp: Option<u32>,
    next_seq: Option<u16>,
    broken: bool,
    need_keyframe: bool,
    started: bool,
}

impl Vp8Assembler {
    /// Returns a complete frame, if this packet finished one, and whether a keyframe is needed.
    fn push(&mut self, pkt: &rtc::rtp::Packet) -> (Option<Bytes>, bool) {
        if !self.started {
            self.started = true;
            self.need_keyframe = true;
        }
        let mut depack = Vp8Depacketizer::default();
        let Ok(payload) = depack.depacketize(&pkt.payload) else {
            return (None, false);
        };
        let seq = pkt.header.sequence_number;
        let is_start = depack.s == 1 && depack.pid == 0;
        if is_start {
            self.buf.clear();
            self.broken = false;
            self.timestamp = Some(pkt.header.timestamp);
        } else if self.timestamp != Some(pkt.header.timestamp) || self.next_seq != Some(seq) {
            self.broken = true;
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if self.broken {
            self.need_keyframe = true;
            return (None, true);
        }
        self.buf.extend_from_slice(&payload);
        if !pkt.header.marker {
            return (None, false);
        }
        let frame = self.buf.split().freeze();
        self.timestamp = None;
        if frame.is_empty() {
            return (None, false);
        }
        if self.need_keyframe {
            if !vp8_is_keyframe(&frame) {
                return (None, true);
            }
            self.need_keyframe = false;
        }
        (Some(frame), false)
    }
}

#[cfg(test)]
mod tests {
    use super::{established_setup, with_setup};

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\na=mid:0\r\n";

    #[test]
    fn the_role_is_ours_when_we_answered_and_the_opposite_of_theirs_when_we_offered() {
        let answer = |role: &str| OFFER.replace("actpass", role);
        assert_eq!(
            established_setup(Some(&answer("active")), Some(OFFER)),
            Some("active")
        );
        assert_eq!(
            established_setup(Some(&answer("passive")), Some(OFFER)),
            Some("passive")
        );
        assert_eq!(
            established_setup(Some(OFFER), Some(&answer("active"))),
            Some("passive")
        );
        assert_eq!(
            established_setup(Some(OFFER), Some(&answer("passive"))),
            Some("active")
        );
        // Before the first exchange completed there is no role to keep.
        assert_eq!(established_setup(None, None), None);
        assert_eq!(established_setup(Some(OFFER), None), None);
        assert_eq!(established_setup(Some(OFFER), Some(OFFER)), None);
    }

    #[test]
    fn every_setup_line_is_rewritten_and_nothing_else() {
        let sdp = "v=0\r\na=setup:active\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\na=mid:1\r\n";
        assert_eq!(
            with_setup(sdp, "passive"),
            "v=0\r\na=setup:passive\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:passive\r\na=mid:1\r\n"
        );
        assert_eq!(with_setup("a=setup:active", "passive"), "a=setup:passive");
    }
}
