//! One participant: its `Rtc`, the tracks it publishes, the tracks it receives from the others,
//! and the negotiation the SFU leads towards it.
//!
//! Nothing here touches another participant: what one participant's `Rtc` says that concerns
//! others comes back as a [`Happened`] for the engine to route.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{
    Direction, KeyframeRequestKind, MediaData, MediaKind as StrMediaKind, Mid, Rid,
};
use str0m::bwe::{Bitrate, BweKind};
use str0m::net::Protocol;
use str0m::{Event, IceConnectionState, Input, Output, Rtc, RtcError};

use crate::engine::Counters;
use crate::layers::{
    choose_layer, Decision, LayerChoice, LayerInfo, LayerKey, PublishedLayers, RateMeter, Wanted,
};
use crate::sdp::{send_sections, with_slot_msids, SlotMsids};
use crate::{GoneReason, MediaKind, ParticipantId, Patience};

/// At most one keyframe request per published track this often: a keyframe costs the publisher
/// 5-10x a normal frame, and one already asked for serves every subscriber waiting for it.
pub(crate) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);
/// Malformed frames from one participant dropped in one drain before it counts as broken.
const MAX_MALFORMED_PER_TURN: u32 = 64;

/// The estimate counts as a shortage when it stays below this share of what is being sent to
/// the participant for [`SHORTAGE_FOR`]. str0m's TWCC estimator (a port of libwebrtc's GoogCC)
/// sits near what is being sent as long as nothing probes higher: measured with webrtc-rs
/// subscribers in the tests, 1.0-1.5 times the rate sent, with dips to 0.74 for a moment (the
/// first keyframes, a busy machine). Taken as a limit all the time it would hold every
/// subscriber at the layer it has.
const SHORTAGE: f64 = 0.6;
const SHORTAGE_FOR: Duration = Duration::from_secs(2);
/// After a shortage, the estimate limits the participant's layers this long, doubled each time
/// a shortage comes back within the hold (up to [`SHORTAGE_HOLD_MAX`]); then higher layers are
/// tried again.
const SHORTAGE_HOLD: Duration = Duration::from_secs(8);
const SHORTAGE_HOLD_MAX: Duration = Duration::from_secs(64);

/// Frames held for a track that cannot flow yet ([`Held`]): at most this many, this many bytes,
/// and from a keyframe at most this old when the track opens (older, it would show the person as
/// they were, then catch up: a keyframe is asked for instead).
const HOLD_MAX_FRAMES: usize = 90;
const HOLD_MAX_BYTES: usize = 1_500_000;
pub(crate) const HOLD_MAX_AGE: Duration = Duration::from_millis(500);

/// Bandwidth kept aside for the forwarded voices (3 Opus streams of up to 40 kbit/s) before
/// the estimate is shared among video tracks.
const AUDIO_RESERVE_BPS: u64 = 120_000;

/// A track this participant publishes.
pub(crate) struct TrackIn {
    pub(crate) kind: MediaKind,
    /// Its layers (video; a track without simulcast is one layer).
    pub(crate) layers: PublishedLayers,
    last_keyframe_request: Option<Instant>,
}

/// Where a track sent to this participant stands in the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// Waiting for the next offer.
    ToOpen,
    /// In the outstanding offer.
    Negotiating(Mid),
    /// Negotiated: media flows.
    Open(Mid),
    /// Its source is gone: to stop in the next offer.
    ToStop(Mid),
    /// Being stopped by the outstanding offer.
    Stopping(Mid),
}

/// A track another participant publishes, sent to this one.
struct TrackOut {
    source: (ParticipantId, Mid),
    kind: MediaKind,
    /// The msid stream id: the publisher's label, so a client can tell whose track it is.
    stream_id: String,
    state: OutState,
    /// Which layer of it this participant receives (video).
    choice: LayerChoice,
    /// Video frames that came while it could not flow yet.
    held: Held,
    /// Something of it was written (for the log: when a first picture went out).
    written: bool,
}

/// The frames of a video track that came while the track towards a subscriber was still being
/// negotiated, or its connection was not up yet: from the first keyframe on (of whichever layer
/// has one first), in the order they came. Written the moment the track can flow, they give a
/// new subscriber its first picture at once; without them it would wait for a keyframe asked
/// for only then (the publisher's encoder, its pacer and the trip: ~100-150 ms measured).
#[derive(Default)]
struct Held {
    frames: Vec<MediaData>,
    bytes: usize,
    /// When the first (key)frame came.
    since: Option<Instant>,
}

