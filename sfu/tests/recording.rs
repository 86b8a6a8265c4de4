//! Recording a room in the host: every person's picture and sound as forwarded, one WebM file
//! each, read back with Debian's ffprobe (VP8 and Opus, a duration within 5 % of the time
//! recorded, every picture decodes). Through a simulcast layer switch (a second file, since the
//! picture's size changed) and a person leaving and coming back (a new file); and a full disk
//! (a tiny tmpfs): the recording stops with a sentence saying so, what was written plays, and
//! the call goes on. Inside a network namespace; the disk test needs root to mount.

mod common;

#[path = "../../recorder/tests/common/mod.rs"]
mod files;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::simulcast::SimulcastCamera;
use common::{enter_namespace, run_scenario, start_sfu, Client, Driver};
use lancall_sfu::{RecordedFile, SfuError, SfuEvent};

/// The camera's layers, low to high: rid and picture size.
const LAYERS: [(&str, (u32, u32)); 2] = [("l", (160, 120)), ("h", (320, 240))];

fn of<'a>(files: &'a [RecordedFile], name: &str) -> Vec<&'a RecordedFile> {
    files.iter().filter(|f| f.name == name).collect()
}

/// Each file plays: VP8 (and Opus where `audio`), every picture decodes.
fn assert_plays(file: &RecordedFile, audio: bool) {
    let probe = files::probe(&file.path);
    assert!(probe.codecs.iter().any(|c| c == "vp8"), "{}: no VP8 in {:?}", file.path.display(), probe.codecs);
    if audio {
        assert!(probe.codecs.iter().any(|c| c == "opus"), "{}: no Opus in {:?}", file.path.display(), probe.codecs);
    }
    let pictures = files::decoded_pictures(&file.path);
    assert!(pictures > 10, "{}: only {pictures} pictures", file.path.display());
    let duration = probe.duration.unwrap_or_default();
    files::assert_close(duration, file.duration.as_secs_f64(), &format!("{}'s duration as ffprobe reads it", file.path.display()));
}

fn total(files: &[&RecordedFile]) -> f64 {
    files.iter().map(|f| f.duration.as_secs_f64()).sum()
}

#[test]
fn each_person_is_recorded_into_files_that_play_through_a_layer_switch_and_a_rejoin() {
    let Some(_ns) = enter_namespace("record") else {
        return;
    };
    if !files::have_ffprobe() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("recordings");
    run_scenario(Duration::from_secs(150), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let alice = Client::join(&sfu, "alice", (320, 240)).await;
        driver.register(&alice);
        let cam = SimulcastCamera::join(&sfu, "cam", &LAYERS).await;
        alice.wait_received("the camera's high layer", |r| r.moving_videos(10).contains(&LAYERS[1].1)).await;

        sfu.start_recording("", &folder).await.expect("recording starts");
        let started = Instant::now();
        assert!(
            matches!(sfu.start_recording("", &folder).await, Err(SfuError::AlreadyRecording(_))),
            "a second start is refused"
        );
        // Three seconds of both, then the camera's high layer stops: the recording follows it
        // down to the low one (a new file: the picture's size changed).
        tokio::time::sleep(Duration::from_secs(3)).await;
        cam.on[1].store(false, Ordering::Relaxed);
        let before = alice.received.lock().expect("received").video_decoded();
        alice
            .wait_received("the low layer", |r| r.video.values().any(|v| v.size == LAYERS[0].1) && r.video_decoded() >= before + 20)
            .await;
        // Alice leaves and comes back: her first file ends, a second one starts.
        tokio::time::sleep(Duration::from_secs(1)).await;
        sfu.remove_participant(alice.id).await.expect("alice leaves");
        let alice_left = Instant::now();
        drop(alice);
        let again = Client::join(&sfu, "alice", (320, 240)).await;
        driver.register(&again);
        let rejoined = Instant::now();
        again.wait_received("the camera again", |r| r.video_decoded() >= 20).await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        let stopped_at = Instant::now();
        let files = sfu.stop_recording("").await.expect("recording stops");
        let recorded = stopped_at.duration_since(started).as_secs_f64();
        eprintln!("recorded {recorded:.2} s: {files:#?}");
        assert!(
            matches!(sfu.stop_recording("").await, Err(SfuError::NotRecording(_))),
            "a second stop is refused"
        );
        for f in &files {
            assert!(f.path.starts_with(&folder), "{} is outside the recordings' folder", f.path.display());
            let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            assert!(name.starts_with(&format!("room_{}_", f.name)), "{name} does not name its room and person");
        }

        // Alice: a file until she left, one since she came back; each with her voice.
        let alice_files = of(&files, "alice");
        assert_eq!(alice_files.len(), 2, "alice's files: {alice_files:#?}");
        for f in &alice_files {
            assert_plays(f, true);
        }
        files::assert_close(alice_files[0].duration.as_secs_f64(), alice_left.duration_since(started).as_secs_f64(), "alice's first file");
        // Her second file starts at her first frame after rejoining (a connection to set up).
        let second = stopped_at.duration_since(rejoined).as_secs_f64();
        assert!(
            alice_files[1].duration.as_secs_f64() <= second + 0.1 && alice_files[1].duration.as_secs_f64() >= second - 1.5,
            "alice's second file lasts {:?}, {second:.2} s after she rejoined",
            alice_files[1].duration
        );

        // The camera: 320x240 until its high layer stopped, then 160x120, together the whole time.
        let cam_files = of(&files, "cam");
        assert_eq!(cam_files.len(), 2, "the camera's files: {cam_files:#?}");
        let sizes: Vec<Option<(u64, u64)>> = cam_files.iter().map(|f| files::probe(&f.path).size).collect();
        assert_eq!(sizes, [Some((320, 240)), Some((160, 120))], "the camera's files' picture sizes");
        for f in &cam_files {
            assert_plays(f, false);
        }
        // Together they cover the time recorded but for two gaps: the first keyframe asked for
        // at the start, and the switch (the SFU takes a layer for stopped after a second
        // without frames, then asks the low layer for a keyframe).
        let together = total(&cam_files);
        assert!(
            together <= recorded * 1.05 && together >= recorded - 2.5,
            "the camera's files together last {together:.2} s of the {recorded:.2} s recorded"
        );
    });
}

