//! Fuzzes the SFU's packet demultiplexer: whatever arrives on the media port, from anyone.
//!
//! The engine is the SFU thread's own (`lancall_sfu::fuzzing::FuzzEngine`: `Engine::datagram`,
//! then the due timers and the queued work, as after each `recv_from`), bound to 127.0.0.1, with
//! two real participants: str0m clients whose offers publish Opus and VP8, their sockets on
//! 127.0.0.2 and 127.0.0.3. In the "connected" world the two are connected first (ICE, DTLS,
//! SRTP: the clients' own traffic is handed to the engine, the engine's replies are read from the
//! clients' sockets, and they keep answering between inputs); in the other they only joined.
//!
//! Worlds are kept across inputs (building one costs two SDP negotiations and, connected, two
//! DTLS handshakes: 50 ms with the sanitizer, against about a millisecond for an input) and
//! built again after 200 inputs, 5 s, or as soon as a participant is gone. So what an input finds
//! depends a little on earlier inputs; `LANCALL_SFU_FUZZ_FRESH=1` builds a fresh world for each
//! input, for replaying a crash (`cargo fuzz run demux artifacts/demux/crash-...`) or `tmin`.
//!
//! Input: byte 0, bit 0: the connected world. Then records `ctl, length (2 bytes, big-endian),
//! bytes` (at most 64; each datagram cut to the engine's 2048-byte buffer):
//! - `ctl` bits 0-1, the source: 0 client A's address, 1 client B's, 2 a stranger (127.0.0.4),
//!   3 A's IP from another port. Every source is a socket of this target's on a loopback
//!   address: what the engine says back goes nowhere else.
//! - bits 2-3, what the bytes are: 0 or 3, the datagram as is; 1, a STUN message signed here
//!   (USERNAME, MESSAGE-INTEGRITY and FINGERPRINT replaced) with the ICE credentials of client A
//!   (bit 4 clear) or B (bit 4 set), which change with each world; 2 (connected only, else as
//!   is), RTP written by client A or B (bit 4) through its own SRTP: `flags, ssrc, pt, seq (2
//!   bytes)`, then the payload (see `Client::media`).
//! - bits 5-7, how many times it is sent: 1, 1, 1, 1, 2, 4, 16, 64 (storms).
//!
//! Panics: libFuzzer's hook aborts on any panic, also one the engine contains (its
//! `catch_unwind` around each participant), so a contained panic is reported as a crash too: it
//! still drops a participant. `LANCALL_SFU_FUZZ_CONTAINED=allow` lets contained panics pass (they
//! are counted in `panics_contained`) so that only what would end the SFU's thread stops the run.
//! `LANCALL_SFU_FUZZ_VERBOSE=1` prints each input's counters and the engine's events.
//! `LANCALL_SFU_FUZZ_SEEDS=dir` writes the seeds made from real client traffic into `dir`.
//!
//! Run: `cd sfu/fuzz && mkdir -p corpus/demux && RUSTC_BOOTSTRAP=1 cargo fuzz run demux
//! corpus/demux seeds/demux -- -max_total_time=300 -detect_leaks=0` (new inputs go to `corpus/`,
//! git-ignored; the worlds outlive inputs, and LeakSanitizer's scan after every input that keeps
//! memory made the run five times slower, for leaks it could not see anyway).
#![no_main]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use lancall_sfu::fuzzing::FuzzEngine;
use lancall_sfu::SfuEvent;
use libfuzzer_sys::fuzz_target;
use sha1::Sha1;
use str0m::change::SdpAnswer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The engine reads datagrams into a buffer this long (engine.rs `RECV_BUFFER`): anything longer
/// arrives cut.
const RECV_BUFFER: usize = 2_048;
const MAX_RECORDS: usize = 64;
const REPEATS: [usize; 8] = [1, 1, 1, 1, 2, 4, 16, 64];
/// A world is built again after this many inputs or this long.
const WORLD_INPUTS: usize = 200;
const WORLD_AGE: Duration = Duration::from_secs(5);

