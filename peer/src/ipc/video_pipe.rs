//! A camera (or screen) source's pictures, converted to I420 and encoded to VP8 on a thread of
//! their own, newest picture first.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use lancall_protocol::sync::lock;

use super::envelope::wall_micros;
use crate::codec::{to_i420, I420Frame, PixelFormat};
use crate::media::LocalMedia;

/// One picture waiting for the encoder.
pub(crate) struct Picture {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    pub captured: Instant,
    /// When the webview took the picture, µs since the Unix epoch (if it said).
    pub taken_us: Option<u64>,
}

/// How many recent send latencies [`VideoCounts`] keeps.
const LATENCY_SAMPLES: usize = 300;

#[derive(Default)]
struct PipeState {
    waiting: Option<Picture>,
    closed: bool,
}

/// Counts of a video source's pictures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct VideoCounts {
    /// Pictures handed in by the page.
    pub received: u64,
    /// Pictures encoded and sent.
    pub encoded: u64,
    /// Pictures replaced by a newer one before the encoder got to them.
    pub dropped: u64,
    /// Time spent converting and encoding, milliseconds.
    pub encode_ms: f64,
    /// From the webview taking a picture to its VP8 frame handed to the connections, median
    /// and 95th percentile of the last pictures, milliseconds.
    pub send_latency_ms: Option<(f64, f64)>,
}

#[derive(Default)]
struct VideoTally {
    counts: VideoCounts,
    latencies: VecDeque<f64>,
}

impl VideoTally {
    fn snapshot(&self) -> VideoCounts {
        let mut sorted: Vec<f64> = self.latencies.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        VideoCounts {
            send_latency_ms: (!sorted.is_empty()).then(|| (at(0.5), at(0.95))),
            ..self.counts
        }
    }
}

/// A video source's encoder. The page hands a picture in and goes on at once; while the encoder
/// is busy a newer picture replaces the one waiting (counted as dropped), so a slow moment costs
/// pictures, never delay.
pub(crate) struct VideoPipe {
    state: Mutex<PipeState>,
    wake: Condvar,
    tally: Mutex<VideoTally>,
}

impl VideoPipe {
    /// Starts the encoder thread of source `source` (an id already checked to be ASCII), feeding
    /// `media`.
    pub fn start(source: &str, media: Arc<LocalMedia>) -> Arc<VideoPipe> {
        let pipe = Arc::new(VideoPipe {
            state: Mutex::new(PipeState::default()),
            wake: Condvar::new(),
            tally: Mutex::new(VideoTally::default()),
        });
        let worker = pipe.clone();
        // Characters, not bytes: a byte slice of an id could cut a character in two.
        let name = format!("lancall-video-{}", source.chars().take(8).collect::<String>());
        if let Err(e) = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker.run(&media))
        {
            log::error!("source {source}: no thread to encode pictures: {e}");
        }
        pipe
    }

    fn run(&self, media: &LocalMedia) {
        loop {
            let picture = {
                let mut state = lock(&self.state);
                loop {
                    if state.closed {
                        return;
                    }
                    if let Some(p) = state.waiting.take() {
                        break p;
                    }
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let started = Instant::now();
            let result = match to_i420(picture.format, picture.width, picture.height, &picture.data) {
                Some(i420) => media
                    .push_video_i420(
                        &I420Frame { width: picture.width, height: picture.height, data: &i420 },
                        picture.captured,
                    )
                    .map(drop)
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "a {}x{} {:?} picture of {} bytes cannot be converted",
                    picture.width,
                    picture.height,
                    picture.format,
                    picture.data.len()
                )),
            };
            let mut tally = lock(&self.tally);
            tally.counts.encode_ms += started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(()) => {
                    tally.counts.encoded += 1;
                    if let Some(taken) = picture.taken_us {
                        let now = wall_micros(Instant::now());
                        if tally.latencies.len() == LATENCY_SAMPLES {
                            tally.latencies.pop_front();
                        }
                        tally.latencies.push_back(now.saturating_sub(taken) as f64 / 1000.0);
                    }
                }
                Err(e) => log::debug!("a camera picture was not sent: {e}"),
            }
        }
    }

    /// Queues `picture`, replacing one still waiting.
    pub fn push(&self, picture: Picture) {
        let mut state = lock(&self.state);
        let replaced = state.waiting.replace(picture).is_some();
        drop(state);
        self.wake.notify_one();
        let mut tally = lock(&self.tally);
        tally.counts.received += 1;
        tally.counts.dropped += u64::from(replaced);
    }

    /// How the pictures fared so far.
    pub fn counts(&self) -> VideoCounts {
        lock(&self.tally).snapshot()
    }

    /// Ends the thread (a picture waiting is dropped).
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_one();
    }
}
