//! Keyframe requests from a subscriber reach the publisher: a str0m-based watcher (its own
//! little I/O loop, since the webrtc-rs clients never send PLI) receives a webrtc-rs client's
//! camera through the SFU, whose encoder makes keyframes only when asked; each PLI the watcher
//! sends brings a new keyframe. Inside a network namespace.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{enter_namespace, run_scenario, start_sfu, Client, Driver, CLIENT_ADDR, PATIENCE};
use lancall_peer::LocalMediaConfig;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// What the watcher saw.
#[derive(Default, Debug)]
struct Seen {
    video_frames: u64,
    keyframes: u64,
}

enum Ask {
    /// An offer from the SFU: the answer goes back.
    Offer(String, mpsc::Sender<String>),
    /// Send a PLI on every video track received.
    Pli,
}

/// Starts the watcher: offers a receive-only audio line, takes the SFU's answer, then runs its
/// I/O loop on a thread until `stop`.
fn watcher(
    offer_answer: impl FnOnce(String) -> String,
    seen: Arc<Mutex<Seen>>,
    asks: mpsc::Receiver<Ask>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(CLIENT_ADDR), 0)).expect("socket");
    let local = socket.local_addr().expect("address");
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_vp8(true)
        .enable_opus(true, false)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = change.apply().expect("an offer");
    let answer = offer_answer(offer.to_sdp_string());
    rtc.sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(&answer).expect("answer SDP"),
        )
        .expect("the SFU's answer");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 2048];
        let mut video: Vec<Mid> = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            while let Ok(ask) = asks.try_recv() {
                match ask {
                    Ask::Offer(sdp, reply) => {
                        let offer = SdpOffer::from_sdp_string(&sdp).expect("offer SDP");
                        let answer = rtc.sdp_api().accept_offer(offer).expect("the SFU's offer");
                        let _ = reply.send(answer.to_sdp_string());
                    }
                    Ask::Pli => {
                        for mid in &video {
                            if let Some(mut w) = rtc.writer(*mid) {
                                let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                            }
                        }
                    }
                }
            }
            let timeout = loop {
                match rtc.poll_output().expect("watcher output") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = socket.send_to(&t.contents, t.destination);
                    }
                    Output::Event(Event::MediaAdded(m)) if m.kind == MediaKind::Video => {
                        video.push(m.mid)
                    }
                    Output::Event(Event::MediaData(d)) if video.contains(&d.mid) => {
                        let mut s = seen.lock().expect("seen");
                        s.video_frames += 1;
                        if d.is_keyframe() {
                            s.keyframes += 1;
                        }
                    }
                    Output::Event(_) => {}
                }
            };
            let wait = timeout
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(5));
            let _ = socket.set_read_timeout(Some(wait));
            let input = match socket.recv_from(&mut buf) {
                Ok((n, source)) => match Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                    Ok(r) => Input::Receive(Instant::now(), r),
                    Err(_) => continue,
                },
                Err(_) => Input::Timeout(Instant::now()),
            };
            rtc.handle_input(input).expect("watcher input");
        }
    });
}

#[test]
fn a_subscribers_keyframe_requests_reach_the_publisher() {
    let Some(_ns) = enter_namespace("keyframes") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu();
        let driver = Driver::start(sfu.clone(), events);
        // Alice's encoder makes a keyframe only when asked (no periodic ones).
        let mut config = LocalMediaConfig::default();
        config.video.keyframe_interval = 1_000_000;
        let alice = Client::join_with(&sfu, "alice", (320, 240), config).await;
        driver.register(&alice);

        let seen: Arc<Mutex<Seen>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (asks, asked) = mpsc::channel();
        let handle = tokio::runtime::Handle::current();
        let (sfu2, watcher_id) = (sfu.clone(), Arc::new(Mutex::new(None)));
        let id_slot = watcher_id.clone();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            watcher(
                move |offer| {
                    let (id, answer) = handle
                        .block_on(sfu2.add_participant("watcher", &offer))
                        .expect("the SFU answers the watcher");
                    *id_slot.lock().expect("id") = Some(id);
                    answer
                },
                seen2,
                asked,
                stop2,
            )
        })
        .await
        .expect("the watcher starts");
        let watcher_id = watcher_id.lock().expect("id").expect("the watcher's id");

        // Carry the SFU's offers to the watcher until it sees Alice's pictures.
        let mut carried = 0;
        let end = Instant::now() + PATIENCE;
        while seen.lock().expect("seen").video_frames < 20 {
            assert!(
                Instant::now() < end,
                "the watcher got no pictures: {:?}",
                seen.lock().expect("seen")
            );
            let offers = driver.offers_to(watcher_id);
            for sdp in offers.into_iter().skip(carried) {
                carried += 1;
                let (tx, rx) = mpsc::channel();
                asks.send(Ask::Offer(sdp, tx)).expect("watcher alive");
                let answer = tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE))
                    .await
                    .expect("join")
                    .expect("the watcher answers");
                sfu.accept_answer(watcher_id, &answer)
                    .await
                    .expect("the SFU takes the watcher's answer");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Each PLI (one every 700 ms: above the SFU's 500 ms limit) brings a keyframe.
        let before = seen.lock().expect("seen").keyframes;
        let end = Instant::now() + PATIENCE;
        while seen.lock().expect("seen").keyframes < before + 3 {
            assert!(
                Instant::now() < end,
                "the watcher's PLIs brought no keyframes: {:?}, {:?}",
                seen.lock().expect("seen"),
                sfu.counters()
            );
            asks.send(Ask::Pli).expect("watcher alive");
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let counters = sfu.counters();
        assert!(counters.keyframe_requests_from_clients >= 3, "{counters:?}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