/// Made once.
struct Shared {
    crypto: Arc<CryptoProvider>,
    /// The clients' DTLS certificate (making one per client would cost more than the rest).
    cert: DtlsCert,
    verbose: bool,
    fresh: bool,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let flag = |name: &str, value: &str| std::env::var(name).as_deref() == Ok(value);
        if flag("LANCALL_SFU_FUZZ_CONTAINED", "allow") {
            // libFuzzer's hook aborts on every panic, caught or not. This one only prints: a
            // panic the engine catches passes, one it does not reaches libfuzzer-sys's own
            // catch_unwind around the input, which aborts.
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(|info| eprintln!("panic (contained if the run goes on): {info}")));
        }
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        let cert = crypto
            .dtls_provider
            .generate_certificate()
            .expect("a DTLS certificate for the clients");
        let shared = Shared {
            crypto,
            cert,
            verbose: flag("LANCALL_SFU_FUZZ_VERBOSE", "1"),
            fresh: flag("LANCALL_SFU_FUZZ_FRESH", "1"),
        };
        if let Ok(dir) = std::env::var("LANCALL_SFU_FUZZ_SEEDS") {
            write_seeds(&shared, std::path::Path::new(&dir));
        }
        shared
    })
}

/// A non-blocking socket on 127.0.0.`last`, any port.
fn bind(last: u8) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0))
        .expect("a loopback socket");
    s.set_nonblocking(true).expect("non-blocking");
    s
}

fn address(s: &UdpSocket) -> SocketAddr {
    s.local_addr().expect("a socket's address")
}

/// One participant's client: a str0m `Rtc` on its own clock, which runs ahead of the wall clock
/// to skip its waits (the engine's participants keep the wall clock, as on the SFU's thread).
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    clock: Instant,
    next: Instant,
    connected: bool,
    /// USERNAME of its checks to the SFU ("SFU's ufrag:its ufrag") and the key that signs them.
    username: String,
    password: String,
    audio: Mid,
    video: Mid,
    opus: Option<str0m::media::Pt>,
    vp8: Option<str0m::media::Pt>,
    /// Everything it sent (for the seeds).
    sent: Vec<Vec<u8>>,
}

fn sdp_attr<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=")?.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

