//! Participants that never connect, or whose connection stays down, are removed by themselves
//! (with short patience set for the test).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::str0m_peer::Str0mPeer;
use common::{enter_namespace, run_scenario, start_sfu_with, Driver, SFU_ADDR};
use lancall_sfu::{GoneReason, Patience, Sfu, SfuConfig, SfuEvent};
use str0m::media::{Direction, MediaKind};
use str0m::Rtc;

const SHORT: Patience = Patience {
    connect: Duration::from_secs(2),
    disconnected: Duration::from_secs(1),
};

/// An offer from a client that will never send a packet (no candidates: the SFU sends none
/// either, so nothing leaves loopback).
fn silent_offer() -> String {
    let mut rtc = Rtc::new(Instant::now());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, _pending) = change.apply().expect("an offer");
    offer.to_sdp_string()
}

#[tokio::test]
async fn a_participant_that_never_connects_is_removed() {
    let (sfu, mut events) = Sfu::start(SfuConfig {
        patience: SHORT,
        ..SfuConfig::new(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        )
    })
    .expect("start");
    let (id, _answer) = sfu
        .add_participant("silent", &silent_offer())
        .await
        .expect("answered");
    let gone = tokio::time::timeout(common::PATIENCE, async {
        loop {
            match events.recv().await {
                Some(SfuEvent::Gone {
                    participant,
                    reason,
                }) if participant == id => break reason,
                Some(_) => continue,
                None => panic!("the SFU stopped"),
            }
        }
    })
    .await
    .expect("the silent participant removed");
    assert_eq!(gone, GoneReason::NeverConnected);
    assert!(matches!(
        sfu.remove_participant(id).await,
        Err(lancall_sfu::SfuError::NoSuchParticipant(_))
    ));
}

#[test]
fn a_participant_whose_connection_stays_down_is_removed() {
    let Some(_ns) = enter_namespace("ice-timeout") else {
        return;
    };
    run_scenario(Duration::from_secs(120), async {
        let (sfu, events) = start_sfu_with(SfuConfig {
            patience: SHORT,
            ..SfuConfig::new(
                SocketAddr::new(IpAddr::V4(SFU_ADDR), 0),
                vec![IpAddr::V4(SFU_ADDR)],
            )
        });
        let driver = Driver::start(sfu.clone(), events);
        let (client, id) = Str0mPeer::join(
            &sfu,
            "vanishing",
            |rtc| {
                let mut change = rtc.sdp_api();
                change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
                change.apply().expect("an offer")
            },
            |_, _| {},
            |_, _| {},
        )
        .await;
        driver
            .wait_for(
                "the client to connect",
                |e| matches!(e, SfuEvent::Connected { participant } if *participant == id),
            )
            .await;
        // The client vanishes without a word (its loop stops, no DTLS close).
        drop(client);
        // str0m declares the path down after its checks go unanswered through 9 retransmissions
        // (about 20 s: a schedule of timers, not of CPU), then SHORT.disconnected: 60 s is ample.
        let vanished = Instant::now();
        driver
            .wait_for_within("the SFU to remove it", Duration::from_secs(60), |e| {
                matches!(e, SfuEvent::Gone { participant, reason: GoneReason::IceTimeout } if *participant == id)
            })
            .await;
        eprintln!(
            "removed {} ms after it vanished",
            vanished.elapsed().as_millis()
        );
    });
}
