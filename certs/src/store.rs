//! Files in the data folder: atomic writes with the right mode from the first byte, and PEM.
//!
//! Keys are written to a temporary file that is created with mode 0600 (so the key is never
//! readable by others, not even for an instant), flushed to disk, then renamed over the target.
//! A crash leaves either the old file or the new one, never half a key.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::CertError;

/// Whether a file holds a secret (mode 0600) or public data (mode 0644).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    Secret,
    Public,
}

/// Creates the data folder (and parents) if missing; a folder created here is private to the
/// user (0700 on unix) because it holds keys.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CertError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| CertError::io("create the data folder", dir, e, true))
}

/// Writes `contents` to `path` atomically (temp file in the same folder, fsync, rename).
/// `what` names the file in errors, e.g. "the CA key".
pub(crate) fn write_atomic(
    path: &Path,
    contents: &[u8],
    secrecy: Secrecy,
    action: &'static str,
) -> Result<(), CertError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".lancall-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match secrecy {
            Secrecy::Secret => 0o600,
            Secrecy::Public => 0o644,
        };
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = secrecy;
    let err = |e: io::Error| CertError::io(action, path, e, true);
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    tmp.write_all(contents).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // Make the rename itself durable; not all platforms can open a folder, so best effort.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a file; `Ok(None)` when it does not exist.
pub(crate) fn read_optional(
    path: &Path,
    action: &'static str,
) -> Result<Option<Vec<u8>>, CertError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CertError::io(action, path, e, false)),
    }
}

/// Warns about, and tightens, a key file that others may read (copied from a backup, say).
pub(crate) fn check_private_mode(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                log::warn!(
                    "{} was readable by other users (mode {:o}); setting it to 0600",
                    path.display(),
                    mode & 0o777
                );
                if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
                    log::warn!("could not restrict {}: {e}", path.display());
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// PEM-encodes DER with the given label, 64 characters a line, LF line endings.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn pem_round_trip() {
        for len in 0..200usize {
            let der: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let pem = pem_encode("CERTIFICATE", &der);
            if len == 0 {
                continue;
            }
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).expect("parses");
            assert_eq!(back.as_ref(), &der[..], "length {len}");
        }
    }
}
