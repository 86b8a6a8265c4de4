//! Simulcast with no layer choice made: a str0m publisher sends two VP8 layers (rids `l`
//! 160x120 and `h` 320x240, listed low to high); a webrtc-rs subscriber decodes the high one;
//! when the publisher stops sending it, the subscriber's pictures continue at the low layer's
//! size (the SFU asked for a keyframe on it and switched there). Inside a network namespace.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::simulcast::SimulcastCamera;
use common::{enter_namespace, run_scenario, start_sfu, Client, Driver};
use lancall_sfu::SfuEvent;

/// The layers, low to high: rid and picture size.
const LAYERS: [(&str, (u32, u32)); 2] = [("l", (160, 120)), ("h", (320, 240))];

#[test]
fn the_highest_simulcast_layer_is_forwarded_and_the_next_one_when_it_stops() {
    let Some(_ns) = enter_namespace("simulcast") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let alice = Client::join(&sfu, "alice", (256, 192)).await;
        driver.register(&alice);
        let cam = SimulcastCamera::join(&sfu, "cam", &LAYERS).await;

        driver
            .wait_for(
                "the camera's layers announced low to high",
                |e| matches!(e, SfuEvent::MediaAdded { rids, .. } if rids == &["l", "h"]),
            )
            .await;
        alice
            .wait_received("the high layer", |r| {
                r.moving_videos(20).contains(&LAYERS[1].1)
            })
            .await;

        let before = alice.received.lock().expect("received").video_decoded();
        cam.on[1].store(false, Ordering::Relaxed);
        alice
            .wait_received("the low layer once the high one stopped", |r| {
                r.video.values().any(|v| v.size == LAYERS[0].1) && r.video_decoded() >= before + 20
            })
            .await;
    });
}
