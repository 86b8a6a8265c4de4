//! Shared by the recorder's tests: real VP8 and Opus frames (the peer crate's libvpx and libopus
//! encoders), and what Debian's ffprobe and ffmpeg make of a file.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lancall_peer::codec::{I420Frame, OpusEncoder, Vp8Config, Vp8Encoder};
use lancall_peer::testsrc::{TestPattern, Tone};

/// One encoded frame and when it was captured.
pub struct Encoded {
    pub at: Duration,
    pub data: Vec<u8>,
}

/// `seconds` of a moving pattern at `size`, 30 pictures a second, VP8 at `kbps`, starting at `from`.
pub fn vp8(size: (u32, u32), seconds: f64, kbps: u32, from: Duration) -> Vec<Encoded> {
    let fps = 30;
    let mut encoder = Vp8Encoder::new(size.0, size.1, Vp8Config { fps, bitrate_kbps: kbps, ..Vp8Config::default() })
        .expect("a VP8 encoder");
    let mut pattern = TestPattern::new(size.0, size.1);
    let frames = (seconds * f64::from(fps)).round() as u32;
    let mut out = Vec::new();
    for i in 0..frames {
        let at = from + Duration::from_secs(u64::from(i)) / fps;
        let picture = pattern.next_frame(at.as_millis() as u32).to_vec();
        let packets = encoder
            .encode(&I420Frame { width: size.0, height: size.1, data: &picture }, i == 0)
            .expect("encoded");
        for p in packets {
            out.push(Encoded { at, data: p.data });
        }
    }
    out
}

/// `seconds` of a tone as 20 ms Opus packets, starting at `from`.
pub fn opus(seconds: f64, from: Duration) -> Vec<Encoded> {
    let mut encoder = OpusEncoder::new(32_000).expect("an Opus encoder");
    let mut tone = Tone::new(440.0, 0.3);
    let packets = (seconds * 50.0).round() as u32;
    (0..packets)
        .map(|i| Encoded {
            at: from + Duration::from_millis(u64::from(i) * 20),
            data: encoder.encode(tone.next_frame()).expect("encoded"),
        })
        .collect()
}

/// What ffprobe says of a file.
#[derive(Debug)]
pub struct Probe {
    pub codecs: Vec<String>,
    pub size: Option<(u64, u64)>,
    pub duration: Option<f64>,
}

/// Whether ffprobe is here (scripts/test.sh installs Debian's ffmpeg).
pub fn have_ffprobe() -> bool {
    let found = Command::new("ffprobe").arg("-version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIP: ffprobe is not installed (apt-get install ffmpeg); the files are not checked");
    }
    found
}

/// ffprobe's streams and duration of `path`.
pub fn probe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width,height:format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe's JSON");
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let codecs = streams.iter().filter_map(|s| s["codec_name"].as_str().map(str::to_owned)).collect();
    let size = streams.iter().find_map(|s| Some((s["width"].as_u64()?, s["height"].as_u64()?)));
    let duration = json["format"]["duration"].as_str().and_then(|d| d.parse().ok());
    Probe { codecs, size, duration }
}

/// Decodes every picture of `path` (ffmpeg's VP8 decoder); answers how many, and fails on any
/// decoding error.
pub fn decoded_pictures(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe could not decode {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "decoding {} reported errors: {stderr}", path.display());
    String::from_utf8_lossy(&out.stdout).trim().trim_end_matches(',').parse().expect("a frame count")
}

/// Whether ffmpeg, seeking to `at` seconds, decodes a picture there without an error.
pub fn seek_decodes(path: &Path, at: f64) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &at.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "null", "-"])
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty())
}

/// `got` is within 5 % of `want`.
pub fn assert_close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= want * 0.05, "{what}: {got:.3} s, expected {want:.3} s within 5 %");
}
