//! The signaling protocol over real TLS WebSockets: presence, relay, and every bad input,
//! each answered with its error code while the connection and the room keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use lancall_hub::hub::RoomSpec;
use serde_json::json;

#[tokio::test]
async fn presence_welcome_joined_and_left() {
    let th = start_host().await;
    let (mut ada, ada_id) = WsClient::joined(&th, "  Ada  ").await;
    let mut grace = WsClient::connect(&th).await;
    let welcome = grace.join("call", th.token().as_deref(), "Grace").await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["protocol"], 1);
    assert_eq!(welcome["room"], "call");
    assert_eq!(welcome["self"]["name"], "Grace");
    assert_eq!(welcome["peers"], json!([{"id": ada_id, "name": "Ada"}]), "names are trimmed");
    assert_eq!(welcome["iceServers"], json!([]));
    let grace_id = welcome["self"]["id"].as_str().unwrap().to_owned();
    assert_eq!(grace_id.len(), 32);
    assert_ne!(grace_id, ada_id);

    let joined = ada.recv().await;
    assert_eq!(joined, json!({"type": "peer-joined", "peer": {"id": grace_id, "name": "Grace"}}));

    grace.send(json!({"type": "leave"})).await;
    let left = ada.recv().await;
    assert_eq!(left["type"], "peer-left");
    assert_eq!(left["peer"]["id"], grace_id);
    assert_eq!(left["reason"], "left");

    // The connection that left can join again, as a new peer.
    let again = grace.join("call", th.token().as_deref(), "Grace").await;
    assert_eq!(again["type"], "welcome");
    assert_ne!(again["self"]["id"], grace_id);
    assert_eq!(ada.recv().await["type"], "peer-joined");

    drop(grace);
    let left = ada.recv().await;
    assert_eq!(left["reason"], "disconnected");
    th.host.stop().await;
}

