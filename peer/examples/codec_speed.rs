//! How long the native peer's media work takes per frame on this machine (part of
//! bench/native.md): test pattern, VP8 encode at several speeds, VP8 decode, Opus both ways.
//!
//!     cargo run --release -p lancall-peer --example codec_speed [WIDTHxHEIGHT] [FRAMES]

use std::time::Instant;

use lancall_peer::codec::{I420Frame, OpusDecoder, OpusEncoder, Vp8Config, Vp8Decoder, Vp8Encoder};
use lancall_peer::testsrc::{TestPattern, Tone};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (w, h) = args
        .get(1)
        .and_then(|s| s.split_once('x'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or((640u32, 480u32));
    let frames: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(150);
    let mut pattern = TestPattern::new(w, h);
    let t = Instant::now();
    let mut pics = Vec::new();
    for i in 0..frames {
        pics.push(pattern.next_frame(i as u32).to_vec());
    }
    let per = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    let mut report = format!("{w}x{h}, {frames} frames\ntest pattern: {per:.2} ms/frame\n");
    for cpu_used in [4, 8, 12, 16] {
        let mut enc = Vp8Encoder::new(
            w,
            h,
            Vp8Config {
                cpu_used,
                ..Vp8Config::default()
            },
        )?;
        let mut dec = Vp8Decoder::new()?;
        let (mut enc_s, mut dec_s, mut bytes) = (0.0, 0.0, 0usize);
        for p in &pics {
            let t = Instant::now();
            let out = enc.encode(
                &I420Frame {
                    width: w,
                    height: h,
                    data: p,
                },
                false,
            )?;
            enc_s += t.elapsed().as_secs_f64();
            for pkt in out {
                bytes += pkt.data.len();
                let t = Instant::now();
                dec.decode(&pkt.data)?;
                dec_s += t.elapsed().as_secs_f64();
            }
        }
        let n = frames as f64;
        report += &format!(
            "VP8 cpu-used {cpu_used:2}: encode {:.2} ms/frame, decode {:.2} ms/frame, {:.0} kbit/s at 30 fps\n",
            enc_s * 1000.0 / n,
            dec_s * 1000.0 / n,
            bytes as f64 * 8.0 / 1000.0 / (n / 30.0)
        );
    }
    let mut tone = Tone::new(440.0, 0.3);
    let mut oe = OpusEncoder::new(32_000)?;
    let mut od = OpusDecoder::new()?;
    let (mut e, mut d) = (0.0, 0.0);
    for _ in 0..500 {
        let pcm = tone.next_frame().to_vec();
        let t = Instant::now();
        let pkt = oe.encode(&pcm)?;
        e += t.elapsed().as_secs_f64();
        let t = Instant::now();
        od.decode(&pkt)?;
        d += t.elapsed().as_secs_f64();
    }
    report += &format!(
        "Opus 20 ms: encode {:.3} ms, decode {:.3} ms\n",
        e * 2.0,
        d * 2.0
    );
    use std::io::Write;
    std::io::stdout().write_all(report.as_bytes())?;
    Ok(())
}
