//! The data folder: the CA is made once and kept; the leaf is kept and reused until the names
//! change, it nears expiry, or the CA changes. Key files are private.

mod common;

use std::fs;

use common::*;
use lancall_certs::{
    Authority, CertError, LeafNames, CA_CERT_FILE, CA_KEY_FILE, LEAF_CERT_FILE, LEAF_KEY_FILE,
};
use time::{Duration, OffsetDateTime};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn key_files_are_mode_0600_and_a_new_data_folder_is_private() {
    let root = tempdir();
    let dir = root.path().join("data").join("lancall");
    let ca = Authority::load_or_create(&dir).expect("ca");
    ca.ensure_leaf(&dir, &lan_names()).expect("leaf");
    assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir.join(LEAF_KEY_FILE)), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let cert_mode = mode(&dir.join(CA_CERT_FILE));
    assert!(
        cert_mode & 0o400 != 0 && cert_mode & 0o022 == 0,
        "cert {cert_mode:o}"
    );
    // No temporary files left behind.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [CA_CERT_FILE, CA_KEY_FILE, LEAF_CERT_FILE, LEAF_KEY_FILE]
    );
}

#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_tightened_on_load() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    Authority::load_or_create(dir.path()).expect("ca");
    let key = dir.path().join(CA_KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    Authority::load_or_create(dir.path()).expect("reload");
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn the_ca_survives_a_reload() {
    let dir = tempdir();
    let first = Authority::load_or_create(dir.path()).expect("create");
    let second = Authority::load_or_create(dir.path()).expect("reload");
    assert_eq!(first.fingerprint(), second.fingerprint());
    assert_eq!(first.ca_der(), second.ca_der());
    assert_eq!(
        fs::read_to_string(dir.path().join(CA_CERT_FILE)).expect("read"),
        second.ca_pem()
    );
    // A leaf issued by the reloaded CA still chains to the first one's certificate.
    let leaf = second.issue_leaf(&lan_names()).expect("leaf");
    assert_eq!(leaf.chain()[1], first.ca_der());
}

#[test]
fn ca_export_pem_and_der_agree() {
    let ca = new_ca();
    use lancall_certs::rustls_pki_types::pem::PemObject;
    let from_pem =
        lancall_certs::rustls_pki_types::CertificateDer::from_pem_slice(ca.ca_pem().as_bytes())
            .expect("pem");
    assert_eq!(from_pem, ca.ca_der());
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(
        lancall_certs::Fingerprint::of(&ca.ca_der()),
        ca.fingerprint()
    );
}

#[test]
fn the_leaf_is_reused_when_the_names_are_unchanged() {
    let dir = tempdir();
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    let (first, issued) = ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    assert!(issued, "first start issues");
    let ca = Authority::load_or_create(dir.path()).expect("restart");
    let (second, issued) = ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    assert!(!issued, "restart reuses");
    assert_eq!(first.chain(), second.chain());
    assert_eq!(first.key().secret_der(), second.key().secret_der());
    assert_eq!(second.names(), &lan_names());
}

#[test]
fn the_leaf_is_reissued_after_an_address_change() {
    let dir = tempdir();
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    let (first, _) = ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    let moved = LeafNames::for_host(&[ip("10.0.5.7"), ip("fd00::7")], Some("TestHost"));
    let (second, issued) = ca.ensure_leaf(dir.path(), &moved).expect("leaf");
    assert!(issued);
    assert_ne!(first.fingerprint(), second.fingerprint());
    // The new certificate itself (parsed from its DER, as stored) names the new addresses.
    let stored = lancall_certs::Leaf::load_pem_files(
        &dir.path().join(LEAF_CERT_FILE),
        &dir.path().join(LEAF_KEY_FILE),
    )
    .expect("stored leaf");
    assert_eq!(stored.chain()[0], second.chain()[0]);
    assert!(stored.names().contains_ip(ip("10.0.5.7")));
    assert!(stored.names().contains_ip(ip("fd00::7")));
    assert!(!stored.names().contains_ip(ip("192.168.77.10")));
    assert!(stored.names().contains_dns("testhost.local"));
    // And it is stable again afterwards.
    let (_, issued) = ca.ensure_leaf(dir.path(), &moved).expect("leaf");
    assert!(!issued);
}

#[test]
fn the_leaf_is_reissued_when_near_expiry() {
    let dir = tempdir();
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    let now = OffsetDateTime::now_utc();
    let (first, _) = ca
        .ensure_leaf_at(dir.path(), &lan_names(), now)
        .expect("leaf");
    assert!(first.not_after() - first.not_before() <= Duration::days(397));
    let stored = lancall_certs::Leaf::load_pem_files(
        &dir.path().join(LEAF_CERT_FILE),
        &dir.path().join(LEAF_KEY_FILE),
    )
    .expect("stored leaf");
    assert_eq!(
        (stored.not_before(), stored.not_after()),
        (first.not_before(), first.not_after())
    );
    let (_, issued) = ca
        .ensure_leaf_at(dir.path(), &lan_names(), now + Duration::days(300))
        .expect("leaf");
    assert!(!issued, "97 days left is plenty");
    let later = now + Duration::days(368); // 397 - 1 h - 368 d < 30 days left
    let (second, issued) = ca
        .ensure_leaf_at(dir.path(), &lan_names(), later)
        .expect("leaf");
    assert!(issued, "under 30 days left");
    assert!(second.not_after() > later + Duration::days(390));
    assert_ne!(first.fingerprint(), second.fingerprint());
}

#[test]
fn the_leaf_is_reissued_when_the_ca_was_replaced() {
    let dir = tempdir();
    let old = Authority::load_or_create(dir.path()).expect("ca");
    let (first, _) = old.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    fs::remove_file(dir.path().join(CA_CERT_FILE)).expect("rm");
    fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("rm");
    let new = Authority::load_or_create(dir.path()).expect("new ca");
    assert_ne!(old.fingerprint(), new.fingerprint());
    let (second, issued) = new.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    assert!(issued, "old leaf is not signed by the new CA");
    assert_ne!(first.fingerprint(), second.fingerprint());
    assert_eq!(second.chain()[1], new.ca_der());
}

#[test]
fn a_damaged_or_mismatched_leaf_is_replaced() {
    let dir = tempdir();
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    fs::write(dir.path().join(LEAF_CERT_FILE), "garbage").expect("write");
    let (_, issued) = ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    assert!(issued);

    // A key from another leaf (e.g. an interrupted write): detected, replaced.
    let stray = ca.issue_leaf(&lan_names()).expect("leaf");
    fs::write(dir.path().join(LEAF_KEY_FILE), stray.key_pem()).expect("write");
    let (leaf, issued) = ca.ensure_leaf(dir.path(), &lan_names()).expect("leaf");
    assert!(issued);
    lancall_certs::ReloadableCert::new(&leaf).expect("the new pair matches");
}

#[test]
fn an_expired_ca_is_replaced() {
    let dir = tempdir();
    let old = Authority::load_or_create(dir.path()).expect("ca");
    let future = OffsetDateTime::now_utc() + Duration::days(3660);
    let new = Authority::load_or_create_at(dir.path(), future).expect("ca");
    assert_ne!(old.fingerprint(), new.fingerprint());
    // A leaf near the CA's end does not outlive it.
    let ca = Authority::load_or_create(tempdir().path()).expect("ca");
    let leaf = ca
        .issue_leaf_at(&lan_names(), ca.not_after() - Duration::days(10))
        .expect("leaf");
    assert_eq!(leaf.not_after(), ca.not_after());
}

#[test]
fn a_ca_certificate_without_its_key_is_an_error_naming_both_files() {
    let dir = tempdir();
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("rm");
    let err = Authority::load_or_create(dir.path()).expect_err("must not silently replace");
    assert!(matches!(err, CertError::CaKeyMissing { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&dir.path().join(CA_CERT_FILE).display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&dir.path().join(CA_KEY_FILE).display().to_string()),
        "{text}"
    );
    // The certificate was left alone.
    assert_eq!(
        fs::read_to_string(dir.path().join(CA_CERT_FILE)).expect("read"),
        ca.ca_pem()
    );
}

#[test]
fn a_damaged_ca_is_an_error_not_silently_replaced() {
    let dir = tempdir();
    Authority::load_or_create(dir.path()).expect("ca");
    fs::write(
        dir.path().join(CA_KEY_FILE),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let err = Authority::load_or_create(dir.path()).expect_err("damaged");
    assert!(matches!(err, CertError::CorruptCa { .. }), "{err:?}");
    assert!(err.to_string().contains("ca.key"), "{err}");

    // A key from another CA.
    let other = tempdir();
    Authority::load_or_create(other.path()).expect("ca");
    fs::copy(other.path().join(CA_KEY_FILE), dir.path().join(CA_KEY_FILE)).expect("copy");
    let err = Authority::load_or_create(dir.path()).expect_err("mismatch");
    assert!(matches!(err, CertError::CaKeyMismatch { .. }), "{err:?}");
}

#[test]
fn a_leftover_ca_key_without_certificate_is_replaced() {
    let dir = tempdir();
    fs::write(dir.path().join(CA_KEY_FILE), "interrupted first start").expect("write");
    let ca = Authority::load_or_create(dir.path()).expect("ca");
    assert_eq!(
        Authority::load_or_create(dir.path())
            .expect("reload")
            .fingerprint(),
        ca.fingerprint()
    );
}

#[cfg(unix)]
#[test]
fn an_unwritable_data_folder_gives_an_actionable_error() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempdir();
    let dir = root.path().join("ro");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).expect("chmod");
    if fs::write(dir.join("probe"), b"x").is_ok() {
        eprintln!("SKIPPED: running with privileges that ignore folder permissions (root?)");
        return;
    }
    let err = Authority::load_or_create(&dir).expect_err("cannot write");
    let text = err.to_string();
    assert!(text.starts_with("could not write the CA key to "), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(
        text.contains("check that the data folder is writable"),
        "{text}"
    );
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod back");
}

#[test]
fn a_data_folder_that_cannot_be_created_is_named_in_the_error() {
    let root = tempdir();
    let file = root.path().join("not-a-folder");
    fs::write(&file, b"x").expect("write");
    let dir = file.join("lancall");
    let err = Authority::load_or_create(&dir).expect_err("cannot create");
    let text = err.to_string();
    assert!(matches!(err, CertError::Io { .. }), "{err:?}");
    assert!(
        text.starts_with(&format!(
            "could not create the data folder {}: ",
            dir.display()
        )),
        "{text}"
    );
    assert!(
        text.ends_with("part of this path is a file, not a folder; choose another data folder"),
        "{text}"
    );
}
