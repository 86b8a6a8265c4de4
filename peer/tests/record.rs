//! Recording in the Linux app's Rust side (`Bridges::start_recording`), from our own sources:
//! the camera's pictures (encoded once by the source's VP8 thread) and the microphone's Opus
//! packets are tapped as they are made and written as WebM. Checked: the file has both tracks
//! and about the time recorded (Debian's ffprobe, when installed), and wrong requests are
//! refused with a sentence. (The remote side, a Chromium recorded in the app, is tested in
//! tests/app/native-call.test.mjs.)

use std::process::Command;
use std::time::{Duration, Instant};

use lancall_peer::codec::{OpusEncoder, PixelFormat};
use lancall_peer::ipc::{Bridges, RecordTarget};
use lancall_peer::testsrc::{TestPattern, Tone};
use lancall_peer::MediaKind;

fn local(video: Option<&str>, audio: Option<&str>) -> RecordTarget {
    RecordTarget::Local { video: video.map(str::to_owned), audio: audio.map(str::to_owned) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_camera_and_microphone_are_recorded_as_they_are_encoded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("me.webm");
    let bridges = Bridges::default();
    bridges.open_source("cam", MediaKind::Video).expect("camera");
    bridges.open_source("mic", MediaKind::Audio).expect("microphone");

    // Wrong requests: a source that is not there, a source of the other kind, a file that exists.
    let missing = bridges.start_recording("r0", &path, local(Some("nope"), None)).await.expect_err("no such source");
    assert!(missing.to_string().contains("no video source nope"), "{missing}");
    assert!(bridges.start_recording("r0", &path, local(Some("mic"), None)).await.is_err(), "a microphone is not a camera");
    let taken = dir.path().join("taken.webm");
    std::fs::write(&taken, b"keep").expect("write");
    let exists = bridges.start_recording("r0", &taken, local(Some("cam"), Some("mic"))).await.expect_err("never overwritten");
    assert!(exists.to_string().starts_with("Could not make the recording"), "{exists}");
    assert_eq!(std::fs::read(&taken).expect("read"), b"keep");
    assert!(bridges.stop_recording("r0").await.is_err(), "nothing runs");

    bridges.start_recording("r1", &path, local(Some("cam"), Some("mic"))).await.expect("recording");
    assert!(bridges.start_recording("r1", &path, local(Some("cam"), None)).await.is_err(), "one id, one recording");
    let started = Instant::now();
    let mut pattern = TestPattern::new(320, 240);
    let mut tone = Tone::new(440.0, 0.3);
    let mut opus = OpusEncoder::new(32_000).expect("opus");
    let mut next_picture = started;
    let mut next_sound = started;
    while started.elapsed() < Duration::from_secs(3) {
        let now = Instant::now();
        if now >= next_picture {
            let picture = pattern.next_frame(started.elapsed().as_millis() as u32).to_vec();
            bridges.push_video("cam", PixelFormat::I420, 320, 240, picture, None).expect("a picture");
            next_picture += Duration::from_millis(33);
        }
        if now >= next_sound {
            let packet = opus.encode(tone.next_frame()).expect("encoded");
            bridges.push_audio_opus("mic", packet, 20_000).expect("a packet");
            next_sound += Duration::from_millis(20);
        }
        tokio::time::sleep(next_picture.min(next_sound).saturating_duration_since(Instant::now())).await;
    }
    let recorded = started.elapsed().as_secs_f64();
    let done = bridges.stop_recording("r1").await.expect("stopped");
    assert_eq!(done.files, std::slice::from_ref(&path));
    assert_eq!(done.error, None);
    let seconds = done.duration_ms as f64 / 1000.0;
    assert!(seconds > recorded - 0.6 && seconds <= recorded + 0.1, "{seconds} s in the file for {recorded} s recorded");

    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0"])
        .arg(&path)
        .output();
    match probe {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().map(|l| l.trim().trim_end_matches(',')).collect();
            assert_eq!(lines, ["vp8,320,240", "opus"], "ffprobe: {text}");
        }
        _ => eprintln!("SKIP: ffprobe is not installed (apt-get install ffmpeg); the file is not checked"),
    }
    bridges.close_all().await;
}