/// A copy of a frame (str0m's `MediaData` is not `Clone`; its payload is shared, not copied).
fn copy_media(d: &MediaData) -> MediaData {
    MediaData {
        mid: d.mid,
        pt: d.pt,
        rid: d.rid,
        params: d.params,
        time: d.time,
        network_time: d.network_time,
        seq_range: d.seq_range.clone(),
        contiguous: d.contiguous,
        data: d.data.clone(),
        ext_vals: d.ext_vals.clone(),
        codec_extra: d.codec_extra,
        last_sender_info: d.last_sender_info,
        audio_start_of_talk_spurt: d.audio_start_of_talk_spurt,
    }
}

impl Held {
    /// Keeps `data` if it is a keyframe or follows one; true if kept.
    fn hold(&mut self, data: &MediaData, now: Instant) -> bool {
        let keyframe = data.is_keyframe();
        if keyframe && self.frames.first().is_none_or(|f| f.rid == data.rid) {
            // A newer keyframe of the layer it starts with: start again from it.
            self.clear();
            self.since = Some(now);
        } else if self.frames.is_empty() {
            return false;
        }
        self.bytes += data.data.len();
        self.frames.push(copy_media(data));
        if self.frames.len() > HOLD_MAX_FRAMES || self.bytes > HOLD_MAX_BYTES {
            // Too long to be worth a burst: a keyframe is asked for when the track opens.
            self.clear();
            return false;
        }
        true
    }

    /// Holds a keyframe that is still fresh enough to start from (at most `max_age` old).
    fn fresh(&self, now: Instant, max_age: Duration) -> bool {
        self.since.is_some_and(|t| now.saturating_duration_since(t) <= max_age)
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
        self.since = None;
    }
}

/// What a participant's `Rtc` said that the engine must act on.
#[derive(Debug)]
pub(crate) enum Happened {
    /// ICE and DTLS are up.
    Connected,
    /// It publishes a new track.
    TrackIn {
        mid: Mid,
        kind: MediaKind,
        rids: Vec<Rid>,
    },
    /// A track it published ended (renegotiated away).
    TrackInEnded { mid: Mid },
    /// A frame of one of its tracks (boxed: it is by far the largest variant).
    Media(Box<MediaData>),
    /// A keyframe of a track it receives is wanted (the publisher and its mid): asked by its
    /// client (`by_client`, a PLI/FIR) or by the SFU for it (a new track, a reconnection).
    KeyframeWanted {
        by_client: bool,
        source: (ParticipantId, Mid),
        /// The layer it receives (`None`: it has received none yet; it will ask for the one
        /// it needs when that layer's first frame arrives).
        layer: Option<LayerKey>,
        kind: KeyframeRequestKind,
    },
    /// It must be removed.
    Gone(GoneReason),
}

pub(crate) struct Participant {
    pub(crate) id: ParticipantId,
    pub(crate) label: String,
    /// The room it is in: it receives the tracks of the others in the same room only.
    pub(crate) room: String,
    pub(crate) rtc: Rtc,
    pub(crate) tracks_in: HashMap<Mid, TrackIn>,
    tracks_out: Vec<TrackOut>,
    pending: Option<SdpPendingOffer>,
    /// When its `Rtc` next wants `Input::Timeout` (or a watchdog fires).
    pub(crate) timer: Instant,
    joined: Instant,
    patience: Patience,
    connected: bool,
    ever_connected: bool,
    disconnected_since: Option<Instant>,
    gone: bool,
    /// How tall it shows each track it receives ([`crate::Sfu::set_wanted`]; absent: the
    /// default, the highest layer).
    wanted: HashMap<(ParticipantId, Mid), Wanted>,
    /// Its send-side bandwidth estimate (TWCC), while str0m can probe.
    pub(crate) estimate: Option<u64>,
    /// What its estimator was last told to probe for.
    desired_bitrate: Option<u64>,
    /// What is sent to it (media, as written).
    sent: RateMeter,
    /// Its estimate limits its layers until then (after a shortage), and the hold that set it.
    limited: Option<(Instant, Duration)>,
    /// Since when the estimate is short of what is sent.
    short_since: Option<Instant>,
    /// Its estimate may limit its layers (off only through a test hook).
    pub(crate) bandwidth_limits: bool,
    /// How old a held keyframe may be ([`HOLD_MAX_AGE`]; longer only through a test hook).
    pub(crate) hold_max_age: Duration,
    /// The addresses it was given as the SFU's host candidates.
    pub(crate) advertise: Vec<IpAddr>,
    /// The sections its client offered to receive on, and whose track each carries
    /// ([`Participant::bind_slots`]).
    slots: SlotMsids,
}

