//! A W3C-shaped `RTCPeerConnection` for a webview that has none (Debian's WebKitGTK).
//!
//! [`BridgePc`] is the thin half of a shim: the web page keeps its one call module (ui/js/lib/call.js,
//! perfect negotiation and all) and hands it an object with `RTCPeerConnection`'s surface
//! (ui/js/rtc/rtc-bridge.js); every method of that object is one call here, over Tauri IPC. So this
//! type does what a browser's peer connection does and nothing more: descriptions (with the
//! implicit offer/answer of `setLocalDescription()` and the implicit rollback of a colliding
//! offer), trickled candidates, transceivers with directions, senders fed from a
//! [`LocalMedia`] (`replaceTrack` picks which one, no renegotiation), remote tracks handed over
//! as whole encoded frames, data channels and stats. What it reports goes to a [`BridgeEvents`]
//! callback in the order it happened.
//!
//! Transceivers are named by their place in `getTransceivers()` (the webrtc crate's transceiver
//! id, which is that place; transceivers are never removed), data
//! channels by a number: the page picks the numbers of the channels it creates (below
//! [`REMOTE_CHANNEL_BASE`]), this side numbers the ones the remote opens (from it on).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use rtc::media::Sample;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};
use webrtc::rtp_transceiver::{
    RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender, RtpTransceiver,
};

use crate::codec::vp8_keyframe_size;
use crate::stack::engine::{
    build_peer_connection, negotiated_pt, new_local_track, state_name, LinkConfig, StackEvent,
    StackHandler, NO_PT,
};
use crate::stack::rtp::receive_media;
use crate::stack::sdp::{candidate_init, description_from, signalled_candidate, SetupRole};
use crate::stack::stats::{path_stats, Counter};
use crate::error::PeerError;
use crate::media::{EncodedSample, FrameSink, LocalMedia, MediaKind, TrackRole};
use crate::messages::{Candidate, Description};
use lancall_protocol::sync::lock;

/// Data channels the remote opens are numbered from here; the page numbers its own below.
pub const REMOTE_CHANNEL_BASE: u32 = 1 << 20;

/// Bytes a data channel may hold unacknowledged before a binary send waits (4 MiB: at a LAN's
/// round trip this keeps the channel busy; the page's own buffer is what is still in IPC).
pub const CHANNEL_SEND_BUFFER: usize = 4 * 1024 * 1024;

/// Where a [`BridgePc`] reports.
pub type BridgeEvents = Arc<dyn Fn(BridgeEvent) + Send + Sync>;

/// What a [`BridgePc`] reports, named after the DOM events the page fires for them.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum BridgeEvent {
    /// `negotiationneeded` (only ever while stable, as in browsers).
    #[serde(rename = "negotiationneeded")]
    NegotiationNeeded,
    /// `icecandidate` with a candidate.
    #[serde(rename = "icecandidate")]
    IceCandidate { candidate: Candidate },
    /// `connectionstatechange`.
    #[serde(rename = "connectionstatechange")]
    ConnectionState { state: &'static str },
    /// `iceconnectionstatechange`.
    #[serde(rename = "iceconnectionstatechange")]
    IceConnectionState { state: String },
    /// `track`: the first packet of the remote track of transceiver `transceiver`.
    #[serde(rename = "track")]
    Track { transceiver: usize, kind: MediaKind },
    /// `datachannel`: the remote opened channel `channel`.
    #[serde(rename = "datachannel")]
    DataChannel {
        channel: u32,
        label: String,
        ordered: bool,
    },
    /// A channel's `open`.
    #[serde(rename = "channel-open")]
    ChannelOpen { channel: u32 },
    /// A channel's `close`.
    #[serde(rename = "channel-close")]
    ChannelClose { channel: u32 },
    /// A channel's text `message`.
    #[serde(rename = "channel-message")]
    ChannelMessage { channel: u32, text: String },
    /// A channel's binary `message` (a file's bytes, ui/js/lib/files.js). It reaches the page
    /// as bytes, not JSON: [`crate::ipc::encode_channel_bytes`].
    #[serde(rename = "channel-bytes")]
    ChannelBytes {
        channel: u32,
        #[serde(skip)]
        data: Vec<u8>,
    },
}

/// One transceiver as `RTCRtpTransceiver` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransceiverInfo {
    /// Its place in `getTransceivers()`.
    pub index: usize,
    pub kind: MediaKind,
    pub mid: Option<String>,
    pub direction: String,
    /// `null` until negotiated.
    pub current_direction: Option<String>,
}

