//! Layer choice per subscriber, with a str0m simulcast camera (rids `l` 320x180 and `h`
//! 640x360) and two webrtc-rs subscribers that decode what they receive, inside a network
//! namespace:
//! - a subscriber whose tile is 180 lines tall decodes the low layer while one whose tile is
//!   720 lines decodes the high one; a tile of height 0 stops that track for that subscriber
//!   only, and showing it again brings it back;
//! - when nobody needs the high layer the SFU says so (`LayersWanted` without `h`, 2 s after
//!   the last need), the camera stops encoding it, and when a subscriber needs it again the SFU
//!   asks for it back at once and that subscriber decodes it again.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::simulcast::SimulcastCamera;
use common::{enter_namespace, run_scenario, start_sfu, Client, Driver, Received};
use lancall_peer::LocalMediaConfig;
use lancall_sfu::{Sfu, SfuEvent};

const LOW: (u32, u32) = (320, 180);
const HIGH: (u32, u32) = (640, 360);
const LAYERS: [(&str, (u32, u32)); 2] = [("l", LOW), ("h", HIGH)];

/// The SFU, Alice and Bob (subscribers), the simulcast camera.
struct Call {
    sfu: Arc<Sfu>,
    driver: Driver,
    alice: Client,
    bob: Client,
    cam: SimulcastCamera,
}

impl Call {
    async fn start() -> Call {
        let (sfu, events) = start_sfu();
        // The choice by tile size is the subject here: the test clients' estimates follow the
        // machine's load (tests/bandwidth.rs and layers.rs's unit tests cover the bandwidth).
        sfu.set_bandwidth_limits(false);
        let driver = Driver::start(sfu.clone(), events);
        let alice = subscriber(&sfu, "alice", (256, 192)).await;
        driver.register(&alice);
        let bob = subscriber(&sfu, "bob", (192, 144)).await;
        driver.register(&bob);
        let cam = SimulcastCamera::join(&sfu, "cam", &LAYERS).await;
        Call {
            sfu,
            driver,
            alice,
            bob,
            cam,
        }
    }
}

/// Runs `scenario` in a call made by [`Call::start`] inside a namespace of its own.
fn in_call<F: std::future::Future<Output = ()>>(test: &str, scenario: impl FnOnce(Call) -> F) {
    let Some(_ns) = enter_namespace(test) else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        scenario(Call::start().await).await;
    });
}

/// A subscriber that also publishes a small camera of its own, at a small bitrate.
async fn subscriber(sfu: &Arc<Sfu>, name: &str, size: (u32, u32)) -> Client {
    let mut config = LocalMediaConfig::default();
    config.video.bitrate_kbps = 100;
    Client::join_with(sfu, name, size, config).await
}

/// The camera's stream among what a client decoded: its decoded pictures and last size.
fn camera(r: &Received) -> (u64, (u32, u32)) {
    r.video
        .values()
        .find(|v| v.size == LOW || v.size == HIGH)
        .map(|v| (v.decoded, v.size))
        .unwrap_or((0, (0, 0)))
}

/// Waits until `client` decodes `frames` more pictures of the camera, all of size `size`.
async fn wait_camera_at(client: &Client, size: (u32, u32), frames: u64, what: &str) {
    client
        .wait_received(&format!("{what}: the camera at {size:?}"), |r| {
            camera(r).1 == size
        })
        .await;
    let from = camera(&client.received.lock().expect("received")).0;
    client
        .wait_received(&format!("{what}: {frames} more pictures at {size:?}"), |r| {
            let (n, s) = camera(r);
            assert!(
                s == size,
                "{}: {what}: the camera went back to {s:?}",
                client.name
            );
            n >= from + frames
        })
        .await;
}

