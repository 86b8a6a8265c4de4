//! The one error type of this crate.
//!
//! Every message names the file involved (when there is one) and says what a person can do about
//! it, because these errors end up in front of whoever runs the host: in a terminal, a log, or
//! the app's error banner.

use std::io;
use std::path::{Path, PathBuf};

use crate::Fingerprint;

/// Everything that can go wrong while making, loading, storing or checking certificates.
///
/// `Debug` prints the same message as `Display`: rustls shows the error inside
/// `CertificateError::Other` with `Debug`, and a person reading "invalid peer certificate: …"
/// should see the explanation, not a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Reading or writing a file failed (permission denied, disk full, read-only file system…).
    /// `action` says what was being done, e.g. "write the CA key to".
    #[error("could not {action} {}: {source}{hint}", path.display())]
    Io {
        /// What was being done, phrased to follow "could not".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
        /// Advice that fits the error, starting with " — ", or empty.
        hint: &'static str,
    },

    /// rcgen refused to build a key or certificate. This points at a bug or a name that cannot be
    /// put in a certificate, not at the environment.
    #[error("could not generate the {what}: {source}")]
    Generate {
        /// What was being generated ("CA key", "leaf certificate", …).
        what: &'static str,
        /// rcgen's error.
        source: rcgen::Error,
    },

    /// The stored CA certificate or key cannot be read as one. The CA is not replaced silently,
    /// because every device that installed or pinned it would stop trusting this host.
    #[error(
        "{} does not hold a usable lancall CA ({reason}) — restore it from a backup, or move \
         ca.crt and ca.key out of {} to make a new CA (devices that installed or pinned the old \
         one will then need the new one)",
        path.display(), dir.display()
    )]
    CorruptCa {
        /// The unreadable file.
        path: PathBuf,
        /// The data folder.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The CA certificate exists but its key does not, so no new leaf can be signed.
    #[error(
        "the CA certificate {} exists but its key {} is missing — restore the key, or move {} \
         away to make a new CA (devices that installed or pinned the old one will then need the \
         new one)",
        cert.display(), key.display(), cert.display()
    )]
    CaKeyMissing {
        /// The CA certificate file.
        cert: PathBuf,
        /// The missing key file.
        key: PathBuf,
    },

    /// The stored CA key does not belong to the stored CA certificate.
    #[error(
        "the CA key {} does not belong to the CA certificate {} — restore the matching pair, or \
         move both away to make a new CA",
        key.display(), cert.display()
    )]
    CaKeyMismatch {
        /// The CA certificate file.
        cert: PathBuf,
        /// The CA key file.
        key: PathBuf,
    },

    /// A certificate file holds no PEM `CERTIFICATE` block.
    #[error("no certificate found in {}{hint}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// Advice, starting with " — ".
        hint: &'static str,
    },

    /// A key file holds no PEM private key block.
    #[error("no private key found in {}{hint}", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
        /// Advice, starting with " — ".
        hint: &'static str,
    },

    /// A file is not valid PEM (broken base64, missing END line…).
    #[error("{} is not a valid PEM file ({source}) — expected text blocks like \
             \"-----BEGIN {label}-----\"", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// The PEM label that was looked for.
        label: &'static str,
        /// The parser's error.
        source: rustls_pki_types::pem::Error,
    },

    /// A certificate is not valid X.509 DER.
    #[error("the certificate in {} cannot be read: {reason}", path.display())]
    BadCertificate {
        /// The file it came from (or a description of where it came from).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A private key is of a type or shape rustls cannot sign with.
    #[error(
        "the private key in {} cannot be used: {reason} — supported are ECDSA P-256/P-384, \
         Ed25519 and RSA keys, as PKCS#8 (\"PRIVATE KEY\"), SEC1 (\"EC PRIVATE KEY\") or \
         PKCS#1 (\"RSA PRIVATE KEY\") PEM",
        path.display()
    )]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// rustls's reason.
        reason: String,
    },

    /// The private key does not belong to the certificate it is paired with.
    #[error(
        "the private key in {} does not belong to the certificate in {} — pass the key that \
         was made together with that certificate",
        key.display(), cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// A CA certificate given to trust cannot be used as a trust anchor.
    #[error(
        "the CA certificate cannot be trusted as a root: {reason} — export it again from the \
             host (it serves /ca.crt)"
    )]
    BadCaCertificate {
        /// Why.
        reason: String,
    },

    /// A fingerprint string (from a link, QR code, mDNS record or the user) is malformed.
    #[error(
        "{input:?} is not a certificate fingerprint: {reason} — expected 64 hexadecimal \
             digits, or 32 pairs separated by colons (AB:CD:…)"
    )]
    InvalidFingerprint {
        /// The input (shortened when long).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The pinned CA was not among the certificates the host presented: it is another host, or
    /// the host made a new CA. The verifier reports this inside
    /// `rustls::CertificateError::Other`; [`find_cert_error`](crate::find_cert_error) digs it out.
    #[error(
        "the host's identity changed: it did not present the certificate authority you pinned \
         ({pinned}) — if the host made a new CA, get a fresh link or QR code from it"
    )]
    IdentityChanged {
        /// The fingerprint that was pinned.
        pinned: Fingerprint,
    },

    /// rustls refused a configuration or a key (should not happen with the ring provider).
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

