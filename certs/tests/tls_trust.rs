//! Real TLS over 127.0.0.1: who may connect to a host serving a leaf from the local CA.

mod common;

use common::*;
use lancall_certs::rustls::crypto::ring::sign::any_supported_type;
use lancall_certs::rustls::server::{ClientHello, ResolvesServerCert};
use lancall_certs::rustls::sign::CertifiedKey;
use lancall_certs::rustls::{CertificateError, Error as TlsError};
use lancall_certs::{
    client_config_pinned, client_config_trusting, find_cert_error, install_crypto_provider,
    server_config, Fingerprint, LeafNames, ReloadableCert, ALPN_HTTP11,
};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Serves one fixed chain, whatever it is (to play an impostor).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

async fn host_with(ca: &lancall_certs::Authority, names: &LeafNames) -> std::net::SocketAddr {
    let leaf = ca.issue_leaf(names).expect("leaf");
    let resolver = ReloadableCert::new(&leaf).expect("resolver");
    serve(server_config(resolver)).await
}

#[tokio::test]
async fn client_trusting_only_the_ca_connects_by_ip_and_exchanges_bytes() {
    let ca = new_ca();
    let addr = host_with(&ca, &lan_names()).await;
    let client = client_config_trusting(ca.ca_der()).expect("client config");
    let (reply, alpn) = exchange(addr, client, ip_name("127.0.0.1"), b"hello")
        .await
        .expect("connects");
    assert_eq!(reply, b"echo:hello");
    assert_eq!(
        alpn.as_deref(),
        Some(ALPN_HTTP11),
        "server negotiates http/1.1"
    );
}

