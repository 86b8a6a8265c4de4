//! Containment, with real clients inside a network namespace: hostile datagrams on the media
//! port while a call runs are dropped and counted and the pictures keep moving; a panic while
//! processing one participant removes that participant only.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{
    enter_namespace, run_scenario, start_sfu, start_sfu_on, Client, Driver, CLIENT_ADDR, PATIENCE,
    SFU_ADDR,
};
use lancall_sfu::{GoneReason, SfuEvent};

/// A small deterministic generator (xorshift64): the same hostile burst on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Datagram `i` of a hostile burst: random bytes, truncated STUN, a STUN check with credentials
/// nobody has, DTLS records of garbage, RTP and RTCP for SSRCs nobody uses.
fn hostile(noise: &mut Noise, i: usize) -> Vec<u8> {
    let len = 1 + (noise.next() % 1_200) as usize;
    match i % 6 {
        0 => noise.bytes(len),
        1 => {
            // STUN binding request header, cut short.
            let mut d = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
            let cut = (noise.next() % 12) as usize;
            d.extend(noise.bytes(cut));
            d
        }
        2 => {
            // A complete STUN binding request whose USERNAME no participant has.
            let user = b"nobody:nowhere";
            let mut d = vec![0x00, 0x01, 0x00, 20, 0x21, 0x12, 0xa4, 0x42];
            d.extend(noise.bytes(12));
            d.extend([0x00, 0x06, 0x00, user.len() as u8]);
            d.extend(user);
            d.extend([0u8; 2]);
            d
        }
        3 => {
            // DTLS handshake / application data record headers over garbage.
            let mut d = vec![if i % 2 == 0 { 22 } else { 23 }, 0xfe, 0xfd];
            d.extend(noise.bytes(len));
            d
        }
        4 => {
            // RTP, VP8 or Opus payload type, an SSRC nobody uses.
            let mut d = vec![0x80, if i % 2 == 0 { 96 } else { 111 }];
            d.extend(noise.bytes(len.max(12)));
            d
        }
        _ => {
            // RTCP (sender report .. PSFB) for nobody.
            let mut d = vec![0x81, 200 + (i % 7) as u8];
            d.extend(noise.bytes(len.max(8)));
            d
        }
    }
}

/// How many datagrams the burst has.
const BURST: usize = 2_000;

#[test]
fn hostile_datagrams_during_a_call_are_dropped_and_counted_and_pictures_keep_moving() {
    let Some(_ns) = enter_namespace("hostile") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        // Bound to all addresses, as a host serving several interfaces is.
        let (sfu, events) = start_sfu_on(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let driver = Driver::start(sfu.clone(), events);
        let a = Client::join(&sfu, "alice", (320, 240)).await;
        driver.register(&a);
        let b = Client::join(&sfu, "bob", (256, 192)).await;
        driver.register(&b);
        for c in [&a, &b] {
            c.wait_received("the other's moving pictures", |r| {
                r.moving_videos(20).len() == 1
            })
            .await;
        }
        let before = sfu.counters();
        let decoded_before: Vec<u64> = [&a, &b]
            .iter()
            .map(|c| c.received.lock().expect("received").video_decoded())
            .collect();

        // The burst, from another socket, paced so that the kernel's receive buffer does not
        // overflow (2,000 datagrams in about 0.4 s).
        let target = SocketAddr::new(IpAddr::V4(SFU_ADDR), sfu.local_addr().port());
        tokio::task::spawn_blocking(move || {
            let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(CLIENT_ADDR), 0))
                .expect("a hostile socket");
            let mut noise = Noise(0x5eed_1234_abcd_ef01);
            for i in 0..BURST {
                let _ = socket.send_to(&hostile(&mut noise, i), target);
                if i % 10 == 9 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        })
        .await
        .expect("the burst");

        // All but what the kernel may have lost are counted as dropped.
        let end = Instant::now() + PATIENCE;
        loop {
            let now = sfu.counters();
            if now.dropped() - before.dropped() >= BURST as u64 * 9 / 10 {
                eprintln!(
                    "dropped {} of {BURST} hostile datagrams: {now:?}",
                    now.dropped() - before.dropped()
                );
                break;
            }
            assert!(
                Instant::now() < end,
                "the drop counters did not rise by the burst: before {before:?}, now {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (c, before) in [&a, &b].iter().zip(decoded_before) {
            c.wait_received("pictures still moving after the burst", |r| {
                r.video_decoded() >= before + 30
            })
            .await;
        }
        assert!(
            !driver.saw(|e| matches!(e, SfuEvent::Gone { .. })),
            "nobody was disconnected: {:?}",
            driver.log.lock().expect("log")
        );
        let after = sfu.counters();
        assert_eq!(
            (after.participants_failed, after.panics_contained),
            (0, 0),
            "{after:?}"
        );
    });
}