/// What the page mirrors after each description: `signalingState`, `localDescription` and the
/// transceivers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub signaling_state: &'static str,
    pub local_description: Option<Description>,
    pub remote_description: Option<Description>,
    pub transceivers: Vec<TransceiverInfo>,
}

/// One RTCStats-like entry (`id`, `type` and the fields stats readers look at).
pub type StatsEntry = serde_json::Map<String, serde_json::Value>;

/// What a transceiver sends: our track on it, and the media that feeds it.
struct Outgoing {
    kind: MediaKind,
    track: Arc<TrackLocalStaticSample>,
    ssrc: u32,
    pt: AtomicU32,
    sender: Arc<dyn RtpSender>,
    source: watch::Sender<Option<Arc<LocalMedia>>>,
    counter: Counter,
}

struct Inner {
    pc: Arc<dyn PeerConnection>,
    events: BridgeEvents,
    sink: FrameSink,
    /// Held by every operation, so that they run one at a time in the order the page made them
    /// (and so that "negotiation needed while not stable" is never lost between two of them).
    ops: tokio::sync::Mutex<()>,
    negotiation_pending: AtomicBool,
    connected: Arc<AtomicBool>,
    closed: AtomicBool,
    stream_id: String,
    outgoing: Mutex<HashMap<usize, Arc<Outgoing>>>,
    incoming: Mutex<HashMap<usize, Arc<Counter>>>,
    /// Per remote video track (by transceiver): ask its sender for a keyframe at its next packet.
    keyframe_wanted: Mutex<HashMap<usize, Arc<AtomicBool>>>,
    channels: Mutex<HashMap<u32, Arc<dyn DataChannel>>>,
    next_remote_channel: AtomicU32,
    seen_tracks: Mutex<Vec<String>>,
    /// Each transceiver's kind, by index, once known.
    kinds: Mutex<HashMap<usize, MediaKind>>,
    stats_prev: Mutex<Option<StatsSample>>,
    /// The DTLS role our answers must say.
    setup: SetupRole,
}

/// Frames and bytes per stats entry id, and when they were read (for rates).
type StatsSample = (Instant, HashMap<String, (u64, u64)>);

fn kind_of(k: RtpCodecKind) -> MediaKind {
    if k == RtpCodecKind::Audio {
        MediaKind::Audio
    } else {
        MediaKind::Video
    }
}

fn sends(d: RTCRtpTransceiverDirection) -> bool {
    matches!(
        d,
        RTCRtpTransceiverDirection::Sendrecv | RTCRtpTransceiverDirection::Sendonly
    )
}

/// Reads a W3C direction (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
pub fn parse_direction(s: &str) -> Result<RTCRtpTransceiverDirection, PeerError> {
    match RTCRtpTransceiverDirection::from(s) {
        RTCRtpTransceiverDirection::Unspecified => Err(PeerError::BadRequest(format!(
            "\"{s}\" is not a transceiver direction: use sendrecv, sendonly, recvonly or inactive."
        ))),
        d => Ok(d),
    }
}

/// A peer connection driven by a web page (see the module's documentation). Cheap to clone.
#[derive(Clone)]
pub struct BridgePc {
    inner: Arc<Inner>,
}

