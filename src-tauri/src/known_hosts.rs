//! Hosts this app has joined before (`known_hosts.json` in the app-data folder), so that a
//! device advertising the same name or host id with another certificate authority is seen for
//! what it is: "This is not the Kitchen you joined before". Like SSH's `known_hosts`, but
//! keyed by the host's name and id, since a LAN host's addresses change.
//!
//! A host is remembered after a join succeeds (the hub's `welcome` came through the pinned
//! connection): its id, name, CA fingerprint, address and when. At most [`MAX_KNOWN`] hosts, the
//! least recently seen forgotten first. A file that cannot be read is kept aside as
//! `known_hosts.json.bad` and the list starts empty, rather than stopping the app.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::settings::write_atomically;

/// The file inside the app-data folder.
pub const KNOWN_HOSTS_FILE: &str = "known_hosts.json";
/// Hosts remembered at most.
pub const MAX_KNOWN: usize = 64;

/// One host joined before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownHost {
    /// Its host id (mDNS TXT `id`), empty when it was joined by a link only.
    #[serde(default)]
    pub host_id: String,
    /// Its name as it was listed, empty when unknown.
    #[serde(default)]
    pub name: String,
    /// Its CA's fingerprint (64 hex digits): what identifies it.
    pub fingerprint: String,
    /// The address last joined (`host:port`).
    #[serde(default)]
    pub address: String,
    /// When last joined (seconds since 1970).
    #[serde(default)]
    pub last_seen: u64,
}

/// What the list says about a host that is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "trust", rename_all = "kebab-case")]
pub enum Trust {
    /// Never joined (or forgotten).
    New,
    /// Joined before, same certificate authority.
    Known,
    /// Its name or id is that of a host joined before, but its certificate authority is not:
    /// another device claiming to be it (or it was reinstalled).
    NotTheSame {
        /// The name it was known under.
        name: String,
    },
}

/// The list, with where it is kept.
#[derive(Debug)]
pub struct KnownHosts {
    dir: PathBuf,
    hosts: Vec<KnownHost>,
}

impl KnownHosts {
    /// Reads the list from `dir` (empty when there is none yet).
    pub fn load(dir: &Path) -> KnownHosts {
        let path = dir.join(KNOWN_HOSTS_FILE);
        let hosts = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Vec<KnownHost>>(&bytes).unwrap_or_else(|e| {
                log::warn!("{} is not a list of known hosts ({e}); starting a new list", path.display());
                let _ = std::fs::rename(&path, dir.join(format!("{KNOWN_HOSTS_FILE}.bad")));
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                log::warn!("cannot read {}: {e}; no hosts are known this time", path.display());
                Vec::new()
            }
        };
        KnownHosts { dir: dir.to_path_buf(), hosts }
    }

    /// Every host remembered, most recently seen first.
    pub fn list(&self) -> &[KnownHost] {
        &self.hosts
    }

    /// How a host found with `name`, `host_id` and `fingerprint` compares with the list.
    pub fn judge(&self, name: &str, host_id: &str, fingerprint: Option<&str>) -> Trust {
        let Some(fp) = fingerprint else { return Trust::New };
        if self.hosts.iter().any(|k| k.fingerprint == fp) {
            return Trust::Known;
        }
        let same_name = |k: &&KnownHost| !name.trim().is_empty() && k.name.trim().eq_ignore_ascii_case(name.trim());
        let same_id = |k: &&KnownHost| !host_id.is_empty() && k.host_id == host_id;
        match self.hosts.iter().find(|k| same_id(k) || same_name(k)) {
            Some(k) => Trust::NotTheSame { name: if k.name.is_empty() { name.to_owned() } else { k.name.clone() } },
            None => Trust::New,
        }
    }

    /// Remembers a host just joined (replacing what was known under its fingerprint) and saves.
    pub fn remember(&mut self, mut host: KnownHost) -> Result<(), AppError> {
        host.last_seen = now();
        host.name = host.name.chars().filter(|c| !c.is_control()).take(64).collect();
        if let Some(old) = self.hosts.iter().position(|k| k.fingerprint == host.fingerprint) {
            let old = self.hosts.remove(old);
            if host.name.is_empty() {
                host.name = old.name;
            }
            if host.host_id.is_empty() {
                host.host_id = old.host_id;
            }
        }
        self.hosts.insert(0, host);
        self.hosts.truncate(MAX_KNOWN);
        self.save()
    }

    /// Forgets the host with this fingerprint; true if it was known.
    pub fn forget(&mut self, fingerprint: &str) -> Result<bool, AppError> {
        let before = self.hosts.len();
        self.hosts.retain(|k| k.fingerprint != fingerprint);
        if self.hosts.len() == before {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    fn save(&self) -> Result<(), AppError> {
        write_atomically(&self.dir, KNOWN_HOSTS_FILE, &serde_json::to_vec_pretty(&self.hosts).unwrap_or_default())
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, id: &str, fp: char) -> KnownHost {
        KnownHost { host_id: id.into(), name: name.into(), fingerprint: fp.to_string().repeat(64), address: "10.0.0.2:7443".into(), last_seen: 0 }
    }

    #[test]
    fn a_host_with_a_known_name_or_id_but_another_ca_is_not_the_same() -> Result<(), AppError> {
        let dir = tempfile::tempdir().map_err(|e| AppError::BadAddress(e.to_string()))?;
        let mut known = KnownHosts::load(dir.path());
        assert!(known.list().is_empty());
        known.remember(host("Kitchen", "id-k", 'a'))?;
        let again = KnownHosts::load(dir.path());
        assert_eq!(again.list().len(), 1, "kept on disk");
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(again.judge("Kitchen", "id-k", Some(&a)), Trust::Known);
        assert_eq!(again.judge("Renamed", "other", Some(&a)), Trust::Known, "the CA is what counts");
        assert_eq!(again.judge("kitchen ", "id-x", Some(&b)), Trust::NotTheSame { name: "Kitchen".into() });
        assert_eq!(again.judge("Study", "id-k", Some(&b)), Trust::NotTheSame { name: "Kitchen".into() });
        assert_eq!(again.judge("Study", "id-s", Some(&b)), Trust::New);
        assert_eq!(again.judge("Kitchen", "id-k", None), Trust::New, "nothing to compare");
        Ok(())
    }

    #[test]
    fn forgetting_capping_and_a_broken_file() -> Result<(), AppError> {
        let dir = tempfile::tempdir().map_err(|e| AppError::BadAddress(e.to_string()))?;
        let mut known = KnownHosts::load(dir.path());
        for i in 0..(MAX_KNOWN + 5) {
            known.remember(KnownHost { fingerprint: format!("{i:064x}"), ..host(&format!("H{i}"), "", 'x') })?;
        }
        assert_eq!(known.list().len(), MAX_KNOWN);
        assert_eq!(known.list()[0].name, format!("H{}", MAX_KNOWN + 4), "most recent first");
        assert!(known.forget(&format!("{:064x}", MAX_KNOWN + 4))?);
        assert!(!known.forget(&"f".repeat(64))?);
        assert_eq!(KnownHosts::load(dir.path()).list().len(), MAX_KNOWN - 1);
        std::fs::write(dir.path().join(KNOWN_HOSTS_FILE), b"{not json").map_err(|e| AppError::BadAddress(e.to_string()))?;
        assert!(KnownHosts::load(dir.path()).list().is_empty(), "a broken file starts a new list");
        assert!(dir.path().join(format!("{KNOWN_HOSTS_FILE}.bad")).exists(), "and is kept aside");
        Ok(())
    }
}
