//! A subscriber behind a slow link gets the low layer; another keeps the high one. A str0m
//! listener sits in a second namespace whose link from the SFU is shaped to 200 kbit/s (tc
//! tbf: this kernel has no netem); a simulcast camera sends `l` 320x180 (about 100 kbit/s) and
//! `h` 640x360 (about 260 kbit/s). The listener first gets the high layer (nobody has said
//! otherwise); str0m's estimate for it falls well below what is sent, the SFU takes it as a
//! shortage and switches the listener to the low layer, while Alice, on the fast link, keeps
//! decoding the high one. Inside network namespaces.

mod common;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::simulcast::SimulcastCamera;
use common::str0m_peer::Str0mPeer;
use common::{
    enter_namespace, in_namespace, remote_namespace, run_scenario, start_sfu, Client, Driver,
    REMOTE_ADDR,
};
use lancall_peer::codec::vp8_keyframe_size;
use lancall_peer::LocalMediaConfig;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::Event;

const LOW: (u32, u32) = (320, 180);
const HIGH: (u32, u32) = (640, 360);

/// What the listener received of the camera.
#[derive(Debug, Default)]
struct Seen {
    /// The size of the last keyframe, and the frames since.
    current: Option<(u32, u32)>,
    frames_since: u64,
    keyframe_sizes: Vec<(u32, u32)>,
}

#[test]
fn a_subscriber_on_a_slow_link_gets_the_low_layer_and_another_keeps_the_high_one() {
    let Some(ns) = enter_namespace("bandwidth") else {
        return;
    };
    let remote = match remote_namespace(&ns, "200kbit") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("SKIP: could not make the shaped second namespace: {e}");
            return;
        }
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        // Alice's own camera is small and cheap: the slow link is for the simulcast camera.
        let mut config = LocalMediaConfig::default();
        config.video.bitrate_kbps = 30;
        let alice = Client::join_with(&sfu, "alice", (160, 120), config).await;
        driver.register(&alice);
        let cam = SimulcastCamera::join(&sfu, "cam", &[("l", LOW), ("h", HIGH)]).await;

        let seen: Arc<Mutex<Seen>> = Arc::default();
        let seen2 = seen.clone();
        let runtime = tokio::runtime::Handle::current();
        let sfu2 = sfu.clone();
        let (listener, listener_id) = tokio::task::block_in_place(|| {
            in_namespace(&remote, move || {
                let mut id = None;
                let peer = Str0mPeer::start_on(
                    IpAddr::V4(REMOTE_ADDR),
                    |rtc| {
                        let mut change = rtc.sdp_api();
                        change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
                        change.apply().expect("an offer")
                    },
                    |sdp| {
                        let (pid, answer) = runtime
                            .block_on(sfu2.add_participant("listener", &sdp))
                            .expect("the SFU answers");
                        id = Some(pid);
                        answer
                    },
                    move |rtc, e| {
                        let Event::MediaData(d) = e else { return };
                        // The camera's track (its stream id is the publisher's label), not
                        // Alice's.
                        if rtc.media(d.mid).map(|m| m.stream_id() == "cam") != Some(true) {
                            return;
                        }
                        // A frame lost on the slow link: ask for a keyframe, as a browser's
                        // decoder does.
                        if !d.contiguous {
                            if let Some(mut w) = rtc.writer(d.mid) {
                                let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                            }
                        }
                        let mut s = seen2.lock().expect("seen");
                        if let Some(size) = vp8_keyframe_size(&d.data) {
                            s.current = Some(size);
                            s.frames_since = 0;
                            s.keyframe_sizes.push(size);
                        }
                        s.frames_since += 1;
                    },
                    |_, _| {},
                );
                (peer, id.expect("an id"))
            })
        });
        Arc::new(listener).answer_offers(&sfu, &driver, listener_id);

        let wait = |what: &'static str, f: fn(&Seen) -> bool| {
            let seen = seen.clone();
            let sfu = sfu.clone();
            async move {
                let end = std::time::Instant::now() + Duration::from_secs(60);
                while !f(&seen.lock().expect("seen")) {
                    assert!(
                        std::time::Instant::now() < end,
                        "the listener: timed out waiting for {what}: {:?}; {:?}",
                        seen.lock().expect("seen"),
                        sfu.counters()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        wait("the high layer first", |s| s.keyframe_sizes.contains(&HIGH)).await;
        wait("the low layer on the slow link", |s| {
            s.current == Some(LOW) && s.frames_since >= 25
        })
        .await;
        let before = alice.received.lock().expect("received").video_decoded();
        alice
            .wait_received("the high layer on the fast link", |r| {
                r.video.values().any(|v| v.size == HIGH) && r.video_decoded() >= before + 25
            })
            .await;
        eprintln!(
            "listener: keyframes {:?}; alice {}; {:?}",
            seen.lock().expect("seen").keyframe_sizes,
            alice.received.lock().expect("received").summary(),
            sfu.counters()
        );
        drop(cam);
    });
}
