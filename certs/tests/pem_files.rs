//! Loading a certificate and key from elsewhere (`--tls-cert FILE --tls-key FILE`).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use lancall_certs::{CertError, Leaf, ReloadableCert, LEAF_CERT_FILE, LEAF_KEY_FILE};

fn assert_names(err: &CertError, files: &[&Path]) {
    let text = err.to_string();
    for f in files {
        assert!(
            text.contains(&f.display().to_string()),
            "{text:?} should name {}",
            f.display()
        );
    }
}

#[test]
fn a_written_leaf_loads_back_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = new_ca().issue_leaf(&lan_names()).expect("leaf");
    leaf.write_to(dir.path()).expect("write");
    let loaded = Leaf::load_pem_files(
        &dir.path().join(LEAF_CERT_FILE),
        &dir.path().join(LEAF_KEY_FILE),
    )
    .expect("load");
    assert_eq!(loaded.chain(), leaf.chain());
    assert_eq!(loaded.key().secret_der(), leaf.key().secret_der());
    assert_eq!(loaded.names(), leaf.names());
    assert_eq!(loaded.not_after(), leaf.not_after());
    assert!(leaf.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(format!("{leaf:?}").contains("Leaf"));
    assert!(
        !format!("{leaf:?}").contains("PRIVATE"),
        "Debug never shows the key"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = new_ca().issue_leaf(&lan_names()).expect("leaf");
    leaf.write_to(dir.path()).expect("write");
    let cert = dir.path().join(LEAF_CERT_FILE);
    let missing = dir.path().join("nope.pem");

    let err = Leaf::load_pem_files(&missing, &dir.path().join(LEAF_KEY_FILE)).expect_err("no cert");
    assert!(matches!(err, CertError::Io { .. }), "{err:?}");
    assert_names(&err, &[&missing]);
    assert!(
        err.to_string()
            .starts_with("could not read the certificate file"),
        "{err}"
    );

    let err = Leaf::load_pem_files(&cert, &missing).expect_err("no key");
    assert_names(&err, &[&missing]);
    assert!(
        err.to_string().starts_with("could not read the key file"),
        "{err}"
    );
}

#[test]
fn files_without_the_expected_pem_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = new_ca().issue_leaf(&lan_names()).expect("leaf");
    leaf.write_to(dir.path()).expect("write");
    let cert = dir.path().join(LEAF_CERT_FILE);
    let key = dir.path().join(LEAF_KEY_FILE);
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "just some text\n").expect("write");

    let err = Leaf::load_pem_files(&empty, &key).expect_err("no cert");
    assert!(matches!(err, CertError::NoCertificate { .. }), "{err:?}");
    assert_names(&err, &[&empty]);

    let err = Leaf::load_pem_files(&cert, &empty).expect_err("no key");
    assert!(matches!(err, CertError::NoPrivateKey { .. }), "{err:?}");
    assert_names(&err, &[&empty]);

    // Swapped flags get a hint.
    let err = Leaf::load_pem_files(&key, &cert).expect_err("swapped");
    assert_names(&err, &[&key]);
    assert!(err.to_string().contains("swapped"), "{err}");

    let broken = dir.path().join("broken.pem");
    fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let err = Leaf::load_pem_files(&broken, &key).expect_err("bad base64");
    assert!(matches!(err, CertError::BadPem { .. }), "{err:?}");
    assert_names(&err, &[&broken]);

    let junk_der = dir.path().join("junk.pem");
    fs::write(
        &junk_der,
        "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let err = Leaf::load_pem_files(&junk_der, &key).expect_err("not x509");
    assert!(matches!(err, CertError::BadCertificate { .. }), "{err:?}");
    assert_names(&err, &[&junk_der]);
}

#[test]
fn a_key_that_does_not_match_the_certificate_names_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = new_ca();
    ca.issue_leaf(&lan_names())
        .expect("leaf")
        .write_to(dir.path())
        .expect("write");
    let other_key = dir.path().join("other.key");
    fs::write(
        &other_key,
        ca.issue_leaf(&lan_names()).expect("leaf").key_pem(),
    )
    .expect("write");
    let cert = dir.path().join(LEAF_CERT_FILE);
    let err = Leaf::load_pem_files(&cert, &other_key).expect_err("mismatch");
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    assert_names(&err, &[&cert, &other_key]);
}

fn openssl(args: &[&str], dir: &Path) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn sec1_and_rsa_keys_from_other_tools_load() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl is not installed, cannot make SEC1/RSA keys");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let req = |key: &str, cert: &str| {
        openssl(
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                key,
                "-out",
                cert,
                "-days",
                "30",
                "-subj",
                "/CN=example.com",
                "-addext",
                "subjectAltName=DNS:example.com,DNS:www.example.com",
            ],
            d,
        )
    };
    // SEC1 ("EC PRIVATE KEY").
    assert!(openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key"
        ],
        d
    ));
    assert!(req("ec.key", "ec.crt"));
    assert!(fs::read_to_string(d.join("ec.key"))
        .expect("read")
        .contains("BEGIN EC PRIVATE KEY"));
    let leaf = Leaf::load_pem_files(&d.join("ec.crt"), &d.join("ec.key")).expect("SEC1 key loads");
    assert!(leaf.names().contains_dns("www.example.com"));
    assert!(leaf.key_pem().starts_with("-----BEGIN EC PRIVATE KEY-----"));
    ReloadableCert::new(&leaf).expect("servable");

    // PKCS#1 ("RSA PRIVATE KEY").
    assert!(
        openssl(&["genrsa", "-traditional", "-out", "rsa.key", "2048"], d)
            || openssl(&["genrsa", "-out", "rsa.key", "2048"], d)
    );
    assert!(req("rsa.key", "rsa.crt"));
    let leaf = Leaf::load_pem_files(&d.join("rsa.crt"), &d.join("rsa.key")).expect("RSA key loads");
    assert!(leaf.names().contains_dns("example.com"));
    ReloadableCert::new(&leaf).expect("servable");

    // An encrypted key gets a hint rather than a parse error.
    assert!(openssl(
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "ec.key",
            "-out",
            "enc.key",
            "-passout",
            "pass:secret"
        ],
        d
    ));
    let err = Leaf::load_pem_files(&d.join("ec.crt"), &d.join("enc.key")).expect_err("encrypted");
    assert!(err.to_string().contains("encrypted"), "{err}");
}
