//! A call run in Rust for the app (`native_call`), riding on one of the app's signaling
//! sessions (WSS with the host's CA pinned, as when joining another host), against a native peer
//! through a real `lancall-host`, inside a private network namespace (nothing leaves it). The
//! session's owner sends `join` as the UI does; the call gets the hub messages through
//! `NativeCalls::tap` and sends its own through the session. Checked: both sides decode each
//! other's moving pictures and hear each other, remote frames come in the UI's envelope, chat
//! both ways, mute is seen, hang-up is seen within a second.
//!
//! Re-runs its own binary inside the namespace (`ip netns exec`). Needs root; skips otherwise.

#![cfg(target_os = "linux")]

#[path = "../../peer/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run_inside_namespace, Host, Peer, INSIDE_ENV};
use lancall_lib::address::HostAddr;
use lancall_lib::native_call::{encode_frame, NativeCalls, FRAME_HEADER_LEN};
use lancall_lib::signaling::{SessionEvent, Sessions, Target};
use lancall_peer::codec::opus::rms;
use lancall_peer::codec::{OpusDecoder, OpusEncoder, Vp8Decoder};
use lancall_peer::testsrc::{TestPattern, Tone};
use lancall_peer::{CallEvent, JoinLink, MediaKind, RemoteFrame};

#[derive(Default)]
struct Got {
    video: u64,
    size: (u32, u32),
    pictures: std::collections::HashSet<u64>,
    audio: u64,
    loudest: f64,
    envelopes_ok: bool,
}

