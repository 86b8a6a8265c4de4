//! Building a webrtc-rs peer connection the way lancall wants it (VP8 and Opus only, keyframe
//! requests, quick ICE checks on a LAN, no mDNS candidates), lancall's local tracks, and the
//! stack's callbacks turned into values in order.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceConnectionState, RTCIceServer, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::error::PeerError;
use crate::media::MediaKind;

/// Between ICE connectivity checks (see `build_peer_connection`).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

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

/// A sender's payload type before negotiation set one.
pub(crate) const NO_PT: u32 = u32::MAX;


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
    let mut builder = PeerConnectionBuilder::new();
    if let Some(runtime) = sized_sockets() {
        builder = builder.with_runtime(runtime);
    }
    let pc = builder
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

/// What each connection's UDP socket asks the kernel to buffer on receipt: a few hundred
/// milliseconds of a call's video. Linux's default (208 KiB, ~160 datagrams) overflowed in the
/// SFU capacity benchmark's synthetic participants (20 people: 4.6 % loss, all of it at the
/// clients' own sockets; bench/sfu.md).
const SOCKET_RECV_BYTES: usize = 2 * 1024 * 1024;

/// webrtc-rs's default runtime, with each UDP socket's receive buffer sized first (see
/// [`SOCKET_RECV_BYTES`]). `None` when webrtc-rs has no default runtime (then it picks its own).
fn sized_sockets() -> Option<Arc<dyn webrtc::runtime::Runtime>> {
    static RUNTIME: std::sync::OnceLock<Option<Arc<dyn webrtc::runtime::Runtime>>> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| webrtc::runtime::default_runtime().map(|inner| Arc::new(SizedSockets(inner)) as Arc<dyn webrtc::runtime::Runtime>))
        .clone()
}

/// See [`sized_sockets`]: everything is the inner runtime's but wrapping a UDP socket.
#[derive(Debug)]
struct SizedSockets(Arc<dyn webrtc::runtime::Runtime>);

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl webrtc::runtime::Runtime for SizedSockets {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn webrtc::runtime::JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(&self, pool: usize, future: BoxFuture<'static, ()>) -> Box<dyn webrtc::runtime::JoinHandle> {
        self.0.spawn_reactor(pool, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> std::io::Result<Arc<dyn webrtc::runtime::AsyncUdpSocket>> {
        size_recv_buffer(&socket);
        self.0.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(&self, listener: std::net::TcpListener) -> std::io::Result<Arc<dyn webrtc::runtime::AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(&'a self, remote: std::net::SocketAddr) -> BoxFuture<'a, std::io::Result<Arc<dyn webrtc::runtime::AsyncTcpStream>>> {
        self.0.connect_tcp(remote)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<std::net::SocketAddr>>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn webrtc::runtime::AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.0.yield_now()
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// `SO_RCVBUF` to [`SOCKET_RECV_BYTES`], past the kernel's cap (`net.core.rmem_max`) where the
/// process may (`SO_RCVBUFFORCE`: root, `CAP_NET_ADMIN`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn size_recv_buffer(socket: &std::net::UdpSocket) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &SOCKET_RECV_BYTES).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &SOCKET_RECV_BYTES);
    }
    // Linux reports twice what was set (its bookkeeping): half is the payload.
    let got = getsockopt(socket, sockopt::RcvBuf).unwrap_or(0) / 2;
    log::debug!("peer: a connection's UDP receive buffer is {} KiB", got / 1024);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn size_recv_buffer(socket: &std::net::UdpSocket) {
    let _ = socket;
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
pub(crate) struct StackHandler {
    tx: mpsc::UnboundedSender<StackEvent>,
}

impl StackHandler {
    pub(crate) fn new(tx: mpsc::UnboundedSender<StackEvent>) -> Arc<Self> {
        Arc::new(StackHandler { tx })
    }

    fn send(&self, ev: StackEvent) {
        let _ = self.tx.send(ev);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for StackHandler {
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

/// `connectionState` as browsers name it.
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

