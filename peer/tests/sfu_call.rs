//! Two native peers in a room whose media goes through the host's SFU (`lancall-host --topology
//! sfu`), inside a private network namespace (nothing leaves it): each has one connection to the
//! SFU, and sees (decoded, moving pictures) and hears the other through it, knows whose media it
//! is (the forwarded track's owner), chats through the hub's relay, and sees the other hang up.
//!
//! The test re-runs its own binary inside the namespace (`ip netns exec`), so the host, its SFU,
//! both WebRTC stacks and every socket live there. Needs root (CI runs as root); skips otherwise.

mod common;

use std::time::Duration;

use common::{run_inside_namespace, Host, Peer, INSIDE_ENV};
use lancall_peer::{CallEvent, MediaKind, TrackRole};

async fn scenario() {
    let host = Host::start_with(&["--topology", "sfu", "--media-port", "0"]);
    let a = Peer::join(&host.join_url, "Ada").await;
    let b = Peer::join(&host.join_url, "Grace").await;

    let joined_as = |p: &Peer| {
        p.find(|e| match e {
            CallEvent::Joined { self_id, .. } => Some(self_id.clone()),
            _ => None,
        })
    };
    for p in [&a, &b] {
        let (_, topology) = p
            .wait_for("the welcome", Duration::from_secs(10), |e| match e {
                CallEvent::Joined { topology, .. } => Some(*topology),
                _ => None,
            })
            .await;
        assert_eq!(topology, "sfu", "the room's media goes through the host");
    }
    let connected = |e: &CallEvent| match e {
        CallEvent::RemoteUpdated { connection, .. } if connection == "connected" => Some(()),
        _ => None,
    };
    a.wait_for("Ada connected through the SFU", Duration::from_secs(20), connected)
        .await;
    b.wait_for("Grace connected through the SFU", Duration::from_secs(20), connected)
        .await;
    for (who, p) in [("Ada", &a), ("Grace", &b)] {
        p.wait_media(
            &format!("{who} to see moving pictures through the SFU"),
            Duration::from_secs(20),
            |r| r.video_decoded() >= 10 && r.last_size == (640, 480) && r.distinct_pictures() >= 5,
        )
        .await;
        p.wait_media(
            &format!("{who} to hear sound through the SFU"),
            Duration::from_secs(10),
            |r| r.audio_packets() >= 25 && r.loudest() > 0.05,
        )
        .await;
    }
    // The forwarded tracks are the other's (owner = the msid stream id = its peer id), and the
    // frames arrive under the connection id of that participant.
    let (_, ada_id) = joined_as(&a).expect("Ada joined");
    let (_, grace_id) = joined_as(&b).expect("Grace joined");
    for (who, p, other) in [("Ada", &a, &grace_id), ("Grace", &b, &ada_id)] {
        let (_, (link, peer)) = p
            .wait_for(&format!("{who} to see the other's camera track"), Duration::from_secs(5), |e| match e {
                CallEvent::Track { link, peer, kind: MediaKind::Video, role: TrackRole::Main } => {
                    Some((*link, peer.clone()))
                }
                _ => None,
            })
            .await;
        assert_eq!(peer.as_ref(), Some(other), "{who}'s video track has the wrong owner");
        let r = p.received.lock().expect("received");
        assert!(
            r.video.get(&link).is_some_and(|v| v.decoded > 0),
            "{who} decoded nothing under the other's connection id {link}: {}",
            r.summary()
        );
        assert_eq!(r.video.len(), 1, "{who} got video from more than one participant: {}", r.summary());
    }

    // Chat both ways, through the hub (no data channels in an SFU room).
    assert_eq!(a.call.send_chat("hello from Ada").await, 1);
    assert_eq!(b.call.send_chat("hello from Grace").await, 1);
    let chat_from = |who: &'static str, text: &'static str| {
        move |e: &CallEvent| match e {
            CallEvent::Chat { name, text: t, .. } if name == who && t == text => Some(()),
            _ => None,
        }
    };
    b.wait_for("Grace to get Ada's line", Duration::from_secs(5), chat_from("Ada", "hello from Ada"))
        .await;
    a.wait_for("Ada to get Grace's line", Duration::from_secs(5), chat_from("Grace", "hello from Grace"))
        .await;

    // Stats read the SFU connection, per participant.
    let stats = a.call.stats().await;
    assert_eq!(stats.len(), 1, "Ada's stats: {stats:?}");
    assert!(stats[0].stats.video_in.frames > 0, "Ada's stats: {stats:?}");

    // Ada hangs up: Grace drops her (the relayed `bye`, or the hub's `peer-left`).
    a.call.hangup().await;
    b.wait_for("Grace to see Ada leave", Duration::from_secs(3), |e| match e {
        CallEvent::RemoteRemoved { name, .. } if name == "Ada" => Some(()),
        _ => None,
    })
    .await;
    b.call.hangup().await;
}

#[test]
fn two_native_peers_see_hear_and_chat_through_the_hosts_sfu() {
    const NAME: &str = "two_native_peers_see_hear_and_chat_through_the_hosts_sfu";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace(NAME);
        return;
    }
    common::run_scenario(Duration::from_secs(90), scenario());
}
