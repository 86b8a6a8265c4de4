//! Which simulcast layer of a published video track is forwarded.
//!
//! This slice forwards the highest layer that is arriving to every subscriber. A layer is the
//! highest by its place in the publisher's `a=simulcast` list (lancall's client lists layers low
//! to high; rids the list did not name rank above it in the order they first arrive). A switch
//! happens only on a keyframe of the new layer (a VP8 decoder cannot start anywhere else); until
//! that keyframe arrives the old layer keeps flowing and the engine asks the publisher for one.
//!
//! Choosing a layer per subscriber (by tile size and bandwidth) is the next slice: this type then
//! moves from the published track to each (track, subscriber) pair.

use std::time::{Duration, Instant};

use str0m::media::Rid;

/// A layer with no packet for this long counts as stopped (Chromium stops layers it cannot
/// afford; the next lower one is then the highest).
pub(crate) const LAYER_STALE: Duration = Duration::from_millis(1_000);

/// What to do with one frame of a published video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send it to the subscribers.
    Forward,
    /// Not the forwarded layer: drop it.
    Drop,
    /// Drop it, and ask the publisher for a keyframe on this layer (to switch to it).
    DropAndRequestKeyframe(Rid),
}

/// The forwarded layer of one published video track (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct LayerChoice {
    /// Rids by rank, low to high: the publisher's list, then unlisted ones as they came.
    ranked: Vec<Rid>,
    /// When each ranked rid last had a frame (same index as `ranked`).
    last_seen: Vec<Option<Instant>>,
    /// The layer being forwarded.
    current: Option<Rid>,
}

impl LayerChoice {
    /// A choice over the layers the publisher listed, low to high (empty: no simulcast).
    pub(crate) fn new(listed: Vec<Rid>) -> LayerChoice {
        let last_seen = vec![None; listed.len()];
        LayerChoice {
            ranked: listed,
            last_seen,
            current: None,
        }
    }

    /// The layer being forwarded, if any.
    pub(crate) fn current(&self) -> Option<Rid> {
        self.current
    }

    /// Takes note of a frame on layer `rid` (`None`: no simulcast) and says what to do with it.
    pub(crate) fn on_frame(&mut self, rid: Option<Rid>, keyframe: bool, now: Instant) -> Decision {
        let Some(rid) = rid else {
            return Decision::Forward;
        };
        let at = match self.ranked.iter().position(|r| *r == rid) {
            Some(at) => at,
            None => {
                self.ranked.push(rid);
                self.last_seen.push(None);
                self.ranked.len() - 1
            }
        };
        self.last_seen[at] = Some(now);
        let target = self
            .ranked
            .iter()
            .zip(&self.last_seen)
            .rev()
            .find(|(_, seen)| seen.is_some_and(|t| now.saturating_duration_since(t) < LAYER_STALE))
            .map(|(r, _)| *r)
            .unwrap_or(rid);
        if self.current == Some(rid) && target == rid {
            return Decision::Forward;
        }
        if rid == target {
            if keyframe {
                self.current = Some(rid);
                return Decision::Forward;
            }
            // Keep the old layer flowing until the new one starts with a keyframe, unless the old
            // one has stopped.
            return Decision::DropAndRequestKeyframe(rid);
        }
        if self.current == Some(rid) {
            Decision::Forward
        } else {
            Decision::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(s: &str) -> Rid {
        Rid::from(s)
    }

    #[test]
    fn frames_without_simulcast_are_always_forwarded() {
        let mut c = LayerChoice::new(vec![]);
        assert_eq!(c.on_frame(None, false, Instant::now()), Decision::Forward);
    }

    #[test]
    fn the_highest_listed_layer_is_forwarded_from_its_first_keyframe() {
        let now = Instant::now();
        let mut c = LayerChoice::new(vec![rid("l"), rid("h")]);
        assert_eq!(
            c.on_frame(Some(rid("h")), false, now),
            Decision::DropAndRequestKeyframe(rid("h")),
            "no keyframe yet: nothing can be decoded from this frame"
        );
        assert_eq!(c.on_frame(Some(rid("l")), true, now), Decision::Drop);
        assert_eq!(c.on_frame(Some(rid("h")), true, now), Decision::Forward);
        assert_eq!(c.on_frame(Some(rid("h")), false, now), Decision::Forward);
        assert_eq!(c.on_frame(Some(rid("l")), false, now), Decision::Drop);
        assert_eq!(c.current(), Some(rid("h")));
    }

    #[test]
    fn a_stopped_top_layer_falls_back_to_the_next_one_on_its_keyframe() {
        let start = Instant::now();
        let mut c = LayerChoice::new(vec![rid("l"), rid("h")]);
        c.on_frame(Some(rid("h")), true, start);
        let later = start + LAYER_STALE + Duration::from_millis(10);
        assert_eq!(
            c.on_frame(Some(rid("l")), false, later),
            Decision::DropAndRequestKeyframe(rid("l"))
        );
        assert_eq!(c.on_frame(Some(rid("l")), true, later), Decision::Forward);
        assert_eq!(c.current(), Some(rid("l")));
    }

    #[test]
    fn the_old_layer_keeps_flowing_until_the_higher_one_has_a_keyframe() {
        let now = Instant::now();
        let mut c = LayerChoice::new(vec![rid("l"), rid("h")]);
        assert_eq!(c.on_frame(Some(rid("l")), true, now), Decision::Forward);
        assert_eq!(
            c.on_frame(Some(rid("h")), false, now),
            Decision::DropAndRequestKeyframe(rid("h"))
        );
        assert_eq!(c.on_frame(Some(rid("l")), false, now), Decision::Forward);
        assert_eq!(c.on_frame(Some(rid("h")), true, now), Decision::Forward);
        assert_eq!(c.on_frame(Some(rid("l")), false, now), Decision::Drop);
    }
}