/// A video track a participant receives, as the layer choice sees it.
pub(crate) struct VideoSubscription {
    /// The publisher and its mid.
    pub(crate) source: (ParticipantId, Mid),
    /// How tall the subscriber shows it.
    pub(crate) wanted: Wanted,
    /// Its share of the subscriber's bandwidth estimate (`None`: no estimate).
    pub(crate) budget: Option<u64>,
    /// The layer it receives now.
    pub(crate) current: Option<LayerKey>,
}

/// What became of one frame written towards this participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// Written (`switched`: the first frame of another layer than the one before).
    Written { switched: bool },
    /// Not negotiated (yet), not connected, or a write that failed.
    NotOpen,
    /// Kept to be written when its track can flow ([`Held`]).
    Held,
    /// Not the layer it receives.
    NotChosen,
    /// It does not show the track.
    Paused,
    /// Dropped: it needs a keyframe of this layer to switch to it.
    WantKeyframe(LayerKey),
}

fn kind_of(k: StrMediaKind) -> MediaKind {
    match k {
        StrMediaKind::Audio => MediaKind::Audio,
        StrMediaKind::Video => MediaKind::Video,
    }
}

fn str0m_kind(k: MediaKind) -> StrMediaKind {
    match k {
        MediaKind::Audio => StrMediaKind::Audio,
        MediaKind::Video => StrMediaKind::Video,
    }
}

impl Participant {
    pub(crate) fn new(
        id: ParticipantId,
        label: String,
        rtc: Rtc,
        patience: Patience,
        now: Instant,
    ) -> Participant {
        Participant {
            id,
            label,
            room: String::new(),
            rtc,
            tracks_in: HashMap::new(),
            tracks_out: Vec::new(),
            pending: None,
            timer: now,
            joined: now,
            patience,
            connected: false,
            ever_connected: false,
            disconnected_since: None,
            gone: false,
            wanted: HashMap::new(),
            estimate: None,
            desired_bitrate: None,
            sent: RateMeter::default(),
            limited: None,
            short_since: None,
            bandwidth_limits: true,
            hold_max_age: HOLD_MAX_AGE,
            advertise: Vec::new(),
            slots: SlotMsids::new(),
        }
    }

    /// Feeds one input to the `Rtc`; an error ends this participant (only).
    pub(crate) fn handle_input(&mut self, input: Input, out: &mut Vec<Happened>) {
        if let Err(e) = self.rtc.handle_input(input) {
            log::warn!(
                "sfu: participant {} ({}): {e}; disconnecting it",
                self.id,
                self.label
            );
            self.end(GoneReason::Error(e.to_string()), out);
        }
    }

    fn end(&mut self, reason: GoneReason, out: &mut Vec<Happened>) {
        if !self.gone {
            self.gone = true;
            self.rtc.disconnect();
            out.push(Happened::Gone(reason));
        }
    }

