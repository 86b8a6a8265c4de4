//! A disk that fills mid-recording: a clean, typed error, no panic, and the file plays up to
//! where it stopped. The disk is a tiny tmpfs, which only root can mount: elsewhere the test
//! says so and skips.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{decoded_pictures, have_ffprobe, opus, probe, vp8};
use lancall_recorder::{RecordError, Recording, RecordingConfig};

/// A tmpfs of `size` at `dir`, unmounted when dropped.
struct TinyDisk<'a>(&'a Path);

impl<'a> TinyDisk<'a> {
    fn mount(dir: &'a Path) -> Option<TinyDisk<'a>> {
        TinyDisk::mount_sized(dir, "192k")
    }

    fn mount_sized(dir: &'a Path, size: &str) -> Option<TinyDisk<'a>> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "lancall-recorder-test"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk(dir))
    }
}

impl Drop for TinyDisk<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_error_and_the_file_plays_up_to_there() {
    if !is_root() {
        eprintln!("SKIP: mounting a tiny tmpfs to fill needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(_disk) = TinyDisk::mount(dir.path()) else {
        eprintln!("SKIP: could not mount a tmpfs here");
        return;
    };
    let path = dir.path().join("full.webm");
    // 1.2 Mbit/s of video fills 192 KiB in about a second and a half.
    let video = vp8((640, 360), 8.0, 1200, Duration::ZERO);
    let audio = opus(8.0, Duration::ZERO);
    let mut frames: Vec<(Duration, bool, &[u8])> =
        video.iter().map(|f| (f.at, true, f.data.as_slice())).chain(audio.iter().map(|f| (f.at, false, f.data.as_slice()))).collect();
    frames.sort_by_key(|f| f.0);
    let mut rec = Recording::create(&path, RecordingConfig::default()).expect("recording");
    let mut error = None;
    for (at, is_video, data) in frames {
        let data = Bytes::copy_from_slice(data);
        let pushed = if is_video { rec.push_video(at, data) } else { rec.push_audio(at, data) };
        if let Err(e) = pushed {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("the disk filled");
    let RecordError::DiskFull { kept, .. } = &error else {
        panic!("expected DiskFull, got {error:?}");
    };
    let message = error.to_string();
    assert!(message.contains("The disk is full") && message.contains("plays"), "{message}");
    assert!(*kept > Duration::from_millis(500), "kept {kept:?}");
    // The recording has stopped: more frames are refused cleanly.
    assert!(matches!(rec.push_audio(Duration::from_secs(9), Bytes::from_static(&[0xF8, 0xFF])), Err(RecordError::Stopped { .. })));
    let files = rec.finish().expect("finishing a stopped recording reports its file");
    let summary = &files[0];
    assert!(!summary.complete);
    assert_eq!(summary.bytes, std::fs::metadata(&path).expect("the file").len(), "whole elements only");
    if !have_ffprobe() {
        return;
    }
    let p = probe(&path);
    assert_eq!(p.codecs, ["vp8", "opus"]);
    let duration = p.duration.expect("the duration was written on the full disk");
    assert!((duration - kept.as_secs_f64()).abs() < 0.1, "ffprobe {duration} s, kept {kept:?}");
    let pictures = decoded_pictures(&path);
    assert!(pictures as f64 >= kept.as_secs_f64() * 30.0 * 0.9, "{pictures} pictures in {kept:?}");
    eprintln!("# disk full after {kept:?}: {} bytes on a 192 KiB disk, ffprobe {duration:.3} s, {pictures} pictures decode; \"{message}\"", summary.bytes);
}

/// A disk with room for the file's header but not one frame: no file of headers alone is left
/// (it would not play), and the sentence says nothing was kept.
#[test]
fn a_disk_full_before_the_first_frame_leaves_no_unplayable_file() {
    if !is_root() {
        eprintln!("SKIP: mounting a tiny tmpfs to fill needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(_disk) = TinyDisk::mount_sized(dir.path(), "4k") else {
        eprintln!("SKIP: could not mount a tmpfs here");
        return;
    };
    let path = dir.path().join("nothing.webm");
    let mut rec = Recording::create(&path, RecordingConfig::default()).expect("the header fits");
    let mut error = None;
    for f in vp8((640, 360), 2.0, 1200, Duration::ZERO) {
        if let Err(e) = rec.push_video(f.at, Bytes::from(f.data)) {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("the disk filled");
    assert!(matches!(error, RecordError::DiskFull { kept, .. } if kept.is_zero()), "{error:?}");
    assert!(error.to_string().contains("nothing could be recorded"), "{error}");
    let files = rec.finish().expect("finishing");
    assert!(files.is_empty(), "no file is reported: {files:?}");
    assert!(!path.exists(), "the file of headers alone was removed");
}

#[test]
fn a_folder_that_cannot_be_written_is_a_sentence_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no such folder").join("x.webm");
    let error = Recording::create(&path, RecordingConfig::default()).err().expect("refused");
    assert!(matches!(error, RecordError::Io { .. }), "{error:?}");
    assert!(error.to_string().starts_with("Could not make the recording"), "{error}");
    // An existing file is never overwritten.
    let taken = dir.path().join("taken.webm");
    std::fs::write(&taken, b"keep me").expect("write");
    assert!(Recording::create(&taken, RecordingConfig::default()).is_err());
    assert_eq!(std::fs::read(&taken).expect("read"), b"keep me");
}