impl Client {
    /// A client on 127.0.0.`last` joins the engine (its offer answered by it).
    fn join(sfu: &mut FuzzEngine, shared: &Shared, last: u8) -> Client {
        let now = Instant::now();
        let socket = bind(last);
        let addr = address(&socket);
        let mut rtc = Rtc::builder()
            .set_crypto_provider(shared.crypto.clone())
            .set_dtls_cert(shared.cert.clone())
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(now);
        rtc.add_local_candidate(Candidate::host(addr, Protocol::Udp).expect("a host candidate"));
        let mut change = rtc.sdp_api();
        let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, Some("s".into()), None, None);
        let video = change.add_media(MediaKind::Video, Direction::SendRecv, Some("s".into()), None, None);
        let (offer, pending) = change.apply().expect("an offer");
        let offer = offer.to_sdp_string();
        let label = format!("client-{last}");
        let (_, answer) = sfu.add("call", &label, &offer).expect("the SFU answers a str0m client");
        let username = format!(
            "{}:{}",
            sdp_attr(&answer, "ice-ufrag").expect("the SFU's ufrag"),
            sdp_attr(&offer, "ice-ufrag").expect("the client's ufrag")
        );
        let password = sdp_attr(&answer, "ice-pwd").expect("the SFU's password").to_owned();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("answer SDP"))
            .expect("the client takes the SFU's answer");
        let pt = |codec| rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).map(|p| p.pt());
        let (opus, vp8) = (pt(Codec::Opus), pt(Codec::Vp8));
        Client {
            rtc,
            socket,
            addr,
            clock: now,
            next: now,
            connected: false,
            username,
            password,
            audio,
            video,
            opus,
            vp8,
            sent: Vec::new(),
        }
    }

    /// What it has to send now (all to the SFU); notes its next timeout.
    fn poll(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for _ in 0..1_000 {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next = t;
                    break;
                }
                Ok(Output::Transmit(t)) => out.push(t.contents.to_vec()),
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(_)) => {}
                Err(_) => break,
            }
        }
        self.sent.extend(out.iter().cloned());
        out
    }

    fn receive(&mut self, data: &[u8], from: SocketAddr) {
        if let Ok(r) = Receive::new(Protocol::Udp, from, self.addr, data) {
            let _ = self.rtc.handle_input(Input::Receive(self.clock, r));
        }
    }

    /// Moves its clock on to its next timeout.
    fn advance(&mut self) {
        self.clock = self.clock.max(self.next);
        let _ = self.rtc.handle_input(Input::Timeout(self.clock));
    }

    /// Takes what the engine sent it.
    fn drain(&mut self, seen: &mut Vec<Vec<u8>>) {
        let mut buf = [0u8; RECV_BUFFER];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            seen.push(buf[..n].to_vec());
            self.receive(&buf[..n], from);
        }
    }

    /// RTP written through its send stream for `mid` (or a stream with an SSRC of the input's),
    /// encrypted with its SRTP keys: what comes out.
    /// `flags`: bit 0 video, bit 1 a new SSRC (from `ssrc`), bit 2 the mid header extension,
    /// bits 3-4 a rid (none, "h", "m", "l"), bit 5 marker, bit 6 an audio level (from `seq`),
    /// bit 7 the payload type byte `pt` as is (else the codec's).
    fn media(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let [flags, ssrc, pt, seq_hi, seq_lo, payload @ ..] = bytes else {
            return Vec::new();
        };
        let video = flags & 1 != 0;
        let mid = if video { self.video } else { self.audio };
        let codec_pt = if video { self.vp8 } else { self.opus };
        let pt = match codec_pt {
            Some(p) if flags & 0x80 == 0 => p,
            _ => (*pt & 0x7f).into(),
        };
        let seq = u16::from_be_bytes([*seq_hi, *seq_lo]);
        let rid = match (flags >> 3) & 3 {
            0 => None,
            1 => Some(Rid::from("h")),
            2 => Some(Rid::from("m")),
            _ => Some(Rid::from("l")),
        };
        let mut ext = ExtensionValues::default();
        if flags & 4 != 0 {
            ext.mid = Some(mid);
        }
        ext.rid = rid;
        if flags & 0x40 != 0 {
            ext.audio_level = Some(-((*seq_lo & 0x7f) as i8));
            ext.voice_activity = Some(*seq_hi & 1 != 0);
        }
        let mut api = self.rtc.direct_api();
        let ssrc = match api.stream_tx_by_mid(mid, None).map(|s| s.ssrc()) {
            Some(s) if flags & 2 == 0 => s,
            _ => {
                let s = Ssrc::from(u32::from(*ssrc).wrapping_mul(0x0101_0101) ^ 0x5a5a_0000);
                api.declare_stream_tx(s, None, mid, rid);
                s
            }
        };
        let Some(stream) = api.stream_tx(&ssrc) else {
            return Vec::new();
        };
        let write = RtpWrite::new(pt, SeqNo::from(u64::from(seq)), u32::from(seq).wrapping_mul(3_000), self.clock, payload.to_vec())
            .marker(flags & 0x20 != 0)
            .ext_vals(ext);
        stream.write_rtp(write);
        // Out at its next timeout or two (the send queue is looked at on timeouts).
        let mut out = Vec::new();
        for _ in 0..3 {
            self.clock += Duration::from_millis(1);
            self.next = self.next.max(self.clock);
            if self.next - self.clock > Duration::from_millis(50) {
                break;
            }
            self.advance();
            out.extend(self.poll());
            if !out.is_empty() {
                break;
            }
        }
        out
    }
}

