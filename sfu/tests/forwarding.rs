//! Three webrtc-rs clients in one SFU call, inside a network namespace: each publishes a moving
//! test pattern of its own size and a tone, and each decodes the other two's pictures (moving,
//! of their sizes) and hears their audio. Then one hangs up: the SFU sees it go, the other two
//! are offered the removal and go on decoding each other.

mod common;

use std::time::Instant;

use common::{enter_namespace, run_scenario, start_sfu, Client, Driver};
use lancall_sfu::SfuEvent;

const SIZES: [(u32, u32); 3] = [(320, 240), (256, 192), (192, 144)];

#[test]
fn three_participants_each_decode_the_others_video_and_hear_their_audio() {
    let Some(_ns) = enter_namespace("forwarding") else {
        return;
    };
    run_scenario(std::time::Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let start = Instant::now();
        let mut clients = Vec::new();
        for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
            let c = Client::join(&sfu, name, SIZES[i]).await;
            driver.register(&c);
            clients.push(c);
        }
        for (i, c) in clients.iter().enumerate() {
            let mut others: Vec<(u32, u32)> = SIZES
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| *s)
                .collect();
            others.sort();
            c.wait_received("the other two's moving pictures and their tones", |r| {
                r.moving_videos(20) == others && r.audible(20) == 2
            })
            .await;
        }
        eprintln!(
            "all three decode the other two {} ms after the first join",
            start.elapsed().as_millis()
        );
        for c in &clients {
            assert!(
                driver.saw(
                    |e| matches!(e, SfuEvent::Connected { participant } if *participant == c.id)
                ),
                "{} connected",
                c.name
            );
            let published = |kind| {
                driver.saw(|e| matches!(e, SfuEvent::MediaAdded { participant, kind: k, .. } if *participant == c.id && *k == kind))
            };
            assert!(
                published(lancall_sfu::MediaKind::Audio)
                    && published(lancall_sfu::MediaKind::Video),
                "{} published audio and video",
                c.name
            );
            // The tracks it receives name their owners (the msid stream id is the label).
            let offers: String = driver.offers_to(c.id).concat();
            for other in clients.iter().filter(|o| o.id != c.id) {
                assert!(
                    offers.contains(&format!("a=msid:{} ", other.name)),
                    "{}'s offers name {}'s tracks: {offers}",
                    c.name,
                    other.name
                );
            }
        }
        // Each track started on a keyframe: asked for when it opened, or held since one came
        // while it was being negotiated.
        let counters = sfu.counters();
        assert!(
            counters.frames_forwarded > 0 && (counters.keyframe_requests > 0 || counters.frames_held > 0),
            "{counters:?}"
        );
        assert_eq!(
            (counters.participants_failed, counters.panics_contained),
            (0, 0),
            "{counters:?}"
        );

        // Carol hangs up (closes her connection, tells the SFU nothing): the SFU sees her go,
        // Alice and Bob are offered the end of her tracks and keep seeing each other.
        let carol = clients.pop().expect("carol");
        let offers_before = driver.offers();
        let closed = Instant::now();
        carol.pc.close().await;
        driver
            .wait_for(
                "the SFU to see carol go",
                |e| matches!(e, SfuEvent::Gone { participant, .. } if *participant == carol.id),
            )
            .await;
        eprintln!(
            "carol gone {} ms after closing: {:?}",
            closed.elapsed().as_millis(),
            driver
                .log
                .lock()
                .expect("log")
                .iter()
                .rev()
                .find(|e| matches!(e, SfuEvent::Gone { .. }))
        );
        driver
            .wait_log("offers stopping carol's tracks at alice and bob", |log| {
                log.iter()
                    .filter(|e| matches!(e, SfuEvent::Offer { .. }))
                    .count()
                    >= offers_before + 2
            })
            .await;
        for c in &clients {
            let before = c.received.lock().expect("received").video_decoded();
            c.wait_received("pictures still moving after carol left", |r| {
                r.video_decoded() >= before + 30
            })
            .await;
        }

        // The host removes Bob: Alice is offered the end of his tracks; no Gone event (the
        // owner asked for it).
        let bob = clients.pop().expect("bob");
        let offers_before = driver.offers();
        sfu.remove_participant(bob.id)
            .await
            .expect("bob is removed");
        driver
            .wait_log("an offer to alice after bob's removal", |log| {
                log.iter()
                    .filter(|e| matches!(e, SfuEvent::Offer { .. }))
                    .count()
                    > offers_before
            })
            .await;
        assert!(!driver
            .saw(|e| matches!(e, SfuEvent::Gone { participant, .. } if *participant == bob.id)));
        assert!(matches!(
            sfu.remove_participant(bob.id).await,
            Err(lancall_sfu::SfuError::NoSuchParticipant(_))
        ));
    });
}

#[test]
fn a_video_a_participant_adds_by_its_own_offer_reaches_the_other() {
    let Some(_ns) = enter_namespace("second-video") else {
        return;
    };
    run_scenario(std::time::Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let alice = Client::join(&sfu, "alice", SIZES[0]).await;
        driver.register(&alice);
        let bob = Client::join(&sfu, "bob", SIZES[1]).await;
        driver.register(&bob);
        alice
            .wait_received("bob's moving pictures", |r| {
                r.moving_videos(20) == vec![SIZES[1]]
            })
            .await;
        bob.wait_received("alice's moving pictures", |r| {
            r.moving_videos(20) == vec![SIZES[0]]
        })
        .await;

        // Alice shares a "screen" of another size: Bob is offered it and decodes both.
        alice.publish_another_video(&sfu, SIZES[2]).await;
        let mut both = vec![SIZES[0], SIZES[2]];
        both.sort();
        bob.wait_received("alice's camera and screen", |r| r.moving_videos(20) == both)
            .await;
        let videos = driver
            .log
            .lock()
            .expect("log")
            .iter()
            .filter(|e| {
                matches!(e, SfuEvent::MediaAdded { participant, kind: lancall_sfu::MediaKind::Video, .. } if *participant == alice.id)
            })
            .count();
        assert_eq!(videos, 2, "alice's two videos were announced");
        alice
            .wait_received("bob's pictures still moving", |r| {
                r.moving_videos(40) == vec![SIZES[1]]
            })
            .await;
    });
}
