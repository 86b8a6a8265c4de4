//! Finding hosts on the LAN: mDNS / DNS-SD with `mdns-sd`, service type `_lancall._tcp.local.`.
//!
//! A host runs an [`Advertiser`]; the app's "join" screen and `lancall-host discover` run a
//! [`Browser`] (or the one-shot [`discover_for`]). Neither needs the other to be lancall: the
//! records are plain DNS-SD, so `avahi-browse -r _lancall._tcp` or python-zeroconf see a host,
//! and a browser sees any DNS-SD publisher of the type (the tests check both directions).
//!
//! - `record.rs`: what goes into the records and what is read back out of them ([`Advertisement`],
//!   [`HostInfo`], names and labels).
//! - `advertise.rs`: the [`Advertiser`] and its task, re-announcing as addresses change.
//! - `browse.rs`: the [`Browser`] and [`discover_for`].
//! - This module: the errors, and the `mdns-sd` daemon plumbing both sides share.
//!
//! # Interfaces
//!
//! Both sides take an [`InterfacePolicy`] and restrict the daemon to it, so lancall neither
//! advertises into a Docker bridge nor browses over a VPN. `ServiceDaemon::new()` opens its
//! sockets on every interface before the policy (its first command) is applied, a few
//! milliseconds later; that is `mdns-sd`'s design and costs one empty probe packet per interface.
//!
//! # Android
//!
//! Android's Wi-Fi driver drops incoming multicast unless an app holds a
//! `WifiManager.MulticastLock`. The Tauri shell acquires it (permission
//! `CHANGE_WIFI_MULTICAST_STATE`) before calling [`Advertiser::start`] or [`Browser::start`]
//! and releases it after `stop()`; without it a phone host is invisible and a phone browser finds
//! nothing, with no error anywhere.

use std::time::Duration;

use mdns_sd::{IfKind, IfPredicate, ServiceDaemon};
use tokio::task::JoinHandle;

use crate::netif::InterfacePolicy;

mod advertise;
mod browse;
mod record;
mod scan;

pub use advertise::{Advertiser, AdvertiserOptions, DEFAULT_ADDRESS_POLL};
pub use browse::{discover_for, Browser, DiscoveryEvent};
pub use record::{mdns_hostname, Advertisement, FoundBy, HostInfo, NotJoinable, RoomListing, PROTOCOL_VERSION, SERVICE_TYPE};
pub use scan::{merge, scan, scan_subnets, scan_targets, targets_in, ScanConfig, WELL_KNOWN_PATH};

/// How long to wait for the daemon thread to acknowledge a command. It answers in
/// microseconds; this only bounds a hung daemon.
const DAEMON_REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything that can go wrong in discovery. Network input never produces an error: a
/// malformed record is reported as a host that is not joinable ([`NotJoinable`]).
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The mDNS daemon could not start or refused a command: no usable network interface,
    /// multicast not permitted, or the daemon thread has exited.
    #[error("mDNS is not available on this device: {0}")]
    Mdns(#[from] mdns_sd::Error),

    /// The host's details cannot be advertised as they are (empty display name, empty or
    /// overlong host id, port 0). The message names the field.
    #[error("cannot advertise this host: {0}")]
    InvalidAdvertisement(String),


    /// Discovery was started outside a Tokio runtime; it runs background tasks on one.
    #[error("discovery must be started from within a Tokio runtime")]
    NoRuntime,

    /// The advertiser's background task has ended (the daemon shut down), so the change was
    /// not applied.
    #[error("discovery has stopped")]
    Stopped,
}

/// The SHA-256 fingerprint of a host's CA certificate, which app joiners pin: the same type the
/// certificates crate makes and the pinned verifier checks, so a fingerprint read from TXT `fp`
/// goes to [`lancall_certs::client_config_pinned`] as it is. Written as 64 lowercase hex digits
/// in TXT records and JSON (`to_hex`); parsing also accepts upper case and `:` separators.
pub type CaFingerprint = lancall_certs::Fingerprint;

/// The daemon-side form of `policy`: `mdns-sd` calls it for every interface address, also for
/// interfaces that appear later, so a Docker bridge created after start stays excluded.
fn policy_predicate(policy: &InterfacePolicy) -> IfPredicate {
    let policy = policy.clone();
    IfPredicate::new(move |interface| {
        policy.allows_interface(&interface.name, interface.is_loopback())
    })
}

/// Disables every interface, then enables those the policy allows (later selections win).
fn restrict_to_policy(
    daemon: &ServiceDaemon,
    predicate: &IfPredicate,
) -> Result<(), mdns_sd::Error> {
    daemon.disable_interface(IfKind::All)?;
    daemon.enable_interface(IfKind::Predicate(predicate.clone()))
}

/// What dropping an [`Advertiser`] or a [`Browser`] without `stop()` does: aborts its task and
/// shuts its daemon down. Nothing is left to do once `stop()` has taken the task.
fn abort_unstopped(task: &mut Option<JoinHandle<()>>, daemon: &ServiceDaemon) {
    if let Some(task) = task.take() {
        task.abort();
        shut_down_quietly(daemon);
    }
}

fn shut_down_quietly(daemon: &ServiceDaemon) {
    if let Err(e) = daemon.shutdown() {
        log::debug!("discovery: daemon already stopped: {e}");
    }
}

async fn wait_for_daemon<T>(receiver: mdns_sd::Receiver<T>, what: &str) -> Option<T> {
    match tokio::time::timeout(DAEMON_REPLY_TIMEOUT, receiver.recv_async()).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(_)) => {
            log::debug!("discovery: daemon gone before confirming {what}");
            None
        }
        Err(_) => {
            log::warn!("discovery: daemon did not confirm {what} within {DAEMON_REPLY_TIMEOUT:?}");
            None
        }
    }
}

/// The rooms of `hub` open to the LAN (no token), for TXT `rooms`.
pub fn open_room_listings(hub: &crate::hub::Hub) -> Vec<RoomListing> {
    hub.rooms()
        .into_iter()
        .filter(|r| r.token.is_none())
        .map(|r| RoomListing { name: r.name, topology: r.setting.as_str().to_owned() })
        .collect()
}