/// An engine, its two participants' clients, and two more sockets to send from.
struct World {
    sfu: FuzzEngine,
    clients: [Client; 2],
    /// A stranger (127.0.0.4) and A's IP on another port.
    others: [UdpSocket; 2],
    connected: bool,
    born: Instant,
    inputs: usize,
    /// A participant is gone: build another.
    broken: bool,
}

impl World {
    fn new(shared: &Shared, connect: bool) -> World {
        let mut sfu = FuzzEngine::new().expect("an engine on 127.0.0.1");
        let clients = [Client::join(&mut sfu, shared, 2), Client::join(&mut sfu, shared, 3)];
        let mut w = World {
            sfu,
            clients,
            others: [bind(4), bind(2)],
            connected: false,
            born: Instant::now(),
            inputs: 0,
            broken: false,
        };
        w.connected = connect && w.connect(&mut Vec::new());
        w
    }

    /// Connects both clients to the engine: their traffic goes in directly, the engine's is read
    /// from their sockets; their clocks jump to their timeouts when nothing moves. What the
    /// engine sent them goes to `seen` too.
    fn connect(&mut self, seen: &mut Vec<Vec<u8>>) -> bool {
        let mut sfu_connected = 0;
        for _ in 0..400 {
            let before = seen.len();
            let moved = self.pump(seen) || seen.len() > before;
            sfu_connected += self.take_events().iter().filter(|e| matches!(e, SfuEvent::Connected { .. })).count();
            if sfu_connected >= 2 && self.clients.iter().all(|c| c.connected) {
                return true;
            }
            if !moved {
                for c in self.clients.iter_mut() {
                    c.advance();
                }
            }
        }
        false
    }

    /// One turn of the clients: what they send goes to the engine, what the engine sent them
    /// to them. Whether anything was sent.
    fn pump(&mut self, seen: &mut Vec<Vec<u8>>) -> bool {
        let mut moved = false;
        for c in self.clients.iter_mut() {
            for d in c.poll() {
                self.sfu.datagram(&d, c.addr, Instant::now());
                moved = true;
            }
            c.drain(seen);
        }
        moved
    }

    /// The engine's events; a participant gone breaks the world.
    fn take_events(&mut self) -> Vec<SfuEvent> {
        let events = self.sfu.events();
        self.broken |= events.iter().any(|e| matches!(e, SfuEvent::Gone { .. }));
        events
    }

    fn worn(&self) -> bool {
        self.broken || self.inputs >= WORLD_INPUTS || self.born.elapsed() >= WORLD_AGE
    }

    /// What the engine sent since: the connected clients take it, the rest is dropped.
    fn settle(&mut self) {
        if self.connected {
            self.pump(&mut Vec::new());
        } else {
            for c in self.clients.iter_mut() {
                while c.socket.recv_from(&mut [0u8; RECV_BUFFER]).is_ok() {}
            }
        }
        for s in &self.others {
            while s.recv_from(&mut [0u8; RECV_BUFFER]).is_ok() {}
        }
    }

