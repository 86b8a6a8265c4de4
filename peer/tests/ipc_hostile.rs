//! Hostile input to the bridge's IPC layer (`lancall_peer::ipc`), the way a broken or hostile
//! page could send it: random bytes and random operations built from the real operation names
//! with wrong types, huge numbers, garbage and truncated descriptions, hostile ids and oversized
//! texts. Every input is decoded as the Tauri command decodes it; what decodes runs on a real
//! bridged connection (webrtc-rs, inside a private network namespace, since a garbage candidate
//! may name any address). Checked: nothing panics, every operation answers (an answer or a
//! sentence), and afterwards the layer still works: a new connection lays itself out and offers.
//!
//! The inputs come from a seeded generator: `LANCALL_FUZZ_SEED=N` replays a run; a failure
//! prints its seed and the input.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{run_inside_namespace, INSIDE_ENV};
use lancall_peer::ipc::{Bridges, PcAnswer, PcConfig, PcOp};
use lancall_peer::MediaKind;
use serde_json::{json, Value};

/// xorshift64*: small, seedable, good enough to pick among choices.
struct Rng(u64);

impl Rng {
    fn seeded() -> (Rng, u64) {
        let seed = std::env::var("LANCALL_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        (Rng(seed), seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OPS: &[&str] = &[
    "add-transceiver", "set-direction", "set-source", "set-local", "set-remote", "add-candidate",
    "restart-ice", "create-channel", "channel-send", "channel-close", "stats", "batch", "nope", "",
];

/// A real offer's first lines, to be cut anywhere.
const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n";

fn hostile_string(rng: &mut Rng) -> Value {
    let s = match rng.below(12) {
        0 => String::new(),
        1 => "aéééé".into(),
        2 => "\u{202e}nimda\u{202c}".into(),
        3 => "x".repeat(70_000),
        4 => "../../.bashrc".into(),
        5 => "\0\u{1}\u{7f}".into(),
        6 => SDP[..rng.below(SDP.len())].to_owned(),
        7 => "candidate:1 1 udp 2122260223 8.8.8.8 9 typ host".into(),
        8 => "candidate:garbage".into(),
        9 => (*rng.pick(&["sendrecv", "sendonly", "recvonly", "inactive", "stopped", "SENDRECV"])).into(),
        10 => (*rng.pick(&["audio", "video", "screen", "cam", "mic"])).into(),
        _ => format!("{:x}", rng.next()),
    };
    Value::String(s)
}

fn hostile_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(8)),
        3 => json!(*rng.pick(&[u64::MAX, u64::from(u32::MAX), 1 << 20, 1 << 53])),
        4 => json!(-1),
        5 => hostile_string(rng),
        6 => json!(1.5e300),
        7 => Value::Array((0..rng.below(4)).map(|_| hostile_value(rng, depth + 1)).collect()),
        _ => json!({ "type": hostile_value(rng, depth + 1), "sdp": hostile_value(rng, depth + 1), "candidate": hostile_value(rng, depth + 1) }),
    }
}

/// An operation-shaped object: a real (or wrong) op name and fields, each of the right type or
/// not.
fn hostile_op(rng: &mut Rng, depth: u32) -> Value {
    let op = *rng.pick(OPS);
    let mut m = serde_json::Map::new();
    m.insert("op".into(), json!(op));
    let fields: &[&str] = match op {
        "add-transceiver" => &["kind", "direction", "source"],
        "set-direction" => &["index", "direction"],
        "set-source" => &["index", "source"],
        "set-local" => &["rollback"],
        "set-remote" => &["description"],
        "add-candidate" => &["candidate"],
        "create-channel" => &["id", "label", "ordered"],
        "channel-send" => &["id", "text"],
        "channel-close" => &["id"],
        "batch" => &["ops"],
        _ => &["extra"],
    };
    for f in fields {
        if rng.below(10) == 0 {
            continue; // a missing field
        }
        let v = match *f {
            "ops" if depth < 2 => Value::Array((0..rng.below(40)).map(|_| hostile_op(rng, depth + 1)).collect()),
            "source" if rng.below(3) == 0 => json!(*rng.pick(&["cam", "mic", "gone"])),
            "index" | "id" if rng.below(2) == 0 => json!(rng.below(5)),
            "description" if rng.below(2) == 0 => {
                json!({ "type": *rng.pick(&["offer", "answer", "pranswer", "rollback"]), "sdp": hostile_string(rng) })
            }
            "candidate" if rng.below(2) == 0 => {
                json!({ "candidate": hostile_string(rng), "sdpMid": hostile_value(rng, 3), "sdpMLineIndex": hostile_value(rng, 3) })
            }
            _ => hostile_value(rng, depth + 1),
        };
        m.insert((*f).into(), v);
    }
    if rng.below(15) == 0 {
        m.insert("unexpected".into(), json!(1));
    }
    Value::Object(m)
}

