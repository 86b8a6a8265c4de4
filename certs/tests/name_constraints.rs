//! The CA's name constraints: a leaf for a public name, even signed by the CA, is refused by
//! standard verifiers (rustls/webpki here, and openssl when it is installed). This is what makes
//! installing the CA on a phone harmless for public sites.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use lancall_certs::rustls::client::danger::ServerCertVerifier;
use lancall_certs::rustls::client::WebPkiServerVerifier;
use lancall_certs::rustls::{CertificateError, Error as TlsError, RootCertStore};
use lancall_certs::rustls_pki_types::{ServerName, UnixTime};
use lancall_certs::{
    client_config_trusting, server_config, Authority, Leaf, LeafNames, ReloadableCert,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};

fn standard_verifier(ca: &Authority) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.ca_der()).expect("root");
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(lancall_certs::rustls::crypto::ring::default_provider()),
    )
    .build()
    .expect("verifier")
}

fn verify(ca: &Authority, leaf: &Leaf, name: &ServerName<'_>) -> Result<(), TlsError> {
    standard_verifier(ca)
        .verify_server_cert(
            &leaf.chain()[0],
            &leaf.chain()[1..],
            name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

fn assert_name_constraint_violation(result: Result<(), TlsError>) {
    match result {
        Err(TlsError::InvalidCertificate(CertificateError::Other(other))) => {
            let inner: &(dyn std::error::Error + 'static) = &*other.0;
            assert_eq!(
                inner.downcast_ref::<webpki::Error>(),
                Some(&webpki::Error::NameConstraintViolation),
                "{other:?}"
            );
        }
        other => panic!("expected a name-constraint violation, got {other:?}"),
    }
}

fn public_names() -> LeafNames {
    LeafNames::new([ip("8.8.8.8")], ["example.com"])
}

#[test]
fn lan_leaf_passes_the_standard_verifier() {
    let ca = new_ca();
    let leaf = ca.issue_leaf(&lan_names()).expect("leaf");
    for name in [
        ip_name("192.168.77.10"),
        ip_name("::1"),
        dns_name("localhost"),
        dns_name("testhost.local"),
    ] {
        verify(&ca, &leaf, &name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
    }
    // Every permitted range at once, IPv6 unique-local and link-local included.
    let wide = LeafNames::for_host(
        &[
            ip("10.1.1.1"),
            ip("172.16.5.5"),
            ip("169.254.3.3"),
            ip("fd00::5"),
            ip("fe80::1234"),
        ],
        Some("h"),
    );
    let leaf = ca.issue_leaf(&wide).expect("leaf");
    verify(&ca, &leaf, &ip_name("fd00::5")).expect("all permitted");
}

#[test]
fn public_leaf_signed_by_the_ca_is_refused_for_its_name_constraints() {
    let ca = new_ca();
    let leaf = ca
        .issue_leaf(&public_names())
        .expect("rcgen signs anything");
    assert_name_constraint_violation(verify(&ca, &leaf, &ip_name("8.8.8.8")));
    assert_name_constraint_violation(verify(&ca, &leaf, &dns_name("example.com")));
}

#[test]
fn one_public_name_among_private_ones_spoils_the_leaf() {
    let ca = new_ca();
    let mixed = LeafNames::new([ip("192.168.1.2"), ip("2001:db8::1")], ["localhost"]);
    let leaf = ca.issue_leaf(&mixed).expect("leaf");
    assert_name_constraint_violation(verify(&ca, &leaf, &ip_name("192.168.1.2")));
    let dns = LeafNames::new([ip("192.168.1.2")], ["localhost", "bank.example"]);
    let leaf = ca.issue_leaf(&dns).expect("leaf");
    assert_name_constraint_violation(verify(&ca, &leaf, &dns_name("localhost")));
}

#[tokio::test]
async fn public_leaf_is_refused_over_real_tls() {
    let ca = new_ca();
    let leaf = ca.issue_leaf(&public_names()).expect("leaf");
    let addr = serve(server_config(ReloadableCert::new(&leaf).expect("resolver"))).await;
    // Connects to 127.0.0.1; "example.com" is only the name the client checks.
    let err = exchange(
        addr,
        client_config_trusting(ca.ca_der()).expect("config"),
        dns_name("example.com"),
        b"x",
    )
    .await
    .expect_err("must be refused");
    assert_name_constraint_violation(Err(rustls_error(&err).clone()));
}

#[test]
fn ca_and_leaf_carry_the_required_extensions() {
    let ca = new_ca();
    let ca_der = ca.ca_der();
    let (_, cert) = x509_parser::parse_x509_certificate(&ca_der).expect("parse CA");
    let bc = cert
        .basic_constraints()
        .expect("bc")
        .expect("present")
        .value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    let ku = cert.key_usage().expect("ku").expect("present").value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature());
    let subject = cert.subject().to_string();
    assert!(subject.contains("CN=lancall local CA"), "{subject}");
    assert!(subject.contains("O=lancall"), "{subject}");
    let nc = cert.name_constraints().expect("nc").expect("present").value;
    assert!(nc.excluded_subtrees.is_none());
    let mut permitted = Vec::new();
    for subtree in nc.permitted_subtrees.as_ref().expect("permitted") {
        permitted.push(match &subtree.base {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => format!("{b:02x?}"),
            other => panic!("unexpected subtree {other:?}"),
        });
    }
    assert_eq!(permitted.len(), 10, "{permitted:?}");
    assert!(permitted.contains(&"local".to_owned()) && permitted.contains(&"localhost".to_owned()));
    assert!(permitted.contains(&format!("{:02x?}", [10u8, 0, 0, 0, 255, 0, 0, 0])));
    assert!(permitted.contains(&format!("{:02x?}", [172u8, 16, 0, 0, 255, 240, 0, 0])));
    let validity = cert.validity().time_to_expiration().expect("valid now");
    assert!(
        validity.whole_days() >= 3640 && validity.whole_days() <= 3650,
        "{validity}"
    );
    let alg = cert.public_key().algorithm.algorithm.to_id_string();
    assert_eq!(alg, "1.2.840.10045.2.1", "ECDSA key");

    let leaf = ca.issue_leaf(&lan_names()).expect("leaf");
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf.chain()[0]).expect("parse leaf");
    assert!(!cert.is_ca());
    let eku = cert
        .extended_key_usage()
        .expect("eku")
        .expect("present")
        .value;
    assert!(eku.server_auth);
    let lifetime =
        cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime();
    assert!(lifetime <= time::Duration::days(397), "{lifetime}");
    let backdate = time::OffsetDateTime::now_utc() - cert.validity().not_before.to_datetime();
    assert!(backdate >= time::Duration::minutes(59) && backdate <= time::Duration::minutes(61));
    let mut sans = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for n in &san.general_names {
                sans.push(match n {
                    GeneralName::IPAddress(b) if b.len() == 4 => {
                        std::net::IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")).to_string()
                    }
                    GeneralName::IPAddress(b) => {
                        std::net::IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6")).to_string()
                    }
                    GeneralName::DNSName(d) => d.to_string(),
                    other => format!("{other:?}"),
                });
            }
        }
    }
    sans.sort();
    assert_eq!(
        sans,
        [
            "127.0.0.1",
            "192.168.77.10",
            "::1",
            "localhost",
            "testhost.local"
        ]
    );
}

