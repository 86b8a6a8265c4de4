//! One clock for a sender's audio and video: what a recorder of RTP streams needs before it can
//! hand frames to a [`crate::Recording`].
//!
//! Each RTP stream counts time in its own units from its own random start (VP8 at 90 kHz, Opus
//! at 48 kHz), so a frame's RTP timestamp says nothing about when it plays beside the other
//! track. Two ways to place it on the local clock:
//!
//! - **By arrival** (always available): a stream's frames are placed at `offset + ticks / rate`,
//!   where `offset` is the earliest `arrival - ticks / rate` seen so far: the frame that came
//!   through fastest fixes the line, and jitter after it does not move frames about. Each track
//!   is then as late as its fastest frame was, which on a LAN is within a few milliseconds of
//!   the other track.
//! - **By the sender's reports** (RTCP Sender Reports): each SR pairs an RTP timestamp with the
//!   sender's NTP wall clock, the same clock for its audio and its video, so the two tracks can
//!   be lined up the way the sender captured them. Once both tracks have had a report,
//!   [`AvClock`] moves the video by the difference the reports show (the audio stays on its
//!   arrival line, which keeps the recording's clock the local one).
//!
//! The host's SFU gets both from str0m: `MediaData::time` (the RTP time, already unwrapped),
//! `MediaData::network_time` (arrival) and `MediaData::last_sender_info` (`ntp_time`,
//! `rtp_time`: the latest SR). The Linux app's receiver (webrtc-rs) hands on the RTP timestamp
//! and the arrival time only, and uses the arrival line.

use std::time::{Duration, Instant, SystemTime};

/// Largest move the reports may make to the video: more than this is a sender whose clocks are
/// not to be trusted (or a report from before a restart), and the arrival line stays.
const MAX_REPORT_CORRECTION_US: i64 = 1_000_000;

/// Unwraps 32-bit RTP timestamps into a count that does not wrap (forward and backward steps of
/// under half the range are taken as such).
#[derive(Debug, Clone, Copy, Default)]
pub struct RtpUnwrap {
    last: Option<u32>,
    extended: i64,
}

impl RtpUnwrap {
    /// `ts` as a count from the first timestamp's value.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        match self.last {
            None => self.extended = i64::from(ts),
            Some(last) => self.extended += i64::from(ts.wrapping_sub(last) as i32),
        }
        self.last = Some(ts);
        self.extended
    }
}

/// One RTP stream's frames on the local clock (see the module).
#[derive(Debug, Clone)]
pub struct StreamClock {
    rate: u32,
    unwrap: RtpUnwrap,
    /// Base of the arrival line: the first frame's arrival and ticks.
    base: Option<(Instant, i64)>,
    /// The earliest `arrival - ticks / rate` relative to `base`, µs.
    offset_us: i64,
    /// The latest report: the sender's wall clock (µs since the Unix epoch) and the ticks then.
    report: Option<(i64, i64)>,
}

impl StreamClock {
    /// A stream whose RTP clock runs at `rate` Hz (90 000 for video, 48 000 for Opus).
    pub fn new(rate: u32) -> StreamClock {
        StreamClock { rate: rate.max(1), unwrap: RtpUnwrap::default(), base: None, offset_us: 0, report: None }
    }

    fn ticks_us(&self, ticks: i64) -> i64 {
        ticks.saturating_mul(1_000_000) / i64::from(self.rate)
    }

    /// Where the frame with RTP timestamp `rtp` that arrived at `arrived` goes on the local clock.
    pub fn place(&mut self, rtp: u32, arrived: Instant) -> Instant {
        let ticks = self.unwrap.unwrap(rtp);
        let (base, base_ticks) = *self.base.get_or_insert((arrived, ticks));
        let since_base = self.ticks_us(ticks - base_ticks);
        let arrival_us = signed_us(arrived, base);
        self.offset_us = self.offset_us.min(arrival_us - since_base);
        shift(base, self.offset_us + since_base)
    }

    /// A Sender Report for this stream: at the sender's `ntp` wall clock its RTP clock read `rtp`.
    pub fn sender_report(&mut self, ntp: SystemTime, rtp: u32) {
        let ntp_us = match ntp.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(_) => return,
        };
        // Unwrapped against the frames' count (an SR's timestamp is close to the frames').
        let mut near = self.unwrap;
        self.report = Some((ntp_us, near.unwrap(rtp)));
    }

    /// The sender's wall clock minus the arrival line (as µs after `reference`), µs: constant
    /// for a stream once both are known (it changes only when a faster frame moves the line).
    fn report_lead_us(&self, reference: Instant) -> Option<i64> {
        let (ntp_us, report_ticks) = self.report?;
        let (base, base_ticks) = self.base?;
        // At the base frame: sender time = ntp + (base - report) / rate; on the arrival line it
        // is at base + offset.
        Some(ntp_us + self.ticks_us(base_ticks - report_ticks) - (signed_us(base, reference) + self.offset_us))
    }
}