/// Decodes as the Tauri command does; never panics.
fn decode(bytes: &[u8]) -> Option<PcOp> {
    serde_json::from_slice::<PcOp>(bytes).ok()
}

#[test]
fn random_bytes_and_shapes_never_panic_the_decoder() {
    let (mut rng, seed) = Rng::seeded();
    let mut decoded = 0;
    for i in 0..20_000 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            serde_json::to_vec(&hostile_op(&mut rng, 0)).expect("json")
        };
        let result = std::panic::catch_unwind(|| decode(&bytes).map(|op| op.check().is_ok()));
        match result {
            Ok(Some(_)) => decoded += 1,
            Ok(None) => {}
            Err(_) => panic!("seed {seed}: decoding panicked on {}", String::from_utf8_lossy(&bytes)),
        }
    }
    // The generator is worth its name only if a good share of its inputs reach the checks.
    assert!(decoded > 1_000, "seed {seed}: only {decoded} of 20000 inputs decoded");
}

async fn storm() {
    let (mut rng, seed) = Rng::seeded();
    eprintln!("seed {seed}");
    let bridges = Bridges::default();
    let events = Arc::new(|_| {});
    let frames = Arc::new(|_| {});
    bridges.open("pc", PcConfig::default(), events.clone(), frames.clone()).await.expect("open");
    bridges.open_source("cam", MediaKind::Video).expect("camera");
    bridges.open_source("mic", MediaKind::Audio).expect("microphone");
    let hostile_config: PcConfig =
        serde_json::from_value(json!({ "iceServers": vec![json!({ "urls": "stun:8.8.8.8" }); 40] })).expect("config");
    assert!(bridges.open("pc2", hostile_config, events.clone(), frames.clone()).await.is_err(), "40 ICE servers");
    assert!(bridges.open("pc", PcConfig::default(), events.clone(), frames.clone()).await.is_err(), "already open");

    let (mut ran, mut refused) = (0, 0);
    for _ in 0..400 {
        let input = serde_json::to_vec(&hostile_op(&mut rng, 0)).expect("json");
        let Some(op) = decode(&input) else { continue };
        let answer = tokio::time::timeout(Duration::from_secs(10), bridges.run("pc", op)).await;
        match answer {
            Ok(Ok(_)) => ran += 1,
            Ok(Err(e)) => {
                refused += 1;
                assert!(!e.to_string().is_empty(), "seed {seed}: an empty refusal");
            }
            Err(_) => panic!("seed {seed}: no answer in 10 s to {}", String::from_utf8_lossy(&input)),
        }
    }
    eprintln!("seed {seed}: {ran} operations ran, {refused} refused with a sentence");
    assert!(ran + refused > 50, "seed {seed}: too few operations reached the connection");

    // The layer still works: the storm's connection answers, and a new one lays itself out.
    assert!(matches!(bridges.run("pc", PcOp::Stats).await, Ok(PcAnswer::Stats(_))));
    bridges.open("fresh", PcConfig::default(), events, frames).await.expect("a new connection");
    let layout: PcOp = serde_json::from_value(json!({ "op": "batch", "ops": [
        { "op": "add-transceiver", "kind": "audio", "direction": "sendrecv", "source": "mic" },
        { "op": "add-transceiver", "kind": "video", "direction": "sendrecv", "source": "cam" },
        { "op": "create-channel", "id": 1, "label": "lancall", "ordered": true },
    ]}))
    .expect("layout");
    let PcAnswer::Batch(outcomes) = bridges.run("fresh", layout).await.expect("batch") else {
        panic!("a batch answers a list");
    };
    let outcomes = serde_json::to_value(&outcomes).expect("json");
    assert!(outcomes.as_array().is_some_and(|a| a.iter().all(|o| o.get("ok").is_some())), "{outcomes}");
    let offer = bridges.run("fresh", PcOp::SetLocal { rollback: false }).await.expect("offer");
    let offer = serde_json::to_value(&offer).expect("json");
    assert_eq!(offer["signalingState"], "have-local-offer", "{offer}");
    bridges.close_all().await;
    assert_eq!(bridges.connections(), 0);
}

#[test]
fn hostile_operations_on_a_real_connection_are_answered_and_the_layer_goes_on() {
    const NAME: &str = "hostile_operations_on_a_real_connection_are_answered_and_the_layer_goes_on";
    if std::env::var_os(INSIDE_ENV).is_none() {
        run_inside_namespace(NAME);
        return;
    }
    common::run_scenario(Duration::from_secs(100), storm());
}
