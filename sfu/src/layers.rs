//! Which simulcast layer of a published video track each subscriber receives.
//!
//! Two halves:
//! - [`PublishedLayers`], per published video track: the layers the publisher sends, each one's
//!   picture size (read from its VP8 keyframes, not from rid names), its bitrate (measured from
//!   the bytes arriving) and whether it is arriving at all. It also keeps which layers any
//!   subscriber needs ([`PublishedLayers::update_needed`]) for [`crate::SfuEvent::LayersWanted`].
//! - [`LayerChoice`], per (published track, subscriber): the layer that subscriber receives now
//!   and the one it should receive ([`choose_layer`]: the smallest at least as tall as its tile,
//!   lowered to fit its share of the bandwidth estimate; nothing for a hidden tile). A switch
//!   happens only on a keyframe of the new layer (a VP8 decoder cannot start anywhere else): until
//!   that keyframe arrives the old layer keeps flowing and the engine asks the publisher for one.
//!   It also rewrites the RTP time so that the subscriber sees one continuous stream across
//!   switches (str0m numbers the outgoing packets itself; the time it passes through).
//!
//! A track without simulcast is a single layer (rid `None`) in the same tables: it can be paused.

use std::time::{Duration, Instant};

use str0m::media::{MediaTime, Rid};

/// A layer with no packet for this long counts as stopped (Chromium stops layers it cannot
/// afford, or that we told it nobody needs; the next lower one then serves).
pub(crate) const LAYER_STALE: Duration = Duration::from_millis(1_000);

/// A layer nobody has needed for this long is dropped from [`crate::SfuEvent::LayersWanted`]
/// (a layer somebody needs is added at once): a tile resized back and forth does not make the
/// publisher stop and restart an encoder each time.
pub(crate) const LAYER_UNNEEDED_AFTER: Duration = Duration::from_secs(2);

/// A switch *up* for bandwidth needs the layer's bitrate to fit in this share of the budget (a
/// switch down happens as soon as the current one does not fit): no flapping at the boundary.
const UP_SWITCH_HEADROOM: f64 = 0.85;

/// How often a layer's bitrate is measured (bytes over this window, smoothed by half).
const BITRATE_WINDOW: Duration = Duration::from_millis(500);

/// A layer's key: its rid, or `None` for a track without simulcast.
pub(crate) type LayerKey = Option<Rid>;

/// What the engine knows of one layer of a published track.
#[derive(Debug, Clone)]
pub(crate) struct LayerInfo {
    pub(crate) rid: LayerKey,
    /// Picture height from its last keyframe.
    pub(crate) height: Option<u32>,
    /// Measured bits per second (kept when the layer stops: what it would cost again).
    pub(crate) bitrate: u64,
    /// A frame arrived within [`LAYER_STALE`].
    pub(crate) live: bool,
}

/// How tall a subscriber shows a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// Never said: the highest layer.
    Default,
    /// Not shown: nothing.
    Hidden,
    /// A tile this many device pixels tall.
    Height(u32),
}

impl Wanted {
    pub(crate) fn from_max_height(h: u32) -> Wanted {
        if h == 0 {
            Wanted::Hidden
        } else {
            Wanted::Height(h)
        }
    }

    /// The weight of a track in the subscriber's bandwidth split: its tile's height (the
    /// default counts as a 720-line tile, the hidden as nothing).
    pub(crate) fn weight(self) -> u64 {
        match self {
            Wanted::Default => 720,
            Wanted::Hidden => 0,
            Wanted::Height(h) => u64::from(h),
        }
    }
}

/// The layer for one subscriber among `layers` (ranked low to high): the smallest whose height
/// is at least the tile's (the highest if none is; by rank where no height is known yet),
/// lowered while its bitrate exceeds `budget` (bits per second; never below the lowest layer).
/// `current` is the layer being sent (a switch up for bandwidth needs headroom). With
/// `live_only`, layers not arriving are skipped. `None`: send nothing (hidden, or no layer).
pub(crate) fn choose_layer(
    layers: &[LayerInfo],
    wanted: Wanted,
    budget: Option<u64>,
    current: Option<&LayerKey>,
    live_only: bool,
) -> Option<LayerKey> {
    if wanted == Wanted::Hidden {
        return None;
    }
    let usable = low_to_high(layers, live_only);
    let top = usable.len().checked_sub(1)?;
    let mut at = match wanted {
        Wanted::Height(h) => usable
            .iter()
            .position(|l| l.height.is_some_and(|lh| lh >= h))
            .unwrap_or(top),
        _ => top,
    };
    if let Some(budget) = budget {
        let current_at = current.and_then(|c| usable.iter().position(|l| &l.rid == c));
        while at > 0 {
            let headroom = if current_at.is_some_and(|c| at > c) {
                UP_SWITCH_HEADROOM
            } else {
                1.0
            };
            if usable[at].bitrate as f64 <= budget as f64 * headroom {
                break;
            }
            at -= 1;
        }
    }
    Some(usable[at].rid)
}

