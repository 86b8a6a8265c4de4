//! Generated media for tests, the CLI and benchmarks: a moving test pattern that carries its
//! capture time (so a receiver can measure one-way latency on the same machine), and a tone.

use crate::codec::AUDIO_FRAME_SAMPLES;
use crate::codec::AUDIO_SAMPLE_RATE;

/// Side of one timestamp bit block, in pixels.
const STAMP_BLOCK: u32 = 16;
/// Bits of the stamped timestamp (milliseconds modulo 2^32).
const STAMP_BITS: u32 = 32;
/// Luma of a one bit / a zero bit (video range).
const STAMP_ONE: u8 = 235;
const STAMP_ZERO: u8 = 16;

/// A moving I420 test pattern: diagonal colour bars that scroll, a bouncing white square, and
/// (when the picture is at least 512 pixels wide) a row of black/white blocks with the capture
/// time in milliseconds.
pub struct TestPattern {
    width: u32,
    height: u32,
    frame: u64,
    buf: Vec<u8>,
}

impl TestPattern {
    /// A pattern of `width` x `height` (even numbers).
    pub fn new(width: u32, height: u32) -> TestPattern {
        let len = crate::codec::I420Frame::len_for(width, height);
        TestPattern {
            width,
            height,
            frame: 0,
            buf: vec![0; len],
        }
    }

    /// Picture size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Draws the next picture, stamped with `stamp_ms`; returns the I420 bytes.
    pub fn next_frame(&mut self, stamp_ms: u32) -> &[u8] {
        let (w, h) = (self.width as usize, self.height as usize);
        let t = self.frame as usize;
        self.frame += 1;
        let (y_plane, chroma) = self.buf.split_at_mut(w * h);
        for y in 0..h {
            let row = &mut y_plane[y * w..(y + 1) * w];
            for (x, px) in row.iter_mut().enumerate() {
                // Bars 40 px wide, scrolling 4 px per frame, shaded top to bottom.
                let bar = ((x + y + t * 4) / 40) % 8;
                *px = (40 + bar * 24 + (y * 40 / h.max(1))) as u8;
            }
        }
        // A 64 px white square bouncing across the picture.
        let side = 64.min(w / 4).min(h / 4).max(2);
        let span_x = (w - side).max(1);
        let span_y = (h - side).max(1);
        let bx = bounce(t * 6, span_x);
        let by = bounce(t * 4, span_y);
        for y in by..by + side {
            y_plane[y * w + bx..y * w + bx + side].fill(235);
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (u, v) = chroma.split_at_mut(cw * ch);
        for y in 0..ch {
            for x in 0..cw {
                let band = ((x * 2 + t * 4) / 80) % 4;
                u[y * cw + x] = [90, 160, 128, 60][band];
                v[y * cw + x] = [200, 80, 128, 150][band];
            }
        }
        if self.width >= STAMP_BLOCK * STAMP_BITS && self.height >= STAMP_BLOCK * 2 {
            stamp(y_plane, w, stamp_ms);
            // Grey chroma under the stamp, so that it reads the same after conversion to RGB.
            let b = (STAMP_BLOCK / 2) as usize;
            let span = (STAMP_BLOCK * STAMP_BITS / 2) as usize;
            for y in 0..b {
                u[y * cw..y * cw + span].fill(128);
                v[y * cw..y * cw + span].fill(128);
            }
        }
        &self.buf
    }
}

fn bounce(pos: usize, span: usize) -> usize {
    let p = pos % (2 * span);
    if p < span {
        p
    } else {
        2 * span - p - 1
    }
}

fn stamp(y_plane: &mut [u8], w: usize, ms: u32) {
    let b = STAMP_BLOCK as usize;
    for bit in 0..STAMP_BITS as usize {
        let on = (ms >> (STAMP_BITS as usize - 1 - bit)) & 1 == 1;
        let value = if on { STAMP_ONE } else { STAMP_ZERO };
        for y in 0..b {
            y_plane[y * w + bit * b..y * w + (bit + 1) * b].fill(value);
        }
    }
}

/// Reads the capture time that `TestPattern` stamped into a decoded luma plane of width `w`;
/// `None` when the picture is too small or no stamp is there.
pub fn read_stamp(luma: &[u8], w: usize, h: usize) -> Option<u32> {
    let b = STAMP_BLOCK as usize;
    if w < b * STAMP_BITS as usize || h < b * 2 {
        return None;
    }
    let mut ms = 0u32;
    for bit in 0..STAMP_BITS as usize {
        // Average the block's inner 8x8 pixels: compression blurs the edges.
        let mut sum = 0u32;
        for y in 4..12 {
            for x in 4..12 {
                sum += u32::from(*luma.get(y * w + bit * b + x)?);
            }
        }
        let avg = sum / 64;
        if (60..190).contains(&avg) {
            return None; // neither black nor white: not a stamp
        }
        ms = (ms << 1) | u32::from(avg >= 128);
    }
    Some(ms)
}

/// Milliseconds since the Unix epoch, modulo 2^32: the clock `TestPattern` stamps.
pub fn stamp_clock_ms() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0)
}

/// A sine tone, handed out in 20 ms frames of mono 48 kHz samples.
pub struct Tone {
    freq: f64,
    amplitude: f64,
    phase: f64,
    buf: Vec<i16>,
}

impl Tone {
    /// A tone of `freq` Hz at `amplitude` (0..1 of full scale).
    pub fn new(freq: f64, amplitude: f64) -> Tone {
        Tone {
            freq,
            amplitude,
            phase: 0.0,
            buf: vec![0; AUDIO_FRAME_SAMPLES],
        }
    }

    /// The next 20 ms.
    pub fn next_frame(&mut self) -> &[i16] {
        let step = 2.0 * std::f64::consts::PI * self.freq / f64::from(AUDIO_SAMPLE_RATE);
        for s in self.buf.iter_mut() {
            *s = (self.phase.sin() * self.amplitude * 32767.0) as i16;
            self.phase = (self.phase + step) % (2.0 * std::f64::consts::PI);
        }
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_moves_and_its_stamp_reads_back() {
        let mut p = TestPattern::new(640, 480);
        let a = p.next_frame(0xdead_beef).to_vec();
        let b = p.next_frame(0x0123_4567).to_vec();
        assert_ne!(
            a[640 * 100..640 * 101],
            b[640 * 100..640 * 101],
            "frames must differ"
        );
        assert_eq!(read_stamp(&b[..640 * 480], 640, 480), Some(0x0123_4567));
    }

    #[test]
    fn tone_is_not_silent() {
        let mut t = Tone::new(440.0, 0.3);
        let f = t.next_frame();
        assert!(crate::codec::opus::rms(f) > 0.1);
    }
}
