//! Keyframe requests from a subscriber reach the publisher: a str0m watcher (the webrtc-rs
//! clients never send PLI) receives a webrtc-rs client's camera through the SFU, whose encoder
//! makes keyframes only when asked; each PLI the watcher sends brings a new keyframe. Inside a
//! network namespace.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::str0m_peer::Str0mPeer;
use common::{enter_namespace, run_scenario, start_sfu, Client, Driver, PATIENCE};
use lancall_peer::LocalMediaConfig;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::Event;

/// What the watcher saw.
#[derive(Default, Debug)]
struct Seen {
    video: Vec<Mid>,
    video_frames: u64,
    keyframes: u64,
    /// Whether the first video frame was a keyframe.
    first_is_keyframe: Option<bool>,
}

/// A str0m watcher: it offers one receive-only audio line (a slot the SFU fills with someone's
/// voice; their camera comes in the SFU's offer) and notes the video it receives in `seen`.
async fn join_watcher(sfu: &Arc<lancall_sfu::Sfu>, seen: Arc<Mutex<Seen>>) -> (Str0mPeer, lancall_sfu::ParticipantId) {
    Str0mPeer::join(
        sfu,
        "watcher",
        |rtc| {
            let mut change = rtc.sdp_api();
            change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            change.apply().expect("an offer")
        },
        move |_, e| {
            let mut s = seen.lock().expect("seen");
            match e {
                Event::MediaAdded(m) if m.kind == MediaKind::Video => s.video.push(m.mid),
                Event::MediaData(d) if s.video.contains(&d.mid) => {
                    s.first_is_keyframe.get_or_insert(d.is_keyframe());
                    s.video_frames += 1;
                    s.keyframes += u64::from(d.is_keyframe());
                }
                _ => {}
            }
        },
        |_, _| {},
    )
    .await
}

/// An SFU that keeps held frames for a minute (the machine's load decides how long each step of
/// a test takes: nothing held goes stale meanwhile), its driver, and Alice publishing a 320x240
/// camera whose encoder makes keyframes only when asked.
async fn sfu_with_alice() -> (Arc<lancall_sfu::Sfu>, Driver, Client) {
    let (sfu, events) = start_sfu();
    sfu.set_hold_max_age(Duration::from_secs(60));
    let driver = Driver::start(sfu.clone(), events);
    let mut config = LocalMediaConfig::default();
    config.video.keyframe_interval = 1_000_000;
    let alice = Client::join_with(&sfu, "alice", (320, 240), config).await;
    driver.register(&alice);
    (sfu, driver, alice)
}