    /// One input's records (after the mode byte).
    fn play(&mut self, mut rest: &[u8], shared: &Shared) {
        self.inputs += 1;
        self.settle();
        let mut records = 0;
        while rest.len() >= 3 && records < MAX_RECORDS {
            records += 1;
            let ctl = rest[0];
            let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
            let bytes = &rest[3..3 + len];
            rest = &rest[3 + len..];
            let source = match ctl & 3 {
                0 => self.clients[0].addr,
                1 => self.clients[1].addr,
                2 => address(&self.others[0]),
                _ => address(&self.others[1]),
            };
            let who = usize::from((ctl >> 4) & 1);
            let datagrams = match (ctl >> 2) & 3 {
                1 => vec![sign_stun(bytes, &self.clients[who].username, &self.clients[who].password)],
                2 if self.connected => self.clients[who].media(bytes),
                _ => vec![bytes.to_vec()],
            };
            if shared.verbose {
                eprintln!("record: ctl {ctl:#010b}, {len} bytes: {} datagram(s) from {source}", datagrams.len());
            }
            for _ in 0..REPEATS[usize::from(ctl >> 5)] {
                for d in &datagrams {
                    self.sfu.datagram(&d[..d.len().min(RECV_BUFFER)], source, Instant::now());
                }
            }
        }
        self.sfu.housekeeping();
        let events = self.take_events();
        if shared.verbose {
            eprintln!(
                "connected world: {}, input {} of it, {records} records\n{:?}\n{events:?}",
                self.connected,
                self.inputs,
                self.sfu.counters()
            );
        }
    }
}

thread_local! {
    /// The world without connections, and the connected one.
    static WORLDS: RefCell<[Option<World>; 2]> = const { RefCell::new([None, None]) };
}

fn run(data: &[u8]) {
    let shared = shared();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let connected = mode & 1 != 0;
    WORLDS.with(|worlds| {
        let mut worlds = worlds.borrow_mut();
        let slot = &mut worlds[usize::from(connected)];
        if shared.fresh || slot.as_ref().is_none_or(World::worn) {
            // The old one's sockets close first.
            *slot = None;
            *slot = Some(World::new(shared, connected));
        }
        if let Some(world) = slot.as_mut() {
            world.play(rest, shared);
        }
    });
}

fuzz_target!(|data: &[u8]| run(data));

/// `bytes` as a STUN message signed for `username` / `password`: the header's class and method
/// and transaction id and the attributes are the input's (whole attributes, up to the first one
/// cut short), the magic cookie is put right, USERNAME, MESSAGE-INTEGRITY and FINGERPRINT are
/// replaced by correct ones.
fn sign_stun(bytes: &[u8], username: &str, password: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(bytes.len().min(RECV_BUFFER) + 64);
    let mut header = [0u8; 20];
    let n = bytes.len().min(20);
    header[..n].copy_from_slice(&bytes[..n]);
    header[0] &= 0x3f;
    header[4..8].copy_from_slice(&0x2112_a442u32.to_be_bytes());
    m.extend_from_slice(&header);
    let mut attrs = bytes.get(20..).unwrap_or(&[]);
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let whole = 4 + ((len + 3) & !3);
        if attrs.len() < whole || m.len() + whole > RECV_BUFFER - 64 - username.len() {
            break;
        }
        if !matches!(kind, 0x0006 | 0x0008 | 0x001c | 0x8028) {
            m.extend_from_slice(&attrs[..whole]);
        }
        attrs = &attrs[whole..];
    }
    attribute(&mut m, 0x0006, username.as_bytes());
    // The length counts MESSAGE-INTEGRITY; the HMAC covers everything before it.
    set_length(&mut m, 24);
    let mut mac = Hmac::<Sha1>::new_from_slice(password.as_bytes()).expect("HMAC takes any key");
    mac.update(&m);
    attribute(&mut m, 0x0008, &mac.finalize().into_bytes());
    set_length(&mut m, 8);
    let crc = crc32fast::hash(&m) ^ 0x5354_554e;
    attribute(&mut m, 0x8028, &crc.to_be_bytes());
    m
}

fn attribute(m: &mut Vec<u8>, kind: u16, value: &[u8]) {
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&(value.len() as u16).to_be_bytes());
    m.extend_from_slice(value);
    while m.len() % 4 != 0 {
        m.push(0);
    }
}

/// The header's length: what follows the header, plus `more` bytes still to come.
fn set_length(m: &mut [u8], more: usize) {
    let len = (m.len() - 20 + more) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
}