async fn wait(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scenario() {
    let host = Host::start();
    let link = JoinLink::parse(&host.join_url).expect("join link");
    let addr = HostAddr::parse(&format!("{}:{}", link.host, link.port)).expect("address");

    // The app: a signaling session, tapped for the native call.
    let sessions = Sessions::default();
    let calls = NativeCalls::default();
    let (tx, mut session_rx) = tokio::sync::mpsc::unbounded_channel::<SessionEvent>();
    let emit = calls.tap(Arc::new(move |e| drop(tx.send(e))));
    sessions.open("s1", Target::Remote { addr: addr.clone(), pin: link.fingerprint }, emit).expect("open");
    let open = tokio::time::timeout(Duration::from_secs(10), session_rx.recv()).await.expect("open in time").expect("event");
    assert_eq!(open.kind, "open");

    let events: Arc<Mutex<Vec<(Instant, CallEvent)>>> = Arc::default();
    let got: Arc<Mutex<Got>> = Arc::new(Mutex::new(Got { envelopes_ok: true, ..Got::default() }));
    let sink = {
        let got = got.clone();
        let decoders = Mutex::new((Vp8Decoder::new().expect("vp8"), OpusDecoder::new().expect("opus")));
        Arc::new(move |f: RemoteFrame| {
            let envelope = encode_frame(&f);
            let mut g = got.lock().expect("got");
            g.envelopes_ok &= envelope.len() == FRAME_HEADER_LEN + f.data.len() && envelope[FRAME_HEADER_LEN..] == f.data[..];
            let mut d = decoders.lock().expect("decoders");
            match f.kind {
                MediaKind::Video => {
                    if let Ok(Some(pic)) = d.0.decode(&envelope[FRAME_HEADER_LEN..]) {
                        g.video += 1;
                        g.size = (pic.width, pic.height);
                        let sum = pic.luma().iter().step_by(31).fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
                        g.pictures.insert(sum);
                    }
                }
                MediaKind::Audio => {
                    if let Ok(pcm) = d.1.decode(&envelope[FRAME_HEADER_LEN..]) {
                        g.audio += 1;
                        g.loudest = g.loudest.max(rms(pcm));
                    }
                }
            }
        })
    };
    let event_sink = {
        let events = events.clone();
        Arc::new(move |call: &str, e: &CallEvent| {
            assert_eq!(call, "c1");
            events.lock().expect("events").push((Instant::now(), e.clone()));
        })
    };
    calls.start("c1", "s1", sessions.clone(), event_sink, sink).expect("native call");
    // One call per id, one call per session.
    let refused = |r: Result<String, lancall_lib::error::AppError>| r.err().map(|e| e.code());
    assert_eq!(refused(calls.start("c1", "s9", sessions.clone(), Arc::new(|_, _| {}), Arc::new(|_| {}))), Some("native-call"));
    assert_eq!(refused(calls.start("c2", "s1", sessions.clone(), Arc::new(|_, _| {}), Arc::new(|_| {}))), Some("native-call"));
    // The UI's signaling client joins, after the call is attached.
    let join = serde_json::json!({"type": "join", "room": link.room, "token": link.token, "name": "App"});
    sessions.send("s1", join.to_string()).expect("join");

    // The app's media, as the webview hands it over: I420 pictures and Opus packets.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (calls, stop) = (calls.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut pattern = TestPattern::new(640, 480);
            let mut tone = Tone::new(440.0, 0.3);
            let mut opus = OpusEncoder::new(32_000).expect("opus encoder");
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = Instant::now();
                if let Ok(packet) = opus.encode(tone.next_frame()) {
                    let _ = calls.push_audio_opus("c1", packet, 20_000);
                }
                if n % 2 == 0 {
                    let data = pattern.next_frame(n).to_vec();
                    let _ = calls.push_video_i420("c1", 640, 480, &data);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(20).saturating_sub(now.elapsed()));
            }
        });
    }
    // A wrong picture size is refused, not encoded.
    assert!(calls.push_video_i420("c1", 640, 480, &[0u8; 100]).is_err());

    let grace = Peer::join(&host.join_url, "Grace").await;
    let find = |f: &dyn Fn(&CallEvent) -> bool| events.lock().expect("events").iter().find(|(_, e)| f(e)).map(|(t, _)| *t);
    wait("the app to join", Duration::from_secs(10), || find(&|e| matches!(e, CallEvent::Joined { .. })).is_some()).await;
    wait("the app to connect to Grace", Duration::from_secs(20), || {
        find(&|e| matches!(e, CallEvent::RemoteUpdated { name, connection, .. } if name == "Grace" && connection == "connected")).is_some()
    })
    .await;
    wait("the app to see Grace's moving pictures", Duration::from_secs(20), || {
        let g = got.lock().expect("got");
        g.video >= 10 && g.size == (640, 480) && g.pictures.len() >= 5
    })
    .await;
    wait("the app to hear Grace", Duration::from_secs(10), || {
        let g = got.lock().expect("got");
        g.audio >= 25 && g.loudest > 0.05
    })
    .await;
    assert!(got.lock().expect("got").envelopes_ok);
    grace
        .wait_media("Grace to see the app's moving pictures", Duration::from_secs(20), |r| {
            r.video_decoded >= 10 && r.width == 640 && r.height == 480 && r.distinct_pictures.len() >= 5
        })
        .await;
    grace
        .wait_media("Grace to hear the app", Duration::from_secs(10), |r| r.audio_packets >= 25 && r.loudest > 0.05)
        .await;

    // Chat both ways.
    wait("the app's data channel", Duration::from_secs(10), || {
        find(&|e| matches!(e, CallEvent::RemoteUpdated { chat_open: true, .. })).is_some()
    })
    .await;
    grace
        .wait_for("Grace's data channel", Duration::from_secs(10), |e| match e {
            CallEvent::RemoteUpdated { chat_open: true, .. } => Some(()),
            _ => None,
        })
        .await;
    assert_eq!(calls.chat("c1", "hello from the app").await.expect("chat"), 1);
    assert_eq!(grace.call.send_chat("hello from Grace").await, 1);
    grace
        .wait_for("Grace to get the app's line", Duration::from_secs(5), |e| match e {
            CallEvent::Chat { name, text, .. } if name == "App" && text == "hello from the app" => Some(()),
            _ => None,
        })
        .await;
    wait("the app to get Grace's line", Duration::from_secs(5), || {
        find(&|e| matches!(e, CallEvent::Chat { name, text, .. } if name == "Grace" && text == "hello from Grace")).is_some()
    })
    .await;

    // Mute, seen by Grace; stats name Grace.
    calls.set_muted("c1", MediaKind::Video, true).expect("mute");
    grace
        .wait_for("Grace to see the app's camera off", Duration::from_secs(5), |e| match e {
            CallEvent::RemoteUpdated { name, muted, .. } if name == "App" && muted.video => Some(()),
            _ => None,
        })
        .await;
    let stats = calls.stats("c1").await.expect("stats");
    assert_eq!(stats.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Grace"]);
    // What the stats panel shows: the path (host candidates on a LAN) and what comes in.
    let numbers = &stats[0].stats;
    assert_eq!((numbers.local_candidate_type.as_deref(), numbers.remote_candidate_type.as_deref()), (Some("host"), Some("host")), "{numbers:?}");
    assert!(numbers.video_in.frames > 0 && numbers.video_in.width == 640, "{numbers:?}");

    // The UI's signaling client reconnects: a new session, the call moves to it before the new
    // `join`, the old session closes. The hub tells Grace the app left and came back; the media
    // connection is kept (adopted under the new peer id), never removed.
    let (tx2, mut session_rx2) = tokio::sync::mpsc::unbounded_channel::<SessionEvent>();
    sessions.open("s2", Target::Remote { addr, pin: link.fingerprint }, calls.tap(Arc::new(move |e| drop(tx2.send(e))))).expect("open s2");
    let open = tokio::time::timeout(Duration::from_secs(10), session_rx2.recv()).await.expect("open in time").expect("event");
    assert_eq!(open.kind, "open");
    calls.attach("c1", "s2").expect("attach");
    sessions.close("s1");
    sessions.send("s2", join.to_string()).expect("join again");
    wait("the app to rejoin", Duration::from_secs(10), || find(&|e| matches!(e, CallEvent::Joined { rejoined: true, .. })).is_some()).await;
    let before = grace.received.lock().expect("received").audio_packets;
    grace.wait_media("Grace to keep hearing the app", Duration::from_secs(5), |r| r.audio_packets >= before + 25).await;
    assert!(grace.find(|e| matches!(e, CallEvent::RemoteRemoved { .. }).then_some(())).is_none(), "Grace dropped the app on its rejoin");

    // Hang-up: Grace drops the app within a second; the call is gone from the app.
    let hung_up = Instant::now();
    calls.hangup("c1").await;
    let (seen, _) = grace
        .wait_for("Grace to see the app leave", Duration::from_secs(3), |e| match e {
            CallEvent::RemoteRemoved { name, .. } if name == "App" => Some(()),
            _ => None,
        })
        .await;
    let took = seen.saturating_duration_since(hung_up);
    eprintln!("hang-up seen after {took:?}");
    assert!(took < Duration::from_secs(1), "Grace saw the hang-up only after {took:?}");
    assert!(calls.chat("c1", "too late").await.is_err());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sessions.close("s2");
    grace.call.hangup().await;
}

#[test]
fn the_apps_native_call_rides_its_signaling_session_and_meets_a_peer() {
    const NAME: &str = "the_apps_native_call_rides_its_signaling_session_and_meets_a_peer";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace(NAME);
        return;
    }
    common::run_scenario(Duration::from_secs(90), scenario());
}