fn openssl_verify(dir: &Path, ca: &Authority, leaf: &Leaf) -> (bool, String) {
    let ca_path = dir.join("ca.pem");
    let leaf_path = dir.join("leaf.pem");
    std::fs::write(&ca_path, ca.ca_pem()).expect("write");
    // Only the end-entity certificate: the CA must come from -CAfile.
    let chain = leaf.chain_pem();
    let end = "-----END CERTIFICATE-----\n";
    let first = &chain[..chain.find(end).expect("pem") + end.len()];
    std::fs::write(&leaf_path, first).expect("write");
    let out = Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(&ca_path)
        .arg(&leaf_path)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openssl_verify_rejects_the_public_leaf_and_accepts_the_lan_leaf() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl is not installed; the rustls checks above still ran");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = new_ca();
    let (ok, text) = openssl_verify(dir.path(), &ca, &ca.issue_leaf(&lan_names()).expect("leaf"));
    assert!(ok, "openssl accepts the LAN leaf: {text}");
    let (ok, text) = openssl_verify(
        dir.path(),
        &ca,
        &ca.issue_leaf(&public_names()).expect("leaf"),
    );
    assert!(!ok, "openssl must refuse the public leaf: {text}");
    assert!(text.contains("permitted subtree violation"), "{text}");
}
