//! The handle's refusals, without a call (no packets are sent: the SFU only binds to loopback).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lancall_sfu::{ParticipantId, Sfu, SfuConfig, SfuError};

fn loopback_sfu() -> Sfu {
    let (sfu, _events) = Sfu::start(SfuConfig::new(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    ))
    .expect("start");
    sfu
}

#[test]
fn an_sfu_with_no_address_to_advertise_is_refused_with_a_reason() {
    let r = Sfu::start(SfuConfig::new(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        vec![],
    ));
    assert!(matches!(r, Err(SfuError::NoAddresses)));
}

#[test]
fn a_port_in_use_is_refused_with_what_to_do() {
    let first = loopback_sfu();
    let r = Sfu::start(SfuConfig::new(
        first.local_addr(),
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    ));
    let Err(e) = r else {
        panic!("a second SFU on the same port")
    };
    assert!(matches!(e, SfuError::Bind { .. }), "{e}");
    assert!(e.to_string().contains("0 picks a free one"), "{e}");
}

#[tokio::test]
async fn bad_sdp_and_unknown_participants_are_refused_and_the_sfu_goes_on() {
    let sfu = loopback_sfu();
    assert_ne!(sfu.local_addr().port(), 0);
    let e = sfu
        .add_participant("x", "this is not SDP")
        .await
        .expect_err("garbage offer");
    assert!(matches!(e, SfuError::BadOffer(_)), "{e}");
    let nobody = ParticipantId(42);
    assert!(matches!(
        sfu.accept_answer(nobody, "v=0\r\n").await,
        Err(SfuError::BadAnswer { .. } | SfuError::NoSuchParticipant(_))
    ));
    assert!(matches!(
        sfu.remove_participant(nobody).await,
        Err(SfuError::NoSuchParticipant(_))
    ));
    let e = sfu
        .add_remote_candidate(nobody, "candidate:garbage")
        .await
        .expect_err("bad candidate");
    assert!(matches!(e, SfuError::BadCandidate { .. }), "{e}");
    // Still running.
    assert!(matches!(
        sfu.remove_participant(nobody).await,
        Err(SfuError::NoSuchParticipant(_))
    ));
    assert_eq!(sfu.counters().panics_contained, 0);
}

#[tokio::test]
async fn datagrams_on_loopback_with_nobody_in_the_call_are_dropped_and_counted() {
    let sfu = loopback_sfu();
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("socket");
    let junk: [&[u8]; 4] = [
        b"\x00",
        b"\x00\x01\x00\x08\x21\x12\xa4\x42",
        b"\x16\xfe\xfdgarbage",
        b"\x80\x60\x00\x01\x00\x00\x00\x00\x12\x34\x56\x78payload",
    ];
    for d in junk {
        socket
            .send_to(d, sfu.local_addr())
            .expect("send on loopback");
    }
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sfu.counters().dropped() < 4 {
        assert!(
            std::time::Instant::now() < end,
            "not counted: {:?}",
            sfu.counters()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let c = sfu.counters();
    assert_eq!(c.datagrams_received, 4, "{c:?}");
    assert!(
        c.datagrams_unreadable >= 1 && c.datagrams_unrouted >= 1,
        "both kinds of drop: {c:?}"
    );
}
