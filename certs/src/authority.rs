//! The local certificate authority: made once, kept in the data folder, signs the leaves.
//!
//! Why a CA rather than one self-signed certificate: the host's addresses change (new Wi-Fi,
//! DHCP), and each change needs a new certificate. With a CA, a browser that installed the CA,
//! or an app that pinned its fingerprint, keeps trusting the host across those changes.
//! Why name constraints: installing a CA on a phone normally lets its key holder impersonate any
//! site. Constrained to private addresses and `.local`, this one cannot vouch for public sites,
//! even if its key leaks.

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, PublicKeyData, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use time::{Duration, OffsetDateTime};

use crate::leaf::{cert_info, leaf_paths};
use crate::names::{PERMITTED_DNS_NAMES, PERMITTED_IP_RANGES};
use crate::store::{self, Secrecy};
use crate::{CertError, Fingerprint, Leaf, LeafNames};

/// File name of the CA certificate (PEM) in the data folder.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key (PKCS#8 PEM, mode 0600) in the data folder.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long the CA is valid: about ten years, so that devices that installed it rarely need to
/// do it again.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a leaf is valid, counted from its back-dated `not_before`. Browsers refuse server
/// certificates valid for more than 398 days, even from a locally installed CA (Safari).
pub const LEAF_VALIDITY: Duration = Duration::days(397);
/// `not_before` is set this far in the past so that a joiner whose clock is a little behind
/// still accepts a fresh certificate.
pub const BACKDATE: Duration = Duration::hours(1);
/// A persisted leaf with less validity left than this is replaced at start-up.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// The local CA: its certificate and the key that signs leaves.
pub struct Authority {
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Authority {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Why `ensure_leaf` issued a new leaf (for the log).
enum Stale {
    Missing,
    Unreadable(String),
    NamesChanged(LeafNames),
    Expiring(OffsetDateTime),
    NotOurs(String),
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Missing => f.write_str("there was none yet"),
            Stale::Unreadable(why) => write!(f, "the stored one could not be used ({why})"),
            Stale::NamesChanged(old) => write!(f, "the addresses changed (it named {old})"),
            Stale::Expiring(t) => write!(f, "the stored one expires soon ({t})"),
            Stale::NotOurs(why) => {
                write!(f, "the stored one was not signed by the current CA ({why})")
            }
        }
    }
}

impl Authority {
    /// Loads the CA from `dir` (`ca.crt`, `ca.key`), or makes one and stores it there if there
    /// is none yet (creating `dir`, mode 0700, if needed). An expired CA is replaced, with a
    /// warning. A damaged or half-present CA is an error rather than silently replaced, because
    /// replacing it breaks every device that trusts it.
    pub fn load_or_create(dir: &Path) -> Result<Authority, CertError> {
        Self::load_or_create_at(dir, OffsetDateTime::now_utc())
    }

    /// [`Authority::load_or_create`] with an explicit clock, for tests.
    pub fn load_or_create_at(dir: &Path, now: OffsetDateTime) -> Result<Authority, CertError> {
        store::ensure_dir(dir)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if let Some(cert_pem) = store::read_optional(&cert_path, "read the CA certificate")? {
            let Some(key_pem) = store::read_optional(&key_path, "read the CA key")? else {
                return Err(CertError::CaKeyMissing {
                    cert: cert_path,
                    key: key_path,
                });
            };
            store::check_private_mode(&key_path);
            let ca = Self::from_pem(dir, &cert_path, &cert_pem, &key_path, &key_pem)?;
            if ca.not_after > now {
                log::info!(
                    "loaded the local CA from {} (fingerprint {}, valid until {})",
                    cert_path.display(),
                    ca.fingerprint,
                    ca.not_after.date()
                );
                return Ok(ca);
            }
            log::warn!(
                "the local CA in {} expired on {}; making a new one (devices that installed \
                 or pinned the old one will need the new one)",
                cert_path.display(),
                ca.not_after.date()
            );
        }
        // No certificate yet (a key without a certificate is left over from an interrupted
        // first start and was never shown to anyone, so it is simply replaced).
        let (cert_pem, key_pem) = Self::generate_pem(now)?;
        store::write_atomic(
            &key_path,
            key_pem.as_bytes(),
            Secrecy::Secret,
            "write the CA key to",
        )?;
        store::write_atomic(
            &cert_path,
            cert_pem.as_bytes(),
            Secrecy::Public,
            "write the CA certificate to",
        )?;
        let ca = Self::from_pem(
            dir,
            &cert_path,
            cert_pem.as_bytes(),
            &key_path,
            key_pem.as_bytes(),
        )?;
        log::info!(
            "created a new local CA in {} (fingerprint {}, valid until {})",
            cert_path.display(),
            ca.fingerprint,
            ca.not_after.date()
        );
        Ok(ca)
    }

