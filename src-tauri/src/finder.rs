//! The home screen's live list of hosts on this network: an mDNS browser for as long as the app
//! runs, and a scan of the subnets when mDNS finds nothing or the person asks ("Search this
//! network"); their hosts merged and turned into what the UI shows, this device's own left out.

use lancall_hub::discovery::{scan_subnets, Browser, FoundBy, HostInfo, ScanConfig};
use serde::Serialize;

use lancall_protocol::HostAddr;

use crate::known_hosts::{KnownHosts, Trust};

/// A host as the home screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostEntry {
    /// The DNS-SD instance name (unique on the LAN).
    pub instance: String,
    /// The name to show.
    pub name: String,
    /// The host's stable id.
    pub host_id: String,
    /// `host:port` to join (the first address, IPv4 first).
    pub address: String,
    /// Every address as `host:port`.
    pub addresses: Vec<String>,
    /// The CA fingerprint (64 hex digits) the app pins when joining.
    pub fingerprint: Option<String>,
    /// Its four words, to compare aloud with the host's screen.
    pub words: Option<String>,
    /// Whether a room admits joiners without a token now.
    pub open_rooms: bool,
    /// Whether the app can join it.
    pub joinable: bool,
    /// Why not, as a sentence.
    pub problem: Option<String>,
    /// mDNS, the scan, or both.
    pub found_by: FoundBy,
    /// Joined before, new, or claiming a known host's name with another certificate.
    #[serde(flatten)]
    pub trust: Trust,
}

/// Discovery's state, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FinderStatus {
    /// Switched off (`LANCALL_NO_MDNS`).
    Off,
    /// Starting.
    Starting,
    /// Browsing.
    On,
    /// mDNS could not start.
    Failed {
        /// Why, as a sentence.
        message: String,
    },
}

/// The entries for `hosts`, without the host whose id is `own_host_id`, each judged against the
/// hosts joined before.
pub fn entries(hosts: &[HostInfo], own_host_id: &str, known: &KnownHosts) -> Vec<HostEntry> {
    hosts
        .iter()
        .filter(|h| h.host_id != own_host_id)
        .map(|h| {
            let addresses: Vec<String> =
                h.addresses.iter().map(|ip| HostAddr { host: ip.to_string(), port: h.port }.to_string()).collect();
            HostEntry {
                instance: h.instance.clone(),
                name: h.display_name.clone(),
                host_id: h.host_id.clone(),
                address: addresses.first().cloned().unwrap_or_default(),
                addresses,
                fingerprint: h.ca_fingerprint.map(|f| f.to_hex()),
                words: h.ca_fingerprint.map(|f| f.speakable()),
                open_rooms: h.open_rooms,
                joinable: h.is_joinable(),
                problem: h.not_joinable.as_ref().map(|why| format!("Cannot join: {why}.")),
                found_by: h.found_by,
                trust: known.judge(&h.display_name, &h.host_id, h.ca_fingerprint.map(|f| f.to_hex()).as_deref()),
            }
        })
        .collect()
}

/// Browses until the browser stops, calling `on_change` with the hosts mDNS sees after every
/// change. Returns the error if mDNS cannot start.
pub async fn browse(
    policy: &lancall_hub::netif::InterfacePolicy,
    on_change: impl Fn(Vec<HostInfo>) + Send,
) -> Result<(), lancall_hub::discovery::DiscoveryError> {
    let mut browser = Browser::start(policy)?;
    while browser.next_event().await.is_some() {
        on_change(browser.hosts());
    }
    Ok(())
}

/// What a scan did, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Addresses probed.
    pub probed: usize,
    /// Hosts that answered.
    pub found: usize,
    /// The port probed.
    pub port: u16,
}

/// Scans this device's subnets on `port` for lancall hosts (see `lancall_hub::discovery::scan`).
pub async fn scan(policy: &lancall_hub::netif::InterfacePolicy, port: u16) -> (Vec<HostInfo>, ScanReport) {
    let (found, probed) = scan_subnets(policy, &ScanConfig::for_port(port)).await;
    let report = ScanReport { probed, found: found.len(), port };
    (found, report)
}