#[test]
fn a_panic_in_one_participant_ends_that_participant_only() {
    let Some(_ns) = enter_namespace("panic") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let mut clients = Vec::new();
        for (name, size) in [
            ("alice", (320, 240)),
            ("bob", (256, 192)),
            ("carol", (192, 144)),
        ] {
            let c = Client::join(&sfu, name, size).await;
            driver.register(&c);
            clients.push(c);
        }
        for c in &clients {
            c.wait_received("the other two's moving pictures", |r| {
                r.moving_videos(20).len() == 2
            })
            .await;
        }
        let carol = clients[2].id;
        sfu.inject_panic(carol);
        driver
            .wait_for("carol to be gone after the panic", |e| {
                matches!(e, SfuEvent::Gone { participant, reason: GoneReason::Panicked(_) } if *participant == carol)
            })
            .await;
        assert_eq!(sfu.counters().panics_contained, 1);
        for c in &clients[..2] {
            let before = c.received.lock().expect("received").video_decoded();
            c.wait_received("pictures still moving after carol's panic", |r| {
                r.video_decoded() >= before + 30
            })
            .await;
        }
        assert!(
            !driver
                .saw(|e| matches!(e, SfuEvent::Gone { participant, .. } if *participant != carol)),
            "only carol went: {:?}",
            driver.log.lock().expect("log")
        );
        // The SFU still takes requests: carol's id is gone, a new join would be answered.
        assert!(matches!(
            sfu.remove_participant(carol).await,
            Err(lancall_sfu::SfuError::NoSuchParticipant(_))
        ));
    });
}

#[test]
fn an_answer_str0m_refuses_disconnects_that_participant_only() {
    let Some(_ns) = enter_namespace("bad-answer") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        let a = Client::join(&sfu, "alice", (320, 240)).await;
        driver.register(&a);
        let b = Client::join(&sfu, "bob", (256, 192)).await;
        driver.register(&b);
        // Carol's offers are not carried to her client: this test answers for her, wrongly.
        let carol = Client::join(&sfu, "carol", (192, 144)).await;
        for c in [&a, &b] {
            c.wait_received("the other two's moving pictures", |r| {
                r.moving_videos(20).len() == 2
            })
            .await;
        }
        driver
            .wait_for(
                "an offer to carol",
                |e| matches!(e, SfuEvent::Offer { participant, .. } if *participant == carol.id),
            )
            .await;
        let offer = driver
            .offers_to(carol.id)
            .into_iter()
            .next()
            .expect("the offer");
        // Well-formed SDP, but not an answer to that offer: media sections it never offered.
        let wrong = offer
            .replace("a=mid:", "a=mid:x")
            .replace("a=setup:actpass", "a=setup:active");
        let e = sfu
            .accept_answer(carol.id, &wrong)
            .await
            .expect_err("a wrong answer");
        assert!(matches!(e, lancall_sfu::SfuError::BadAnswer { .. }), "{e}");
        driver
            .wait_for("carol to be gone", |e| {
                matches!(e, SfuEvent::Gone { participant, reason: GoneReason::Error(_) } if *participant == carol.id)
            })
            .await;
        assert_eq!(sfu.counters().participants_failed, 1);
        for c in [&a, &b] {
            let before = c.received.lock().expect("received").video_decoded();
            c.wait_received("pictures still moving after carol's bad answer", |r| {
                r.video_decoded() >= before + 30
            })
            .await;
        }
        assert!(
            !driver.saw(
                |e| matches!(e, SfuEvent::Gone { participant, .. } if *participant != carol.id)
            ),
            "only carol went: {:?}",
            driver.log.lock().expect("log")
        );
    });
}
