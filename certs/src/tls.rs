//! rustls glue: the server's swappable certificate, and the two ways a client decides to trust a
//! host (pinning the CA's fingerprint, or trusting one CA certificate).
//!
//! Everything here uses rustls's ring provider explicitly rather than the process default, so it
//! works whether or not [`install_crypto_provider`] ran, and never pulls in aws-lc.

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{CertError, Fingerprint, Leaf};

/// The ALPN protocol the host speaks (HTTP/1.1, which WebSocket upgrades need).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// rustls's ring provider, built once.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Installs rustls's ring provider as the process-wide default, for code (tokio-tungstenite,
/// `ServerConfig::builder()`) that asks for the default. Safe to call many times; if some
/// provider is already installed it is left alone.
pub fn install_crypto_provider() {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        log::debug!("a rustls crypto provider was already installed");
    }
}

/// Parses the key with the ring provider and checks it against the chain's first certificate.
pub(crate) fn certified_key(
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<CertifiedKey, rustls::Error> {
    CertifiedKey::from_der(chain.to_vec(), key.clone_key(), &provider())
}

/// The server's certificate, swappable while the server runs: when the host's addresses change,
/// it issues a new leaf and calls [`ReloadableCert::set`]; new connections get the new leaf,
/// open ones keep theirs, and nothing restarts.
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// A resolver serving `leaf`.
    pub fn new(leaf: &Leaf) -> Result<Arc<ReloadableCert>, CertError> {
        Ok(Arc::new(ReloadableCert {
            current: RwLock::new(Arc::new(certified_key(leaf.chain(), leaf.key())?)),
        }))
    }

    /// Serves `leaf` from now on.
    pub fn set(&self, leaf: &Leaf) -> Result<(), CertError> {
        let next = Arc::new(certified_key(leaf.chain(), leaf.key())?);
        // A panic while holding this lock cannot leave the Arc half-written; carry on.
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }

    /// The chain and key being served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        let fp = current.cert.first().map(|c| Fingerprint::of(c));
        f.debug_struct("ReloadableCert")
            .field("leaf", &fp)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadableCert {
    /// The same certificate whatever the SNI: joiners mostly dial IP addresses, which send none.
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, ring, ALPN `http/1.1`, no client
/// certificates) presenting whatever `resolver` holds.
pub fn server_config(resolver: Arc<ReloadableCert>) -> ServerConfig {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        // The ring provider supports both default protocol versions; this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config
}

/// Verifies a host by its CA's pinned fingerprint, learned from a join link, QR code or mDNS.
///
/// A host passes only if the chain it presents contains a certificate whose SHA-256 is the
/// pinned fingerprint, AND its leaf chains to that certificate under the normal webpki rules
/// (signatures, validity, the CA's name constraints, serverAuth), AND the leaf names the
/// address or name that was dialled. The pin replaces the system roots, it does not weaken the
/// checks: a leaf for another address, or an expired one, is still refused.
///
/// When the pinned CA is missing the error is [`CertError::IdentityChanged`] wrapped in
/// `rustls::Error::InvalidCertificate(CertificateError::Other(..))`; use
/// [`find_cert_error`](crate::find_cert_error) to tell it apart from chain or name failures
/// (which are rustls's usual `CertificateError`s).
#[derive(Debug)]
pub struct PinnedCaVerifier {
    pinned: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl PinnedCaVerifier {
    /// A verifier pinning `ca`.
    pub fn new(ca: Fingerprint) -> PinnedCaVerifier {
        PinnedCaVerifier {
            pinned: ca,
            provider: provider(),
        }
    }

    /// The pinned CA fingerprint.
    pub fn pinned(&self) -> Fingerprint {
        self.pinned
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|c| Fingerprint::of(c) == self.pinned)
        else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(CertError::IdentityChanged {
                    pinned: self.pinned,
                })),
            )));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("pinned CA unusable: {e}")))?;
        let others: Vec<CertificateDer<'_>> =
            intermediates.iter().filter(|c| *c != ca).cloned().collect();
        verifier.verify_server_cert(end_entity, &others, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Accepts any certificate (the handshake's signatures are still checked): for the subnet
/// scan's probe, which asks an unknown host what it is. What it learns is pinned only when the
/// person joins, through [`PinnedCaVerifier`].
#[derive(Debug)]
struct AnyCertificate(PinnedCaVerifier);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A client configuration that accepts any host's certificate, for the subnet scan's probe
/// only (nothing secret is sent on it; joining pins the CA with [`client_config_pinned`]).
pub fn client_config_probe() -> ClientConfig {
    client_builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(PinnedCaVerifier::new(Fingerprint([0; 32])))))
        .with_no_client_auth()
}

fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        // The ring provider supports both default protocol versions; this cannot fail.
        .expect("the ring provider supports TLS 1.2 and 1.3")
}

/// A client configuration that trusts a host only through [`PinnedCaVerifier`] with `ca`
/// (ALPN `http/1.1`). This is how the app joins another host.
pub fn client_config_pinned(ca: Fingerprint) -> ClientConfig {
    let mut config = client_builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCaVerifier::new(ca)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config
}

/// A client configuration whose only root is `ca`, with rustls's standard verifier (ALPN
/// `http/1.1`). Equivalent to a browser that installed the CA.
pub fn client_config_trusting(ca: CertificateDer<'static>) -> Result<ClientConfig, CertError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(|e| CertError::BadCaCertificate {
        reason: e.to_string(),
    })?;
    let mut config = client_builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(config)
}
