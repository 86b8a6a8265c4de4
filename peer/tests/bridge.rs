//! `BridgePc`, the peer connection the Linux app's page drives over IPC, driven here the way
//! call.js drives a browser's: two of them, one lays out microphone, camera and the data channel
//! and offers on `negotiationneeded`, the other answers taking the remote-made transceivers
//! (direction + replaceTrack), candidates trickle both ways. Checked: both decode each other's
//! moving pictures and hear each other, `track` names the right transceivers, chat crosses both
//! ways, `replaceTrack(null)` stops the pictures without renegotiating, the answering side adds a
//! screen and the first offerer answers it keeping its DTLS role, stats show the streams and the
//! path, `restartIce` asks for negotiation, and bad requests fail with a reason.
//!
//! Runs inside a private network namespace (re-runs its own binary with `ip netns exec`); needs
//! root, skips otherwise.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{feed, transceiver_sink, run_inside_namespace, Received, INSIDE_ENV};
use lancall_peer::bridge::{BridgeEvent, BridgePc};
use lancall_peer::{LinkConfig, LocalMedia, LocalMediaConfig, MediaKind};
use tokio::sync::mpsc;

/// A page's worth of state for one side: its events and what it decoded.
struct Side {
    pc: BridgePc,
    events: mpsc::UnboundedReceiver<BridgeEvent>,
    got: Arc<Mutex<Received>>,
    seen: Vec<BridgeEvent>,
}

async fn side() -> Side {
    let (tx, events) = mpsc::unbounded_channel();
    let got: Arc<Mutex<Received>> = Arc::default();
    let pc = BridgePc::new(
        &LinkConfig::default(),
        Arc::new(move |e| drop(tx.send(e))),
        transceiver_sink(got.clone()),
    )
    .await
    .expect("connection");
    Side {
        pc,
        events,
        got,
        seen: Vec::new(),
    }
}

/// How long a wait for something that must happen may take before the test fails. Generous:
/// these tests check that things happen, not how fast (bench/ measures that), and CI runs them
/// beside other tests on two cores.
const PATIENCE: Duration = Duration::from_secs(30);

/// Hands each side's candidates to the other, and keeps every other event, until `until` holds.
async fn pump(
    a: &mut Side,
    b: &mut Side,
    what: &str,
    limit: Duration,
    mut until: impl FnMut(&Side, &Side) -> bool,
) {
    let end = Instant::now() + limit;
    while !until(a, b) {
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        let (from_a, from_b) = tokio::select! {
            e = a.events.recv() => (e, None),
            e = b.events.recv() => (None, e),
            _ = tokio::time::sleep(Duration::from_millis(50)) => (None, None),
        };
        if let Some(e) = from_a {
            if let BridgeEvent::IceCandidate { candidate } = &e {
                b.pc.add_ice_candidate(candidate.clone())
                    .await
                    .expect("b takes a's candidate");
            }
            a.seen.push(e);
        }
        if let Some(e) = from_b {
            if let BridgeEvent::IceCandidate { candidate } = &e {
                a.pc.add_ice_candidate(candidate.clone())
                    .await
                    .expect("a takes b's candidate");
            }
            b.seen.push(e);
        }
    }
}

/// The `a=setup` value of a description.
fn setup_of(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=setup:"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn saw(s: &Side, f: impl Fn(&BridgeEvent) -> bool) -> bool {
    s.seen.iter().any(f)
}