    /// Drains `poll_output` until `Output::Timeout` (str0m's rule after every change), sending
    /// what it transmits and collecting what concerns the engine.
    pub(crate) fn drain(
        &mut self,
        net: &crate::engine::Net<'_>,
        counters: &Counters,
        out: &mut Vec<Happened>,
    ) {
        let now = Instant::now();
        let mut malformed = 0;
        loop {
            if self.gone {
                self.timer = now + self.patience.connect;
                return;
            }
            if !self.rtc.is_alive() {
                self.end(GoneReason::Closed, out);
                continue;
            }
            let output = match self.rtc.poll_output() {
                Ok(o) => o,
                // A frame its own sender got wrong (a short or corrupt VP8 packet, found by the
                // fuzz target): dropped, not the end of its media. Many in one turn is a broken
                // sender, and ends it as any other error.
                Err(RtcError::Packet(mid, pt, e)) if malformed < MAX_MALFORMED_PER_TURN => {
                    malformed += 1;
                    counters.frames_malformed.add();
                    log::debug!("sfu: participant {} ({}): a malformed frame on {mid} (pt {pt}) dropped: {e}", self.id, self.label);
                    continue;
                }
                Err(e) => {
                    log::warn!(
                        "sfu: participant {} ({}): {e}; disconnecting it",
                        self.id,
                        self.label
                    );
                    self.end(GoneReason::Error(e.to_string()), out);
                    continue;
                }
            };
            match output {
                Output::Timeout(t) => {
                    self.timer = t.min(self.watchdog());
                    if now >= self.watchdog() {
                        self.check_watchdog(now, out);
                        continue;
                    }
                    return;
                }
                Output::Transmit(t) if t.proto == Protocol::Tcp => {
                    // ICE-TCP: to the connection's writer thread, never waited on.
                    let queued = net.tcp.get(&t.destination).is_some_and(|w| w.try_send(t.contents.to_vec()).is_ok());
                    if !queued {
                        counters.send_errors.add();
                        log::debug!("sfu: no room on the TCP connection to {}", t.destination);
                    }
                }
                Output::Transmit(t) => {
                    if let Err(e) = net.udp.send_to(&t.contents, t.destination) {
                        counters.send_errors.add();
                        log::debug!("sfu: sending to {} failed: {e}", t.destination);
                    }
                }
                Output::Event(e) => self.on_event(e, now, out),
            }
        }
    }

    /// When a watchdog (connect or disconnected patience) runs out.
    fn watchdog(&self) -> Instant {
        if !self.ever_connected {
            self.joined + self.patience.connect
        } else if let Some(since) = self.disconnected_since {
            since + self.patience.disconnected
        } else {
            // Far enough to never matter, near enough to never overflow.
            Instant::now() + Duration::from_secs(3_600)
        }
    }

    fn check_watchdog(&mut self, now: Instant, out: &mut Vec<Happened>) {
        if !self.ever_connected && now >= self.joined + self.patience.connect {
            log::info!(
                "sfu: participant {} ({}) never connected; removing it",
                self.id,
                self.label
            );
            self.end(GoneReason::NeverConnected, out);
        } else if self
            .disconnected_since
            .is_some_and(|s| now >= s + self.patience.disconnected)
        {
            log::info!(
                "sfu: participant {} ({}) stayed disconnected; removing it",
                self.id,
                self.label
            );
            self.end(GoneReason::IceTimeout, out);
        }
    }