#[test]
fn a_subscribers_keyframe_requests_reach_the_publisher() {
    let Some(_ns) = enter_namespace("keyframes") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        // Alice's encoder makes a keyframe only when asked (no periodic ones).
        let mut config = LocalMediaConfig::default();
        config.video.keyframe_interval = 1_000_000;
        let alice = Client::join_with(&sfu, "alice", (320, 240), config).await;
        driver.register(&alice);

        // The watcher offers one receive-only audio line; the SFU then offers it Alice's tracks.
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (watcher, watcher_id) = join_watcher(&sfu, seen.clone()).await;

        // Carry the SFU's offers to the watcher until it sees Alice's pictures.
        let mut carried = 0;
        let end = Instant::now() + PATIENCE;
        while seen.lock().expect("seen").video_frames < 20 {
            assert!(
                Instant::now() < end,
                "the watcher got no pictures: {:?}",
                seen.lock().expect("seen")
            );
            for sdp in driver.offers_to(watcher_id).into_iter().skip(carried) {
                carried += 1;
                let answer = watcher.answer(sdp).await;
                sfu.accept_answer(watcher_id, &answer)
                    .await
                    .expect("the SFU takes the watcher's answer");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Each PLI (one every 700 ms: above the SFU's 500 ms limit) brings a keyframe.
        let before = seen.lock().expect("seen").keyframes;
        let end = Instant::now() + PATIENCE;
        while seen.lock().expect("seen").keyframes < before + 3 {
            assert!(
                Instant::now() < end,
                "the watcher's PLIs brought no keyframes: {:?}, {:?}",
                seen.lock().expect("seen"),
                sfu.counters()
            );
            let video = seen.lock().expect("seen").video.clone();
            watcher.run(move |rtc| {
                for mid in video {
                    if let Some(mut w) = rtc.writer(mid) {
                        let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let counters = sfu.counters();
        assert!(counters.keyframe_requests_from_clients >= 3, "{counters:?}");
    });
}

/// A new subscriber's first picture comes from the frames the SFU held for it while it was still
/// negotiating: the keyframe asked of the publisher when the subscriber joined, written the
/// moment its track opens, with no second request (the publisher's encoder makes keyframes only
/// when asked, so without the held frames the subscriber would see nothing until one).
#[test]
fn a_new_subscribers_first_picture_comes_from_frames_held_while_it_negotiated() {
    let Some(_ns) = enter_namespace("held") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, driver, alice) = sfu_with_alice().await;
        let alice_id = alice.id;
        driver
            .wait_for("alice connected", move |e| matches!(e, lancall_sfu::SfuEvent::Connected { participant } if *participant == alice_id))
            .await;

        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (watcher, watcher_id) = join_watcher(&sfu, seen.clone()).await;

        // The SFU asked Alice for a keyframe when the watcher joined, and holds what follows.
        let end = Instant::now() + PATIENCE;
        while sfu.counters().frames_held < 3 {
            assert!(Instant::now() < end, "nothing was held for the watcher: {:?}", sfu.counters());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let asked = sfu.counters().keyframe_requests;
        assert!(asked >= 1, "{:?}", sfu.counters());

        // Now the watcher takes the SFU's offer of Alice's tracks.
        let mut carried = 0;
        while seen.lock().expect("seen").video_frames < 10 {
            assert!(Instant::now() < end, "the watcher got no pictures: {:?}, {:?}", seen.lock().expect("seen"), sfu.counters());
            for sdp in driver.offers_to(watcher_id).into_iter().skip(carried) {
                carried += 1;
                let answer = watcher.answer(sdp).await;
                sfu.accept_answer(watcher_id, &answer).await.expect("the SFU takes the watcher's answer");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen.lock().expect("seen").first_is_keyframe, Some(true), "its first frame starts a picture");
        let counters = sfu.counters();
        assert_eq!(counters.keyframe_requests, asked, "no second keyframe was needed: {counters:?}");
    });
}

/// A joiner that offers to receive on slots (the call page offers an audio and a video slot for
/// each person already there) gets the others' tracks in the SFU's answer: each bound slot's
/// msid names its owner, a slot nobody fills names nobody, and the first picture (a keyframe)
/// comes with no offer from the SFU at all: the test carries none.
#[test]
fn a_joiner_that_offers_receive_slots_gets_the_others_tracks_in_the_answer() {
    let Some(_ns) = enter_namespace("slots") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, driver, alice) = sfu_with_alice().await;
        let alice_id = alice.id;
        for kind in [lancall_sfu::MediaKind::Audio, lancall_sfu::MediaKind::Video] {
            driver
                .wait_for("alice's tracks", move |e| matches!(e, lancall_sfu::SfuEvent::MediaAdded { participant, kind: k, .. } if *participant == alice_id && *k == kind))
                .await;
        }

        // The watcher offers one audio and two video slots, all receive-only.
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let slots: Arc<Mutex<Vec<Mid>>> = Arc::default();
        let (sfu2, runtime, seen2, slots2) = (sfu.clone(), tokio::runtime::Handle::current(), seen.clone(), slots.clone());
        let (watcher, watcher_id, answer) = tokio::task::spawn_blocking(move || {
            let mut joined = None;
            let peer = Str0mPeer::start(
                |rtc| {
                    let mut change = rtc.sdp_api();
                    let mut mids = slots2.lock().expect("slots");
                    for kind in [MediaKind::Audio, MediaKind::Video, MediaKind::Video] {
                        mids.push(change.add_media(kind, Direction::RecvOnly, None, None, None));
                    }
                    change.apply().expect("an offer")
                },
                |sdp| {
                    let (id, answer) = runtime.block_on(sfu2.add_participant("watcher", &sdp)).expect("the SFU answers");
                    joined = Some((id, answer.clone()));
                    answer
                },
                move |_, e| {
                    if let Event::MediaData(d) = e {
                        let mut s = seen2.lock().expect("seen");
                        if d.params.spec().codec == str0m::format::Codec::Vp8 {
                            s.first_is_keyframe.get_or_insert(d.is_keyframe());
                            s.video_frames += 1;
                            s.keyframes += u64::from(d.is_keyframe());
                            if !s.video.contains(&d.mid) {
                                s.video.push(d.mid);
                            }
                        }
                    }
                },
                |_, _| {},
            );
            let (id, answer) = joined.expect("joined");
            (peer, id, answer)
        })
        .await
        .expect("the watcher starts");

        // The answer says whose track each slot carries: Alice's audio and camera, and nothing
        // for the second video slot.
        let slots = slots.lock().expect("slots").clone();
        let msid_of = |mid: Mid| {
            let section = answer.split("\r\nm=").find(|s| s.contains(&format!("\r\na=mid:{mid}\r\n")))?;
            section.lines().find_map(|l| l.strip_prefix("a=msid:")).map(str::to_owned)
        };
        let owners: Vec<Option<String>> = slots.iter().map(|m| msid_of(*m)).collect();
        assert!(owners[0].as_deref().is_some_and(|m| m.starts_with("alice alice-")), "audio slot: {owners:?}\n{answer}");
        assert!(owners[1].as_deref().is_some_and(|m| m.starts_with("alice alice-")), "video slot: {owners:?}\n{answer}");
        assert_eq!(owners[2], None, "the spare slot names nobody:\n{answer}");

        // Alice's pictures come on the video slot, starting with a keyframe, with no offer
        // carried to the watcher.
        let end = Instant::now() + PATIENCE;
        while seen.lock().expect("seen").video_frames < 10 {
            assert!(Instant::now() < end, "the watcher got no pictures on its slots: {:?}, {:?}", seen.lock().expect("seen"), sfu.counters());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = seen.lock().expect("seen");
        assert_eq!(s.video, vec![slots[1]], "on the bound video slot only");
        assert_eq!(s.first_is_keyframe, Some(true), "its first frame starts a picture");
        assert!(driver.offers_to(watcher_id).is_empty(), "nothing was left to offer: {:?}", driver.offers_to(watcher_id));
        drop(watcher);
    });
}