#[tokio::test]
async fn signals_reach_only_the_named_peer_in_order_and_unchanged() {
    let th = start_host().await;
    let (mut a, a_id) = WsClient::joined(&th, "A").await;
    let (mut b, b_id) = WsClient::joined(&th, "B").await;
    let (mut c, _c_id) = WsClient::joined(&th, "C").await;
    assert_eq!(a.recv().await["type"], "peer-joined");
    assert_eq!(a.recv().await["type"], "peer-joined");
    assert_eq!(b.recv().await["type"], "peer-joined");

    let sdp = "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for i in 0..50 {
        a.send(json!({"type": "signal", "to": b_id, "data": {"seq": i, "description": {"type": "offer", "sdp": sdp}, "ünï": "☃"}}))
            .await;
    }
    for i in 0..50 {
        let m = b.recv().await;
        assert_eq!(m["type"], "signal");
        assert_eq!(m["from"], a_id);
        assert_eq!(m["data"]["seq"], i, "signals arrive in order");
        assert_eq!(m["data"]["description"]["sdp"], sdp);
        assert_eq!(m["data"]["ünï"], "☃");
    }
    // Nobody else got them, and nobody got them twice.
    assert!(c.try_recv(Duration::from_millis(300)).await.is_none(), "C must not see A's signals to B");
    assert!(b.try_recv(Duration::from_millis(100)).await.is_none(), "B gets each signal once");

    // Any JSON value is opaque data.
    a.send(json!({"type": "signal", "to": b_id, "data": null})).await;
    assert_eq!(b.recv().await["data"], json!(null));
    a.send_text(format!(r#"{{"type":"signal","to":"{b_id}","data":[1,2.50,"x"]}}"#)).await;
    let raw = b.recv().await;
    assert_eq!(raw["data"], json!([1, 2.5, "x"]));
    th.host.stop().await;
}

#[tokio::test]
async fn no_message_crosses_rooms() {
    let th = start_host().await;
    let other = th.host.hub.create_room(RoomSpec { name: "other".into(), open: false, capacity: None, token: None, topology: Default::default() }).unwrap();
    let (mut a, _a_id) = WsClient::joined(&th, "A").await;
    let mut x = WsClient::connect(&th).await;
    let w = x.join("other", other.token.as_deref(), "X").await;
    assert_eq!(w["peers"], json!([]), "rooms do not share members");
    let x_id = w["self"]["id"].as_str().unwrap().to_owned();
    assert!(a.try_recv(Duration::from_millis(300)).await.is_none(), "no peer-joined from another room");

    a.send(json!({"type": "signal", "to": x_id, "data": {"secret": 1}})).await;
    let e = a.recv().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unknown-peer");
    assert_eq!(e["peer"], x_id);
    assert!(x.try_recv(Duration::from_millis(300)).await.is_none(), "the signal did not leak to the other room");

    // A token of one room does not open another.
    let mut y = WsClient::connect(&th).await;
    let e = y.join("call", other.token.as_deref(), "Y").await;
    assert_eq!(e["code"], "wrong-token");
    th.host.stop().await;
}

#[tokio::test]
async fn every_bad_input_gets_its_error_and_the_connection_keeps_working() {
    let th = start_host_with(Default::default(), false, 2).await;
    let token = th.token();
    let mut c = WsClient::connect(&th).await;

    async fn expect(c: &mut WsClient, code: &str) -> serde_json::Value {
        let m = c.recv().await;
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["code"], code, "{m}");
        let message = m["message"].as_str().unwrap_or_default();
        assert!(message.len() > 15 && message.ends_with('.'), "a sentence for a person: {message:?}");
        m
    }

    c.send_text("this is not json").await;
    expect(&mut c, "bad-json").await;
    c.send_text("[1,2,3]").await;
    expect(&mut c, "bad-json").await;
    c.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8, 2, 3])).await.unwrap();
    expect(&mut c, "bad-json").await;
    c.send(json!({"kind": "join"})).await;
    expect(&mut c, "unknown-type").await;
    c.send(json!({"type": "dance"})).await;
    let m = expect(&mut c, "unknown-type").await;
    assert!(m["message"].as_str().unwrap().contains("dance"));
    c.send(json!({"type": "join", "room": "call"})).await;
    let m = expect(&mut c, "missing-field").await;
    assert_eq!(m["re"], "join");
    c.send(json!({"type": "join", "room": 42, "name": "x"})).await;
    expect(&mut c, "invalid-field").await;
    c.send(json!({"type": "join", "room": "call", "token": token, "name": "\u{0007}bell"})).await;
    expect(&mut c, "invalid-name").await;
    c.send(json!({"type": "join", "room": "call", "token": token, "name": "x".repeat(65)})).await;
    expect(&mut c, "invalid-name").await;
    // An invisible person: only zero-width characters.
    c.send(json!({"type": "join", "room": "call", "token": token, "name": "\u{200B}\u{2060}"})).await;
    let m = expect(&mut c, "invalid-name").await;
    assert!(m["message"].as_str().unwrap_or_default().contains("letter or digit"), "{m}");
    c.send(json!({"type": "join", "room": "nowhere", "token": token, "name": "x"})).await;
    expect(&mut c, "unknown-room").await;
    c.send(json!({"type": "join", "room": "call", "token": "0".repeat(32), "name": "x"})).await;
    expect(&mut c, "wrong-token").await;
    c.send(json!({"type": "join", "room": "call", "name": "x"})).await;
    expect(&mut c, "wrong-token").await;
    c.send(json!({"type": "signal", "to": "nobody", "data": 1})).await;
    expect(&mut c, "not-joined").await;
    c.send(json!({"type": "leave"})).await;
    expect(&mut c, "not-joined").await;
    c.send_text(format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(70 * 1024))).await;
    expect(&mut c, "too-large").await;

    // After all that, the same connection joins and works.
    let w = c.join("call", token.as_deref(), "Survivor").await;
    assert_eq!(w["type"], "welcome");
    c.send(json!({"type": "join", "room": "call", "token": token, "name": "Again"})).await;
    expect(&mut c, "already-joined").await;
    c.send(json!({"type": "signal", "to": "0123", "data": {}})).await;
    let m = expect(&mut c, "unknown-peer").await;
    assert_eq!(m["re"], "signal");
    let self_id = w["self"]["id"].as_str().unwrap().to_owned();
    c.send(json!({"type": "signal", "to": self_id, "data": {}})).await;
    expect(&mut c, "unknown-peer").await;

    let (_d, _) = WsClient::joined(&th, "Second").await;
    let mut e = WsClient::connect(&th).await;
    e.send(json!({"type": "join", "room": "call", "token": token, "name": "Third"})).await;
    expect(&mut e, "room-full").await;
    c.send(json!({"type": "ping"})).await;
    // The peer-joined for "Second" comes first, then the pong.
    assert_eq!(c.recv().await["type"], "peer-joined");
    assert_eq!(c.recv().await["type"], "pong");
    assert_eq!(th.host.hub.stats().peers, 2, "errors changed nothing in the room");
    th.host.stop().await;
}