    /// A fresh CA kept only in memory (tests; or a throw-away host).
    pub fn generate() -> Result<Authority, CertError> {
        let now = OffsetDateTime::now_utc();
        let (cert_pem, key_pem) = Self::generate_pem(now)?;
        let here = Path::new("(in memory)");
        Self::from_pem(here, here, cert_pem.as_bytes(), here, key_pem.as_bytes())
    }

    /// Makes a new CA key and self-signed certificate; returns `(cert PEM, key PEM)`.
    fn generate_pem(now: OffsetDateTime) -> Result<(String, String), CertError> {
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            CertError::Generate {
                what: "CA key",
                source,
            }
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        let cn = match crate::hostname() {
            Some(h) => format!("lancall local CA ({h})"),
            None => "lancall local CA".to_owned(),
        };
        dn.push(DnType::CommonName, cn);
        dn.push(DnType::OrganizationName, "lancall");
        // Makes every CA's subject unique. Verifiers find a certificate's issuer by subject
        // name; two hosts with the same host name (or a CA made anew) would otherwise have
        // identical subjects, and a device trusting one would report a bad signature instead
        // of "unknown issuer" for the other, and some browsers get confused by the collision.
        let key_id = Fingerprint::of(&key.subject_public_key_info()).to_hex();
        dn.push(
            DnType::OrganizationalUnitName,
            format!("CA {}", &key_id[..16]),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut permitted: Vec<GeneralSubtree> = PERMITTED_IP_RANGES
            .iter()
            .map(|&(net, prefix)| {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(net, prefix))
            })
            .collect();
        permitted.extend(
            PERMITTED_DNS_NAMES
                .iter()
                .map(|d| GeneralSubtree::DnsName((*d).to_owned())),
        );
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        });
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(|source| CertError::Generate {
                what: "CA certificate",
                source,
            })?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Parses and cross-checks a stored CA. `dir` and the paths only go into error messages.
    fn from_pem(
        dir: &Path,
        cert_path: &Path,
        cert_pem: &[u8],
        key_path: &Path,
        key_pem: &[u8],
    ) -> Result<Authority, CertError> {
        let corrupt = |path: &Path, reason: String| CertError::CorruptCa {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            reason,
        };
        let cert_der = CertificateDer::from_pem_slice(cert_pem)
            .map_err(|e| corrupt(cert_path, format!("no PEM certificate: {e}")))?;
        let key_str = std::str::from_utf8(key_pem)
            .map_err(|_| corrupt(key_path, "not a text file".to_owned()))?;
        let key = KeyPair::from_pem(key_str).map_err(|e| corrupt(key_path, e.to_string()))?;
        let info = cert_info(&cert_der).map_err(|reason| corrupt(cert_path, reason))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| corrupt(cert_path, e.to_string()))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CertError::CaKeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| corrupt(cert_path, e.to_string()))?;
        Ok(Authority {
            fingerprint: Fingerprint::of(&cert_der),
            cert_der,
            issuer,
            not_after: info.not_after,
        })
    }

    /// The CA certificate as PEM, for `/ca.crt` downloads and for installing on devices.
    pub fn ca_pem(&self) -> String {
        store::pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The CA certificate as DER (what Android's and Windows's installers like best, as `.cer`).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// SHA-256 of the CA certificate's DER: what joiners pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// When the CA expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Issues a leaf for `names` now, in memory. Any names are accepted, even ones outside the
    /// CA's constraints (verifiers will refuse those; tests rely on that).
    pub fn issue_leaf(&self, names: &LeafNames) -> Result<Leaf, CertError> {
        self.issue_leaf_at(names, OffsetDateTime::now_utc())
    }

    /// [`Authority::issue_leaf`] as if the time were `now`.
    pub fn issue_leaf_at(&self, names: &LeafNames, now: OffsetDateTime) -> Result<Leaf, CertError> {
        // Certificates hold whole seconds; keep the in-memory times equal to the certificate's.
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let gen_err = |source| CertError::Generate {
            what: "leaf certificate",
            source,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            CertError::Generate {
                what: "leaf key",
                source,
            }
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "lancall host");
        dn.push(DnType::OrganizationName, "lancall");
        params.distinguished_name = dn;
        params.subject_alt_names = names.ips().map(SanType::IpAddress).collect();
        for d in names.dns_names() {
            let ia5 = d.to_owned().try_into().map_err(gen_err)?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        // Never outlive the CA: a chain is only as valid as its shortest-lived member.
        params.not_after = (params.not_before + LEAF_VALIDITY).min(self.not_after);
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_before: params.not_before,
            not_after: params.not_after,
            names: names.clone(),
        })
    }

    /// The leaf to serve for `names`: the one stored in `dir` (`leaf.crt`, `leaf.key`) if it
    /// still fits, otherwise a new one, which is stored. The bool is true when a new leaf was
    /// issued. The stored leaf is replaced when its names differ from `names`, when less than
    /// [`RENEW_BEFORE`] of validity remains, when it was not signed by this CA (the CA was
    /// replaced), or when it cannot be read or its key does not match.
    pub fn ensure_leaf(&self, dir: &Path, names: &LeafNames) -> Result<(Leaf, bool), CertError> {
        self.ensure_leaf_at(dir, names, OffsetDateTime::now_utc())
    }

    /// [`Authority::ensure_leaf`] as if the time were `now` (tests use it to reach expiry
    /// without waiting).
    pub fn ensure_leaf_at(
        &self,
        dir: &Path,
        names: &LeafNames,
        now: OffsetDateTime,
    ) -> Result<(Leaf, bool), CertError> {
        let reason = match self.stored_leaf(dir, names, now)? {
            Ok(leaf) => {
                log::debug!(
                    "reusing the stored certificate for {} (valid until {})",
                    leaf.names,
                    leaf.not_after.date()
                );
                return Ok((leaf, false));
            }
            Err(reason) => reason,
        };
        let leaf = self.issue_leaf_at(names, now)?;
        leaf.write_to(dir)?;
        let verb = if matches!(reason, Stale::Missing) {
            "issued"
        } else {
            "reissued"
        };
        log::info!(
            "{verb} the host certificate for {} because {reason} (valid until {}, CA fingerprint {})",
            leaf.names,
            leaf.not_after.date(),
            self.fingerprint
        );
        Ok((leaf, true))
    }

    /// The stored leaf if it can be reused, else why not. I/O errors other than "not found"
    /// are returned as errors: a new leaf could not be stored either.
    fn stored_leaf(
        &self,
        dir: &Path,
        names: &LeafNames,
        now: OffsetDateTime,
    ) -> Result<Result<Leaf, Stale>, CertError> {
        let (cert_path, key_path) = leaf_paths(dir);
        let Some(cert_pem) = store::read_optional(&cert_path, "read the certificate")? else {
            return Ok(Err(Stale::Missing));
        };
        let Some(key_pem) = store::read_optional(&key_path, "read the certificate key")? else {
            return Ok(Err(Stale::Missing));
        };
        store::check_private_mode(&key_path);
        let Ok(Some(end_entity)) = CertificateDer::pem_slice_iter(&cert_pem).next().transpose()
        else {
            return Ok(Err(Stale::Unreadable(format!(
                "no certificate in {}",
                cert_path.display()
            ))));
        };
        let Ok(key) = PrivateKeyDer::from_pem_slice(&key_pem) else {
            return Ok(Err(Stale::Unreadable(format!(
                "no key in {}",
                key_path.display()
            ))));
        };
        // The chain is rebuilt with the current CA rather than trusting what the file says.
        let chain = vec![end_entity, self.cert_der.clone()];
        let leaf = match Leaf::from_parts(chain, key, &cert_path, &key_path) {
            Ok(leaf) => leaf,
            Err(e) => return Ok(Err(Stale::Unreadable(e.to_string()))),
        };
        if &leaf.names != names {
            return Ok(Err(Stale::NamesChanged(leaf.names)));
        }
        if leaf.not_after - now < RENEW_BEFORE {
            return Ok(Err(Stale::Expiring(leaf.not_after)));
        }
        if let Err(why) = self.check_signed(&leaf, now) {
            return Ok(Err(Stale::NotOurs(why)));
        }
        Ok(Ok(leaf))
    }

    /// Checks with webpki (signature, validity at `now`, name constraints, serverAuth) that
    /// `leaf` chains to this CA.
    fn check_signed(&self, leaf: &Leaf, now: OffsetDateTime) -> Result<(), String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der.clone())
            .map_err(|e| e.to_string())?;
        let parsed = rustls::server::ParsedCertificate::try_from(leaf.cert_der())
            .map_err(|e| e.to_string())?;
        let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &roots,
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
            crate::tls::provider().signature_verification_algorithms.all,
        )
        .map_err(|e| e.to_string())
    }

    /// Where [`Authority::load_or_create`] keeps the CA certificate in `dir` (for telling people
    /// which file to install).
    pub fn cert_path(dir: &Path) -> PathBuf {
        dir.join(CA_CERT_FILE)
    }
}