/// A sender's audio and video on one local clock (see the module).
#[derive(Debug, Clone)]
pub struct AvClock {
    audio: StreamClock,
    video: StreamClock,
    /// Every time is reported from here, so the recording's clock starts at 0.
    start: Instant,
}

impl AvClock {
    /// Opus at 48 kHz and VP8 at 90 kHz; times are reported from `start` (when the recording
    /// began).
    pub fn new(start: Instant) -> AvClock {
        AvClock { audio: StreamClock::new(48_000), video: StreamClock::new(90_000), start }
    }

    /// An audio frame's time from the start.
    pub fn audio(&mut self, rtp: u32, arrived: Instant) -> Duration {
        let at = self.audio.place(rtp, arrived);
        at.saturating_duration_since(self.start)
    }

    /// A video frame's time from the start: on its arrival line, moved by what the sender's
    /// reports say of the two tracks (when both had one).
    pub fn video(&mut self, rtp: u32, arrived: Instant) -> Duration {
        let at = self.video.place(rtp, arrived);
        let leads = (self.video.report_lead_us(self.start), self.audio.report_lead_us(self.start));
        let moved = match leads {
            // Video's sender time is its local time + v; on the audio's line that is - a.
            (Some(v), Some(a)) if (v - a).abs() <= MAX_REPORT_CORRECTION_US => shift(at, v - a),
            _ => at,
        };
        moved.saturating_duration_since(self.start)
    }

    /// An audio Sender Report.
    pub fn audio_report(&mut self, ntp: SystemTime, rtp: u32) {
        self.audio.sender_report(ntp, rtp);
    }

    /// A video Sender Report.
    pub fn video_report(&mut self, ntp: SystemTime, rtp: u32) {
        self.video.sender_report(ntp, rtp);
    }
}

/// `a - b` in µs, either way round.
fn signed_us(a: Instant, b: Instant) -> i64 {
    match a.checked_duration_since(b) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from(b.duration_since(a).as_micros()).unwrap_or(i64::MAX),
    }
}

/// `at` moved by `us` (either way; kept at `at` where the clock cannot go).
fn shift(at: Instant, us: i64) -> Instant {
    let d = Duration::from_micros(us.unsigned_abs());
    let moved = if us >= 0 { at.checked_add(d) } else { at.checked_sub(d) };
    moved.unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn rtp_timestamps_unwrap_across_the_wrap() {
        let mut u = RtpUnwrap::default();
        assert_eq!(u.unwrap(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(u.unwrap(5), i64::from(u32::MAX) + 6);
        assert_eq!(u.unwrap(u32::MAX - 20), i64::from(u32::MAX) - 20, "a step back stays a step back");
    }

    #[test]
    fn the_fastest_frame_fixes_the_line_and_jitter_does_not_move_frames() {
        let t0 = Instant::now();
        let mut c = StreamClock::new(90_000);
        // Frames every 33.3 ms (3000 ticks); the second arrives 30 ms late, the third on time.
        assert_eq!(c.place(1000, t0 + MS(10)), t0 + MS(10));
        assert_eq!(c.place(4000, t0 + MS(73)), t0 + MS(10) + Duration::from_micros(33_333));
        // A frame faster than the first moves the line back a little (never forward).
        let third = c.place(7000, t0 + MS(70));
        assert_eq!(third, t0 + MS(70));
        let fourth = c.place(10_000, t0 + MS(200));
        assert!(fourth.duration_since(third).as_micros().abs_diff(33_333) <= 1, "{:?}", fourth.duration_since(third));
    }

    #[test]
    fn sender_reports_line_video_up_with_audio_as_captured() {
        let start = Instant::now();
        let mut av = AvClock::new(start);
        // The sender captured audio ts 48_000 and video ts 90_000 at the same moment (its NTP
        // 1000 s); the video then arrived 80 ms after the audio (a slower path).
        let ntp = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(av.audio(48_000, start + MS(100)), MS(100));
        assert_eq!(av.video(90_000, start + MS(180)), MS(180), "no reports yet: by arrival");
        av.audio_report(ntp, 48_000);
        assert_eq!(av.video(93_000, start + MS(180) + Duration::from_micros(33_333)), MS(180) + Duration::from_micros(33_333));
        av.video_report(ntp, 90_000);
        // Now the video is placed where the sender says: beside the audio of the same moment.
        let v = av.video(96_000, start + MS(180) + Duration::from_micros(66_666));
        assert_eq!(v, MS(100) + Duration::from_micros(66_666));
    }

    #[test]
    fn reports_that_disagree_by_more_than_a_second_are_not_trusted() {
        let start = Instant::now();
        let mut av = AvClock::new(start);
        av.audio(0, start);
        av.video(0, start);
        av.audio_report(SystemTime::UNIX_EPOCH + Duration::from_secs(1000), 0);
        av.video_report(SystemTime::UNIX_EPOCH + Duration::from_secs(1010), 0);
        assert_eq!(av.video(90_000, start + MS(1000)), MS(1000));
    }
}