#[tokio::test]
async fn a_client_over_its_rate_is_told_and_the_rest_is_delivered() {
    let th = start_host().await;
    let (mut a, _) = WsClient::joined(&th, "Fast").await;
    let (mut b, b_id) = WsClient::joined(&th, "Reader").await;
    assert_eq!(a.recv().await["type"], "peer-joined");
    // 300 at once: the bucket holds 200, refilling at 50/s.
    for i in 0..300 {
        a.send(json!({"type": "signal", "to": b_id, "data": i})).await;
    }
    let mut delivered = Vec::new();
    while let Some(m) = b.try_recv(Duration::from_millis(500)).await {
        delivered.push(m["data"].as_i64().unwrap());
    }
    let mut limited = 0;
    while let Some(m) = a.try_recv(Duration::from_millis(200)).await {
        assert_eq!(m["code"], "rate-limited", "{m}");
        limited += 1;
    }
    assert!(limited > 0, "some messages were over the rate");
    assert_eq!(delivered.len() + limited, 300, "each message was either delivered or refused, none lost silently");
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "delivered in order");
    // The connection still works after the burst, once the bucket refills.
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.send(json!({"type": "ping"})).await;
    assert_eq!(a.recv().await["type"], "pong");
    th.host.stop().await;
}

#[tokio::test]
async fn a_frame_over_one_mebibyte_closes_only_that_connection() {
    let th = start_host().await;
    let (mut a, _) = WsClient::joined(&th, "A").await;
    let (mut big, _) = WsClient::joined(&th, "Big").await;
    assert_eq!(a.recv().await["type"], "peer-joined");
    big.send_text("x".repeat(2 * 1024 * 1024)).await;
    let frame = big.closed().await;
    if let Some(f) = frame {
        assert_eq!(u16::from(f.code), 1009);
    }
    let left = a.recv().await;
    assert_eq!(left["type"], "peer-left");
    a.send(json!({"type": "ping"})).await;
    assert_eq!(a.recv().await["type"], "pong");
    th.host.stop().await;
}

#[tokio::test]
async fn open_rooms_need_no_token_and_ice_servers_reach_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = lancall_hub::host::HostConfig::new(dir.path().to_path_buf());
    config.https_listen = loopback();
    config.http_listen = None;
    config.open = true;
    config.ice_servers = vec!["turn:u:p@10.0.0.9:3478".parse().unwrap(), "stun:10.0.0.9:3478".parse().unwrap()];
    let host = lancall_hub::host::start(config).await.unwrap();
    assert!(host.room.token.is_none());
    assert!(host.join_urls()[0].contains("#room=call&fp="), "{:?}", host.join_urls());
    let th = TestHost { host, dir };
    let mut c = WsClient::connect(&th).await;
    let w = c.join("call", None, "Anyone").await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(
        w["iceServers"],
        json!([{"urls": ["turn:10.0.0.9:3478"], "username": "u", "credential": "p"}, {"urls": ["stun:10.0.0.9:3478"]}])
    );
    th.host.stop().await;
}

