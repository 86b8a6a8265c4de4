//! Fingerprints: the hex form (links, QR codes, mDNS TXT), the colon form (people), parsing.

mod common;

use std::process::Command;
use std::str::FromStr;

use common::new_ca;
use lancall_certs::{CertError, Fingerprint};
use sha2::{Digest, Sha256};

fn sample() -> Fingerprint {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(5);
    }
    Fingerprint(bytes)
}

#[test]
fn hex_form_is_64_lowercase_digits_and_round_trips() {
    let fp = sample();
    let hex = fp.to_hex();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{hex}"
    );
    assert_eq!(Fingerprint::from_str(&hex).expect("parse"), fp);
}

#[test]
fn colon_form_is_uppercase_pairs_and_round_trips() {
    let fp = sample();
    let human = fp.to_string();
    assert_eq!(human.len(), 95);
    assert_eq!(human, fp.to_colon_hex());
    assert!(
        human
            .split(':')
            .all(|p| p.len() == 2 && p == p.to_uppercase()),
        "{human}"
    );
    assert_eq!(human.parse::<Fingerprint>().expect("parse"), fp);
}

#[test]
fn parsing_ignores_case_and_surrounding_whitespace() {
    let fp = sample();
    assert_eq!(
        fp.to_hex()
            .to_uppercase()
            .parse::<Fingerprint>()
            .expect("upper hex"),
        fp
    );
    assert_eq!(
        fp.to_string()
            .to_lowercase()
            .parse::<Fingerprint>()
            .expect("lower colon"),
        fp
    );
    assert_eq!(
        format!("  {}\n", fp.to_hex())
            .parse::<Fingerprint>()
            .expect("trimmed"),
        fp
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let hex = sample().to_hex();
    let colon = sample().to_string();
    let cases = [
        String::new(),
        "   ".to_owned(),
        hex[..62].to_owned(),
        format!("{hex}00"),
        format!("{}zz", &hex[..62]),
        colon[..92].to_owned(),
        colon.replacen(':', "", 1),
        colon.replace(':', "-"),
        format!("{colon}:AB"),
        format!("{}:{}", &hex[..2], &hex[2..]),
        "sha256:".to_owned() + &hex,
        "é".repeat(32),
    ];
    for input in cases {
        match input.parse::<Fingerprint>() {
            Err(e @ CertError::InvalidFingerprint { .. }) => {
                let text = e.to_string();
                assert!(text.contains("is not a certificate fingerprint"), "{text}");
                assert!(text.contains("64 hexadecimal digits"), "{text}");
            }
            other => panic!("{input:?} gave {other:?}"),
        }
    }
    // Long junk is shortened in the message.
    let long = "x".repeat(10_000);
    let text = long.parse::<Fingerprint>().expect_err("junk").to_string();
    assert!(text.len() < 400, "{}", text.len());
}

#[test]
fn the_ca_fingerprint_is_sha256_of_its_der() {
    let ca = new_ca();
    let digest: [u8; 32] = Sha256::digest(ca.ca_der().as_ref()).into();
    assert_eq!(ca.fingerprint(), Fingerprint(digest));
    assert_eq!(ca.fingerprint().as_bytes(), &digest);

    // Same text as `openssl x509 -fingerprint -sha256`, which people compare against.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, ca.ca_pem()).expect("write");
    match Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&path)
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.trim().ends_with(&ca.fingerprint().to_string()),
                "{text}"
            );
        }
        _ => eprintln!("SKIPPED the openssl comparison: openssl is not installed"),
    }
}
