//! Who is speaking: each publisher's voice level (RFC 6464, carried in its audio packets'
//! header extension), smoothed; each subscriber receives the voices of the 3 loudest others
//! only, and the owner hears when the set of speakers changes.
//!
//! - Levels are -dBov (0 loudest, -127 silence). Each packet's level is averaged in, quickly
//!   when it is louder ([`ATTACK`]) and slowly when it is quieter ([`RELEASE`]), as a level
//!   meter does: a voice counts within a syllable, and the gaps between words (where the level
//!   falls to silence, -127) do not end it. A single 20 ms click moves the level a third of the
//!   way. (Averaging both ways over 300 ms, as first built, kept Chromium's beeping test
//!   microphone, and short syllables, below the speaking threshold.) A publisher whose packets stop (muted, DTX) counts as silent after
//!   [`QUIET_AFTER`]. A publisher whose client sends no level counts as silent: it is forwarded
//!   only while fewer than 3 others are louder.
//! - Forwarding: a subscriber receives a voice while it is among the 3 loudest of everyone
//!   else, and for [`HOLD`] after it left them (words are not clipped at their end).
//! - The speakers reported ([`crate::SfuEvent::Speakers`]): up to 3, louder than
//!   [`SPEAKING_DBOV`], loudest first; reported when the set changes, at most every
//!   [`REPORT_EVERY`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ParticipantId;

/// How many voices each subscriber receives.
pub(crate) const FORWARDED_VOICES: usize = 3;
/// The time constant of a level rising.
const ATTACK: Duration = Duration::from_millis(50);
/// The time constant of a level falling.
const RELEASE: Duration = Duration::from_millis(2_000);
/// The packet time assumed for a publisher's first packet.
const FIRST_PACKET: Duration = Duration::from_millis(20);
/// A voice that left the loudest 3 is still forwarded this long.
pub(crate) const HOLD: Duration = Duration::from_millis(1_000);
/// Louder than this (dBov, smoothed) counts as speaking. Speech into a laptop microphone sits
/// around -20 to -40 dBov; rooms and fans are below -50.
const SPEAKING_DBOV: f64 = -50.0;
/// The speakers are reported at most this often.
pub(crate) const REPORT_EVERY: Duration = Duration::from_millis(250);
/// A publisher with no audio packet for this long counts as silent.
const QUIET_AFTER: Duration = Duration::from_millis(500);
/// The ranking is worked out again at most this often (one audio packet's time): it is read
/// for every packet and every subscriber.
const RANK_EVERY: Duration = Duration::from_millis(20);
/// The level of silence, and of a packet without a level.
const SILENCE_DBOV: f64 = -127.0;

/// One publisher's smoothed level.
#[derive(Debug, Clone, Copy)]
struct Level {
    dbov: f64,
    last_packet: Instant,
}

/// The speakers (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct Speakers {
    levels: HashMap<ParticipantId, Level>,
    /// The loudest publishers, loudest first: one more than forwarded, so that each
    /// subscriber's 3 loudest *others* are among them.
    ranked: Vec<(ParticipantId, f64)>,
    ranked_at: Option<Instant>,
    /// Per subscriber: each voice it receives and when it was last among its loudest.
    forwarded: HashMap<ParticipantId, HashMap<ParticipantId, Instant>>,
    reported: Vec<ParticipantId>,
    reported_at: Option<Instant>,
}

impl Speakers {
    /// Takes note of an audio packet of `publisher` with RFC 6464 level `level` (-dBov as str0m
    /// gives it: 0 loudest, -127 silence; `None`: the packet carries none).
    pub(crate) fn on_audio(&mut self, publisher: ParticipantId, level: Option<i8>, now: Instant) {
        let dbov = level.map_or(SILENCE_DBOV, |l| f64::from(l).clamp(SILENCE_DBOV, 0.0));
        // A first packet starts from silence, as if one packet time had passed.
        let l = self.levels.entry(publisher).or_insert(Level {
            dbov: SILENCE_DBOV,
            last_packet: now.checked_sub(FIRST_PACKET).unwrap_or(now),
        });
        let dt = now.saturating_duration_since(l.last_packet).as_secs_f64();
        let tau = if dbov > l.dbov { ATTACK } else { RELEASE };
        let alpha = 1.0 - (-dt / tau.as_secs_f64()).exp();
        l.dbov += (dbov - l.dbov) * alpha;
        l.last_packet = now;
    }