use futures_util::SinkExt;

#[tokio::test]
async fn knock_admit_refuse_withdraw() {
    let th = start_host().await;
    let mut events = th.host.hub.subscribe();
    let mut ada = WsClient::connect(&th).await;
    ada.send(json!({"type": "knock", "room": "call", "name": " Ada "})).await;
    assert_eq!(ada.recv().await, json!({"type": "knock-wait", "room": "call"}));
    let knock = match events.recv().await.unwrap() {
        lancall_hub::hub::HubEvent::Knock(k) => k,
        other => panic!("{other:?}"),
    };
    assert_eq!(knock.name, "Ada");
    assert_eq!(knock.addr, Some("127.0.0.1".parse().unwrap()), "the host sees where the knock comes from");
    assert_eq!(th.host.hub.pending_knocks(), vec![knock.clone()]);
    ada.send(json!({"type": "knock", "room": "call", "name": "Ada"})).await;
    assert_eq!(ada.recv().await["code"], "already-knocking");

    th.host.hub.answer_knock(&knock.id, true).unwrap();
    let admitted = ada.recv().await;
    assert_eq!(admitted["type"], "admitted");
    assert_eq!(admitted["token"].as_str(), th.token().as_deref());
    let w = ada.join("call", admitted["token"].as_str(), "Ada").await;
    assert_eq!(w["type"], "welcome", "the token from `admitted` lets the knocker in");
    assert!(th.host.hub.answer_knock(&knock.id, true).is_err(), "a knock is answered once");

    let mut eve = WsClient::connect(&th).await;
    eve.send(json!({"type": "knock", "room": "call", "name": "Eve"})).await;
    assert_eq!(eve.recv().await["type"], "knock-wait");
    let id = th.host.hub.pending_knocks()[0].id.clone();
    th.host.hub.answer_knock(&id, false).unwrap();
    let refused = eve.recv().await;
    assert_eq!(refused["type"], "refused");
    assert!(refused["message"].as_str().unwrap().contains("did not let you in"));

    // A knocker who leaves takes the knock away.
    let mut gone = WsClient::connect(&th).await;
    gone.send(json!({"type": "knock", "room": "call", "name": "Gone"})).await;
    assert_eq!(gone.recv().await["type"], "knock-wait");
    assert_eq!(th.host.hub.pending_knocks().len(), 1);
    drop(gone);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(th.host.hub.pending_knocks().is_empty());

    eve.send(json!({"type": "knock", "room": "nowhere", "name": "Eve"})).await;
    assert_eq!(eve.recv().await["code"], "unknown-room");
    th.host.hub.create_room(RoomSpec { name: "lobby".into(), open: true, capacity: None, token: None, topology: Default::default() }).unwrap();
    eve.send(json!({"type": "knock", "room": "lobby", "name": "Eve"})).await;
    assert_eq!(eve.recv().await, json!({"type": "admitted", "room": "lobby", "token": null}), "open rooms admit at once");
    th.host.stop().await;
}

#[tokio::test]
async fn guessing_tokens_from_one_address_is_cut_off() {
    let th = start_host().await;
    let mut guesser = WsClient::connect(&th).await;
    for i in 0..lancall_hub::hub::ADDRESS_STRIKES {
        let e = guesser.join("call", Some(&format!("{i:032x}")), "Guess").await;
        assert_eq!(e["code"], "wrong-token");
    }
    let e = guesser.join("call", Some(&"f".repeat(32)), "Guess").await;
    assert_eq!(e["code"], "rate-limited", "{e}");
    // A new connection from the same address is limited too.
    let mut again = WsClient::connect(&th).await;
    again.send(json!({"type": "knock", "room": "call", "name": "Guess"})).await;
    assert_eq!(again.recv().await["code"], "rate-limited");
    // The right token still works: the limit stops guessing, not people with the link.
    let w = again.join("call", th.token().as_deref(), "Has the link").await;
    assert_eq!(w["type"], "welcome");
    th.host.stop().await;
}