/// One record of an input.
fn record(ctl: u8, bytes: &[u8]) -> Vec<u8> {
    let mut r = vec![ctl];
    r.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    r.extend_from_slice(bytes);
    r
}

fn input(connect: bool, records: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![u8::from(connect)];
    for r in records {
        v.extend_from_slice(r);
    }
    v
}

/// Seeds from real traffic: the client's first STUN check, the first DTLS record (a
/// ClientHello), an SRTP packet and an SRTCP packet of a connected client; and a few made by
/// hand (a cut STUN check, random bytes, a VP8 keyframe and an Opus frame sent through the
/// client's SRTP, an RTCP storm).
fn write_seeds(shared: &Shared, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("the seeds' folder");
    let mut world = World::new(shared, false);
    let mut seen = Vec::new();
    assert!(world.connect(&mut seen), "the clients connect");
    let clients = &mut world.clients;
    let stun = clients[0]
        .sent
        .iter()
        .find(|d| d.len() > 20 && d[0] == 0 && d[1] == 1)
        .expect("a STUN check")
        .clone();
    let hello = clients[0]
        .sent
        .iter()
        .chain(seen.iter())
        .find(|d| d.len() > 13 && d[0] == 22 && d[13] == 1)
        .expect("a ClientHello")
        .clone();
    // A VP8 keyframe (payload descriptor, then a 640x360 key frame header) through client A.
    let mut vp8 = vec![0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];
    vp8.extend_from_slice(&[0u8; 40]);
    let media_vp8 = [&[0x21u8, 0, 0, 0, 1][..], &vp8].concat();
    let srtp = clients[0].media(&media_vp8).into_iter().find(|d| d.len() > 12 && d[0] & 0xc0 == 0x80 && !(200..=206).contains(&d[1]))
        .expect("an SRTP packet");
    // Some seconds on: its receiver and sender reports.
    let mut srtcp = None;
    for _ in 0..50 {
        clients[0].clock += Duration::from_millis(200);
        clients[0].next = clients[0].clock;
        clients[0].advance();
        srtcp = clients[0].poll().into_iter().find(|d| d.len() > 8 && (200..=206).contains(&d[1]));
        if srtcp.is_some() {
            break;
        }
    }
    let srtcp = srtcp.expect("an SRTCP packet");
    let mut noise = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..300)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            noise as u8
        })
        .collect();
    let opus = [&[0x40u8, 0, 0, 0, 2][..], &[0x78, 0x01, 0x02, 0x03, 0x04][..]].concat();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        // Signed with A's credentials, from A's address: a participant learns its address.
        ("stun-check-signed", input(false, &[record(0b0100, &stun)])),
        // As captured: its credentials were another engine's.
        ("stun-check-wrong-credentials", input(false, &[record(0b0000, &stun)])),
        ("stun-truncated", input(false, &[record(0b0010, &stun[..stun.len().min(28)])])),
        ("dtls-client-hello", input(true, &[record(0b0000, &hello)])),
        ("dtls-client-hello-before-ice", input(false, &[record(0b0100, &stun), record(0b0000, &hello)])),
        ("rtp", input(true, &[record(0b0000, &srtp)])),
        ("rtcp", input(true, &[record(0b0001, &srtcp)])),
        ("rtcp-storm", input(true, &[record(0b1110_0000, &srtcp), record(0b1110_0011, &srtcp)])),
        ("random", input(false, &[record(0b0010, &random), record(0b0000, &random[..100])])),
        ("media-vp8-keyframe", input(true, &[record(0b1000, &media_vp8)])),
        ("media-opus-unknown-ssrc", input(true, &[record(0b1000, &[&[0x46u8, 0x33][..], &opus[2..]].concat())])),
        ("media-opus", input(true, &[record(0b1000, &opus), record(0b1001_1000, &opus)])),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("a seed");
    }
    eprintln!("seeds written to {}", dir.display());
}
