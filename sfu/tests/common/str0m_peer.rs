//! A str0m client with its own small I/O loop on a thread, for what the webrtc-rs clients
//! cannot do: send PLI, publish simulcast layers.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use lancall_sfu::{ParticipantId, Sfu};

use super::CLIENT_ADDR;

/// Work for the client's thread, done on its `Rtc` between two turns.
pub type Job = Box<dyn FnOnce(&mut Rtc) + Send>;

/// A running str0m client; stops when dropped.
pub struct Str0mPeer {
    jobs: mpsc::Sender<Job>,
    stop: Arc<AtomicBool>,
}

impl Drop for Str0mPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Str0mPeer {
    /// Builds an `Rtc` (VP8 and Opus) with a host candidate on [`CLIENT_ADDR`], lets `offer`
    /// make its first offer, gets the SFU's answer from `answer_for` (blocking: call this from a
    /// blocking thread), then runs: `on_event` sees every event, `tick` runs every turn (about
    /// every 5 ms) to write media.
    pub fn start(
        offer: impl FnOnce(&mut Rtc) -> (SdpOffer, SdpPendingOffer),
        answer_for: impl FnOnce(String) -> String,
        on_event: impl FnMut(&mut Rtc, Event) + Send + 'static,
        tick: impl FnMut(&mut Rtc, Instant) + Send + 'static,
    ) -> Str0mPeer {
        Str0mPeer::start_on(IpAddr::V4(CLIENT_ADDR), offer, answer_for, on_event, tick)
    }

    /// [`Str0mPeer::start`] with its socket on `ip` (in the calling thread's namespace).
    pub fn start_on(
        ip: IpAddr,
        offer: impl FnOnce(&mut Rtc) -> (SdpOffer, SdpPendingOffer),
        answer_for: impl FnOnce(String) -> String,
        mut on_event: impl FnMut(&mut Rtc, Event) + Send + 'static,
        mut tick: impl FnMut(&mut Rtc, Instant) + Send + 'static,
    ) -> Str0mPeer {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("socket");
        let local = socket.local_addr().expect("address");
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let (sdp, pending) = offer(&mut rtc);
        let answer = answer_for(sdp.to_sdp_string());
        rtc.sdp_api()
            .accept_answer(
                pending,
                SdpAnswer::from_sdp_string(&answer).expect("answer SDP"),
            )
            .expect("the SFU's answer");
        let (jobs, todo) = mpsc::channel::<Job>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                while let Ok(job) = todo.try_recv() {
                    job(&mut rtc);
                }
                tick(&mut rtc, Instant::now());
                let timeout = loop {
                    match rtc.poll_output().expect("client output") {
                        Output::Timeout(t) => break t,
                        Output::Transmit(t) => {
                            let _ = socket.send_to(&t.contents, t.destination);
                        }
                        Output::Event(e) => on_event(&mut rtc, e),
                    }
                };
                let wait = timeout
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), Duration::from_millis(5));
                let _ = socket.set_read_timeout(Some(wait));
                let input = match socket.recv_from(&mut buf) {
                    Ok((n, source)) => {
                        match Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                            Ok(r) => Input::Receive(Instant::now(), r),
                            Err(_) => continue,
                        }
                    }
                    Err(_) => Input::Timeout(Instant::now()),
                };
                rtc.handle_input(input).expect("client input");
            }
        });
        Str0mPeer { jobs, stop }
    }

    /// Joins `sfu` as `name`: [`Str0mPeer::start`] on a blocking thread, its offer answered by
    /// [`Sfu::add_participant`]. Returns the client and its participant id.
    pub async fn join(
        sfu: &Arc<Sfu>,
        name: &str,
        offer: impl FnOnce(&mut Rtc) -> (SdpOffer, SdpPendingOffer) + Send + 'static,
        on_event: impl FnMut(&mut Rtc, Event) + Send + 'static,
        tick: impl FnMut(&mut Rtc, Instant) + Send + 'static,
    ) -> (Str0mPeer, ParticipantId) {
        let (sfu, name, runtime) = (
            sfu.clone(),
            name.to_owned(),
            tokio::runtime::Handle::current(),
        );
        tokio::task::spawn_blocking(move || {
            let mut id = None;
            let answer_for = |sdp: String| {
                let (pid, answer) = runtime
                    .block_on(sfu.add_participant(&name, &sdp))
                    .expect("the SFU answers the str0m client");
                id = Some(pid);
                answer
            };
            let peer = Str0mPeer::start(offer, answer_for, on_event, tick);
            (peer, id.expect("an id"))
        })
        .await
        .expect("the str0m client starts")
    }

    /// Runs `job` on the client's `Rtc` (its next turn).
    pub fn run(&self, job: impl FnOnce(&mut Rtc) + Send + 'static) {
        let _ = self.jobs.send(Box::new(job));
    }

    /// Answers an offer from the SFU; the answer's SDP comes back.
    pub async fn answer(&self, offer: String) -> String {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.run(move |rtc| {
            let offer = SdpOffer::from_sdp_string(&offer).expect("offer SDP");
            let answer = rtc.sdp_api().accept_offer(offer).expect("the SFU's offer");
            let _ = tx.send(answer.to_sdp_string());
        });
        rx.await.expect("the client answers")
    }

    /// Answers every offer the SFU makes to `id` (as `driver` logged them), from a task.
    pub fn answer_offers(self: &Arc<Self>, sfu: &Arc<Sfu>, driver: &super::Driver, id: ParticipantId) {
        let (sfu, peer, log) = (sfu.clone(), self.clone(), driver.log.clone());
        tokio::spawn(async move {
            let mut carried = 0;
            loop {
                let offers: Vec<String> = log
                    .lock()
                    .expect("log")
                    .iter()
                    .filter_map(|e| match e {
                        lancall_sfu::SfuEvent::Offer { participant, sdp } if *participant == id => {
                            Some(sdp.clone())
                        }
                        _ => None,
                    })
                    .skip(carried)
                    .collect();
                for sdp in offers {
                    carried += 1;
                    let answer = peer.answer(sdp).await;
                    let _ = sfu.accept_answer(id, &answer).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
}