async fn scenario() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (media_a, media_b) = (
        LocalMedia::new(LocalMediaConfig::default()),
        LocalMedia::new(LocalMediaConfig::default()),
    );
    feed(media_a.clone(), stop.clone(), (320, 240), 440.0);
    feed(media_b.clone(), stop.clone(), (320, 240), 440.0);
    let mut a = side().await;
    let mut b = side().await;

    // A (impolite in call.js terms) lays out microphone, camera, data channel.
    let mic =
        a.pc.add_transceiver(MediaKind::Audio, "sendrecv", Some(media_a.clone()))
            .await
            .expect("audio transceiver");
    let cam =
        a.pc.add_transceiver(MediaKind::Video, "sendrecv", Some(media_a.clone()))
            .await
            .expect("video transceiver");
    assert_eq!(
        (mic.index, mic.kind, cam.index, cam.kind),
        (0, MediaKind::Audio, 1, MediaKind::Video)
    );
    a.pc.create_data_channel(1, "lancall", true)
        .await
        .expect("data channel");
    pump(
        &mut a,
        &mut b,
        "negotiation to be needed",
        PATIENCE,
        |a, _| saw(a, |e| matches!(e, BridgeEvent::NegotiationNeeded)),
    )
    .await;

    let offer = a.pc.set_local_description(false).await.expect("offer");
    assert_eq!(offer.signaling_state, "have-local-offer");
    let offer = offer.local_description.expect("the offer");
    assert_eq!(offer.kind, "offer");
    let got =
        b.pc.set_remote_description(offer)
            .await
            .expect("b takes the offer");
    assert_eq!(got.signaling_state, "have-remote-offer");
    let kinds: Vec<MediaKind> = got.transceivers.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        vec![MediaKind::Audio, MediaKind::Video],
        "the remote-made transceivers, in order: {:?}",
        got.transceivers
    );
    // call.js takeMainTransceivers: send on them, then answer.
    for t in &got.transceivers {
        b.pc.set_direction(t.index, "sendrecv")
            .await
            .expect("direction");
        b.pc.set_source(t.index, Some(media_b.clone()))
            .await
            .expect("source");
    }
    let answer = b.pc.set_local_description(false).await.expect("answer");
    assert_eq!(answer.signaling_state, "stable");
    let b_setup = setup_of(&answer.local_description.as_ref().expect("the answer").sdp);
    assert!(
        answer
            .transceivers
            .iter()
            .all(|t| t.current_direction.as_deref() == Some("sendrecv")),
        "{:?}",
        answer.transceivers
    );
    let done =
        a.pc.set_remote_description(answer.local_description.expect("the answer"))
            .await
            .expect("a takes the answer");
    assert_eq!(done.signaling_state, "stable");

    let connected = Instant::now();
    pump(
        &mut a,
        &mut b,
        "both to connect and decode each other",
        PATIENCE,
        |a, b| {
            let ok = |s: &Side| {
                let g = s.got.lock().expect("got");
                g.video_decoded() > 20 && g.distinct_pictures() > 10 && g.audio_packets() > 20
            };
            ok(a) && ok(b)
        },
    )
    .await;
    eprintln!(
        "connected and decoding both ways {} ms after the answer",
        connected.elapsed().as_millis()
    );
    for (name, s) in [("a", &a), ("b", &b)] {
        assert!(
            saw(s, |e| matches!(
                e,
                BridgeEvent::ConnectionState { state: "connected" }
            )),
            "{name} says connected"
        );
        let g = s.got.lock().expect("got");
        assert_eq!(
            g.last_size,
            (320, 240),
            "{name} decodes the other's pictures"
        );
        assert!(
            g.loudest() > 0.05,
            "{name} hears the other's tone (rms {})",
            g.loudest()
        );
        assert!(
            g.arrived_on.contains(&(MediaKind::Audio, 0))
                && g.arrived_on.contains(&(MediaKind::Video, 1)),
            "{name}: audio on 0, video on 1: {:?}",
            g.arrived_on
        );
        assert!(
            saw(s, |e| matches!(
                e,
                BridgeEvent::Track {
                    transceiver: 1,
                    kind: MediaKind::Video
                }
            )),
            "{name} had a video track event on transceiver 1"
        );
    }

    // Chat over the data channel, both ways.
    pump(
        &mut a,
        &mut b,
        "the data channel",
        PATIENCE,
        |a, b| {
            saw(a, |e| matches!(e, BridgeEvent::ChannelOpen { channel: 1 }))
                && saw(
                    b,
                    |e| matches!(e, BridgeEvent::DataChannel { label, .. } if label == "lancall"),
                )
        },
    )
    .await;
    let b_channel = b.seen.iter().find_map(|e| match e {
        BridgeEvent::DataChannel { channel, .. } => Some(*channel),
        _ => None,
    });
    let b_channel = b_channel.expect("b's channel number");
    pump(
        &mut a,
        &mut b,
        "b's channel to open",
        PATIENCE,
        |_, b| {
            saw(
                b,
                |e| matches!(e, BridgeEvent::ChannelOpen { channel } if *channel == b_channel),
            )
        },
    )
    .await;
    a.pc.channel_send(1, "{\"type\":\"chat\",\"text\":\"hello b\"}")
        .await
        .expect("a sends");
    b.pc.channel_send(b_channel, "{\"type\":\"chat\",\"text\":\"hello a\"}")
        .await
        .expect("b sends");
    pump(&mut a, &mut b, "chat both ways", PATIENCE, |a, b| {
        saw(b, |e| matches!(e, BridgeEvent::ChannelMessage { text, .. } if text.contains("hello b")))
            && saw(a, |e| matches!(e, BridgeEvent::ChannelMessage { text, .. } if text.contains("hello a")))
    })
    .await;

    // Stats: the streams and the path.
    let stats = a.pc.stats().await;
    let of = |t: &str| {
        stats
            .iter()
            .filter(|e| e.get("type").and_then(|v| v.as_str()) == Some(t))
            .count()
    };
    assert!(
        of("inbound-rtp") >= 2 && of("outbound-rtp") >= 2 && of("candidate-pair") == 1,
        "{stats:?}"
    );
    let local = stats
        .iter()
        .find(|e| e.get("type").and_then(|v| v.as_str()) == Some("local-candidate"))
        .expect("local candidate");
    assert_eq!(
        local.get("candidateType").and_then(|v| v.as_str()),
        Some("host"),
        "{local:?}"
    );

    // replaceTrack(null) on A's camera: B's pictures stop, no renegotiation, audio goes on.
    let negotiations = |s: &Side| {
        s.seen
            .iter()
            .filter(|e| matches!(e, BridgeEvent::NegotiationNeeded))
            .count()
    };
    let asked = negotiations(&a);
    a.pc.set_source(1, None).await.expect("no camera");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (v0, s0) = {
        let g = b.got.lock().expect("got");
        (g.video_decoded(), g.audio_packets())
    };
    let later = Instant::now() + Duration::from_secs(1);
    pump(
        &mut a,
        &mut b,
        "a second of audio without pictures",
        PATIENCE,
        move |_, _| Instant::now() >= later,
    )
    .await;
    {
        let g = b.got.lock().expect("got");
        assert_eq!(g.video_decoded(), v0, "no pictures while A sends no camera");
        assert!(
            g.audio_packets() > s0 + 20,
            "sound goes on ({s0} -> {})",
            g.audio_packets()
        );
    }
    assert_eq!(negotiations(&a), asked, "replaceTrack needs no negotiation");
    a.pc.set_source(1, Some(media_a.clone()))
        .await
        .expect("camera back");
    pump(
        &mut a,
        &mut b,
        "pictures again",
        PATIENCE,
        |_, b| b.got.lock().expect("got").video_decoded() > v0 + 10,
    )
    .await;

    // B (the answering side so far) shares a screen: a sendonly transceiver, B offers, A answers.
    // A's answer keeps the DTLS role the first exchange gave it (browsers refuse it otherwise),
    // and A decodes the screen on the new transceiver.
    let screen = LocalMedia::new(LocalMediaConfig::default());
    feed(screen.clone(), stop.clone(), (640, 360), 660.0);
    let asked_b = negotiations(&b);
    let shared =
        b.pc.add_transceiver(MediaKind::Video, "sendonly", Some(screen.clone()))
            .await
            .expect("screen transceiver");
    pump(
        &mut a,
        &mut b,
        "b to need negotiation",
        PATIENCE,
        |_, b| negotiations(b) > asked_b,
    )
    .await;
    let offer = b.pc.set_local_description(false).await.expect("b's offer");
    let got =
        a.pc.set_remote_description(offer.local_description.expect("the offer"))
            .await
            .expect("a takes b's offer");
    assert_eq!(got.signaling_state, "have-remote-offer");
    let answer = a.pc.set_local_description(false).await.expect("a's answer");
    let answer = answer.local_description.expect("the answer");
    let a_setup = setup_of(&answer.sdp);
    assert_eq!(
        (b_setup.as_str(), a_setup.as_str()),
        ("active", "passive"),
        "A offered first and B answered active: A is passive for the whole session"
    );
    b.pc.set_remote_description(answer)
        .await
        .expect("b takes a's answer");
    pump(
        &mut a,
        &mut b,
        "a to decode b's screen",
        PATIENCE,
        |a, _| {
            let g = a.got.lock().expect("got");
            g.arrived_on
                .contains(&(MediaKind::Video, shared.index as u64))
        },
    )
    .await;

    // restartIce: negotiation is needed again.
    let before = negotiations(&a);
    a.pc.restart_ice().await.expect("restart");
    pump(
        &mut a,
        &mut b,
        "negotiation after restartIce",
        PATIENCE,
        |a, _| negotiations(a) > before,
    )
    .await;

    // Bad requests say why and change nothing.
    let err =
        a.pc.set_direction(9, "sendrecv")
            .await
            .expect_err("no transceiver 9");
    assert!(err.to_string().contains("no transceiver 9"), "{err}");
    let err =
        a.pc.set_direction(0, "sideways")
            .await
            .expect_err("not a direction");
    assert!(
        err.to_string().contains("not a transceiver direction"),
        "{err}"
    );
    assert!(
        a.pc.create_data_channel(1 << 21, "x", true).await.is_err(),
        "channel numbers from the remote range are refused"
    );
    assert!(
        a.pc.channel_send(77, "nobody").await.is_err(),
        "no channel 77"
    );

    // close(): nothing more, and operations fail.
    a.pc.close().await;
    assert!(
        a.pc.set_local_description(false).await.is_err(),
        "a closed connection refuses work"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    b.pc.close().await;
}

#[test]
fn a_bridged_connection_calls_another_like_a_browser_would() {
    const NAME: &str = "a_bridged_connection_calls_another_like_a_browser_would";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace(NAME);
        return;
    }
    common::run_scenario(Duration::from_secs(240), scenario());
}
