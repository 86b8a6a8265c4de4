//! What the app keeps while it runs, shared by the commands.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use lancall_certs::Fingerprint;

use lancall_protocol::HostAddr;
use crate::finder::{FinderStatus, HostEntry};
use lancall_hub::discovery::HostInfo;
use crate::hosting::Hosting;
use crate::options::AppOptions;
use crate::settings::Settings;
#[cfg(target_os = "linux")]
use lancall_peer::ipc::Bridges;
use crate::signaling::Sessions;

/// Where this device's own call answers.
pub struct LocalCall {
    /// Its hub, for in-process sessions.
    pub hub: lancall_hub::hub::Hub,
    /// Its HTTPS/WSS port.
    pub port: u16,
    /// The addresses it listens on.
    pub addresses: Vec<std::net::IpAddr>,
}

/// The app's state (managed by Tauri).
pub struct AppState {
    /// Switches from the environment.
    pub options: AppOptions,
    /// The app-data folder.
    pub data_dir: PathBuf,
    /// Settings, saved on every change.
    pub settings: Mutex<Settings>,
    /// The call this device hosts, if any.
    pub hosting: tokio::sync::Mutex<Option<Hosting>>,
    /// The call this device hosts, as sync code checks it (is an address this device's own?).
    pub local: Mutex<Option<LocalCall>>,
    /// Pinned CA fingerprints by `host:port`, set when the person chose where to join.
    pub pins: Mutex<HashMap<String, Fingerprint>>,
    /// Hosts seen on the network: mDNS's and the scan's, merged, as the UI lists them.
    pub hosts: Mutex<Vec<HostEntry>>,
    /// What mDNS sees now.
    pub mdns_hosts: Mutex<Vec<HostInfo>>,
    /// What the last scan found.
    pub scanned: Mutex<Vec<HostInfo>>,
    /// A scan is under way (one at a time).
    pub scanning: std::sync::atomic::AtomicBool,
    /// Hosts joined before.
    pub known: Mutex<crate::known_hosts::KnownHosts>,
    /// Discovery's state.
    pub finder: Mutex<FinderStatus>,
    /// The webview's signaling sessions.
    pub sessions: Sessions,
    /// Rust-backed peer connections and media sources for a webview without RTCPeerConnection
    /// (Linux), by the ids the page gave them.
    #[cfg(target_os = "linux")]
    pub bridges: Bridges,
}

pub use lancall_protocol::sync::lock;

impl AppState {
    /// Fresh state.
    pub fn new(options: AppOptions, data_dir: PathBuf, settings: Settings) -> AppState {
        let finder = if options.mdns { FinderStatus::Starting } else { FinderStatus::Off };
        let known = Mutex::new(crate::known_hosts::KnownHosts::load(&data_dir));
        AppState {
            options,
            data_dir,
            settings: Mutex::new(settings),
            hosting: tokio::sync::Mutex::new(None),
            local: Mutex::new(None),
            pins: Mutex::new(HashMap::new()),
            hosts: Mutex::new(Vec::new()),
            mdns_hosts: Mutex::new(Vec::new()),
            scanned: Mutex::new(Vec::new()),
            scanning: std::sync::atomic::AtomicBool::new(false),
            known,
            finder: Mutex::new(finder),
            sessions: Sessions::default(),
            #[cfg(target_os = "linux")]
            bridges: Bridges::default(),
        }
    }

    /// This device's hub, if `addr` is this device's call.
    pub fn local_hub_for(&self, addr: &HostAddr) -> Option<lancall_hub::hub::Hub> {
        let local = lock(&self.local);
        let call = local.as_ref()?;
        let ip = addr.ip()?;
        (addr.port == call.port && (ip.is_loopback() || call.addresses.contains(&ip))).then(|| call.hub.clone())
    }

    /// The fingerprint to pin for `addr`: the one given, else the one pinned before, else the
    /// one its mDNS record carries.
    pub fn fingerprint_for(&self, addr: &HostAddr, given: Option<Fingerprint>) -> Option<Fingerprint> {
        if given.is_some() {
            return given;
        }
        if let Some(fp) = lock(&self.pins).get(&addr.to_string()) {
            return Some(*fp);
        }
        let key = addr.to_string();
        lock(&self.hosts)
            .iter()
            .find(|h| h.addresses.contains(&key))
            .and_then(|h| h.fingerprint.as_deref())
            .and_then(|hex| hex.parse().ok())
    }
}