    /// Whether `subscriber` receives `publisher`'s voice now.
    pub(crate) fn forwards(
        &mut self,
        publisher: ParticipantId,
        subscriber: ParticipantId,
        now: Instant,
    ) -> bool {
        self.rank(now);
        let loudest = self
            .ranked
            .iter()
            .filter(|(p, _)| *p != subscriber)
            .take(FORWARDED_VOICES)
            .any(|(p, _)| *p == publisher);
        let voices = self.forwarded.entry(subscriber).or_default();
        if loudest {
            voices.insert(publisher, now);
            return true;
        }
        match voices.get(&publisher) {
            Some(t) if now.saturating_duration_since(*t) < HOLD => true,
            Some(_) => {
                voices.remove(&publisher);
                false
            }
            None => false,
        }
    }

    /// Works the ranking out again if it is older than [`RANK_EVERY`].
    fn rank(&mut self, now: Instant) {
        if self
            .ranked_at
            .is_some_and(|t| now.saturating_duration_since(t) < RANK_EVERY)
        {
            return;
        }
        self.ranked_at = Some(now);
        let mut all: Vec<(ParticipantId, f64)> = self
            .levels
            .iter()
            .map(|(p, l)| {
                let quiet = now.saturating_duration_since(l.last_packet) >= QUIET_AFTER;
                (*p, if quiet { SILENCE_DBOV } else { l.dbov })
            })
            .collect();
        // Loudest first; equal levels by id, so that the choice does not flicker.
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(FORWARDED_VOICES + 1);
        self.ranked = all;
    }

    /// The speakers to report, if the set changed and the last report is [`REPORT_EVERY`] old.
    pub(crate) fn report(&mut self, now: Instant) -> Option<Vec<ParticipantId>> {
        if self
            .reported_at
            .is_some_and(|t| now.saturating_duration_since(t) < REPORT_EVERY)
        {
            return None;
        }
        self.ranked_at = None;
        self.rank(now);
        let speaking: Vec<ParticipantId> = self
            .ranked
            .iter()
            .filter(|(_, dbov)| *dbov > SPEAKING_DBOV)
            .take(FORWARDED_VOICES)
            .map(|(p, _)| *p)
            .collect();
        let (mut a, mut b) = (speaking.clone(), self.reported.clone());
        a.sort();
        b.sort();
        if a == b {
            return None;
        }
        self.reported = speaking.clone();
        self.reported_at = Some(now);
        Some(speaking)
    }