impl std::fmt::Debug for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl CertError {
    /// Builds [`CertError::Io`] with advice fitting the error kind. `writing` selects the advice
    /// for a failed write (the data folder must be writable) or read.
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error, writing: bool) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied if writing => {
                " — check that the data folder is writable by this user"
            }
            io::ErrorKind::PermissionDenied => " — check that this user may read it",
            io::ErrorKind::NotFound if writing => " — check that the data folder exists",
            io::ErrorKind::NotFound => " — check the path",
            io::ErrorKind::ReadOnlyFilesystem => {
                " — the data folder is on a read-only file system; choose another folder"
            }
            io::ErrorKind::StorageFull => " — the disk is full; free some space",
            io::ErrorKind::IsADirectory => " — this is a folder; give a file",
            io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists if writing => {
                " — part of this path is a file, not a folder; choose another data folder"
            }
            _ => "",
        };
        CertError::Io {
            action,
            path: path.to_path_buf(),
            source,
            hint,
        }
    }

    /// True when this is [`CertError::IdentityChanged`]: the pinned CA was not presented.
    pub fn is_identity_changed(&self) -> bool {
        matches!(self, CertError::IdentityChanged { .. })
    }
}

/// Finds a [`CertError`] inside an error returned by a TLS connection attempt (an `io::Error`
/// from tokio-rustls, a `rustls::Error`, or anything whose `source()` chain leads to one), so a
/// caller can tell "the host's identity changed" from other failures without matching strings.
pub fn find_cert_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a CertError> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    // Bounded, in case of a cyclic `source()` chain.
    for _ in 0..32 {
        let e = current?;
        if let Some(found) = e.downcast_ref::<CertError>() {
            return Some(found);
        }
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
        {
            let inner: &(dyn std::error::Error + 'static) = &*other.0;
            if let Some(found) = inner.downcast_ref::<CertError>() {
                return Some(found);
            }
        }
        // `io::Error::source()` skips the wrapped error itself, so look inside explicitly.
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                let inner: &(dyn std::error::Error + 'static) = inner;
                if let Some(found) = find_cert_error(inner) {
                    return Some(found);
                }
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_carry_advice() {
        let path = Path::new("/data/lancall/ca.key");
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let text = CertError::io("write the CA key to", path, denied, true).to_string();
        assert!(
            text.starts_with("could not write the CA key to /data/lancall/ca.key: "),
            "{text}"
        );
        assert!(
            text.ends_with(" — check that the data folder is writable by this user"),
            "{text}"
        );
        let full = io::Error::from(io::ErrorKind::StorageFull);
        let text = CertError::io("write the CA key to", path, full, true).to_string();
        assert!(
            text.ends_with("the disk is full; free some space"),
            "{text}"
        );
    }
}