impl BridgePc {
    /// A new connection; its events go to `events`, remote frames to `sink` (their `link` is
    /// the transceiver's index).
    pub async fn new(
        config: &LinkConfig,
        events: BridgeEvents,
        sink: FrameSink,
    ) -> Result<BridgePc, PeerError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let pc = build_peer_connection(config, StackHandler::new(tx)).await?;
        let inner = Arc::new(Inner {
            pc: Arc::new(pc),
            events,
            sink,
            ops: tokio::sync::Mutex::new(()),
            negotiation_pending: AtomicBool::new(false),
            connected: Arc::new(AtomicBool::new(false)),
            closed: AtomicBool::new(false),
            stream_id: format!("lancall-{}", crate::messages::random_id()),
            outgoing: Mutex::new(HashMap::new()),
            incoming: Mutex::new(HashMap::new()),
            keyframe_wanted: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            next_remote_channel: AtomicU32::new(REMOTE_CHANNEL_BASE),
            seen_tracks: Mutex::new(Vec::new()),
            kinds: Mutex::new(HashMap::new()),
            stats_prev: Mutex::new(None),
            setup: SetupRole::default(),
        });
        tokio::spawn(stack_events(Arc::downgrade(&inner), rx));
        Ok(BridgePc { inner })
    }

    fn check_open(&self) -> Result<(), PeerError> {
        if self.inner.closed.load(Ordering::Relaxed) {
            Err(PeerError::Closed)
        } else {
            Ok(())
        }
    }

    /// `addTransceiver(kind, {direction, streams})`; `source` feeds it (`replaceTrack` later
    /// changes that). Returns the transceiver.
    pub async fn add_transceiver(
        &self,
        kind: MediaKind,
        direction: &str,
        source: Option<Arc<LocalMedia>>,
    ) -> Result<TransceiverInfo, PeerError> {
        let direction = parse_direction(direction)?;
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let track = self.make_track(kind)?;
        let transceiver = self
            .inner
            .pc
            .add_transceiver_from_track(
                track.0.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction,
                    streams: vec![self.inner.stream_id.clone()],
                    send_encodings: vec![],
                }),
            )
            .await?;
        let index = transceiver.id();
        lock(&self.inner.kinds).insert(index, kind);
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| PeerError::Webrtc("the new transceiver has no sender".into()))?;
        self.attach_outgoing(index, kind, track, sender, source);
        self.wake_driver().await;
        self.info(index, &transceiver).await
    }

    /// `transceiver.direction = direction`. A transceiver the remote made gets our track on its
    /// first sending direction (`addTrack` semantics).
    pub async fn set_direction(&self, index: usize, direction: &str) -> Result<(), PeerError> {
        let direction = parse_direction(direction)?;
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let transceiver = self.transceiver(index).await?;
        if sends(direction) && !lock(&self.inner.outgoing).contains_key(&index) {
            let kind = self.kind_at(&transceiver).await;
            let track = self.make_track(kind)?;
            let sender = self
                .inner
                .pc
                .add_track(track.0.clone() as Arc<dyn TrackLocal>)
                .await?;
            let _ = sender.set_streams(vec![self.inner.stream_id.clone()]).await;
            // addTrack takes the first remote-made transceiver of the kind without a sender: in
            // lancall that is the one asked for.
            let at = usize::from(sender.id());
            if at != index {
                log::warn!(
                    "bridge: our {} track went to transceiver {at}, not {index}",
                    kind.as_str()
                );
            }
            self.attach_outgoing(at, kind, track, sender, None);
        }
        transceiver.set_direction(direction).await?;
        Ok(())
    }

    /// `sender.replaceTrack()`: which media transceiver `index` sends (none: nothing).
    pub async fn set_source(
        &self,
        index: usize,
        source: Option<Arc<LocalMedia>>,
    ) -> Result<(), PeerError> {
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let out = lock(&self.inner.outgoing).get(&index).cloned();
        match out {
            Some(out) => {
                if let Some(media) = &source {
                    media.request_keyframe();
                }
                out.source.send_replace(source);
                Ok(())
            }
            // A transceiver that cannot send yet: browsers keep the track for later; the page
            // sets a direction first in lancall, so this only happens with nothing to send.
            None if source.is_none() => Ok(()),
            None => {
                // Remote-made, not yet sending: give it our track now (direction unchanged).
                drop(_op);
                let t = self.transceiver(index).await?;
                let d = t.direction().await?;
                self.set_direction(
                    index,
                    &RTCRtpTransceiverDirection::from_send_recv(true, d.has_recv()).to_string(),
                )
                .await?;
                let out = lock(&self.inner.outgoing).get(&index).cloned();
                if let Some(out) = out {
                    out.source.send_replace(source);
                }
                Ok(())
            }
        }
    }

    /// `setLocalDescription()` with no argument (an offer, or the answer to the remote's offer),
    /// or a rollback.
    pub async fn set_local_description(&self, rollback: bool) -> Result<Snapshot, PeerError> {
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let pc = &self.inner.pc;
        if rollback {
            if pc.pending_local_description().await.is_some() {
                pc.set_local_description(description_from("rollback", String::new())?)
                    .await?;
            }
        } else if pc.pending_remote_description().await.is_some() {
            self.inner.setup.answer(pc.as_ref()).await?;
        } else {
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer).await?;
        }
        self.after_description().await
    }

    /// `setRemoteDescription()`; an offer that collides with ours rolls ours back first (as
    /// browsers do).
    pub async fn set_remote_description(&self, d: Description) -> Result<Snapshot, PeerError> {
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let pc = &self.inner.pc;
        if d.kind == "offer" && pc.pending_local_description().await.is_some() {
            pc.set_local_description(description_from("rollback", String::new())?)
                .await?;
        }
        pc.set_remote_description(description_from(&d.kind, d.sdp)?)
            .await?;
        self.after_description().await
    }

    /// `addIceCandidate()` (an empty candidate, end of candidates, is accepted and ignored).
    pub async fn add_ice_candidate(&self, c: Candidate) -> Result<(), PeerError> {
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        if c.candidate.is_empty() {
            return Ok(());
        }
        self.inner.pc.add_ice_candidate(candidate_init(c)).await?;
        Ok(())
    }

    /// `restartIce()`: the next offer carries new credentials; negotiation is needed.
    pub async fn restart_ice(&self) -> Result<(), PeerError> {
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        self.inner.pc.restart_ice().await?;
        if self.stable().await {
            (self.inner.events)(BridgeEvent::NegotiationNeeded);
        } else {
            self.inner
                .negotiation_pending
                .store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// `createDataChannel(label, {ordered})` as channel `id` (the page's number, below
    /// [`REMOTE_CHANNEL_BASE`]).
    pub async fn create_data_channel(
        &self,
        id: u32,
        label: &str,
        ordered: bool,
    ) -> Result<(), PeerError> {
        if id >= REMOTE_CHANNEL_BASE {
            return Err(PeerError::BadRequest(format!(
                "Channel numbers the page picks are below {REMOTE_CHANNEL_BASE}."
            )));
        }
        let _op = self.inner.ops.lock().await;
        self.check_open()?;
        let channel = self
            .inner
            .pc
            .create_data_channel(
                label,
                Some(rtc::data_channel::RTCDataChannelInit {
                    ordered,
                    ..Default::default()
                }),
            )
            .await?;
        watch_channel(&self.inner, id, channel);
        Ok(())
    }

    /// `channel.send(text)`.
    pub async fn channel_send(&self, id: u32, text: &str) -> Result<(), PeerError> {
        let channel = lock(&self.inner.channels)
            .get(&id)
            .cloned()
            .ok_or(PeerError::Closed)?;
        channel.send_text(text).await?;
        Ok(())
    }

    /// `channel.send(bytes)` for each of `messages`, in order. Returns once the channel holds at
    /// most [`CHANNEL_SEND_BUFFER`] bytes not yet acknowledged by the other side, so that a page
    /// sending a large file waits here rather than piling bytes up in memory.
    pub async fn channel_send_bytes(&self, id: u32, messages: &[&[u8]]) -> Result<(), PeerError> {
        let channel = lock(&self.inner.channels)
            .get(&id)
            .cloned()
            .ok_or(PeerError::Closed)?;
        for m in messages {
            channel.send(bytes::BytesMut::from(*m)).await?;
        }
        while channel.outstanding_bytes().await? > CHANNEL_SEND_BUFFER {
            if self.inner.closed.load(Ordering::Relaxed) {
                return Err(PeerError::Closed);
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// `channel.close()`.
    pub async fn channel_close(&self, id: u32) {
        let channel = lock(&self.inner.channels).remove(&id);
        if let Some(channel) = channel {
            let _ = channel.close().await;
        }
    }

    /// Asks the sender of the remote video on transceiver `index` for a keyframe (a picture loss
    /// indication at its next packet): a recording must start with one. Nothing happens for a
    /// transceiver that has received nothing yet (its first frames start with a keyframe).
    pub fn request_keyframe(&self, index: usize) {
        if let Some(flag) = lock(&self.inner.keyframe_wanted).get(&index) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// `close()`: everything stops; no more events.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let _op = self.inner.ops.lock().await;
        let channels: Vec<_> = lock(&self.inner.channels).drain().map(|(_, c)| c).collect();
        for c in channels {
            let _ = c.close().await;
        }
        for out in lock(&self.inner.outgoing).values() {
            out.source.send_replace(None);
        }
        let _ = self.inner.pc.close().await;
    }

    /// `getStats()`, as the entries stats readers use: `inbound-rtp`/`outbound-rtp` per
    /// transceiver (`transceiver` names it), `codec`, the nominated `candidate-pair` and its two
    /// candidates.
    pub async fn stats(&self) -> Vec<StatsEntry> {
        use serde_json::{json, Value};
        let mut out: Vec<StatsEntry> = Vec::new();
        let push = |out: &mut Vec<StatsEntry>, v: Value| {
            if let Value::Object(m) = v {
                out.push(m);
            }
        };
        let report = self
            .inner
            .pc
            .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
            .await;
        let path = path_stats(&report);
        if let Some((local, remote)) = path.path {
            push(
                &mut out,
                json!({ "id": "local", "type": "local-candidate", "candidateType": local, "protocol": "udp" }),
            );
            push(
                &mut out,
                json!({ "id": "remote", "type": "remote-candidate", "candidateType": remote, "protocol": "udp" }),
            );
            let mut p = json!({ "id": "pair", "type": "candidate-pair", "nominated": true, "state": "succeeded", "localCandidateId": "local", "remoteCandidateId": "remote" });
            if let (Some(rtt), Value::Object(m)) = (path.rtt_s, &mut p) {
                m.insert("currentRoundTripTime".into(), json!(rtt));
            }
            push(&mut out, p);
        }
        // What the remote reports of what we send (RTCP receiver reports).
        for (kind, lost) in &path.lost_out {
            push(
                &mut out,
                json!({ "id": format!("remote-in-{}", kind.as_str()), "type": "remote-inbound-rtp", "kind": kind.as_str(), "packetsLost": lost }),
            );
        }
        push(
            &mut out,
            json!({ "id": "codec-video", "type": "codec", "mimeType": "video/VP8", "clockRate": 90000 }),
        );
        push(
            &mut out,
            json!({ "id": "codec-audio", "type": "codec", "mimeType": "audio/opus", "clockRate": 48000 }),
        );
        let now = Instant::now();
        let mut totals = HashMap::new();
        let prev = lock(&self.inner.stats_prev).take();
        let mut rate = |id: &str, frames: u64, bytes: u64| -> f64 {
            totals.insert(id.to_owned(), (frames, bytes));
            match &prev {
                Some((then, before)) => match before.get(id) {
                    Some((f, _)) if now > *then => {
                        frames.saturating_sub(*f) as f64 / now.duration_since(*then).as_secs_f64()
                    }
                    _ => 0.0,
                },
                None => 0.0,
            }
        };
        let incoming: Vec<(usize, Arc<Counter>)> = lock(&self.inner.incoming)
            .iter()
            .map(|(i, c)| (*i, c.clone()))
            .collect();
        let kinds = self.kinds().await;
        for (index, c) in incoming {
            let kind = kinds.get(&index).copied().unwrap_or(MediaKind::Video);
            let (frames, bytes) = (
                c.frames.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed),
            );
            let id = format!("in-{index}");
            let fps = rate(&id, frames, bytes);
            let mut v = json!({ "id": id, "type": "inbound-rtp", "kind": kind.as_str(), "transceiver": index, "codecId": format!("codec-{}", kind.as_str()), "bytesReceived": bytes, "packetsLost": path.lost_in.get(&kind).copied().unwrap_or(0), "framesReceived": frames });
            if kind == MediaKind::Video {
                video_fields(&mut v, fps, &c);
            }
            push(&mut out, v);
        }
        let outgoing: Vec<(usize, Arc<Outgoing>)> = lock(&self.inner.outgoing)
            .iter()
            .map(|(i, o)| (*i, o.clone()))
            .collect();
        for (index, o) in outgoing {
            let (frames, bytes) = (
                o.counter.frames.load(Ordering::Relaxed),
                o.counter.bytes.load(Ordering::Relaxed),
            );
            if frames == 0 {
                continue;
            }
            let id = format!("out-{index}");
            let fps = rate(&id, frames, bytes);
            let mut v = json!({ "id": id, "type": "outbound-rtp", "kind": o.kind.as_str(), "transceiver": index, "codecId": format!("codec-{}", o.kind.as_str()), "bytesSent": bytes, "framesSent": frames });
            if o.kind == MediaKind::Video {
                video_fields(&mut v, fps, &o.counter);
            }
            push(&mut out, v);
        }
        *lock(&self.inner.stats_prev) = Some((now, totals));
        out
    }

    /// The transceivers, as the page mirrors them.
    pub async fn transceivers(&self) -> Vec<TransceiverInfo> {
        let mut list = Vec::new();
        for t in self.ordered_transceivers().await {
            if let Ok(info) = self.info(t.id(), &t).await {
                list.push(info);
            }
        }
        list
    }

    // ---- inside ------------------------------------------------------------------------------

    /// Makes the webrtc crate's driver look at the connection now. Its `add_transceiver_from_*`
    /// (unlike `create_data_channel`) does not wake the driver, so the `negotiationneeded` it
    /// queues waits for the next packet or timer: on a new connection with transceivers and no
    /// data channel (the one to the host's SFU) there is none, and no offer ever went out.
    /// Setting the same configuration again changes nothing and wakes it.
    async fn wake_driver(&self) {
        let pc = &self.inner.pc;
        let config = pc.get_configuration().await;
        if let Err(e) = pc.set_configuration(config).await {
            log::debug!("bridge: could not wake the connection's driver: {e}");
        }
    }

    fn make_track(&self, kind: MediaKind) -> Result<(Arc<TrackLocalStaticSample>, u32), PeerError> {
        let id = &self.inner.stream_id;
        new_local_track(
            id,
            format!("{id}-{}-{}", kind.as_str(), crate::messages::random_id()),
            kind,
        )
    }

    fn attach_outgoing(
        &self,
        index: usize,
        kind: MediaKind,
        track: (Arc<TrackLocalStaticSample>, u32),
        sender: Arc<dyn RtpSender>,
        source: Option<Arc<LocalMedia>>,
    ) {
        let (source_tx, source_rx) = watch::channel(source);
        let out = Arc::new(Outgoing {
            kind,
            track: track.0,
            ssrc: track.1,
            pt: AtomicU32::new(NO_PT),
            sender,
            source: source_tx,
            counter: Counter::default(),
        });
        lock(&self.inner.outgoing).insert(index, out.clone());
        tokio::spawn(send_media(
            Arc::downgrade(&out),
            self.inner.connected.clone(),
            source_rx.clone(),
        ));
        // Keyframe requests about this track go to whatever media feeds it.
        let track = out.track.clone();
        tokio::spawn(async move {
            while let Some(ev) = track.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(_) = ev {
                    if let Some(media) = source_rx.borrow().as_ref() {
                        media.request_keyframe();
                    }
                }
            }
        });
    }

    /// The transceivers in the order they were made (their ids are their places; the webrtc
    /// crate lists them in no particular order).
    async fn ordered_transceivers(&self) -> Vec<Arc<dyn RtpTransceiver>> {
        let mut list = self.inner.pc.get_transceivers().await;
        list.sort_by_key(|t| t.id());
        list
    }

    async fn transceiver(&self, index: usize) -> Result<Arc<dyn RtpTransceiver>, PeerError> {
        self.inner
            .pc
            .get_transceivers()
            .await
            .into_iter()
            .find(|t| t.id() == index)
            .ok_or_else(|| PeerError::BadRequest(format!("There is no transceiver {index}.")))
    }

    /// A transceiver's kind: ours we know; a remote-made one's is its media section's in the
    /// descriptions (the webrtc crate gives it no receiver to ask).
    async fn kind_at(&self, t: &Arc<dyn RtpTransceiver>) -> MediaKind {
        if let Some(k) = lock(&self.inner.kinds).get(&t.id()) {
            return *k;
        }
        let mid = t.mid().await.ok().flatten();
        if let Some(mid) = mid {
            let pc = &self.inner.pc;
            for d in [pc.remote_description().await, pc.local_description().await]
                .into_iter()
                .flatten()
            {
                if let Some(kind) = section_kind(&d.sdp, &mid) {
                    lock(&self.inner.kinds).insert(t.id(), kind);
                    return kind;
                }
            }
        }
        match t.receiver().await {
            Ok(Some(r)) => kind_of(r.track().kind().await),
            _ => MediaKind::Video,
        }
    }

    async fn kinds(&self) -> HashMap<usize, MediaKind> {
        let mut v = HashMap::new();
        for t in self.inner.pc.get_transceivers().await {
            v.insert(t.id(), self.kind_at(&t).await);
        }
        v
    }

    async fn info(
        &self,
        index: usize,
        t: &Arc<dyn RtpTransceiver>,
    ) -> Result<TransceiverInfo, PeerError> {
        let current = t.current_direction().await?;
        Ok(TransceiverInfo {
            index,
            kind: self.kind_at(t).await,
            mid: t.mid().await?,
            direction: t.direction().await?.to_string(),
            current_direction: (current != RTCRtpTransceiverDirection::Unspecified)
                .then(|| current.to_string()),
        })
    }

    async fn stable(&self) -> bool {
        self.inner.pc.pending_local_description().await.is_none()
            && self.inner.pc.pending_remote_description().await.is_none()
    }

    async fn signaling_state(&self) -> &'static str {
        let pc = &self.inner.pc;
        if pc.pending_local_description().await.is_some() {
            "have-local-offer"
        } else if pc.pending_remote_description().await.is_some() {
            "have-remote-offer"
        } else {
            "stable"
        }
    }

    /// After a description: payload types of our senders, a negotiation held back, the snapshot.
    async fn after_description(&self) -> Result<Snapshot, PeerError> {
        let state = self.signaling_state().await;
        if state == "stable" {
            let outgoing: Vec<Arc<Outgoing>> =
                lock(&self.inner.outgoing).values().cloned().collect();
            for out in outgoing {
                let Some(pt) = negotiated_pt(&out.sender, out.kind).await else {
                    continue;
                };
                if out.pt.swap(pt, Ordering::Relaxed) != pt {
                    if let Some(media) = out.source.borrow().as_ref() {
                        media.request_keyframe();
                    }
                }
            }
            if self
                .inner
                .negotiation_pending
                .swap(false, Ordering::Relaxed)
            {
                (self.inner.events)(BridgeEvent::NegotiationNeeded);
            }
        }
        let pc = &self.inner.pc;
        Ok(Snapshot {
            signaling_state: state,
            local_description: pc
                .local_description()
                .await
                .map(|d| self.inner.setup.signalled(d)),
            remote_description: pc.remote_description().await.map(|d| Description {
                kind: d.sdp_type.to_string(),
                sdp: d.sdp,
            }),
            transceivers: self.transceivers().await,
        })
    }
}

/// A video stream entry's `framesPerSecond`, `frameWidth` and `frameHeight`.
fn video_fields(entry: &mut serde_json::Value, fps: f64, counter: &Counter) {
    let size = counter.size.load(Ordering::Relaxed);
    let (w, h) = ((size >> 32) as u32, size as u32);
    if let serde_json::Value::Object(m) = entry {
        m.insert("framesPerSecond".into(), serde_json::json!(fps.round()));
        if w > 0 {
            m.insert("frameWidth".into(), serde_json::json!(w));
            m.insert("frameHeight".into(), serde_json::json!(h));
        }
    }
}

/// The kind of the media section whose `a=mid:` is `mid` in `sdp`.
fn section_kind(sdp: &str, mid: &str) -> Option<MediaKind> {
    let mut kind = None;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            kind = match m.split(' ').next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
        } else if line.strip_prefix("a=mid:").map(str::trim) == Some(mid) {
            return kind;
        }
    }
    None
}

