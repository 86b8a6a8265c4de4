//! lancall's selective forwarding unit (SFU): every participant uploads once to the host, which
//! forwards each track to every other participant. Built on [str0m](https://docs.rs/str0m)
//! (sans-I/O WebRTC): this crate owns the I/O, the clock and the routing.
//!
//! # Design
//!
//! - **One thread, one socket.** [`Sfu::start`] binds one UDP port (the caller's address; port 0
//!   picks one) and runs everything on a dedicated thread named `lancall-sfu`: every
//!   participant's `Rtc`, the socket reads and writes, the timers. No tokio inside it. The
//!   [`Sfu`] handle talks to it over a channel (requests answered on a oneshot, so they can be
//!   awaited from tokio code); what happens by itself (a participant connects, publishes, needs
//!   an offer, goes) comes as [`SfuEvent`]s on a tokio channel. The thread sleeps in
//!   `recv_from` at most 5 ms before looking at its commands.
//! - **str0m's rule.** After every change to an `Rtc` (input, timeout, a written frame, a
//!   keyframe request, an SDP change) its `poll_output` is drained until `Output::Timeout`; the
//!   drain sends what it transmits and collects what concerns other participants as work items,
//!   which the engine then routes in order.
//! - **Addresses.** Each participant is given the host candidates advertised when it joins
//!   ([`SfuConfig::advertise`], then [`Sfu::set_addresses`] when the LAN changes) and keeps
//!   them; the local address a datagram reached is worked out from its participant's list.
//! - **Demultiplexing.** A datagram's source address finds its participant in a `HashMap` (and
//!   that `Rtc` must still `accepts()` it). A datagram from an unknown address goes to the
//!   participant whose `Rtc` accepts it, which for a new address only a STUN check carrying
//!   that participant's ICE credentials does; the address is then learnt. So a browser's mDNS
//!   `.local` candidate needs no resolving, and strays cost one lookup (plus, for STUN, one
//!   `accepts()` per participant).
//! - **Timers.** Each `Rtc` has exactly one pending timeout (the one its last drain returned,
//!   or a watchdog: by default 30 s to connect, 5 s disconnected, see [`Patience`]), kept in an
//!   ordered set; only the due ones are fired, each once per turn. Incoming packets do not
//!   touch other participants' timers.
//! - **Forwarding.** Every track a participant publishes (Opus audio, VP8 video) is offered to
//!   every other participant in an SFU-made offer (`SfuEvent::Offer`, answered through
//!   [`Sfu::accept_answer`]); its msid stream id is the publisher's label. Frames are
//!   depacketized by str0m and written to each subscriber's matching send-only track. A
//!   subscriber's PLI/FIR goes to the publisher (at most one request per track per 500 ms); a
//!   new subscriber's track, a subscriber connecting and a gap the publisher's NACKs could not
//!   fill each ask the publisher for a keyframe, so a first picture comes fast.
//! - **Layer choice per subscriber** (layers.rs). Published rids are accepted. Each layer's
//!   picture height is read from its VP8 keyframe headers (not from rid names) and its bitrate
//!   measured from the bytes arriving. For each (video track, subscriber) pair the subscriber
//!   receives the smallest layer at least as tall as its tile ([`Sfu::set_wanted`]; by default
//!   the highest), lowered to fit its share of its bandwidth estimate, nothing while the tile is
//!   hidden (height 0). A switch happens on a keyframe of the new layer (asked for at once,
//!   within the 500 ms per-track limit); until then the old layer flows. str0m numbers the
//!   forwarded packets itself; the RTP time is shifted on a switch so the subscriber sees one
//!   continuous stream even when layers have different time bases.
//! - **Bandwidth.** str0m's TWCC send-side estimator runs for every participant (starting at
//!   2.5 Mbit/s; the SFU asks it to probe for what the wanted layers cost). It sits near the
//!   rate being sent, so it limits a subscriber's layers only after a shortage: the estimate
//!   below 60 % of what is sent for 2 s. The estimate (less 120 kbit/s for voices) is then
//!   split among the video tracks the subscriber receives by tile height, for 8 s (doubled if
//!   the shortage returns, up to 64 s), after which higher layers are tried again.
//! - **Layers nobody needs.** Every 100 ms (and at once after [`Sfu::set_wanted`]) the SFU
//!   gathers the layers each published track's subscribers need (choosing among all layers,
//!   arriving or not, so a paused one can be asked back) and emits
//!   [`SfuEvent::LayersWanted`] when that set changes: a layer is added at once, dropped 2 s
//!   after it was last needed; the lowest stays while a subscriber is short of bandwidth.
//! - **Voices** (speakers.rs). Each publisher's RFC 6464 level (str0m reads it from the audio
//!   packets' header extension) is smoothed over about 300 ms; each subscriber receives the
//!   voices of the 3 loudest others only, and a voice that left them for 1 s more (words are
//!   not clipped at their end). A client that sends no level counts as silent (it is forwarded
//!   while fewer than 3 others are louder). [`SfuEvent::Speakers`] reports up to 3 voices
//!   louder than -50 dBov, loudest first, when that set changes, at most every 250 ms.
//! - **Negotiation.** The SFU leads renegotiation towards each participant with at most one
//!   offer outstanding, and none before the participant's first packet (which proves it applied
//!   the SFU's answer, so an offer cannot overtake that answer). An offer the participant makes
//!   ([`Sfu::accept_offer`]) wins over one of the SFU's in flight (the SFU is polite).
//!
//! # Containment
//!
//! - Bad input on the media port (random bytes, truncated STUN, DTLS garbage, RTP for unknown
//!   SSRCs from unknown addresses) is dropped before any `Rtc` sees it and counted
//!   ([`SfuCounters::datagrams_unreadable`], [`SfuCounters::datagrams_unrouted`]).
//!   The fuzz target `sfu/fuzz` (`demux`, libFuzzer, through the `fuzzing` feature's engine
//!   without its thread) feeds the demultiplexer (`Engine::datagram`) such datagrams, STUN signed
//!   with participants' real ICE credentials, DTLS and SRTP media and RTCP from two real str0m
//!   participants, joined or connected, from their addresses and from strangers'.
//! - A str0m error from one participant's `Rtc` (input, output, a write, a refused answer)
//!   disconnects that participant only ([`SfuEvent::Gone`] with [`GoneReason::Error`]), except
//!   a frame it sent that cannot be depacketized (found by the fuzz target: one short VP8 packet
//!   used to end the sender's media), which is dropped and counted
//!   ([`SfuCounters::frames_malformed`]; more than 64 in one turn still ends it).
//! - **Panics**: all processing of one participant (building its `Rtc`, each input, each
//!   drain, each write to it, dropping it) runs inside `std::panic::catch_unwind`. A panic
//!   there removes that participant (its state may be broken), counts in
//!   [`SfuCounters::panics_contained`], is logged and reported as [`GoneReason::Panicked`];
//!   the thread, the socket and every other participant go on. The test
//!   `a_panic_in_one_participant_ends_that_participant_only` (tests/containment.rs) checks it
//!   through a hidden test hook ([`Sfu::inject_panic`]). A panic in the engine's own routing
//!   (outside any participant) would end the thread: the event stream then ends and the
//!   handle's requests fail with [`SfuError::Stopped`].
//!
//! # Tests
//!
//! With real clients inside a network namespace the test makes (skipped without root):
//! `tests/forwarding.rs` (three webrtc-rs clients of the `lancall-peer` crate decode each
//! other's pictures and hear each other; hang-up, removal, a track added by the client's own
//! offer), `tests/keyframes.rs` (a subscriber's PLI brings the publisher's keyframe),
//! `tests/simulcast.rs` (the high layer, then the low one when the high stops),
//! `tests/layer_choice.rs` (a 180-line tile decodes the low layer while a 720-line one decodes
//! the high one; a hidden tile receives nothing, the other subscriber goes on; the high layer
//! is dropped from `LayersWanted` when nobody needs it and asked back at once),
//! `tests/speakers.rs` (five voices at different levels: a listener receives the three loudest
//! only, and they are reported), `tests/addresses.rs` (a participant joining after
//! `set_addresses` is offered the new address, the one before keeps its own, both connect),
//! `tests/bandwidth.rs` (a str0m listener in a second namespace behind a link shaped to
//! 200 kbit/s with `tc tbf`: its estimate fell to 155 kbit/s against 284 kbit/s sent, and it is
//! switched to the low layer while Alice, on the fast link, keeps the high one),
//! `tests/containment.rs` (hostile datagrams, a refused answer, a panic). `tests/handle.rs`
//! needs no namespace. `tests/common/` holds the namespaces, the clients (their media from
//! `lancall_peer::synthetic`), a small str0m client for what webrtc-rs cannot do (PLI,
//! simulcast, RFC 6464 levels, a socket in another namespace) and a simulcast camera.
//! [`SfuCounters`] counts what the choices held back (`frames_not_chosen`, `frames_paused`,
//! `audio_not_loudest`) and `layer_switches`.
//!
//! # Not done yet (next slices of issue 14)
//!
//! - Probing that works with the test clients: with webrtc-rs subscribers str0m's estimate
//!   does not rise above the rate sent, so after a shortage higher layers come back only by
//!   trying them again (the hold above), not by a probe proving the room is there.
//! - ICE-TCP fallback; IP_PKTINFO for an exact local address when bound to 0.0.0.0 (today the
//!   advertised address sharing the longest prefix with the sender is assumed).
//! - Integration with the hub and `lancall-host` (`--media-port`, addresses from
//!   hub/src/netif.rs, re-gathered when they change), the protocol messages, the browser
//!   client's SFU topology, `auto` topology switching, data channel relay, recording.
//! - Forwarding RTP as is (str0m's RTP mode) instead of depacketizing and repacketizing, if the
//!   capacity benchmark says it matters.

mod engine;
mod error;
mod handle;
mod layers;
mod participant;
mod recv;
mod tcp;
mod record;
mod sdp;
mod speakers;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use error::SfuError;
pub use record::RecordedFile;
pub use handle::{
    GoneReason, MediaKind, ParticipantId, Patience, Sfu, SfuConfig, SfuCounters, SfuEvent,
};
