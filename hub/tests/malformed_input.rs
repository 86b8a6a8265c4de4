//! Malformed-input injection without a fuzzer: the seed messages of the fuzz target
//! (`hub/fuzz/seeds`), mutated many thousand times by a fixed pseudo-random sequence, go through
//! the decoder and the hub. Nothing may panic, every reply must be a JSON message, and the hub
//! must still serve a well-behaved client afterwards. The coverage-guided fuzzer
//! (`hub/fuzz`, run by hand) goes further; this keeps CI honest about the same property.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lancall_hub::hub::{Hub, HubConfig, RoomSpec};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "{", "}", "[", "]", "\"", ":", ",", "null", "true", "-1e999", "1.5", "\\u0000", "\\ud800", "\"type\"", "\"join\"",
    "\"signal\"", "\"leave\"", "\"ping\"", "\"room\"", "\"to\"", "\"data\"", "\"name\"", "\"token\"", "\n", "é", "☃",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut s = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(5) {
            0 if !s.is_empty() => {
                let i = rng.below(s.len());
                s[i] = rng.next() as u8;
            }
            1 => s.truncate(at),
            2 => {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                s.splice(at.min(s.len())..at.min(s.len()), tok.iter().copied());
            }
            3 if !s.is_empty() => {
                let end = (at + rng.below(8)).min(s.len());
                s.drain(at.min(end)..end);
            }
            _ => {
                let copy = s.clone();
                s.extend_from_slice(&copy[..rng.below(copy.len() + 1)]);
            }
        }
    }
    s
}

#[test]
fn mutated_messages_never_break_the_hub() {
    let seeds_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&seeds_dir)
        .expect("seed folder")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("seed"))
        .collect();
    assert!(seeds.len() >= 4);

    let hub = Hub::new(HubConfig { rate_burst: 1e9, queue_len: 1 << 20, ..HubConfig::default() });
    hub.create_room(RoomSpec { name: "call".into(), open: true, capacity: Some(64), token: None, topology: Default::default() }).unwrap();
    let (mut other, _other_rx) = hub.connect().unwrap();
    other.handle_text(r#"{"type":"join","room":"call","name":"other"}"#);

    let mut rng = Rng(0x1a2b_3c4d_5e6f_7788);
    let mut replies = 0usize;
    for round in 0..20_000 {
        let input = mutate(&mut rng, &seeds[round % seeds.len()]);
        let Ok(text) = std::str::from_utf8(&input) else { continue };
        let _ = lancall_hub::protocol::decode(text);
        let (mut client, mut rx) = hub.connect().unwrap();
        for frame in text.split('\n') {
            client.handle_text(frame);
        }
        while let Some(reply) = rx.try_recv() {
            let v: serde_json::Value = serde_json::from_str(reply.as_str()).expect("every reply is JSON");
            assert!(v["type"].is_string(), "{v}");
            replies += 1;
        }
    }
    assert!(replies > 10_000, "the inputs reached the hub ({replies} replies)");

    // The hub still works for a well-behaved client.
    let (mut good, mut rx) = hub.connect().unwrap();
    good.handle_text(r#"{"type":"join","room":"call","name":"Good"}"#);
    let welcome: serde_json::Value = serde_json::from_str(rx.try_recv().unwrap().as_str()).unwrap();
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(hub.stats().peers, 2, "only `other` and `Good` are in the room: every mutated client left when dropped");
}
