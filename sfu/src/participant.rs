//! One participant: its `Rtc`, the tracks it publishes, the tracks it receives from the others,
//! and the negotiation the SFU leads towards it.
//!
//! Nothing here touches another participant: what one participant's `Rtc` says that concerns
//! others comes back as a [`Happened`] for the engine to route.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{
    Direction, KeyframeRequestKind, MediaData, MediaKind as StrMediaKind, Mid, Rid,
};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use crate::engine::Counters;
use crate::layers::LayerChoice;
use crate::{GoneReason, MediaKind, ParticipantId, Patience};

/// At most one keyframe request per published track this often: a keyframe costs the publisher
/// 5-10x a normal frame, and one already asked for serves every subscriber waiting for it.
pub(crate) const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// A track this participant publishes.
pub(crate) struct TrackIn {
    pub(crate) kind: MediaKind,
    pub(crate) layers: LayerChoice,
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
        kind: KeyframeRequestKind,
    },
    /// It must be removed.
    Gone(GoneReason),
}

pub(crate) struct Participant {
    pub(crate) id: ParticipantId,
    pub(crate) label: String,
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
    /// Something from it reached its `Rtc`: it has applied our answer (its ICE checks carry our
    /// credentials), so an offer from us can no longer overtake that answer.
    pub(crate) heard_from: bool,
    gone: bool,
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
            heard_from: false,
            gone: false,
        }
    }

    /// Feeds one input to the `Rtc`; an error ends this participant (only).
    pub(crate) fn handle_input(&mut self, input: Input, out: &mut Vec<Happened>) {
        if let Input::Receive(..) = input {
            self.heard_from = true;
        }
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
        socket: &UdpSocket,
        counters: &Counters,
        out: &mut Vec<Happened>,
    ) {
        let now = Instant::now();
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
                Output::Transmit(t) => {
                    if let Err(e) = socket.send_to(&t.contents, t.destination) {
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
                        layers: LayerChoice::new(rids.clone()),
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
                    self.request_keyframe(mid, rid, KeyframeRequestKind::Pli, now);
                }
                out.push(Happened::Media(Box::new(data)));
            }
            Event::KeyframeRequest(req) => {
                if let Some(t) = self
                    .tracks_out
                    .iter()
                    .find(|t| out_mid(t.state) == Some(req.mid))
                {
                    out.push(Happened::KeyframeWanted {
                        by_client: true,
                        source: t.source,
                        kind: req.kind,
                    });
                }
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
        for t in &self.tracks_out {
            if t.kind == MediaKind::Video && matches!(t.state, OutState::Open(_)) {
                out.push(Happened::KeyframeWanted {
                    by_client: false,
                    source: t.source,
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
    }

    /// Asks this participant (as publisher) for a keyframe of track `mid`, at most once per
    /// [`KEYFRAME_REQUEST_INTERVAL`]. True if a request went out.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        kind: KeyframeRequestKind,
        now: Instant,
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
        let rid = rid.or(track.layers.current());
        let Some(mut writer) = self.rtc.writer(mid) else {
            return false;
        };
        let kind = if writer.is_request_keyframe_possible(kind) {
            kind
        } else {
            KeyframeRequestKind::Pli
        };
        match writer.request_keyframe(rid, kind) {
            Ok(()) => {
                track.last_keyframe_request = Some(now);
                true
            }
            Err(e) => {
                log::debug!("sfu: keyframe request to {} on {mid} failed: {e}", self.id);
                false
            }
        }
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
        });
    }

    /// Stops sending a track whose source ended (in the next offer).
    pub(crate) fn unsubscribe(&mut self, source: (ParticipantId, Mid)) {
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
        if self.pending.is_some() || !self.heard_from || self.gone {
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
        Some(offer.to_sdp_string())
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
        for t in &mut self.tracks_out {
            if let OutState::Negotiating(m) = t.state {
                t.state = OutState::Open(m);
                if t.kind == MediaKind::Video {
                    out.push(Happened::KeyframeWanted {
                        by_client: false,
                        source: t.source,
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
    pub(crate) fn accept_offer(&mut self, offer: SdpOffer) -> Result<SdpAnswer, String> {
        if self.pending.take().is_some() {
            for t in &mut self.tracks_out {
                match t.state {
                    OutState::Negotiating(_) => t.state = OutState::ToOpen,
                    OutState::Stopping(m) => t.state = OutState::ToStop(m),
                    _ => {}
                }
            }
        }
        self.rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())
    }

    /// Sends a frame of another participant's track on the matching outgoing track, if it is
    /// negotiated. True if it was written.
    pub(crate) fn forward(
        &mut self,
        source: (ParticipantId, Mid),
        data: &MediaData,
        out: &mut Vec<Happened>,
    ) -> bool {
        if !self.connected || self.gone {
            return false;
        }
        let Some(mid) = self.tracks_out.iter().find_map(|t| match t.state {
            OutState::Open(m) if t.source == source => Some(m),
            _ => None,
        }) else {
            return false;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer.match_params(data.params) else {
            return false;
        };
        if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
            log::warn!(
                "sfu: writing to participant {} failed: {e}; disconnecting it",
                self.id
            );
            self.end(GoneReason::Error(e.to_string()), out);
            return false;
        }
        true
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
