//! The one maker of random ids in lancall's Rust: room tokens, peer ids, session ids, host ids
//! and stream ids are all 128 random bits as 32 lowercase hex characters (the web client's
//! `ui/js/lib/ids.js` makes its own the same way).

/// 128 bits from the operating system's generator, as 32 lowercase hex characters.
///
/// Tokens made here are secrets, so there is no weaker fallback: the OS generator only fails
/// on a broken system, and nothing in lancall can work safely without it (a panic is the
/// honest answer; it is a bug in the platform, not bad input).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_32_hex_characters_and_differ() {
        let (a, b) = (super::random_id(), super::random_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
        assert_ne!(a, b);
    }
}
