//! Recordings of real VP8 and Opus play: Debian's ffprobe reads their streams and a duration
//! within 5 % of the time recorded, and ffmpeg decodes every picture.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{assert_close, decoded_pictures, have_ffprobe, opus, probe, seek_decodes, vp8};
use lancall_recorder::{Recording, RecordingConfig, Tracks, WebmWriter};

#[test]
fn a_recording_of_real_vp8_and_opus_plays_with_both_streams_and_its_length() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("call.webm");
    let start = Duration::from_secs(100); // the caller's clock need not start at 0
    let video = vp8((320, 240), 6.0, 600, start);
    let audio = opus(6.0, start);
    let mut rec = Recording::create(&path, RecordingConfig::default()).expect("recording");
    // Video arrives in bursts a little behind the audio (as from another path): the window
    // puts them in order.
    let (mut v, mut a) = (video.iter().peekable(), audio.iter().peekable());
    loop {
        let next_audio = a.peek().map(|f| f.at);
        let next_video = v.peek().map(|f| f.at + Duration::from_millis(60));
        match (next_audio, next_video) {
            (Some(x), Some(y)) if x <= y => {
                let f = a.next().expect("peeked");
                rec.push_audio(f.at, Bytes::from(f.data.clone())).expect("audio");
            }
            (_, Some(_)) => {
                let f = v.next().expect("peeked");
                rec.push_video(f.at, Bytes::from(f.data.clone())).expect("video");
            }
            (Some(_), None) => {
                let f = a.next().expect("peeked");
                rec.push_audio(f.at, Bytes::from(f.data.clone())).expect("audio");
            }
            (None, None) => break,
        }
    }
    let files = rec.finish().expect("finished");
    assert_eq!(files.len(), 1);
    let summary = &files[0];
    assert_eq!(summary.video_frames as usize, video.len());
    assert_eq!(summary.audio_packets as usize, audio.len());
    assert!(summary.cues >= 2, "a seek point per keyframe cluster: {summary:?}");
    assert!(summary.complete);
    if !have_ffprobe() {
        return;
    }
    let p = probe(&path);
    assert_eq!(p.codecs, ["vp8", "opus"]);
    assert_eq!(p.size, Some((320, 240)));
    assert_close(p.duration.expect("a duration"), 6.0, "duration");
    assert_eq!(decoded_pictures(&path) as usize, video.len(), "every picture decodes");
    // Seeking (through the Cues) lands on a picture that decodes.
    assert!(seek_decodes(&path, 4.0), "a seek to 4 s decodes");
    eprintln!(
        "# 6.0 s recorded: ffprobe says {:.3} s, {} pictures, {} packets, {} seek points, {} bytes",
        p.duration.unwrap_or_default(),
        summary.video_frames,
        summary.audio_packets,
        summary.cues,
        summary.bytes
    );
}

#[test]
fn a_change_of_picture_size_starts_a_second_file_that_plays_on_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("grace.webm");
    let small = vp8((320, 240), 2.0, 400, Duration::ZERO);
    let large = vp8((640, 360), 3.0, 800, Duration::from_secs(2));
    let audio = opus(5.0, Duration::ZERO);
    let mut rec = Recording::create(&path, RecordingConfig::default()).expect("recording");
    let mut frames: Vec<(Duration, bool, &[u8])> = small
        .iter()
        .chain(large.iter())
        .map(|f| (f.at, true, f.data.as_slice()))
        .chain(audio.iter().map(|f| (f.at, false, f.data.as_slice())))
        .collect();
    frames.sort_by_key(|f| f.0);
    for (at, is_video, data) in frames {
        let data = Bytes::copy_from_slice(data);
        if is_video {
            rec.push_video(at, data).expect("video");
        } else {
            rec.push_audio(at, data).expect("audio");
        }
    }
    let files = rec.finish().expect("finished");
    let paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths, [path.clone(), dir.path().join("grace-2.webm")]);
    assert_eq!(files[0].size, Some((320, 240)));
    assert_eq!(files[1].size, Some((640, 360)));
    if !have_ffprobe() {
        return;
    }
    for (file, (size, seconds, pictures)) in files.iter().zip([((320, 240), 2.0, small.len()), ((640, 360), 3.0, large.len())]) {
        let p = probe(&file.path);
        assert_eq!(p.codecs, ["vp8", "opus"], "{}", file.path.display());
        assert_eq!(p.size, Some(size));
        assert_close(p.duration.expect("a duration"), seconds, "duration");
        assert_eq!(decoded_pictures(&file.path) as usize, pictures);
    }
}

#[test]
fn a_process_that_stops_abruptly_leaves_a_file_that_plays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.webm");
    let video = vp8((320, 240), 4.0, 600, Duration::ZERO);
    let mut writer = WebmWriter::create(&path, Tracks { audio: None, ..Tracks::video_and_audio() }).expect("writer");
    for f in &video {
        let _ = writer.write_video(f.at, &f.data).expect("written");
    }
    // No finish, no drop: what a killed process leaves.
    std::mem::forget(writer);
    if !have_ffprobe() {
        return;
    }
    let p = probe(&path);
    assert_eq!(p.codecs, ["vp8"]);
    // Written to the file at least every second of media: at most the last second is lost.
    let pictures = decoded_pictures(&path);
    assert!(pictures >= 85, "only {pictures} of {} pictures survived", video.len());
}

#[test]
fn an_audio_only_recording_plays_and_seeks_by_its_audio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("voice.webm");
    let audio = opus(12.0, Duration::ZERO);
    let mut writer = WebmWriter::create(&path, Tracks { video: None, ..Tracks::video_and_audio() }).expect("writer");
    for f in &audio {
        writer.write_audio(f.at, &f.data).expect("written");
    }
    let summary = writer.finish().expect("finished");
    assert!(summary.cues >= 2, "{summary:?}");
    if !have_ffprobe() {
        return;
    }
    let p = probe(&path);
    assert_eq!(p.codecs, ["opus"]);
    assert_close(p.duration.expect("a duration"), 12.0, "duration");
}
