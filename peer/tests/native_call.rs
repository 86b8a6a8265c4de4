//! Two native peers in one call through a real `lancall-host`, inside a private network
//! namespace (nothing leaves it): they connect, see each other (decoded pictures with a size
//! that change), hear each other (decoded, non-silent), chat both ways, see each other's mute,
//! and see a hang-up within a second.
//!
//! The test re-runs its own binary inside the namespace (`ip netns exec`), so the host, both
//! WebRTC stacks and every socket live there. Needs root (CI runs as root); skips otherwise.

mod common;

use std::time::{Duration, Instant};

use common::{run_inside_namespace, Host, Peer, INSIDE_ENV};
use lancall_peer::{CallEvent, MediaKind};

async fn scenario() {
    let host = Host::start();
    let a = Peer::join(&host.join_url, "Ada").await;
    let b = Peer::join(&host.join_url, "Grace").await;

    // Connected, and each decodes the other's moving pictures and hears its tone.
    let connected = |e: &CallEvent| match e {
        CallEvent::RemoteUpdated { connection, .. } if connection == "connected" => Some(()),
        _ => None,
    };
    a.wait_for("Ada connected to Grace", Duration::from_secs(20), connected)
        .await;
    b.wait_for("Grace connected to Ada", Duration::from_secs(20), connected)
        .await;
    for (who, p) in [("Ada", &a), ("Grace", &b)] {
        p.wait_media(
            &format!("{who} to see moving pictures"),
            Duration::from_secs(20),
            |r| {
                r.video_decoded() >= 10
                    && r.last_size == (640, 480)
                    && r.distinct_pictures() >= 5
            },
        )
        .await;
        p.wait_media(
            &format!("{who} to hear sound"),
            Duration::from_secs(10),
            |r| r.audio_packets() >= 25 && r.loudest() > 0.05,
        )
        .await;
    }

    // Chat both ways, once the data channels are open.
    let chat_open = |e: &CallEvent| match e {
        CallEvent::RemoteUpdated {
            chat_open: true, ..
        } => Some(()),
        _ => None,
    };
    a.wait_for("Ada's data channel", Duration::from_secs(10), chat_open)
        .await;
    b.wait_for("Grace's data channel", Duration::from_secs(10), chat_open)
        .await;
    assert_eq!(a.call.send_chat("hello from Ada").await, 1);
    assert_eq!(b.call.send_chat("hello from Grace").await, 1);
    let chat_from = |who: &'static str, text: &'static str| {
        move |e: &CallEvent| match e {
            CallEvent::Chat { name, text: t, .. } if name == who && t == text => Some(()),
            _ => None,
        }
    };
    b.wait_for(
        "Grace to get Ada's line",
        Duration::from_secs(5),
        chat_from("Ada", "hello from Ada"),
    )
    .await;
    a.wait_for(
        "Ada to get Grace's line",
        Duration::from_secs(5),
        chat_from("Grace", "hello from Grace"),
    )
    .await;

    // Ada turns her camera off: Grace is told, and Ada's pictures stop.
    a.call.set_muted(MediaKind::Video, true);
    b.wait_for(
        "Grace to see Ada's camera off",
        Duration::from_secs(5),
        |e| match e {
            CallEvent::RemoteUpdated { name, muted, .. } if name == "Ada" && muted.video => {
                Some(())
            }
            _ => None,
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = b.received.lock().expect("received").video_decoded();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = b.received.lock().expect("received").video_decoded();
    assert!(
        after <= before + 1,
        "Ada's camera is off but Grace still decoded {} pictures in 1 s",
        after - before
    );
    assert!(b.received.lock().expect("received").audio_packets() > 0);
    // Muting the microphone is seen too.
    b.call.set_muted(MediaKind::Audio, true);
    a.wait_for(
        "Ada to see Grace's microphone off",
        Duration::from_secs(5),
        |e| match e {
            CallEvent::RemoteUpdated { name, muted, .. } if name == "Grace" && muted.audio => {
                Some(())
            }
            _ => None,
        },
    )
    .await;

    // Ada hangs up: Grace drops her within a second.
    let hung_up = Instant::now();
    a.call.hangup().await;
    let (seen, reason) = b
        .wait_for(
            "Grace to see Ada leave",
            Duration::from_secs(3),
            |e| match e {
                CallEvent::RemoteRemoved { name, reason, .. } if name == "Ada" => {
                    Some(reason.clone())
                }
                _ => None,
            },
        )
        .await;
    let took = seen.saturating_duration_since(hung_up);
    eprintln!("hang-up seen after {took:?} ({reason})");
    assert!(
        took < Duration::from_secs(1),
        "Grace saw Ada's hang-up only after {took:?}"
    );
    b.call.hangup().await;
}

#[test]
fn two_native_peers_through_a_real_host_see_hear_chat_mute_and_hang_up() {
    const NAME: &str = "two_native_peers_through_a_real_host_see_hear_chat_mute_and_hang_up";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace(NAME);
        return;
    }
    common::run_scenario(Duration::from_secs(90), scenario());
}
