//! The 3 loudest voices: five str0m publishers send audio packets carrying RFC 6464 levels
//! (-10, -20, -30, -40 and -45 dBov: all speaking), a str0m listener receives what the SFU
//! forwards. The SFU reports the three loudest as the speakers, loudest first, and the listener
//! receives packets of those three only. Inside a network namespace.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::str0m_peer::Str0mPeer;
use common::{enter_namespace, run_scenario, start_sfu, Driver, PATIENCE};
use lancall_sfu::{ParticipantId, SfuEvent};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::Event;

/// Each publisher's name and level (-dBov), loudest first.
const VOICES: [(&str, i8); 5] = [
    ("v10", -10),
    ("v20", -20),
    ("v30", -30),
    ("v40", -40),
    ("v45", -45),
];

/// An Opus packet of silence (TOC 0xf8: CELT fullband 20 ms, then two bytes): the SFU does
/// not decode audio, it reads the level in the header extension.
const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];

/// Joins a publisher that sends one audio packet every 20 ms at `level`.
async fn voice(sfu: &Arc<lancall_sfu::Sfu>, name: &str, level: i8) -> (Str0mPeer, ParticipantId) {
    let mid: Arc<Mutex<Option<Mid>>> = Arc::default();
    let (mid2, stream) = (mid.clone(), name.to_owned());
    let mut next = Instant::now();
    let mut n = 0u64;
    Str0mPeer::join(
        sfu,
        name,
        move |rtc| {
            let mut change = rtc.sdp_api();
            let m = change.add_media(MediaKind::Audio, Direction::SendOnly, Some(stream), None, None);
            *mid2.lock().expect("mid") = Some(m);
            change.apply().expect("an offer")
        },
        |_, _| {},
        move |rtc, now| {
            if now < next {
                return;
            }
            next += Duration::from_millis(20);
            let Some(mid) = *mid.lock().expect("mid") else {
                return;
            };
            let Some(writer) = rtc.writer(mid) else {
                return;
            };
            let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
                return;
            };
            let time = MediaTime::new(n * 960, Frequency::FORTY_EIGHT_KHZ);
            n += 1;
            let _ = writer
                .audio_level(level, true)
                .write(pt, now, time, OPUS_SILENCE.to_vec());
        },
    )
    .await
}

#[test]
fn a_subscriber_receives_the_three_loudest_voices_and_they_are_reported() {
    let Some(_ns) = enter_namespace("speakers") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let mut voices = Vec::new();
        for (name, level) in VOICES {
            voices.push(voice(&sfu, name, level).await);
        }
        let ids: Vec<ParticipantId> = voices.iter().map(|(_, id)| *id).collect();

        // The listener counts the packets it receives by their stream id (the publisher's label).
        let received: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let counts = received.clone();
        let (listener, listener_id) = Str0mPeer::join(
            &sfu,
            "listener",
            |rtc| {
                // A video line: the voices publish none, so it stays a spare receive slot and
                // every voice comes in an SFU offer, whose msid names its owner for `stream_id`.
                let mut change = rtc.sdp_api();
                change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
                change.apply().expect("an offer")
            },
            move |rtc, e| {
                if let Event::MediaData(d) = e {
                    if let Some(m) = rtc.media(d.mid) {
                        *counts
                            .lock()
                            .expect("counts")
                            .entry(m.stream_id().to_owned())
                            .or_default() += 1;
                    }
                }
            },
            |_, _| {},
        )
        .await;
        Arc::new(listener).answer_offers(&sfu, &driver, listener_id);

        driver
            .wait_for("the three loudest reported, loudest first", |e| {
                matches!(e, SfuEvent::Speakers { loudest, .. } if loudest == &ids[..3])
            })
            .await;

        // Twice: the first round lets any voice forwarded while the levels settled finish its
        // hold; in the second the quiet two get nothing.
        let count = |name: &str| -> u64 {
            received.lock().expect("counts").get(name).copied().unwrap_or(0)
        };
        let mut before: Vec<u64> = Vec::new();
        for _ in 0..2 {
            before = VOICES.iter().map(|(n, _)| count(n)).collect();
            let end = Instant::now() + PATIENCE;
            while VOICES[..3]
                .iter()
                .zip(&before)
                .any(|((n, _), b)| count(n) < b + 60)
            {
                assert!(
                    Instant::now() < end,
                    "the loudest three's packets do not arrive: {:?}",
                    received.lock().expect("counts")
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for (i, (name, _)) in VOICES.iter().enumerate().skip(3) {
            assert_eq!(
                count(name),
                before[i],
                "{name} is not among the three loudest but reached the listener: {:?}",
                received.lock().expect("counts")
            );
        }
        let c = sfu.counters();
        assert!(c.audio_not_loudest > 0, "{c:?}");
        eprintln!("received {:?}; {c:?}", received.lock().expect("counts"));
    });
}