/// A 256 KiB tmpfs at `dir`, unmounted when dropped.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(dir: &Path) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "lancall-sfu-test"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_owned()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_message_and_the_call_goes_on() {
    let Some(_ns) = enter_namespace("recfull") else {
        return;
    };
    if !files::have_ffprobe() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = TinyDisk::mount(&dir.path().join("small")) else {
        eprintln!("SKIP: could not mount a tmpfs here");
        return;
    };
    run_scenario(Duration::from_secs(120), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let alice = Client::join(&sfu, "alice", (320, 240)).await;
        driver.register(&alice);
        let bob = Client::join(&sfu, "bob", (320, 240)).await;
        driver.register(&bob);
        alice.wait_received("bob's picture", |r| r.video_decoded() >= 10).await;

        sfu.start_recording("", &disk.0).await.expect("recording starts");
        driver
            .wait_for_within("the recording to stop on the full disk", Duration::from_secs(60), |e| {
                matches!(e, SfuEvent::RecordingStopped { .. })
            })
            .await;
        let (files, error) = driver
            .log
            .lock()
            .expect("log")
            .iter()
            .find_map(|e| match e {
                SfuEvent::RecordingStopped { files, error, .. } => Some((files.clone(), error.clone())),
                _ => None,
            })
            .expect("the event");
        eprintln!("stopped: {error}; {files:#?}");
        assert!(error.contains("disk is full") && error.contains("Free some space"), "the message says what happened and what to do: {error}");
        assert!(!files.is_empty(), "the files written are listed");
        for f in files.iter().filter(|f| f.frames > 30) {
            // Whatever was written plays up to where it stopped.
            let probe = files::probe(&f.path);
            assert!(probe.codecs.iter().any(|c| c == "vp8"), "{}: {:?}", f.path.display(), probe.codecs);
            files::decoded_pictures(&f.path);
        }
        assert!(
            matches!(sfu.stop_recording("").await, Err(SfuError::NotRecording(_))),
            "the room is no longer recorded"
        );
        // The call goes on.
        let before = alice.received.lock().expect("received").video_decoded();
        alice.wait_received("bob's picture after the disk filled", |r| r.video_decoded() >= before + 25).await;
        let before = bob.received.lock().expect("received").video_decoded();
        bob.wait_received("alice's picture after the disk filled", |r| r.video_decoded() >= before + 25).await;
        // And a recording can start again (into a folder with room).
        let roomy = dir.path().join("roomy");
        sfu.start_recording("", &roomy).await.expect("a new recording starts");
        let files = sfu.stop_recording("").await.expect("and stops");
        assert!(files.iter().all(|f| f.path.starts_with(&roomy)));
    });
}