/// `layers` (arriving ones only with `live_only`) low to high: by height once every height is
/// known, by rank until then.
fn low_to_high(layers: &[LayerInfo], live_only: bool) -> Vec<&LayerInfo> {
    let mut usable: Vec<(usize, &LayerInfo)> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.live || !live_only)
        .collect();
    if usable.iter().all(|(_, l)| l.height.is_some()) {
        usable.sort_by_key(|(rank, l)| (l.height, *rank));
    }
    usable.into_iter().map(|(_, l)| l).collect()
}

/// Bits per second from the bytes counted: over windows of [`BITRATE_WINDOW`], each averaged
/// with the one before. Keeps its last value when nothing is counted any more (what a stopped
/// layer would cost again).
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    bps: u64,
    window_start: Option<Instant>,
    window_bytes: u64,
}

impl RateMeter {
    /// Counts `bytes` at `now`.
    pub(crate) fn add(&mut self, bytes: usize, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        self.window_bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= BITRATE_WINDOW {
            let rate = (self.window_bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
            self.bps = if self.bps == 0 {
                rate
            } else {
                (self.bps + rate) / 2
            };
            self.window_start = Some(now);
            self.window_bytes = 0;
        }
    }

    /// The last measured rate (0: not measured yet).
    pub(crate) fn bps(&self) -> u64 {
        self.bps
    }
}

/// One layer of a published track, as measured.
#[derive(Debug)]
struct Layer {
    rid: LayerKey,
    height: Option<u32>,
    last_seen: Option<Instant>,
    bitrate: RateMeter,
    /// When some subscriber last needed it.
    last_needed: Option<Instant>,
}

/// The layers of one published video track (see the module's documentation).
#[derive(Debug)]
pub(crate) struct PublishedLayers {
    /// By rank, low to high: the publisher's `a=simulcast` list, then unlisted rids as they came.
    layers: Vec<Layer>,
    /// The rids last reported as needed, by rank (starts as every listed one: the publisher
    /// sends all).
    reported: Vec<Rid>,
}

impl PublishedLayers {
    /// The layers the publisher listed, low to high (empty: no simulcast, one layer). Each
    /// counts as needed from `now` (the publisher sends them all at first).
    pub(crate) fn new(listed: Vec<Rid>, now: Instant) -> PublishedLayers {
        let reported = listed.clone();
        let keys: Vec<LayerKey> = if listed.is_empty() {
            vec![None]
        } else {
            listed.into_iter().map(Some).collect()
        };
        PublishedLayers {
            layers: keys
                .into_iter()
                .map(|rid| Layer {
                    last_needed: Some(now),
                    ..Layer::new(rid)
                })
                .collect(),
            reported,
        }
    }

    /// Takes note of a frame of `bytes` on layer `rid`; `size` is the picture size its VP8
    /// keyframe header announced, if it is one.
    pub(crate) fn on_frame(
        &mut self,
        rid: LayerKey,
        bytes: usize,
        size: Option<(u32, u32)>,
        now: Instant,
    ) {
        let at = match self.layers.iter().position(|l| l.rid == rid) {
            Some(at) => at,
            None => {
                log::debug!("sfu: first frame of layer {rid:?} ({bytes} bytes, picture {size:?})");
                self.layers.push(Layer::new(rid));
                self.layers.len() - 1
            }
        };
        let layer = &mut self.layers[at];
        layer.last_seen = Some(now);
        if let Some((_, h)) = size {
            layer.height = Some(h);
        }
        layer.bitrate.add(bytes, now);
    }