/// Handles the stack's callbacks in order.
async fn stack_events(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<StackEvent>) {
    while let Some(ev) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { break };
        if inner.closed.load(Ordering::Relaxed) {
            continue;
        }
        let bridge = BridgePc {
            inner: inner.clone(),
        };
        match ev {
            StackEvent::NegotiationNeeded => {
                let _op = inner.ops.lock().await;
                if bridge.stable().await {
                    (inner.events)(BridgeEvent::NegotiationNeeded);
                } else {
                    inner.negotiation_pending.store(true, Ordering::Relaxed);
                }
            }
            StackEvent::Candidate(ev) => {
                if let Some(candidate) = signalled_candidate(inner.pc.as_ref(), &ev).await {
                    (inner.events)(BridgeEvent::IceCandidate { candidate });
                }
            }
            StackEvent::Connection(s) => {
                inner
                    .connected
                    .store(s == RTCPeerConnectionState::Connected, Ordering::Relaxed);
                if s == RTCPeerConnectionState::Connected {
                    for out in lock(&inner.outgoing).values() {
                        if let Some(media) = out.source.borrow().as_ref() {
                            media.request_keyframe();
                        }
                    }
                }
                (inner.events)(BridgeEvent::ConnectionState {
                    state: state_name(s),
                });
            }
            StackEvent::Ice(s) => (inner.events)(BridgeEvent::IceConnectionState {
                state: s.to_string(),
            }),
            StackEvent::Channel(channel) => {
                let id = inner.next_remote_channel.fetch_add(1, Ordering::Relaxed);
                let label = channel.label().await.unwrap_or_default();
                let ordered = channel.ordered().await.unwrap_or(true);
                (inner.events)(BridgeEvent::DataChannel {
                    channel: id,
                    label,
                    ordered,
                });
                watch_channel(&inner, id, channel);
            }
            StackEvent::Track(track) => {
                let track_id = track.track_id().await;
                {
                    let mut seen = lock(&inner.seen_tracks);
                    if seen.contains(&track_id) {
                        log::debug!("bridge: remote track {track_id} again");
                        continue;
                    }
                    seen.push(track_id.clone());
                }
                let kind = kind_of(track.kind().await);
                let mut index = None;
                for t in inner.pc.get_transceivers().await {
                    if let Ok(Some(r)) = t.receiver().await {
                        if r.track().track_id().await == track_id {
                            index = Some(t.id());
                            break;
                        }
                    }
                }
                let Some(index) = index else {
                    log::warn!(
                        "bridge: a remote {} track ({track_id}) on no transceiver",
                        kind.as_str()
                    );
                    continue;
                };
                log::debug!(
                    "bridge: remote {} track {track_id} on transceiver {index}",
                    kind.as_str()
                );
                let counter = Arc::new(Counter::default());
                lock(&inner.incoming).insert(index, counter.clone());
                let keyframe_wanted = Arc::new(AtomicBool::new(false));
                lock(&inner.keyframe_wanted).insert(index, keyframe_wanted.clone());
                (inner.events)(BridgeEvent::Track {
                    transceiver: index,
                    kind,
                });
                tokio::spawn(receive_media(
                    track,
                    index,
                    kind,
                    TrackRole::Main,
                    inner.sink.clone(),
                    move |bytes, size| counter.add(bytes, size),
                    keyframe_wanted,
                ));
            }
        }
    }
}

