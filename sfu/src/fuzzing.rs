//! The engine without its thread, for the fuzz target in `sfu/fuzz` (cargo feature `fuzzing`,
//! off by default; nothing else uses it). Datagrams are handed to it one at a time, as the
//! thread's loop does after each `recv_from`: the same demultiplexer (`Engine::datagram`), the
//! same participants' `Rtc`s, the same `catch_unwind` around each participant.
//!
//! Its socket is bound to 127.0.0.1 and every source address must be a loopback one: what the
//! engine sends in reply (STUN responses and checks, DTLS, RTCP) goes to the source address, and
//! a fuzzer must not send packets anywhere else.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use str0m::change::SdpOffer;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::engine::{Counters, Engine};
use crate::{ParticipantId, Patience, SfuCounters, SfuError, SfuEvent};

/// An SFU engine on 127.0.0.1 driven by its caller.
pub struct FuzzEngine {
    engine: Engine,
    counters: Arc<Counters>,
    events: UnboundedReceiver<SfuEvent>,
}

impl FuzzEngine {
    /// An engine on a fresh socket bound to 127.0.0.1 (any port), advertising 127.0.0.1.
    pub fn new() -> io::Result<FuzzEngine> {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let socket = UdpSocket::bind(SocketAddr::new(loopback, 0))?;
        let (events_tx, events) = unbounded_channel();
        let counters = Arc::new(Counters::default());
        let engine = Engine::new(socket, vec![loopback], Patience::default(), events_tx, counters.clone())?;
        Ok(FuzzEngine { engine, counters, events })
    }

    /// The engine's address (its host candidate).
    pub fn local_addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    /// Adds a participant to `room` from its SDP offer, as [`crate::Sfu::add_participant`]
    /// does; the SFU's answer comes back.
    pub fn add(&mut self, room: &str, label: &str, offer: &str) -> Result<(ParticipantId, String), SfuError> {
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| SfuError::BadOffer(e.to_string()))?;
        let added = self.engine.add(room.to_owned(), label.to_owned(), offer);
        self.engine.process_work();
        added
    }

    /// One datagram from `source` (a loopback address: panics otherwise), then what the thread's
    /// loop does after each datagram: the due timers, then the work the participants queued.
    pub fn datagram(&mut self, data: &[u8], source: SocketAddr, now: Instant) {
        assert!(source.ip().is_loopback(), "the fuzz engine takes loopback sources only, not {source}");
        self.engine.datagram(data, source, now);
        self.engine.fire_due_timers();
        self.engine.process_work();
    }

    /// The housekeeping the thread's loop does every 100 ms (layers wanted, bandwidth
    /// shortages, speakers).
    pub fn housekeeping(&mut self) {
        self.engine.housekeeping();
    }

    /// The counters, as [`crate::Sfu::counters`] gives them.
    pub fn counters(&self) -> SfuCounters {
        self.counters.snapshot()
    }

    /// The events emitted since the last call.
    pub fn events(&mut self) -> Vec<SfuEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}