    /// Every layer as the choice needs it.
    pub(crate) fn info(&self, now: Instant) -> Vec<LayerInfo> {
        self.layers
            .iter()
            .map(|l| LayerInfo {
                rid: l.rid,
                height: l.height,
                bitrate: l.bitrate.bps(),
                live: l
                    .last_seen
                    .is_some_and(|t| now.saturating_duration_since(t) < LAYER_STALE),
            })
            .collect()
    }

    /// Takes note of the layers subscribers need now (`None`: nobody subscribes, so none is
    /// needed; with `keep_lowest`, a subscriber is short of bandwidth, and the lowest layer is
    /// added too, so its next switch down is instant) and returns the rids to report when the
    /// reported set changes: a layer is added at once and dropped [`LAYER_UNNEEDED_AFTER`]
    /// after it was last needed. Tracks without simulcast report nothing.
    ///
    /// Without a shortage the lowest layer is not kept for nobody: at 4 people it was a third
    /// of each publisher's uplink. A subscriber that comes to need it (a smaller tile, a
    /// shortage) gets it added at once, and meanwhile keeps the layer it receives.
    pub(crate) fn update_needed(
        &mut self,
        needed: Option<&[LayerKey]>,
        keep_lowest: bool,
        now: Instant,
    ) -> Option<Vec<Rid>> {
        if self.layers.iter().all(|l| l.rid.is_none()) {
            return None;
        }
        if let Some(needed) = needed {
            let info = self.info(now);
            let lowest = low_to_high(&info, false).first().map(|l| l.rid).filter(|_| keep_lowest);
            for l in &mut self.layers {
                if needed.contains(&l.rid) || lowest == Some(l.rid) {
                    l.last_needed = Some(now);
                }
            }
        }
        let set: Vec<Rid> = self
            .layers
            .iter()
            .filter(|l| {
                l.last_needed
                    .is_some_and(|t| now.saturating_duration_since(t) < LAYER_UNNEEDED_AFTER)
            })
            .filter_map(|l| l.rid)
            .collect();
        if set == self.reported {
            return None;
        }
        self.reported = set.clone();
        Some(set)
    }
}

impl Layer {
    fn new(rid: LayerKey) -> Layer {
        Layer {
            rid,
            height: None,
            last_seen: None,
            bitrate: RateMeter::default(),
            last_needed: None,
        }
    }
}

/// What to do with one frame of a published video track for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send it (at this RTP time).
    Forward(MediaTime),
    /// Not the layer this subscriber receives.
    NotChosen,
    /// The subscriber does not show the track.
    Paused,
    /// Drop it, and ask the publisher for a keyframe on this layer (to switch to it).
    DropAndRequestKeyframe(LayerKey),
}

/// The layer one subscriber receives of one published video track.
#[derive(Debug, Default)]
pub(crate) struct LayerChoice {
    /// The layer being sent.
    current: Option<LayerKey>,
    /// Added to the publisher's RTP time of the current layer (wrapping).
    time_offset: u64,
    /// The last RTP time sent and when.
    last_sent: Option<(u64, Instant)>,
    /// Switched to another layer (or resumed): the next time sent is rebased.
    needs_rebase: bool,
}

impl LayerChoice {
    /// The layer being sent (`None`: nothing yet, or paused).
    pub(crate) fn current(&self) -> Option<&LayerKey> {
        self.current.as_ref()
    }

    /// Says what to do with a frame on layer `rid` at the publisher's RTP time `time`, given the
    /// layer this subscriber should receive (`target`, from [`choose_layer`]; `None`: nothing).
    pub(crate) fn on_frame(
        &mut self,
        rid: LayerKey,
        keyframe: bool,
        time: MediaTime,
        target: Option<LayerKey>,
        now: Instant,
    ) -> Decision {
        let Some(target) = target else {
            // Resuming starts from a keyframe.
            self.current = None;
            return Decision::Paused;
        };
        if rid == target && self.current.as_ref() != Some(&rid) {
            if !keyframe {
                // The old layer (if any) keeps flowing until this one has a keyframe.
                return Decision::DropAndRequestKeyframe(rid);
            }
            if self.current.is_some() || self.last_sent.is_some() {
                self.needs_rebase = true;
            }
            self.current = Some(rid);
        }
        if self.current.is_none() && keyframe {
            // Nothing flows to this subscriber yet, and another layer has a keyframe: start with
            // it rather than show nothing until the chosen layer's keyframe comes (a new
            // subscriber's first picture; the switch to the chosen layer follows on its keyframe).
            self.current = Some(rid);
            if self.last_sent.is_some() {
                self.needs_rebase = true;
            }
        }
        if self.current.as_ref() != Some(&rid) {
            return Decision::NotChosen;
        }
        Decision::Forward(self.rewrite(time, now))
    }