    /// Forgets a participant that left (as publisher and as subscriber).
    pub(crate) fn remove(&mut self, id: ParticipantId) {
        self.levels.remove(&id);
        self.forwarded.remove(&id);
        for voices in self.forwarded.values_mut() {
            voices.remove(&id);
        }
        self.ranked.retain(|(p, _)| *p != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> ParticipantId {
        ParticipantId(n)
    }

    /// `seconds` of packets every 20 ms from each (publisher, level).
    fn talk(s: &mut Speakers, start: Instant, seconds: u64, who: &[(u64, i8)]) -> Instant {
        let mut now = start;
        for _ in 0..seconds * 50 {
            now += Duration::from_millis(20);
            for (id, level) in who {
                s.on_audio(p(*id), Some(*level), now);
            }
        }
        now
    }

    /// One packet from each, 20 ms after `now`; every subscriber 9 forwarding is asked about
    /// (as the engine does for each packet).
    fn talk_once(s: &mut Speakers, now: Instant, who: &[(u64, i8)]) -> Instant {
        let now = now + Duration::from_millis(20);
        for (id, level) in who {
            s.on_audio(p(*id), Some(*level), now);
            s.forwards(p(*id), p(9), now);
        }
        now
    }

    #[test]
    fn each_subscriber_receives_the_three_loudest_others() {
        let mut s = Speakers::default();
        let now = talk(
            &mut s,
            Instant::now(),
            2,
            &[(1, -10), (2, -20), (3, -30), (4, -40), (5, -60)],
        );
        let to = |s: &mut Speakers, sub: u64| -> Vec<u64> {
            (1..=5).filter(|pb| *pb != sub && s.forwards(p(*pb), p(sub), now)).collect()
        };
        assert_eq!(to(&mut s, 6), vec![1, 2, 3]);
        assert_eq!(to(&mut s, 1), vec![2, 3, 4], "its own voice is not among its three");
        assert_eq!(s.report(now), Some(vec![p(1), p(2), p(3)]));
        assert_eq!(s.report(now + REPORT_EVERY), None, "no change, no report");
    }

    #[test]
    fn a_voice_that_falls_silent_is_kept_a_second_then_replaced() {
        let mut s = Speakers::default();
        let start = Instant::now();
        let mut now = talk(&mut s, start, 2, &[(1, -10), (2, -20), (3, -30), (4, -40)]);
        assert!(s.forwards(p(3), p(9), now));
        assert!(!s.forwards(p(4), p(9), now));
        // 3 stops talking; 4 goes on. Half a second later 4 is louder than 3.
        let quiet = [(1, -10), (2, -20), (3, -127), (4, -40)];
        for _ in 0..25 {
            now = talk_once(&mut s, now, &quiet);
        }
        assert!(s.forwards(p(4), p(9), now), "4 is among the loudest now");
        assert!(s.forwards(p(3), p(9), now), "3 is held a moment");
        for _ in 0..50 {
            now = talk_once(&mut s, now, &quiet);
        }
        assert!(!s.forwards(p(3), p(9), now), "3 is dropped after the hold");
    }

    #[test]
    fn speakers_are_reported_on_change_at_most_every_quarter_second() {
        let mut s = Speakers::default();
        let start = Instant::now();
        let now = talk(&mut s, start, 1, &[(1, -20)]);
        assert_eq!(s.report(now), Some(vec![p(1)]));
        let now = talk(&mut s, now, 1, &[(1, -20), (2, -10)]);
        assert_eq!(s.report(now), Some(vec![p(2), p(1)]), "loudest first");
        // Both fall silent (no packets): after a while nobody speaks.
        let later = now + QUIET_AFTER;
        assert_eq!(s.report(later), Some(vec![]));
        // A change right after a report waits for the quarter second.
        let mut s = Speakers::default();
        let now = talk(&mut s, start, 1, &[(1, -20)]);
        assert!(s.report(now).is_some());
        s.remove(p(1));
        assert_eq!(s.report(now + Duration::from_millis(100)), None, "too soon");
        assert_eq!(s.report(now + REPORT_EVERY), Some(vec![]));
    }

    #[test]
    fn short_syllables_with_silent_gaps_count_as_speech() {
        let mut s = Speakers::default();
        let mut now = Instant::now();
        let mut reported = false;
        // 100 ms at -25 dBov, then 300 ms of silence, over and over (speech's rhythm, or
        // Chromium's beeping test microphone).
        for _ in 0..10 {
            for level in [-25i8; 5].into_iter().chain([-127i8; 15]) {
                now += Duration::from_millis(20);
                s.on_audio(p(1), Some(level), now);
                reported |= s.report(now).is_some_and(|v| v == vec![p(1)]);
            }
        }
        assert!(reported, "the voice was reported");
        assert!(s.report(now + REPORT_EVERY).is_none(), "and it stayed a speaker through the gaps");
        // One click is no speaker.
        let mut s = Speakers::default();
        let t = Instant::now();
        s.on_audio(p(2), Some(-10), t);
        assert_eq!(s.report(t), None);
    }

    #[test]
    fn silence_is_no_speaker() {
        let mut s = Speakers::default();
        let now = talk(&mut s, Instant::now(), 2, &[(1, -90), (2, -127)]);
        assert_eq!(s.report(now), None, "nobody speaks: nothing changed");
        // Both are still forwarded: fewer than three voices.
        assert!(s.forwards(p(1), p(3), now) && s.forwards(p(2), p(3), now));
    }
}
