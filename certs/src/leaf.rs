//! The certificate (with its chain) and key the server presents.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

use crate::store::{self, Secrecy};
use crate::{CertError, Fingerprint, LeafNames};

/// File name of the persisted leaf chain (leaf first, then the CA), PEM.
pub const LEAF_CERT_FILE: &str = "leaf.crt";
/// File name of the persisted leaf key, PKCS#8 PEM, mode 0600.
pub const LEAF_KEY_FILE: &str = "leaf.key";

/// A server certificate chain and its private key: either issued by the local
/// [`Authority`](crate::Authority) or loaded from PEM files (`--tls-cert` / `--tls-key`).
pub struct Leaf {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) names: LeafNames,
}

impl Clone for Leaf {
    fn clone(&self) -> Self {
        Leaf {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            not_before: self.not_before,
            not_after: self.not_after,
            names: self.names.clone(),
        }
    }
}

impl fmt::Debug for Leaf {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("names", &self.names.to_string())
            .finish_non_exhaustive()
    }
}

/// What one certificate says about itself, as far as this crate cares.
pub(crate) struct CertInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub names: LeafNames,
}

/// Reads validity and subject alternative names out of a DER certificate.
pub(crate) fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names = LeafNames::default();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subject alternative names: {e}"))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => names.insert_dns(d),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        names.insert_ip(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.insert_ip(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        names,
    })
}

impl Leaf {
    /// Builds a leaf from a DER chain (end-entity first) and its key, checking that the key
    /// belongs to the certificate and can sign. `cert_path` and `key_path` only name the
    /// sources in errors.
    pub(crate) fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Leaf, CertError> {
        let first = chain.first().ok_or_else(|| CertError::NoCertificate {
            path: cert_path.to_path_buf(),
            hint: "",
        })?;
        let info = cert_info(first).map_err(|reason| CertError::BadCertificate {
            path: cert_path.to_path_buf(),
            reason,
        })?;
        crate::tls::certified_key(&chain, &key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            },
            other => CertError::BadKey {
                path: key_path.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
        Ok(Leaf {
            chain,
            key,
            not_before: info.not_before,
            not_after: info.not_after,
            names: info.names,
        })
    }

    /// Loads a certificate chain and key from PEM files, e.g. a public domain's certificate for
    /// the host's `--tls-cert FILE --tls-key FILE`. The certificate file holds the end-entity
    /// certificate first, then any intermediates (the usual `fullchain.pem`); the key may be
    /// PKCS#8, SEC1 or PKCS#1 (RSA). Errors name the file at fault.
    pub fn load_pem_files(cert: &Path, key: &Path) -> Result<Leaf, CertError> {
        let cert_bytes = std::fs::read(cert)
            .map_err(|e| CertError::io("read the certificate file", cert, e, false))?;
        let chain = CertificateDer::pem_slice_iter(&cert_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CertError::BadPem {
                path: cert.to_path_buf(),
                label: "CERTIFICATE",
                source,
            })?;
        if chain.is_empty() {
            let hint = if contains(&cert_bytes, b"PRIVATE KEY-----") {
                " — it holds a private key: are the certificate and key files swapped?"
            } else {
                " — expected a PEM file with \"-----BEGIN CERTIFICATE-----\" blocks"
            };
            return Err(CertError::NoCertificate {
                path: cert.to_path_buf(),
                hint,
            });
        }
        let key_bytes =
            std::fs::read(key).map_err(|e| CertError::io("read the key file", key, e, false))?;
        let private = match PrivateKeyDer::from_pem_slice(&key_bytes) {
            Ok(k) => k,
            Err(rustls_pki_types::pem::Error::NoItemsFound) => {
                let hint = if contains(&key_bytes, b"BEGIN CERTIFICATE") {
                    " — it holds a certificate: are the certificate and key files swapped?"
                } else if contains(&key_bytes, b"ENCRYPTED PRIVATE KEY") {
                    " — the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)"
                } else {
                    " — expected \"-----BEGIN PRIVATE KEY-----\", \"EC PRIVATE KEY\" or \
                     \"RSA PRIVATE KEY\""
                };
                return Err(CertError::NoPrivateKey {
                    path: key.to_path_buf(),
                    hint,
                });
            }
            Err(source) => {
                return Err(CertError::BadPem {
                    path: key.to_path_buf(),
                    label: "PRIVATE KEY",
                    source,
                })
            }
        };
        Leaf::from_parts(chain, private, cert, key)
    }

    /// The chain the server presents: end-entity first (for a local leaf: `[leaf, CA]`).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The end-entity certificate.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        // `from_parts` and the issuer never build an empty chain.
        &self.chain[0]
    }

    /// The private key (DER).
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// Start of validity (for local leaves, one hour before issue, for clock skew).
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The names the end-entity certificate carries.
    pub fn names(&self) -> &LeafNames {
        &self.names
    }

    /// SHA-256 of the end-entity certificate (not the CA's: joiners pin the CA's).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.cert_der())
    }

    /// The chain as concatenated PEM `CERTIFICATE` blocks.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| store::pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// The key as PEM, with the label matching its encoding (`PRIVATE KEY` for PKCS#8).
    pub fn key_pem(&self) -> String {
        let label = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        store::pem_encode(label, self.key.secret_der())
    }

    /// Writes `leaf.key` (mode 0600) and `leaf.crt` into `dir`, each atomically, creating `dir`
    /// if needed. The key goes first: if the process dies in between, the next start sees a key
    /// that does not match the certificate and issues a fresh leaf.
    pub fn write_to(&self, dir: &Path) -> Result<(), CertError> {
        store::ensure_dir(dir)?;
        let (cert_path, key_path) = leaf_paths(dir);
        store::write_atomic(
            &key_path,
            self.key_pem().as_bytes(),
            Secrecy::Secret,
            "write the certificate key to",
        )?;
        store::write_atomic(
            &cert_path,
            self.chain_pem().as_bytes(),
            Secrecy::Public,
            "write the certificate to",
        )
    }
}

/// `(leaf.crt, leaf.key)` in `dir`.
pub(crate) fn leaf_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(LEAF_CERT_FILE), dir.join(LEAF_KEY_FILE))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