#[test]
fn each_subscriber_gets_the_layer_its_tile_needs_and_a_hidden_tile_gets_nothing() {
    in_call("layer_size", |call| async move {
        let Call {
            sfu,
            driver: _driver,
            alice,
            bob,
            cam,
        } = call;

        // Before anyone says: the highest layer for both.
        wait_camera_at(&alice, HIGH, 10, "alice by default").await;
        wait_camera_at(&bob, HIGH, 10, "bob by default").await;

        sfu.set_wanted(alice.id, cam.id, &cam.mid, 180)
            .await
            .expect("alice's tile");
        sfu.set_wanted(bob.id, cam.id, &cam.mid, 720)
            .await
            .expect("bob's tile");
        wait_camera_at(&alice, LOW, 20, "alice's 180-line tile").await;
        wait_camera_at(&bob, HIGH, 20, "bob's 720-line tile").await;
        let c = sfu.counters();
        assert!(c.layer_switches >= 1 && c.frames_not_chosen > 0, "{c:?}");

        // Alice hides the camera: she receives nothing more of it, Bob goes on.
        let paused_before = sfu.counters().frames_paused;
        sfu.set_wanted(alice.id, cam.id, &cam.mid, 0)
            .await
            .expect("alice hides it");
        let end = Instant::now() + common::PATIENCE;
        while sfu.counters().frames_paused < paused_before + 3 {
            assert!(Instant::now() < end, "no frame was held back from alice");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let alice_before = camera(&alice.received.lock().expect("received")).0;
        wait_camera_at(&bob, HIGH, 25, "bob while alice hides it").await;
        let alice_after = camera(&alice.received.lock().expect("received")).0;
        assert!(
            alice_after <= alice_before + 2,
            "alice decoded {} pictures of a camera she hides",
            alice_after - alice_before
        );

        // Shown again: it comes back (from a keyframe).
        sfu.set_wanted(alice.id, cam.id, &cam.mid, 180)
            .await
            .expect("alice shows it again");
        alice
            .wait_received("the camera again", |r| camera(r).0 >= alice_after + 20)
            .await;
        eprintln!("counters: {:?}", sfu.counters());
    });
}

#[test]
fn a_layer_nobody_needs_is_dropped_and_asked_back_at_once_when_someone_does() {
    in_call("layers_wanted", |call| async move {
        let Call {
            sfu,
            driver,
            alice,
            bob,
            cam,
        } = call;
        wait_camera_at(&bob, HIGH, 10, "bob by default").await;

        let wanted = |rids: &'static [&'static str]| {
            let (id, mid) = (cam.id, cam.mid.clone());
            move |e: &SfuEvent| {
                matches!(e, SfuEvent::LayersWanted { participant, mid: m, rids: r }
                    if *participant == id && *m == mid && r == rids)
            }
        };
        for c in [&alice, &bob] {
            sfu.set_wanted(c.id, cam.id, &cam.mid, 180)
                .await
                .expect("a small tile");
        }
        driver
            .wait_for("only the low layer wanted", wanted(&["l"]))
            .await;
        // The camera stops encoding the high layer, as a browser does.
        cam.on[1].store(false, Ordering::Relaxed);
        wait_camera_at(&bob, LOW, 20, "bob's small tile").await;

        let asked = Instant::now();
        sfu.set_wanted(bob.id, cam.id, &cam.mid, 720)
            .await
            .expect("bob maximises it");
        driver
            .wait_log("the high layer wanted again", |log| {
                let high = wanted(&["l", "h"]);
                let low = wanted(&["l"]);
                log.iter()
                    .skip_while(|e| !low(e))
                    .any(high)
            })
            .await;
        let took = asked.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "the high layer was asked back {took:?} after bob needed it (added at once, not after the 2 s a drop waits)"
        );
        cam.on[1].store(true, Ordering::Relaxed);
        wait_camera_at(&bob, HIGH, 20, "bob's big tile").await;
        // Alice still gets the low one.
        wait_camera_at(&alice, LOW, 10, "alice's small tile").await;
    });
}
