//! Simulcast as this slice does it: a str0m publisher sends two VP8 layers (rids `l` 160x120
//! and `h` 320x240, listed low to high); a webrtc-rs subscriber decodes the high one; when the
//! publisher stops sending it, the subscriber's pictures continue at the low layer's size (the
//! SFU asked for a keyframe on it and switched there). Inside a network namespace.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::str0m_peer::Str0mPeer;
use common::{enter_namespace, run_scenario, start_sfu, Client, Driver};
use lancall_peer::codec::{I420Frame, Vp8Config, Vp8Encoder};
use lancall_peer::testsrc::TestPattern;
use lancall_sfu::SfuEvent;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::Event;

/// The layers, low to high: rid and picture size.
const LAYERS: [(&str, (u32, u32)); 2] = [("l", (160, 120)), ("h", (320, 240))];

/// One layer's encoder and test pattern.
struct Layer {
    rid: Rid,
    size: (u32, u32),
    pattern: TestPattern,
    encoder: Vp8Encoder,
    /// A keyframe was asked for.
    keyframe: Arc<AtomicBool>,
}

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

        let high_on = Arc::new(AtomicBool::new(true));
        let keyframes: Vec<Arc<AtomicBool>> = LAYERS
            .iter()
            .map(|_| Arc::new(AtomicBool::new(true)))
            .collect();
        let mid: Arc<Mutex<Option<Mid>>> = Arc::default();
        let (mid2, high2, asked) = (mid.clone(), high_on.clone(), keyframes.clone());
        let mut layers: Vec<Layer> = LAYERS
            .iter()
            .zip(&keyframes)
            .map(|((rid, size), keyframe)| Layer {
                rid: Rid::from(*rid),
                size: *size,
                pattern: TestPattern::new(size.0, size.1),
                encoder: Vp8Encoder::new(
                    size.0,
                    size.1,
                    Vp8Config {
                        fps: 25,
                        keyframe_interval: 1_000_000,
                        ..Vp8Config::default()
                    },
                )
                .expect("an encoder"),
                keyframe: keyframe.clone(),
            })
            .collect();
        let mut frame = 0u64;
        let mut next_frame = std::time::Instant::now();
        let (_cam, _) = Str0mPeer::join(
            &sfu,
            "cam",
            move |rtc| {
                let mut simulcast = Simulcast::new();
                for (rid, _) in LAYERS {
                    simulcast.add_send_layer(SimulcastLayer::new(rid));
                }
                let mut change = rtc.sdp_api();
                let m = change.add_media(
                    MediaKind::Video,
                    Direction::SendOnly,
                    Some("cam".into()),
                    None,
                    Some(simulcast),
                );
                *mid2.lock().expect("mid") = Some(m);
                change.apply().expect("an offer")
            },
            move |_, e| {
                if let Event::KeyframeRequest(req) = e {
                    for (i, (rid, _)) in LAYERS.iter().enumerate() {
                        if req.rid.is_none() || req.rid == Some(Rid::from(*rid)) {
                            asked[i].store(true, Ordering::Relaxed);
                        }
                    }
                }
            },
            move |rtc, now| {
                if now < next_frame {
                    return;
                }
                next_frame = now + Duration::from_millis(40);
                let Some(mid) = *mid.lock().expect("mid") else {
                    return;
                };
                let Some(pt) = rtc
                    .writer(mid)
                    .and_then(|w| w.payload_params().next().map(|p| p.pt()))
                else {
                    return;
                };
                let rtp_time = MediaTime::new(frame * 3_600, Frequency::NINETY_KHZ);
                for layer in &mut layers {
                    if layer.rid == Rid::from("h") && !high2.load(Ordering::Relaxed) {
                        continue;
                    }
                    let data = layer.pattern.next_frame(frame as u32 * 40).to_vec();
                    let picture = I420Frame {
                        width: layer.size.0,
                        height: layer.size.1,
                        data: &data,
                    };
                    let key = layer.keyframe.swap(false, Ordering::Relaxed);
                    for packet in layer.encoder.encode(&picture, key).unwrap_or_default() {
                        if let Some(w) = rtc.writer(mid) {
                            let _ = w.rid(layer.rid).write(pt, now, rtp_time, packet.data);
                        }
                    }
                }
                frame += 1;
            },
        )
        .await;

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
        high_on.store(false, Ordering::Relaxed);
        alice
            .wait_received("the low layer once the high one stopped", |r| {
                r.video.values().any(|v| v.size == LAYERS[0].1) && r.video_decoded() >= before + 20
            })
            .await;
    });
}
