//! SHA-256 fingerprints of certificates.
//!
//! The CA's fingerprint is what joiners pin: it travels in join links, QR codes and mDNS TXT
//! records as 64 lowercase hex digits ([`Fingerprint::to_hex`]), and is shown to people in the
//! colon form browsers and `openssl x509 -fingerprint -sha256` use (`Display`), so that a person
//! can compare it with what their browser shows.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::CertError;

/// The SHA-256 digest of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// A fingerprint from its 32 digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }

    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits, no separators: the form for URLs, QR codes and mDNS TXT records.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
            out.push(char::from(HEX_LOWER[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Uppercase pairs separated by colons (`AB:CD:…`), as browsers and openssl show them.
    /// Same as `to_string()`.
    pub fn to_colon_hex(&self) -> String {
        let mut out = String::with_capacity(95);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
        out
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_colon_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Fingerprint {
    type Err = CertError;

    /// Accepts `to_hex()` form (64 hex digits) or the colon form (`AB:CD:…`, 32 pairs), in any
    /// letter case, with surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &'static str| {
            let mut input: String = s.chars().take(120).collect();
            if input.len() < s.len() {
                input.push('…');
            }
            CertError::InvalidFingerprint { input, reason }
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(fail("it is empty"));
        }
        let digits: Vec<u8> = if t.contains(':') {
            let pairs: Vec<&str> = t.split(':').collect();
            if pairs.len() != 32 {
                return Err(fail("the colon form needs exactly 32 pairs"));
            }
            if pairs.iter().any(|p| p.len() != 2) {
                return Err(fail("in the colon form every part must be two hex digits"));
            }
            pairs.concat().into_bytes()
        } else {
            t.as_bytes().to_vec()
        };
        if digits.len() != 64 {
            return Err(fail("a SHA-256 fingerprint has 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(fail("it contains characters that are not hex digits"));
            };
            out[i] = (hi << 4) | lo;
        }
        Ok(Fingerprint(out))
    }
}

/// Serialized as 64 lowercase hex digits, the form of join links, mDNS TXT records and `--json`.
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let fp = Fingerprint([0xab; 32]);
        assert_eq!(fp.to_hex(), "ab".repeat(32));
        assert_eq!(fp.to_string(), vec!["AB"; 32].join(":"));
    }
}