#[tokio::test]
async fn client_trusting_another_ca_is_refused() {
    let ca = new_ca();
    let other = new_ca();
    let addr = host_with(&ca, &lan_names()).await;
    let client = client_config_trusting(other.ca_der()).expect("client config");
    let err = exchange(addr, client, ip_name("127.0.0.1"), b"hello")
        .await
        .expect_err("must be refused");
    assert!(
        matches!(
            rustls_error(&err),
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_pinned_fingerprint_is_refused_as_identity_changed() {
    let ca = new_ca();
    let addr = host_with(&ca, &lan_names()).await;
    let wrong = Fingerprint([0x42; 32]);
    let err = exchange(
        addr,
        client_config_pinned(wrong),
        ip_name("127.0.0.1"),
        b"x",
    )
    .await
    .expect_err("must be refused");
    let found = find_cert_error(&err).expect("a CertError inside the io::Error");
    assert!(found.is_identity_changed(), "{found}");
    let text = found.to_string();
    assert!(
        text.contains(
            "the host's identity changed: it did not present the certificate authority you pinned"
        ),
        "{text}"
    );
    assert!(
        text.contains(&wrong.to_string()),
        "names the pinned fingerprint: {text}"
    );

    // Another host's real CA fingerprint is just as wrong.
    let err = exchange(
        addr,
        client_config_pinned(new_ca().fingerprint()),
        ip_name("127.0.0.1"),
        b"x",
    )
    .await
    .expect_err("must be refused");
    assert!(find_cert_error(&err).is_some_and(|e| e.is_identity_changed()));
}

#[tokio::test]
async fn right_pinned_fingerprint_connects_by_every_name_of_the_leaf() {
    let ca = new_ca();
    let addr = host_with(&ca, &lan_names()).await;
    for name in [
        ip_name("127.0.0.1"),
        ip_name("::1"),
        ip_name("192.168.77.10"),
        dns_name("localhost"),
        dns_name("testhost.local"),
    ] {
        let (reply, _) = exchange(
            addr,
            client_config_pinned(ca.fingerprint()),
            name.clone(),
            b"hi",
        )
        .await
        .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(reply, b"echo:hi");
    }
}

#[tokio::test]
async fn pinned_client_dialling_a_name_the_leaf_lacks_is_refused() {
    let ca = new_ca();
    let addr = host_with(&ca, &lan_names()).await;
    for name in [ip_name("192.168.77.11"), dns_name("otherhost.local")] {
        let err = exchange(
            addr,
            client_config_pinned(ca.fingerprint()),
            name.clone(),
            b"x",
        )
        .await
        .expect_err("must be refused");
        assert!(
            matches!(
                rustls_error(&err),
                TlsError::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{name:?}: {err:?}"
        );
        assert!(
            find_cert_error(&err).is_none(),
            "not an identity change: {err}"
        );
    }
}

#[tokio::test]
async fn pinned_ca_presented_with_a_leaf_it_did_not_sign_is_refused() {
    // An impostor can copy the pinned CA certificate into its chain, but not sign with it.
    let ca = new_ca();
    let impostor = new_ca();
    let leaf = impostor.issue_leaf(&lan_names()).expect("leaf");
    let forged = vec![leaf.chain()[0].clone(), ca.ca_der()];
    let key = any_supported_type(leaf.key()).expect("key");
    let mut config = server_config(ReloadableCert::new(&leaf).expect("resolver"));
    config.cert_resolver = Arc::new(Fixed(Arc::new(CertifiedKey::new(forged, key))));
    let addr = serve(config).await;
    let err = exchange(
        addr,
        client_config_pinned(ca.fingerprint()),
        ip_name("127.0.0.1"),
        b"x",
    )
    .await
    .expect_err("must be refused");
    assert!(
        matches!(
            rustls_error(&err),
            TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            )
        ),
        "{err:?}"
    );
    assert!(
        find_cert_error(&err).is_none(),
        "the pinned CA was there: {err}"
    );
}

#[tokio::test]
async fn expired_leaf_is_refused_even_with_the_right_pin() {
    let ca = new_ca();
    let long_ago = OffsetDateTime::now_utc() - Duration::days(400);
    let leaf = ca.issue_leaf_at(&lan_names(), long_ago).expect("leaf");
    let addr = serve(server_config(ReloadableCert::new(&leaf).expect("resolver"))).await;
    let err = exchange(
        addr,
        client_config_pinned(ca.fingerprint()),
        ip_name("127.0.0.1"),
        b"x",
    )
    .await
    .expect_err("must be refused");
    assert!(
        matches!(
            rustls_error(&err),
            TlsError::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn reloadable_cert_swaps_the_leaf_without_restarting() {
    let ca = new_ca();
    let first = ca.issue_leaf(&lan_names()).expect("leaf");
    let resolver = ReloadableCert::new(&first).expect("resolver");
    let addr = serve(server_config(resolver.clone())).await;
    let moved = LeafNames::for_host(&[ip("10.20.30.40")], Some("testhost"));

    let err = exchange(
        addr,
        client_config_pinned(ca.fingerprint()),
        ip_name("10.20.30.40"),
        b"x",
    )
    .await
    .expect_err("old leaf lacks the new address");
    assert!(find_cert_error(&err).is_none());

    let second = ca.issue_leaf(&moved).expect("leaf");
    resolver.set(&second).expect("swap");
    let (reply, _) = exchange(
        addr,
        client_config_pinned(ca.fingerprint()),
        ip_name("10.20.30.40"),
        b"new",
    )
    .await
    .expect("new leaf served by the same listener");
    assert_eq!(reply, b"echo:new");
    assert_eq!(resolver.current().cert[0], second.chain()[0]);
}

#[tokio::test]
async fn server_presents_leaf_then_ca() {
    let ca = new_ca();
    let leaf = ca.issue_leaf(&lan_names()).expect("leaf");
    assert_eq!(leaf.chain().len(), 2);
    assert_eq!(leaf.chain()[1], ca.ca_der());
    let resolver = ReloadableCert::new(&leaf).expect("resolver");
    let addr = serve(server_config(resolver)).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config_pinned(ca.fingerprint())));
    let tls = connector
        .connect(ip_name("127.0.0.1"), tcp)
        .await
        .expect("tls");
    let presented = tls.get_ref().1.peer_certificates().expect("certs").to_vec();
    assert_eq!(presented, leaf.chain().to_vec());
}

#[test]
fn install_crypto_provider_is_idempotent() {
    install_crypto_provider();
    install_crypto_provider();
    assert!(lancall_certs::rustls::crypto::CryptoProvider::get_default().is_some());
    // The process default now lets plain builders work, as tokio-tungstenite's do.
    let _ = lancall_certs::rustls::ClientConfig::builder();
}