    fn on_event(&mut self, e: Event, now: Instant, out: &mut Vec<Happened>) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.ever_connected = true;
                out.push(Happened::Connected);
                // Whatever it receives needs a keyframe now: writes before this were dropped.
                self.want_keyframes(out);
            }
            Event::IceConnectionStateChange(state) => {
                log::debug!("sfu: participant {} ICE {state:?}", self.id);
                match state {
                    IceConnectionState::Disconnected => {
                        self.disconnected_since.get_or_insert(now);
                    }
                    IceConnectionState::Connected | IceConnectionState::Completed
                        if self.disconnected_since.is_some() =>
                    {
                        // Back: what was sent meanwhile was lost.
                        self.disconnected_since = None;
                        self.want_keyframes(out);
                    }
                    _ => {}
                }
            }
            // Our own send-only lines are known by their TrackOut; the publisher's come here.
            Event::MediaAdded(m)
                if m.direction.is_receiving() && !self.tracks_in.contains_key(&m.mid) =>
            {
                let rids: Vec<Rid> = m
                    .simulcast
                    .map(|s| s.recv.into_iter().map(|l| l.rid).collect())
                    .unwrap_or_default();
                let kind = kind_of(m.kind);
                self.tracks_in.insert(
                    m.mid,
                    TrackIn {
                        kind,
                        layers: PublishedLayers::new(rids.clone(), now),
                        last_keyframe_request: None,
                    },
                );
                out.push(Happened::TrackIn {
                    mid: m.mid,
                    kind,
                    rids,
                });
            }
            Event::MediaChanged(m)
                if !m.direction.is_receiving() && self.tracks_in.contains_key(&m.mid) =>
            {
                self.tracks_in.remove(&m.mid);
                out.push(Happened::TrackInEnded { mid: m.mid });
            }
            Event::MediaData(data) => {
                if !data.contiguous {
                    // A gap NACKs could not fill: the subscribers' decoders need a fresh start.
                    let (mid, rid) = (data.mid, data.rid);
                    self.request_keyframe(mid, Some(rid), KeyframeRequestKind::Pli, now, "a gap in its frames");
                }
                out.push(Happened::Media(Box::new(data)));
            }
            Event::KeyframeRequest(req) => {
                if let Some(t) = self
                    .tracks_out
                    .iter()
                    .find(|t| out_mid(t.state) == Some(req.mid))
                {
                    if let Some(layer) = t.choice.current() {
                        out.push(Happened::KeyframeWanted {
                            by_client: true,
                            source: t.source,
                            layer: Some(*layer),
                            kind: req.kind,
                        });
                    }
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc {
                estimate,
                can_probe,
            }) => {
                self.estimate = can_probe.then_some(estimate.as_u64());
                self.check_shortage(now);
            }
            Event::Closed => {
                log::info!(
                    "sfu: participant {} ({}) closed its connection",
                    self.id,
                    self.label
                );
                self.end(GoneReason::Closed, out);
            }
            _ => {}
        }
    }

    /// Keyframe requests for every open video track it receives.
    fn want_keyframes(&self, out: &mut Vec<Happened>) {
        let now = Instant::now();
        for t in &self.tracks_out {
            // What it held starts with a keyframe: written as the connection comes up.
            if t.kind == MediaKind::Video && matches!(t.state, OutState::Open(_)) && !t.held.fresh(now, self.hold_max_age) {
                out.push(Happened::KeyframeWanted {
                    by_client: false,
                    source: t.source,
                    layer: t.choice.current().copied(),
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
    }

    /// Asks this participant (as publisher) for a keyframe of track `mid` on `layer` (`None`:
    /// every layer it sends), at most once per [`KEYFRAME_REQUEST_INTERVAL`]. True if a
    /// request went out.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        layer: Option<LayerKey>,
        kind: KeyframeRequestKind,
        now: Instant,
        why: &'static str,
    ) -> bool {
        let Some(track) = self.tracks_in.get_mut(&mid) else {
            return false;
        };
        if track.kind != MediaKind::Video
            || track
                .last_keyframe_request
                .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL)
        {
            return false;
        }
        let layers: Vec<LayerKey> = match layer {
            Some(layer) => vec![layer],
            None => track.layers.info(now).into_iter().map(|l| l.rid).collect(),
        };
        let Some(mut writer) = self.rtc.writer(mid) else {
            return false;
        };
        let kind = if writer.is_request_keyframe_possible(kind) {
            kind
        } else {
            KeyframeRequestKind::Pli
        };
        let mut sent = false;
        for rid in layers {
            match writer.request_keyframe(rid, kind) {
                Ok(()) => sent = true,
                Err(e) => {
                    log::debug!("sfu: keyframe request to {} on {mid} failed: {e}", self.id)
                }
            }
        }
        if sent {
            log::debug!("sfu: keyframe asked of participant {} on {mid} ({kind:?}): {why}", self.id);
            track.last_keyframe_request = Some(now);
        }
        sent
    }

    /// Starts sending another participant's track to this one (in the next offer).
    pub(crate) fn subscribe(
        &mut self,
        source: (ParticipantId, Mid),
        kind: MediaKind,
        stream_id: &str,
    ) {
        if self.tracks_out.iter().any(|t| t.source == source) {
            return;
        }
        self.tracks_out.push(TrackOut {
            source,
            kind,
            stream_id: stream_id.to_owned(),
            state: OutState::ToOpen,
            choice: LayerChoice::default(),
            held: Held::default(),
            written: false,
        });
    }

    /// Stops sending a track whose source ended (in the next offer).
    pub(crate) fn unsubscribe(&mut self, source: (ParticipantId, Mid)) {
        self.wanted.remove(&source);
        self.tracks_out.retain_mut(|t| {
            if t.source != source {
                return true;
            }
            match t.state {
                OutState::ToOpen => false,
                OutState::Open(m) => {
                    t.state = OutState::ToStop(m);
                    true
                }
                // Settled when the answer comes (see accept_answer).
                OutState::Negotiating(_) | OutState::ToStop(_) | OutState::Stopping(_) => true,
            }
        });
        // A stop for a track still being negotiated is remembered by its source being gone.
    }

    /// Stops sending every track of `publisher`.
    pub(crate) fn unsubscribe_all_of(&mut self, publisher: ParticipantId) {
        let sources: Vec<(ParticipantId, Mid)> = self
            .tracks_out
            .iter()
            .filter(|t| t.source.0 == publisher)
            .map(|t| t.source)
            .collect();
        for s in sources {
            self.unsubscribe(s);
        }
    }

    /// Makes an offer if tracks are to be opened or stopped and none is outstanding.
    /// `source_alive` tells whether a track's publisher still publishes it.
    pub(crate) fn negotiate(
        &mut self,
        source_alive: &dyn Fn((ParticipantId, Mid)) -> bool,
    ) -> Option<String> {
        if self.pending.is_some() || self.gone {
            return None;
        }
        for t in &mut self.tracks_out {
            if let OutState::Open(m) = t.state {
                if !source_alive(t.source) {
                    t.state = OutState::ToStop(m);
                }
            }
        }
        self.tracks_out
            .retain(|t| t.state != OutState::ToOpen || source_alive(t.source));
        let mut change = self.rtc.sdp_api();
        for t in &mut self.tracks_out {
            match t.state {
                OutState::ToOpen => {
                    let track_id = format!("{}-{}", t.stream_id, t.source.1);
                    let mid = change.add_media(
                        str0m_kind(t.kind),
                        Direction::SendOnly,
                        Some(t.stream_id.clone()),
                        Some(track_id),
                        None,
                    );
                    t.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    change.stop_media(mid);
                    t.state = OutState::Stopping(mid);
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return None;
        }
        let (offer, pending) = change.apply()?;
        self.pending = Some(pending);
        Some(self.sdp_out(&offer.to_sdp_string()))
    }

    /// Binds the tracks waiting for an offer to the sections its client offered to receive on
    /// (its receive slots: `answer` sends on them), so they flow as soon as it is connected,
    /// with no negotiation of their own: a joiner that offers a slot for each of the others
    /// gets their pictures one negotiation sooner. Returns the answer as the client must see
    /// it: each bound slot's msid names the track's owner, as the SFU's own offers do; a spare
    /// slot has none.
    pub(crate) fn bind_slots(&mut self, answer: &str) -> String {
        for (mid, kind) in send_sections(answer) {
            if self.slots.contains_key(&mid) || self.tracks_out.iter().any(|t| out_mid(t.state) == Some(mid)) {
                continue;
            }
            let waiting = self.tracks_out.iter_mut().find(|t| t.state == OutState::ToOpen && t.kind == kind);
            let msid = waiting.map(|t| {
                t.state = OutState::Open(mid);
                (t.stream_id.clone(), format!("{}-{}", t.stream_id, t.source.1))
            });
            log::debug!("sfu: participant {} receives {} on its slot {mid}", self.id, msid.as_ref().map_or("nothing yet", |m| m.1.as_str()));
            self.slots.insert(mid, msid);
        }
        self.sdp_out(answer)
    }

    /// A description for its client, with its slots' msids ([`crate::sdp`]).
    fn sdp_out(&self, sdp: &str) -> String {
        with_slot_msids(sdp, &self.slots)
    }

    /// The participant's answer to our outstanding offer. Returns the keyframe requests the newly
    /// open tracks need.
    pub(crate) fn accept_answer(
        &mut self,
        answer: SdpAnswer,
        out: &mut Vec<Happened>,
    ) -> Result<(), AnswerError> {
        let pending = self.pending.take().ok_or(AnswerError::NoOffer)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| AnswerError::Refused(e.to_string()))?;
        let now = Instant::now();
        for t in &mut self.tracks_out {
            if let OutState::Negotiating(m) = t.state {
                t.state = OutState::Open(m);
                // With a fresh keyframe held, the picture starts from it (see take_held), now or
                // when the connection comes up (want_keyframes asks then if it went stale).
                if t.kind == MediaKind::Video && !t.held.fresh(now, self.hold_max_age) {
                    out.push(Happened::KeyframeWanted {
                        by_client: false,
                        source: t.source,
                        layer: t.choice.current().copied(),
                        kind: KeyframeRequestKind::Pli,
                    });
                }
            }
        }
        self.tracks_out
            .retain(|t| !matches!(t.state, OutState::Stopping(_)));
        Ok(())
    }

    /// An offer the participant made (it added or removed media). The SFU is the polite side: an
    /// offer of ours still outstanding is dropped and made again after this one.
    pub(crate) fn accept_offer(&mut self, offer: SdpOffer) -> Result<String, String> {
        if self.pending.take().is_some() {
            for t in &mut self.tracks_out {
                match t.state {
                    OutState::Negotiating(_) => t.state = OutState::ToOpen,
                    OutState::Stopping(m) => t.state = OutState::ToStop(m),
                    _ => {}
                }
            }
        }
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        Ok(self.bind_slots(&answer.to_sdp_string()))
    }

    /// Sends a frame of another participant's track on the matching outgoing track, if it is
    /// negotiated and (video) of the layer this participant receives; `layers` are the
    /// publisher's layers of that track.
    pub(crate) fn forward(
        &mut self,
        source: (ParticipantId, Mid),
        data: &MediaData,
        layers: &[LayerInfo],
        now: Instant,
        out: &mut Vec<Happened>,
    ) -> Forwarded {
        if self.gone {
            return Forwarded::NotOpen;
        }
        let connected = self.connected;
        let budget = self.budget_for(source);
        let wanted = self.wanted_of(source);
        let Some(track) = self.tracks_out.iter_mut().find(|t| {
            t.source == source
                && matches!(t.state, OutState::ToOpen | OutState::Negotiating(_) | OutState::Open(_))
        }) else {
            return Forwarded::NotOpen;
        };
        let mid = match track.state {
            OutState::Open(mid) if connected => mid,
            _ if track.kind == MediaKind::Video && track.held.hold(data, now) => return Forwarded::Held,
            _ => return Forwarded::NotOpen,
        };
        let mut switched = false;
        let time = if track.kind == MediaKind::Video {
            let current = track.choice.current().copied();
            let target = choose_layer(layers, wanted, budget, current.as_ref(), true);
            match track
                .choice
                .on_frame(data.rid, data.is_keyframe(), data.time, target, now)
            {
                Decision::Forward(time) => {
                    switched = current.is_some_and(|c| c != data.rid);
                    time
                }
                Decision::NotChosen => return Forwarded::NotChosen,
                Decision::Paused => return Forwarded::Paused,
                Decision::DropAndRequestKeyframe(layer) => return Forwarded::WantKeyframe(layer),
            }
        } else {
            data.time
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return Forwarded::NotOpen;
        };
        let Some(pt) = writer.match_params(data.params) else {
            return Forwarded::NotOpen;
        };
        let writer = match (data.ext_vals.audio_level, data.ext_vals.voice_activity) {
            (Some(level), voice) => writer.audio_level(level, voice.unwrap_or(false)),
            _ => writer,
        };
        if let Err(e) = writer.write(pt, data.network_time, time, data.data.clone()) {
            log::warn!(
                "sfu: writing to participant {} failed: {e}; disconnecting it",
                self.id
            );
            self.end(GoneReason::Error(e.to_string()), out);
            return Forwarded::NotOpen;
        }
        if !track.written {
            track.written = true;
            if track.kind == MediaKind::Video {
                // Sent as it comes, as Janus and mediasoup do: the publisher's browser already
                // paced it (at 2.5 times its estimate). str0m's pacer would hold each subscriber's
                // video to 1.1 times its estimate, so a keyframe took ~90 ms to leave and every
                // picture behind it waited (bench/sfu.md, "forwarding delay"). The estimate
                // still runs, from the same feedback, and still sizes the layers.
                if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    tx.set_unpaced(true);
                }
            }
            log::debug!(
                "sfu: participant {}: first frame of {}'s {} written ({:?}, keyframe: {})",
                self.id, source.0, source.1, data.rid, data.is_keyframe()
            );
        }
        self.sent.add(data.data.len(), now);
        Forwarded::Written { switched }
    }

    /// The frames held for tracks that can flow now (open, connected), by source, to be written
    /// in order through [`Participant::forward`]; held frames too old to start from are dropped
    /// (a keyframe was asked for instead).
    pub(crate) fn take_held(&mut self, now: Instant) -> Vec<((ParticipantId, Mid), Vec<MediaData>)> {
        if !self.connected || self.gone {
            return Vec::new();
        }
        let mut ready = Vec::new();
        for t in &mut self.tracks_out {
            if !matches!(t.state, OutState::Open(_)) || t.held.frames.is_empty() {
                continue;
            }
            let fresh = t.held.fresh(now, self.hold_max_age);
            let frames = std::mem::take(&mut t.held.frames);
            t.held.clear();
            if fresh {
                ready.push((t.source, frames));
            }
        }
        ready
    }

    /// Starts (or lengthens) the time its estimate limits its layers when the estimate has been
    /// short of what is being sent (see [`SHORTAGE`]) long enough. Called on each new estimate
    /// and by the engine's housekeeping.
    pub(crate) fn check_shortage(&mut self, now: Instant) {
        let (Some(estimate), sent) = (self.estimate, self.sent.bps()) else {
            self.short_since = None;
            return;
        };
        if !self.bandwidth_limits {
            (self.short_since, self.limited) = (None, None);
            return;
        }
        if sent == 0 || (estimate as f64) >= sent as f64 * SHORTAGE {
            self.short_since = None;
            return;
        }
        let since = *self.short_since.get_or_insert(now);
        if now.saturating_duration_since(since) < SHORTAGE_FOR {
            return;
        }
        let hold = match self.limited {
            Some((until, hold)) if now < until + hold => (hold * 2).min(SHORTAGE_HOLD_MAX),
            _ => SHORTAGE_HOLD,
        };
        if self.limited.is_none_or(|(until, _)| now >= until) {
            log::info!(
                "sfu: participant {} is short of bandwidth (estimate {estimate} bit/s, sending {sent}); lower layers for {hold:?}",
                self.id
            );
        }
        self.limited = Some((now + hold, hold));
    }

    /// True if `bps` differs from what its estimator probes for by more than a tenth.
    pub(crate) fn desired_bitrate_differs(&self, bps: u64) -> bool {
        self.desired_bitrate
            .is_none_or(|d| d.abs_diff(bps) * 10 > d)
    }

    /// Tells its estimator to probe for `bps` (what the layers it should receive cost).
    pub(crate) fn desire_bitrate(&mut self, bps: u64) {
        self.desired_bitrate = Some(bps);
        self.rtc.bwe().set_desired_bitrate(Bitrate::bps(bps));
    }

    /// How tall it shows `source`.
    pub(crate) fn wanted_of(&self, source: (ParticipantId, Mid)) -> Wanted {
        self.wanted.get(&source).copied().unwrap_or(Wanted::Default)
    }

    /// Sets how tall it shows `source` ([`crate::Sfu::set_wanted`]).
    pub(crate) fn set_wanted(&mut self, source: (ParticipantId, Mid), wanted: Wanted) {
        self.wanted.insert(source, wanted);
    }

    /// Its bandwidth estimate's share for video track `source`: the estimate less the voices'
    /// reserve, split among the video tracks it receives by how tall it shows each. `None`: no
    /// limit (no estimate, or no shortage lately: see [`SHORTAGE`]).
    pub(crate) fn budget_for(&self, source: (ParticipantId, Mid)) -> Option<u64> {
        let now = Instant::now();
        if self.limited.is_none_or(|(until, _)| now >= until) {
            return None;
        }
        let estimate = self.estimate?;
        let total: u64 = self
            .tracks_out
            .iter()
            .filter(|t| t.kind == MediaKind::Video && matches!(t.state, OutState::Open(_)))
            .map(|t| self.wanted_of(t.source).weight())
            .sum();
        let available = estimate.saturating_sub(AUDIO_RESERVE_BPS);
        let weight = self.wanted_of(source).weight();
        Some(available * weight / total.max(1))
    }

    /// The video tracks it receives or is about to: each one's source, how tall it shows it,
    /// its share of the estimate and the layer it receives now.
    pub(crate) fn video_subscriptions(&self) -> Vec<VideoSubscription> {
        self.tracks_out
            .iter()
            .filter(|t| {
                t.kind == MediaKind::Video
                    && !matches!(t.state, OutState::ToStop(_) | OutState::Stopping(_))
            })
            .map(|t| VideoSubscription {
                source: t.source,
                wanted: self.wanted_of(t.source),
                budget: self.budget_for(t.source),
                current: t.choice.current().copied(),
            })
            .collect()
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone
    }
}

fn out_mid(s: OutState) -> Option<Mid> {
    match s {
        OutState::ToOpen => None,
        OutState::Negotiating(m)
        | OutState::Open(m)
        | OutState::ToStop(m)
        | OutState::Stopping(m) => Some(m),
    }
}

/// Why an answer was not taken.
pub(crate) enum AnswerError {
    NoOffer,
    Refused(String),
}