    /// The outgoing RTP time: the publisher's, shifted after a switch so that it continues from
    /// the last one sent by the wall-clock time between the two (layers need not share a
    /// timestamp base).
    fn rewrite(&mut self, time: MediaTime, now: Instant) -> MediaTime {
        let frequency = time.frequency();
        let hz = u64::from(frequency.get());
        let ticks = time.numer();
        if self.needs_rebase {
            self.needs_rebase = false;
            if let Some((last, at)) = self.last_sent {
                let elapsed = now.saturating_duration_since(at).as_micros() as u64;
                let step = (elapsed * hz / 1_000_000).max(1);
                self.time_offset = last.wrapping_add(step).wrapping_sub(ticks);
            }
        }
        let out = ticks.wrapping_add(self.time_offset);
        self.last_sent = Some((out, now));
        MediaTime::new(out, frequency)
    }
}

/// The picture size a VP8 keyframe announces (RFC 6386 §9.1: a 3-byte frame tag whose bit 0 is
/// 0 on a key frame, the start code 9d 01 2a, then 14-bit width and height), read without
/// decoding. (lancall-peer's codec has the same reader; this crate does not depend on it.)
pub(crate) fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let header = frame.get(..10)?;
    if header[0] & 0x01 != 0 || header[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([header[6], header[7]]) & 0x3fff;
    let h = u16::from_le_bytes([header[8], header[9]]) & 0x3fff;
    Some((u32::from(w), u32::from(h)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::media::Frequency;

    fn pick(s: &str) -> Option<LayerKey> {
        Some(rid(s))
    }

    fn rid(s: &str) -> LayerKey {
        Some(Rid::from(s))
    }

    fn layer(r: &str, height: u32, kbps: u64) -> LayerInfo {
        LayerInfo {
            rid: rid(r),
            height: Some(height),
            bitrate: kbps * 1_000,
            live: true,
        }
    }

    fn three() -> Vec<LayerInfo> {
        vec![
            layer("q", 180, 150),
            layer("h", 360, 500),
            layer("f", 720, 1_500),
        ]
    }

    fn t(n: u64) -> MediaTime {
        MediaTime::new(n, Frequency::NINETY_KHZ)
    }

    #[test]
    fn the_smallest_layer_at_least_as_tall_as_the_tile_is_chosen() {
        let l = three();
        assert_eq!(choose_layer(&l, Wanted::Height(180), None, None, true), pick("q"));
        assert_eq!(choose_layer(&l, Wanted::Height(181), None, None, true), pick("h"));
        assert_eq!(choose_layer(&l, Wanted::Height(700), None, None, true), pick("f"));
        assert_eq!(
            choose_layer(&l, Wanted::Height(2_000), None, None, true),
            pick("f"),
            "taller than every layer: the highest"
        );
        assert_eq!(choose_layer(&l, Wanted::Default, None, None, true), pick("f"));
        assert_eq!(choose_layer(&l, Wanted::Hidden, None, None, true), None);
    }

    #[test]
    fn heights_come_from_keyframes_not_from_the_order_of_the_rids() {
        // Listed high to low: the heights decide.
        let l = vec![layer("a", 720, 1_500), layer("b", 180, 150)];
        assert_eq!(choose_layer(&l, Wanted::Height(100), None, None, true), pick("b"));
        assert_eq!(choose_layer(&l, Wanted::Default, None, None, true), pick("a"));
    }

    #[test]
    fn a_layer_that_does_not_fit_the_budget_gives_way_to_a_lower_one() {
        let l = three();
        let want = Wanted::Height(720);
        assert_eq!(choose_layer(&l, want, Some(2_000_000), None, true), pick("f"));
        assert_eq!(choose_layer(&l, want, Some(1_000_000), None, true), pick("h"));
        assert_eq!(choose_layer(&l, want, Some(300_000), None, true), pick("q"));
        assert_eq!(
            choose_layer(&l, want, Some(10_000), None, true),
            pick("q"),
            "never below the lowest layer"
        );
    }

    #[test]
    fn a_switch_up_for_bandwidth_needs_headroom() {
        let l = three();
        let want = Wanted::Height(720);
        // 1.6 Mbit/s fits the 1.5 Mbit/s layer, but not with 15 % headroom when coming from below.
        assert_eq!(choose_layer(&l, want, Some(1_600_000), Some(&rid("f")), true), pick("f"));
        assert_eq!(choose_layer(&l, want, Some(1_600_000), Some(&rid("h")), true), pick("h"));
        assert_eq!(choose_layer(&l, want, Some(1_800_000), Some(&rid("h")), true), pick("f"));
    }

    #[test]
    fn layers_not_arriving_are_skipped_unless_asked_for_all() {
        let mut l = three();
        l[2].live = false;
        assert_eq!(choose_layer(&l, Wanted::Height(720), None, None, true), pick("h"));
        assert_eq!(choose_layer(&l, Wanted::Height(720), None, None, false), pick("f"));
    }

    #[test]
    fn a_switch_waits_for_a_keyframe_of_the_new_layer_and_the_old_one_flows_meanwhile() {
        let now = Instant::now();
        let mut c = LayerChoice::default();
        let (low, high) = (rid("l"), rid("h"));
        assert_eq!(
            c.on_frame(low, false, t(0), Some(low), now),
            Decision::DropAndRequestKeyframe(low),
            "no keyframe yet: nothing can be decoded from this frame"
        );
        assert_eq!(c.on_frame(low, true, t(0), Some(low), now), Decision::Forward(t(0)));
        assert_eq!(c.on_frame(high, true, t(0), Some(low), now), Decision::NotChosen);
        // The target moves up: the low layer flows until the high one has a keyframe.
        assert_eq!(
            c.on_frame(high, false, t(3_000), Some(high), now),
            Decision::DropAndRequestKeyframe(high)
        );
        assert_eq!(
            c.on_frame(low, false, t(3_000), Some(high), now),
            Decision::Forward(t(3_000))
        );
        assert!(matches!(
            c.on_frame(high, true, t(6_000), Some(high), now),
            Decision::Forward(_)
        ));
        assert_eq!(c.on_frame(low, false, t(6_000), Some(high), now), Decision::NotChosen);
        assert_eq!(c.current(), Some(&high));
    }

    #[test]
    fn a_new_subscriber_starts_on_any_keyframe_then_moves_to_its_layer() {
        let now = Instant::now();
        let mut c = LayerChoice::default();
        let (low, high) = (rid("l"), rid("h"));
        // Its layer (high) has no keyframe yet; the low layer's keyframe arrives first.
        assert_eq!(
            c.on_frame(high, false, t(0), Some(high), now),
            Decision::DropAndRequestKeyframe(high)
        );
        assert_eq!(c.on_frame(low, true, t(0), Some(high), now), Decision::Forward(t(0)));
        assert_eq!(c.current(), Some(&low), "a picture now, not after the high keyframe");
        // Not a second start: a delta of the high layer still waits for its keyframe.
        assert_eq!(
            c.on_frame(high, false, t(3_000), Some(high), now),
            Decision::DropAndRequestKeyframe(high)
        );
        assert!(matches!(
            c.on_frame(high, true, t(6_000), Some(high), now),
            Decision::Forward(_)
        ));
        assert_eq!(c.on_frame(low, true, t(6_000), Some(high), now), Decision::NotChosen);
        assert_eq!(c.current(), Some(&high));
    }

    #[test]
    fn the_rtp_time_continues_across_a_switch_between_layers_with_other_time_bases() {
        let start = Instant::now();
        let mut c = LayerChoice::default();
        let (low, high) = (rid("l"), rid("h"));
        assert_eq!(
            c.on_frame(low, true, t(1_000), Some(low), start),
            Decision::Forward(t(1_000))
        );
        // The high layer's clock starts elsewhere; 40 ms later (3600 ticks at 90 kHz).
        let later = start + Duration::from_millis(40);
        assert_eq!(
            c.on_frame(high, true, t(900_000), Some(high), later),
            Decision::Forward(t(4_600))
        );
        let later = later + Duration::from_millis(40);
        assert_eq!(
            c.on_frame(high, false, t(903_600), Some(high), later),
            Decision::Forward(t(8_200))
        );
    }

    #[test]
    fn a_hidden_track_sends_nothing_and_resumes_on_a_keyframe() {
        let now = Instant::now();
        let mut c = LayerChoice::default();
        assert!(matches!(
            c.on_frame(None, true, t(0), Some(None), now),
            Decision::Forward(_)
        ));
        assert_eq!(c.on_frame(None, false, t(1), None, now), Decision::Paused);
        assert_eq!(
            c.on_frame(None, false, t(2), Some(None), now),
            Decision::DropAndRequestKeyframe(None)
        );
        assert!(matches!(
            c.on_frame(None, true, t(3), Some(None), now),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn layer_sizes_and_bitrates_are_measured_from_what_arrives() {
        let start = Instant::now();
        let mut p = PublishedLayers::new(vec![Rid::from("l"), Rid::from("h")], start);
        for i in 0..30u64 {
            let now = start + Duration::from_millis(40 * i);
            let size = (i == 0).then_some((320, 180));
            p.on_frame(rid("l"), 500, size, now);
        }
        let info = p.info(start + Duration::from_millis(1_200));
        assert_eq!(info[0].height, Some(180));
        // 500 bytes every 40 ms: 100 kbit/s.
        assert!((90_000..=110_000).contains(&info[0].bitrate), "{info:?}");
        assert!(info[0].live && !info[1].live);
    }

    #[test]
    fn a_layer_nobody_needs_is_dropped_after_a_while_and_added_back_at_once() {
        let start = Instant::now();
        let mut p = PublishedLayers::new(vec![Rid::from("l"), Rid::from("h")], start);
        p.on_frame(rid("l"), 100, Some((160, 120)), start);
        p.on_frame(rid("h"), 100, Some((320, 240)), start);
        let (l, h) = (rid("l"), rid("h"));
        assert_eq!(p.update_needed(Some(&[h]), false, start), None, "both were reported at start");
        let soon = start + Duration::from_millis(500);
        assert_eq!(p.update_needed(Some(&[l]), false, soon), None, "h was needed 0.5 s ago");
        let later = start + LAYER_UNNEEDED_AFTER + Duration::from_millis(10);
        assert_eq!(
            p.update_needed(Some(&[l]), false, later),
            Some(vec![Rid::from("l")])
        );
        assert_eq!(
            p.update_needed(Some(&[h]), false, later),
            Some(vec![Rid::from("l"), Rid::from("h")]),
            "added back at once"
        );
        // Nobody subscribes: in the end nothing is needed, not even the lowest layer.
        let much_later = later + LAYER_UNNEEDED_AFTER * 2;
        assert_eq!(p.update_needed(None, false, much_later), Some(vec![]));
    }

    #[test]
    fn the_lowest_layer_stays_needed_only_while_a_subscriber_is_short_of_bandwidth() {
        let start = Instant::now();
        let mut p = PublishedLayers::new(vec![Rid::from("l"), Rid::from("h")], start);
        p.on_frame(rid("l"), 100, Some((160, 120)), start);
        p.on_frame(rid("h"), 100, Some((320, 240)), start);
        let h = rid("h");
        let later = start + LAYER_UNNEEDED_AFTER * 2;
        // Everyone takes the top layer, and bandwidth is plenty: the lowest is dropped.
        assert_eq!(p.update_needed(Some(&[h]), false, start), None);
        assert_eq!(p.update_needed(Some(&[h]), false, later), Some(vec![Rid::from("h")]));
        // A subscriber runs short: the lowest is back at once, ready for its switch down.
        assert_eq!(p.update_needed(Some(&[h]), true, later), Some(vec![Rid::from("l"), Rid::from("h")]));
        // A subscriber that pauses the track needs no layer; one short of bandwidth keeps the lowest.
        let much_later = later + LAYER_UNNEEDED_AFTER * 2;
        assert_eq!(p.update_needed(Some(&[]), true, much_later), Some(vec![Rid::from("l")]));
    }

    #[test]
    fn a_vp8_keyframe_header_gives_the_picture_size() {
        // Tag (key frame, version 0, shown), start code, 640 x 360 with no scaling bits.
        let key = [0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xff];
        assert_eq!(vp8_keyframe_size(&key), Some((640, 360)));
        let mut inter = key;
        inter[0] |= 0x01;
        assert_eq!(vp8_keyframe_size(&inter), None);
        assert_eq!(vp8_keyframe_size(&key[..9]), None);
        let mut bad = key;
        bad[4] = 0;
        assert_eq!(vp8_keyframe_size(&bad), None);
    }
}