/// Reports a data channel's open, messages and close.
fn watch_channel(inner: &Arc<Inner>, id: u32, channel: Arc<dyn DataChannel>) {
    lock(&inner.channels).insert(id, channel.clone());
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        while let Some(ev) = channel.poll().await {
            let Some(inner) = weak.upgrade() else { break };
            if inner.closed.load(Ordering::Relaxed) {
                break;
            }
            let event = match ev {
                DataChannelEvent::OnOpen => BridgeEvent::ChannelOpen { channel: id },
                DataChannelEvent::OnClose => BridgeEvent::ChannelClose { channel: id },
                DataChannelEvent::OnMessage(m) if m.is_string => {
                    match String::from_utf8(m.data.to_vec()) {
                        Ok(text) => BridgeEvent::ChannelMessage { channel: id, text },
                        Err(_) => continue,
                    }
                }
                DataChannelEvent::OnMessage(m) => BridgeEvent::ChannelBytes { channel: id, data: m.data.to_vec() },
                _ => continue,
            };
            let last = matches!(event, BridgeEvent::ChannelClose { .. });
            (inner.events)(event);
            if last {
                lock(&inner.channels).remove(&id);
                break;
            }
        }
    });
}

/// Writes what the current source encodes to one transceiver's track.
async fn send_media(
    out: Weak<Outgoing>,
    connected: Arc<AtomicBool>,
    mut source: watch::Receiver<Option<Arc<LocalMedia>>>,
) {
    loop {
        let media = source.borrow_and_update().clone();
        let Some(media) = media else {
            if source.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut rx = media.subscribe();
        drop(media);
        loop {
            let sample: Arc<EncodedSample> = tokio::select! {
                changed = source.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                s = rx.recv() => match s {
                    Ok(s) => s,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(m) = source.borrow().as_ref() {
                            m.request_keyframe();
                        }
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            };
            let Some(out) = out.upgrade() else { return };
            let pt = out.pt.load(Ordering::Relaxed);
            if sample.kind != out.kind || pt == NO_PT || !connected.load(Ordering::Relaxed) {
                continue;
            }
            let s = Sample {
                data: sample.data.clone(),
                duration: sample.duration,
                ..Sample::new(sample.captured)
            };
            // Not bound yet (DTLS still connecting) is an error we expect: skip the sample.
            if out
                .track
                .write_sample(out.ssrc, pt as u8, &s, &[])
                .await
                .is_ok()
            {
                let size = if sample.kind == MediaKind::Video {
                    vp8_keyframe_size(&sample.data)
                } else {
                    None
                };
                out.counter.add(sample.data.len(), size);
            }
        }
    }
}
