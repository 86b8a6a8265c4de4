//! Finding hosts on the LAN: mDNS / DNS-SD with `mdns-sd`, service type `_lancall._tcp.local.`.
//!
//! A host runs an [`Advertiser`]; the app's "join" screen and `lancall-host discover` run a
//! [`Browser`] (or the one-shot [`discover_for`]). Neither needs the other to be lancall: the
//! records are plain DNS-SD, so `avahi-browse -r _lancall._tcp` or python-zeroconf see a host,
//! and a browser sees any DNS-SD publisher of the type (the tests check both directions).
//!
//! # Records
//!
//! - Instance name: the display name and a four-hex-digit tag derived from the host id, "Ana's
//!   laptop (3f2a)" ([`Advertisement::instance_name`]). The tag makes two hosts with the same
//!   display name (three phones called "Pixel 8") distinct by construction, instead of relying
//!   on renaming at run time: `mdns-sd` 0.21 renames a host that probes second to "… (2)" (RFC
//!   6762 §9) but does not defend the new name, so a third host with the name also takes
//!   "… (2)"; and probing cannot separate two hosts that announced the same name before their
//!   networks joined. The tag also keeps a host's instance name stable across restarts. People
//!   see TXT `name`, not the instance name. Probing still runs, as a backstop for a tag
//!   collision (or one host id running twice): [`Advertiser::instance_name`] reports a rename.
//! - SRV: the hub's HTTPS/WSS port, target `lancall-<host id>.local.` ([`mdns_hostname`]), so
//!   two hosts never fight over a host name either.
//! - A/AAAA: exactly [`netif::lan_addresses`], the addresses in the leaf certificate's SANs, so
//!   a joiner never picks an address the certificate does not cover.
//! - TXT: `v` protocol version ([`PROTOCOL_VERSION`]), `id` host id, `name` display name (the
//!   instance name may be truncated or renamed; this is the one to show), `fp` the CA's SHA-256
//!   fingerprint as 64 lowercase hex digits (app joiners pin it), `open` `1` when the host has
//!   a room that admits joiners now, else `0`.
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

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdns_sd::{
    DaemonEvent, DaemonStatus, IfKind, IfPredicate, ResolvedService, ServiceDaemon, ServiceEvent,
    ServiceInfo, UnregisterStatus,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::netif::{self, AddressWatcher, InterfacePolicy};
use crate::sync::lock;

/// The DNS-SD service type of a lancall hub.
pub const SERVICE_TYPE: &str = "_lancall._tcp.local.";

/// The signaling protocol version this build speaks, advertised in TXT `v`. A host with another
/// version is listed but not joinable: its messages may mean something else.
pub const PROTOCOL_VERSION: u32 = 1;

/// TXT keys. Short because every byte of the TXT record is sent in every announcement.
const TXT_VERSION: &str = "v";
const TXT_HOST_ID: &str = "id";
const TXT_NAME: &str = "name";
const TXT_FINGERPRINT: &str = "fp";
const TXT_OPEN: &str = "open";

/// How often the advertiser polls for address changes when it runs its own watcher. A change
/// is rare (Wi-Fi to Ethernet, DHCP renewal); a guest then waits at most this long for the
/// new address. One `getifaddrs` call per poll.
pub const DEFAULT_ADDRESS_POLL: Duration = Duration::from_secs(2);

/// `mdns-sd` sends a goodbye once at `unregister` and repeats it 120 ms later, in case the
/// first was lost on Wi-Fi. Stopping waits this long so the repeat goes out before the daemon
/// shuts down.
const GOODBYE_REPEAT_WAIT: Duration = Duration::from_millis(150);

/// After an address change, the advertisement is announced again this much later. The
/// immediate announcement may be cut by the one-per-second multicast rate limit (RFC 6762 §6)
/// when changes come in quick succession (DHCP replacing an address), and browsers flush a
/// stale address only when a cache-flush record arrives more than a second after they cached it
/// (§10.2). This one lands outside both windows, so the final set of addresses reaches every
/// cache.
/// It also comes after the daemon's next interface check ([`DAEMON_IP_CHECK_SECS`]), so the
/// daemon no longer tries to send from an address that is gone.
const ADDRESS_CHANGE_REANNOUNCE: Duration = Duration::from_millis(2_500);

/// How often the advertiser's daemon re-reads the interfaces (`mdns-sd` default: 5 s). Until it
/// does, it keeps sending from an address that was removed, and those sends fail; 1 s keeps that
/// window short for one `getifaddrs` call a second.
const DAEMON_IP_CHECK_SECS: u32 = 1;

/// How long to wait for the daemon thread to acknowledge a command. It answers in
/// microseconds; this only bounds a hung daemon.
const DAEMON_REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// A DNS label holds 63 bytes. The display name part of the instance name leaves room for the
/// host tag " (xxxx)" and a conflict suffix " (NN)".
const INSTANCE_NAME_MAX_BYTES: usize = 50;

/// A TXT string holds 255 bytes, `name=` included.
const TXT_NAME_MAX_BYTES: usize = 255 - TXT_NAME.len() - 1;

/// Host ids go into TXT and into the host name label: keep them short and printable.
const HOST_ID_MAX_BYTES: usize = 64;

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

/// What a host tells the LAN about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// The name people see ("Ana's laptop"). Also the instance name, truncated to fit a DNS label.
    pub display_name: String,
    /// Stable id of this host (survives restarts and renames), so joiners recognise it.
    pub host_id: String,
    /// The hub's HTTPS/WSS port.
    pub port: u16,
    /// SHA-256 of the host's CA certificate.
    pub ca_fingerprint: CaFingerprint,
    /// Whether a room admits joiners now.
    pub open_rooms: bool,
}

impl Advertisement {
    fn validate(&self) -> Result<(), DiscoveryError> {
        let invalid = |why: &str| Err(DiscoveryError::InvalidAdvertisement(why.to_string()));
        if clean_display_name(&self.display_name).is_empty() {
            return invalid("the display name is empty");
        }
        if self.host_id.is_empty() || self.host_id.len() > HOST_ID_MAX_BYTES {
            return invalid("the host id must be 1 to 64 bytes");
        }
        if self.host_id.chars().any(|c| c.is_control()) {
            return invalid("the host id contains control characters");
        }
        if self.port == 0 {
            return invalid("the port is 0");
        }
        Ok(())
    }

    /// The DNS-SD instance name: the display name and a tag from the host id, "Ana's laptop
    /// (3f2a)". See the module documentation for why the tag is always there.
    pub fn instance_name(&self) -> String {
        format!(
            "{} ({})",
            clean_display_name(&self.display_name),
            host_tag(&self.host_id)
        )
    }

    fn txt_properties(&self) -> Vec<(&'static str, String)> {
        vec![
            (TXT_VERSION, PROTOCOL_VERSION.to_string()),
            (TXT_HOST_ID, self.host_id.clone()),
            (
                TXT_NAME,
                truncate_utf8(self.display_name.trim(), TXT_NAME_MAX_BYTES).to_string(),
            ),
            (TXT_FINGERPRINT, self.ca_fingerprint.to_hex()),
            (
                TXT_OPEN,
                if self.open_rooms { "1" } else { "0" }.to_string(),
            ),
        ]
    }
}

/// The mDNS host name a host with `host_id` uses for its address records: `lancall-<id>.local.`
/// (lowercase letters, digits and `-` of the id, at most 40 of them). Derived from the host id
/// rather than the OS host name so it is stable, unique on the LAN, and usable in the leaf
/// certificate's SANs (without the trailing dot).
pub fn mdns_hostname(host_id: &str) -> String {
    let label: String = host_id
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .take(40)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "lancall.local.".to_string()
    } else {
        format!("lancall-{label}.local.")
    }
}

/// Settings of an [`Advertiser`] beyond what it advertises.
#[derive(Debug, Clone)]
pub struct AdvertiserOptions {
    /// Where address changes come from. `None`: the advertiser polls [`netif::lan_addresses`]
    /// itself every `address_poll`. `Some`: a receiver from the host's own
    /// [`netif::watch_addresses`], so the certificate reissue and the re-advertisement follow
    /// the same view of the network.
    pub addresses: Option<watch::Receiver<Vec<IpAddr>>>,
    /// Poll interval of the advertiser's own watcher.
    pub address_poll: Duration,
    /// The mDNS host name; `None` means [`mdns_hostname`] of the host id.
    pub hostname: Option<String>,
}

impl Default for AdvertiserOptions {
    fn default() -> Self {
        Self {
            addresses: None,
            address_poll: DEFAULT_ADDRESS_POLL,
            hostname: None,
        }
    }
}

/// What the advertiser's handle and its task share.
#[derive(Debug)]
struct AdvertiserState {
    advertisement: Advertisement,
    /// The instance name as the LAN sees it (after a conflict rename).
    instance_name: String,
    addresses: Vec<IpAddr>,
}

enum AdvertiserCommand {
    Update(Advertisement, oneshot::Sender<Result<(), DiscoveryError>>),
    Stop(oneshot::Sender<()>),
}

/// A running advertisement of this host on the LAN.
///
/// Re-announces by itself when the LAN addresses change; [`update`](Self::update) and the
/// `set_*` methods change what it says. [`stop`](Self::stop) sends goodbye packets so browsers
/// drop the host at once. Dropping it without `stop` still shuts the daemon down and sends one
/// goodbye (without the repeat).
pub struct Advertiser {
    commands: mpsc::Sender<AdvertiserCommand>,
    state: Arc<Mutex<AdvertiserState>>,
    daemon: ServiceDaemon,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Advertiser")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Advertiser {
    /// Starts advertising `advertisement` on the interfaces `policy` allows, watching the
    /// addresses itself. See [`Advertiser::start_with`].
    pub fn start(
        advertisement: Advertisement,
        policy: &InterfacePolicy,
    ) -> Result<Self, DiscoveryError> {
        Self::start_with(advertisement, policy, AdvertiserOptions::default())
    }

    /// Starts advertising. Returns once the daemon runs; the host becomes visible about a
    /// second later (probing for name conflicts takes 750 ms, RFC 6762 §8.1). With no LAN
    /// address yet, the advertisement waits for one.
    ///
    /// Android: the caller holds the Wi-Fi multicast lock until after [`stop`](Self::stop).
    /// Must be called from within a Tokio runtime.
    pub fn start_with(
        advertisement: Advertisement,
        policy: &InterfacePolicy,
        options: AdvertiserOptions,
    ) -> Result<Self, DiscoveryError> {
        advertisement.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| DiscoveryError::NoRuntime)?;
        let hostname = match options.hostname {
            Some(name) if name.ends_with(".local.") => name,
            Some(name) => format!(
                "{}.local.",
                name.trim_end_matches(".local").trim_end_matches('.')
            ),
            None => mdns_hostname(&advertisement.host_id),
        };

        // The task owns the watcher, so it is dropped (stopped) with the task. Creating it
        // needs the runtime context, which `try_current` has proved.
        let (own_watcher, addresses) = match options.addresses {
            Some(receiver) => (None, receiver),
            None => {
                let _guard = runtime.enter();
                let watcher = netif::watch_addresses(policy.clone(), options.address_poll);
                let receiver = watcher.subscribe();
                (Some(watcher), receiver)
            }
        };

        let daemon = ServiceDaemon::new()?;
        let predicate = policy_predicate(policy);
        let monitor = match restrict_to_policy(&daemon, &predicate)
            .and_then(|()| daemon.set_ip_check_interval(DAEMON_IP_CHECK_SECS))
            .and_then(|()| daemon.monitor())
        {
            Ok(monitor) => monitor,
            Err(e) => {
                shut_down_quietly(&daemon);
                return Err(e.into());
            }
        };

        let state = Arc::new(Mutex::new(AdvertiserState {
            instance_name: advertisement.instance_name(),
            advertisement: advertisement.clone(),
            addresses: addresses.borrow().clone(),
        }));
        let (commands, command_receiver) = mpsc::channel(16);
        let mut task = AdvertiserTask {
            daemon: daemon.clone(),
            predicate,
            hostname,
            advertisement,
            registered: None,
            announced: false,
            renamed_to: None,
            addresses: Vec::new(),
            state: state.clone(),
        };
        let task = runtime.spawn(async move {
            task.run(command_receiver, addresses, monitor, own_watcher)
                .await;
        });
        Ok(Self {
            commands,
            state,
            daemon,
            task: Some(task),
        })
    }

    /// The instance name in use: the display name, or the display name with " (2)" when
    /// another host had it first.
    pub fn instance_name(&self) -> String {
        lock(&self.state).instance_name.clone()
    }

    /// What is being advertised.
    pub fn advertisement(&self) -> Advertisement {
        lock(&self.state).advertisement.clone()
    }

    /// The addresses currently in the address records (empty while the host has no LAN address).
    pub fn addresses(&self) -> Vec<IpAddr> {
        lock(&self.state).addresses.clone()
    }

    /// Replaces the advertisement. A new display name withdraws the old instance (goodbye) and
    /// announces the new one, probing for conflicts again; anything else is re-announced in
    /// place (RFC 6762 §8.4: no new probe for the same name).
    pub async fn update(&self, advertisement: Advertisement) -> Result<(), DiscoveryError> {
        advertisement.validate()?;
        let (reply, replied) = oneshot::channel();
        self.commands
            .send(AdvertiserCommand::Update(advertisement, reply))
            .await
            .map_err(|_| DiscoveryError::Stopped)?;
        replied.await.map_err(|_| DiscoveryError::Stopped)?
    }

    /// Advertises whether a room admits joiners now (TXT `open`).
    pub async fn set_open_rooms(&self, open_rooms: bool) -> Result<(), DiscoveryError> {
        let advertisement = Advertisement {
            open_rooms,
            ..self.advertisement()
        };
        self.update(advertisement).await
    }

    /// Advertises a new display name (and so a new instance name).
    pub async fn set_display_name(
        &self,
        display_name: impl Into<String>,
    ) -> Result<(), DiscoveryError> {
        let advertisement = Advertisement {
            display_name: display_name.into(),
            ..self.advertisement()
        };
        self.update(advertisement).await
    }

    /// Advertises a new hub port.
    pub async fn set_port(&self, port: u16) -> Result<(), DiscoveryError> {
        let advertisement = Advertisement {
            port,
            ..self.advertisement()
        };
        self.update(advertisement).await
    }

    /// Withdraws the advertisement with goodbye packets (sent twice, 120 ms apart), waits until
    /// they are out, and shuts the daemon down. Browsers drop the host as soon as a goodbye
    /// arrives.
    pub async fn stop(mut self) {
        let (reply, replied) = oneshot::channel();
        if self
            .commands
            .send(AdvertiserCommand::Stop(reply))
            .await
            .is_ok()
        {
            // The task replies after the daemon has shut down. An error means the task ended
            // on the way, which is also stopped.
            let _ = replied.await;
        } else {
            // The task is gone already (it ends only on stop or drop, or by panicking): make
            // sure the daemon does not outlive it.
            shut_down_quietly(&self.daemon);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Not stopped: the daemon's own shutdown sends one goodbye per record.
            task.abort();
            shut_down_quietly(&self.daemon);
        }
    }
}

struct AdvertiserTask {
    daemon: ServiceDaemon,
    predicate: IfPredicate,
    hostname: String,
    advertisement: Advertisement,
    /// The full name registered with the daemon (before any conflict rename), if registered.
    registered: Option<String>,
    /// Whether the daemon finished probing and announced the registered name.
    announced: bool,
    /// The instance label after a conflict rename, if one happened.
    renamed_to: Option<String>,
    addresses: Vec<IpAddr>,
    state: Arc<Mutex<AdvertiserState>>,
}

impl AdvertiserTask {
    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<AdvertiserCommand>,
        mut addresses: watch::Receiver<Vec<IpAddr>>,
        monitor: mdns_sd::Receiver<DaemonEvent>,
        _own_watcher: Option<AddressWatcher>,
    ) {
        self.addresses = addresses.borrow_and_update().clone();
        self.register();
        let mut addresses_open = true;
        let mut monitor_open = true;
        let mut reannounce: Option<tokio::time::Instant> = None;
        loop {
            let reannounce_at = reannounce.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                () = tokio::time::sleep_until(reannounce_at), if reannounce.is_some() => {
                    reannounce = None;
                    log::debug!("discovery: announcing again after the address change");
                    self.register();
                }
                command = commands.recv() => match command {
                    Some(AdvertiserCommand::Update(advertisement, reply)) => {
                        let _ = reply.send(self.apply(advertisement).await);
                    }
                    Some(AdvertiserCommand::Stop(reply)) => {
                        self.goodbye_and_shut_down().await;
                        let _ = reply.send(());
                        return;
                    }
                    // The handle was dropped; its Drop shuts the daemon down.
                    None => return,
                },
                changed = addresses.changed(), if addresses_open => match changed {
                    Ok(()) => {
                        let fresh = addresses.borrow_and_update().clone();
                        if fresh != self.addresses {
                            log::info!("discovery: re-advertising with addresses {fresh:?}");
                            self.addresses = fresh;
                            self.refresh_daemon_interfaces();
                            self.register();
                            reannounce =
                                Some(tokio::time::Instant::now() + ADDRESS_CHANGE_REANNOUNCE);
                        }
                    }
                    Err(_) => {
                        log::debug!(
                            "discovery: the address source closed; keeping {:?}",
                            self.addresses
                        );
                        addresses_open = false;
                    }
                },
                event = monitor.recv_async(), if monitor_open => match event {
                    Ok(event) => self.on_daemon_event(event),
                    Err(_) => monitor_open = false,
                },
            }
        }
    }

    /// Makes the daemon look at the interfaces now, so a new address can be announced at
    /// once rather than after its next periodic check. (Applying the policy again is the only
    /// public way to trigger that; each call adds one entry to the daemon's selection list,
    /// which is harmless at the rate addresses change.)
    fn refresh_daemon_interfaces(&self) {
        if let Err(e) = self
            .daemon
            .enable_interface(IfKind::Predicate(self.predicate.clone()))
        {
            log::warn!("discovery: cannot refresh the daemon's interfaces: {e}");
        }
    }

    fn on_daemon_event(&mut self, event: DaemonEvent) {
        match event {
            DaemonEvent::Announce(fullname, on) => {
                log::debug!("discovery: announced {fullname} on {on}");
                self.announced = true;
            }
            DaemonEvent::NameChange(change) => {
                let is_instance = change.rr_type == mdns_sd::RRType::SRV
                    || change.rr_type == mdns_sd::RRType::TXT;
                if is_instance {
                    let new_label = label_of_fullname(&change.new_name);
                    log::info!(
                        "discovery: another host uses this name; advertising as {new_label:?} on {}",
                        change.intf_name
                    );
                    self.renamed_to = Some(new_label);
                    self.publish_state();
                } else {
                    log::info!(
                        "discovery: mDNS host name changed to {} after a conflict",
                        change.new_name
                    );
                }
            }
            // An interface came (back) up with one of our addresses, e.g. the cable was plugged
            // in again. `mdns-sd` re-announces only services with automatic addresses there, so
            // announce ours.
            DaemonEvent::IpAdd(ip) if self.registered.is_some() && self.addresses.contains(&ip) => {
                log::debug!("discovery: {ip} is usable again; re-announcing");
                self.register();
            }
            DaemonEvent::Error(e) => log::warn!("discovery: mDNS daemon error: {e}"),
            other => log::trace!("discovery: daemon event {other:?}"),
        }
    }

    /// (Re-)registers the current advertisement with the current addresses, or withdraws it
    /// when there are no addresses.
    fn register(&mut self) {
        // Published first, so that whoever sees the announcement also sees it here.
        self.publish_state();
        if self.addresses.is_empty() {
            if self.registered.is_some() {
                log::info!("discovery: no LAN address left; withdrawing the advertisement");
                self.unregister();
                self.publish_state();
            } else {
                log::info!("discovery: no LAN address yet; will advertise when one appears");
            }
            return;
        }
        let label = self.advertisement.instance_name();
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &label,
            &self.hostname,
            &self.addresses[..],
            self.advertisement.port,
            &self.advertisement.txt_properties()[..],
        );
        let mut info = match info {
            Ok(info) => info,
            Err(e) => {
                log::error!("discovery: cannot build the service record: {e}");
                return;
            }
        };
        // Probe only for a name not yet announced; an update of an announced name is just
        // announced again (RFC 6762 §8.4).
        let same_name = self.registered.as_deref() == Some(info.get_fullname());
        info.set_requires_probe(!(same_name && self.announced));
        let fullname = info.get_fullname().to_string();
        match self.daemon.register(info) {
            Ok(()) => {
                if !same_name {
                    self.announced = false;
                }
                self.registered = Some(fullname);
            }
            Err(e) => log::warn!("discovery: cannot register {fullname}: {e}"),
        }
    }

    /// Withdraws the registered instance; the daemon sends the goodbye before replying.
    fn unregister(&mut self) -> Option<mdns_sd::Receiver<UnregisterStatus>> {
        let fullname = self.registered.take()?;
        self.announced = false;
        self.renamed_to = None;
        match self.daemon.unregister(&fullname) {
            Ok(receiver) => Some(receiver),
            Err(e) => {
                log::warn!("discovery: cannot withdraw {fullname}: {e}");
                None
            }
        }
    }

    async fn apply(&mut self, advertisement: Advertisement) -> Result<(), DiscoveryError> {
        let renamed = advertisement.instance_name() != self.advertisement.instance_name();
        let hostname_follows_id = self.hostname == mdns_hostname(&self.advertisement.host_id);
        if hostname_follows_id {
            self.hostname = mdns_hostname(&advertisement.host_id);
        }
        self.advertisement = advertisement;
        if renamed {
            if let Some(receiver) = self.unregister() {
                wait_for_daemon(receiver, "goodbye").await;
            }
        }
        self.register();
        Ok(())
    }

    async fn goodbye_and_shut_down(&mut self) {
        if let Some(receiver) = self.unregister() {
            if wait_for_daemon(receiver, "goodbye").await.is_some() {
                tokio::time::sleep(GOODBYE_REPEAT_WAIT).await;
            }
        }
        match self.daemon.shutdown() {
            Ok(receiver) => {
                if wait_for_daemon(receiver, "shutdown").await != Some(DaemonStatus::Shutdown) {
                    log::debug!("discovery: daemon did not confirm shutdown");
                }
            }
            Err(e) => log::debug!("discovery: daemon already stopped: {e}"),
        }
        self.addresses.clear();
        self.publish_state();
    }

    fn publish_state(&self) {
        let mut state = lock(&self.state);
        state.advertisement = self.advertisement.clone();
        state.instance_name = self
            .renamed_to
            .clone()
            .unwrap_or_else(|| self.advertisement.instance_name());
        state.addresses = self.addresses.clone();
    }
}

/// Why a host that was found cannot be joined from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum NotJoinable {
    /// No `v` in TXT: not a lancall hub, or a broken one.
    MissingVersion,
    /// A protocol version this build does not speak (usually a newer lancall).
    UnsupportedVersion {
        /// The advertised version, as text.
        version: String,
    },
    /// No `id` in TXT.
    MissingHostId,
    /// No `fp` in TXT: nothing to pin, so an app joiner cannot trust the host.
    MissingFingerprint,
    /// `fp` is not 64 hex digits.
    BadFingerprint,
    /// No address records.
    NoAddress,
}

impl fmt::Display for NotJoinable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingVersion => write!(f, "it does not say which lancall version it runs"),
            Self::UnsupportedVersion { version } => write!(
                f,
                "it runs lancall protocol version {version}, this app speaks {PROTOCOL_VERSION}: update the older one"
            ),
            Self::MissingHostId => write!(f, "it does not give a host id"),
            Self::MissingFingerprint => write!(f, "it does not give its certificate fingerprint"),
            Self::BadFingerprint => write!(f, "its certificate fingerprint is malformed"),
            Self::NoAddress => write!(f, "it gives no address"),
        }
    }
}

/// A host found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// The DNS-SD instance name (unique on the LAN; the key of [`DiscoveryEvent::Gone`]).
    pub instance: String,
    /// The name to show (TXT `name`, or the instance name when absent).
    pub display_name: String,
    /// TXT `id` (empty when absent).
    pub host_id: String,
    /// The mDNS host name of the SRV target.
    pub hostname: String,
    /// Addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// The hub's port.
    pub port: u16,
    /// TXT `fp`, when present and well formed.
    pub ca_fingerprint: Option<CaFingerprint>,
    /// TXT `open` is `1`.
    pub open_rooms: bool,
    /// TXT `v` as text, when present.
    pub protocol_version: Option<String>,
    /// `None` when the app can join; otherwise why not. Such hosts are listed, not hidden, so
    /// the person sees "Ana's laptop: runs a newer lancall" instead of wondering.
    pub not_joinable: Option<NotJoinable>,
}

impl HostInfo {
    /// Whether the app can join this host.
    pub fn is_joinable(&self) -> bool {
        self.not_joinable.is_none()
    }

    fn from_resolved(resolved: &ResolvedService) -> Self {
        let instance = label_of_fullname(&resolved.fullname);
        let txt = |key| {
            resolved
                .txt_properties
                .get_property_val_str(key)
                .map(str::to_string)
        };
        let mut addresses: Vec<IpAddr> =
            resolved.addresses.iter().map(|a| a.to_ip_addr()).collect();
        addresses.sort_by_key(|a| (a.is_ipv6(), *a));
        addresses.dedup();

        let protocol_version = txt(TXT_VERSION);
        let host_id = txt(TXT_HOST_ID).unwrap_or_default();
        let fingerprint_text = txt(TXT_FINGERPRINT);
        let ca_fingerprint = fingerprint_text.as_deref().and_then(|t| t.parse().ok());

        let not_joinable = match protocol_version.as_deref() {
            None => Some(NotJoinable::MissingVersion),
            Some(v) if v.trim().parse::<u32>().ok() != Some(PROTOCOL_VERSION) => {
                Some(NotJoinable::UnsupportedVersion {
                    version: v.chars().take(16).collect(),
                })
            }
            Some(_) if host_id.is_empty() => Some(NotJoinable::MissingHostId),
            Some(_) if fingerprint_text.is_none() => Some(NotJoinable::MissingFingerprint),
            Some(_) if ca_fingerprint.is_none() => Some(NotJoinable::BadFingerprint),
            Some(_) if addresses.is_empty() => Some(NotJoinable::NoAddress),
            Some(_) => None,
        };
        if let Some(why) = &not_joinable {
            log::info!("discovery: found {instance:?}, not joinable: {why}");
        }

        Self {
            display_name: txt(TXT_NAME)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| instance.clone()),
            instance,
            host_id,
            hostname: resolved.host.clone(),
            addresses,
            port: resolved.port,
            ca_fingerprint,
            open_rooms: txt(TXT_OPEN).as_deref() == Some("1"),
            protocol_version,
            not_joinable,
        }
    }
}

/// A change in the set of hosts a [`Browser`] sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// A host appeared.
    Found(HostInfo),
    /// A known host changed: name, addresses, port, open rooms.
    Changed(HostInfo),
    /// A host left (goodbye), or its records expired (it vanished without one: the SRV record
    /// lives 120 s), or [`Browser::verify`] found it gone. Carries the instance name.
    Gone(String),
}

/// The hosts a browser sees, by lowercase full name (DNS names compare without case).
type HostMap = Arc<Mutex<BTreeMap<String, KnownHost>>>;

#[derive(Debug)]
struct KnownHost {
    /// The full name as received: `mdns-sd`'s cache is keyed by it, case and all.
    fullname: String,
    host: HostInfo,
}

/// A running search for hosts on the LAN.
///
/// Events come from [`next_event`](Self::next_event); [`hosts`](Self::hosts) is the current
/// list. The browser also sees the app's own host when this device hosts: filter by host id.
pub struct Browser {
    events: mpsc::UnboundedReceiver<DiscoveryEvent>,
    hosts: HostMap,
    daemon: ServiceDaemon,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts browsing on the interfaces `policy` allows. Hosts already up answer within
    /// about 100 ms.
    ///
    /// Android: the caller holds the Wi-Fi multicast lock until after [`stop`](Self::stop).
    /// Must be called from within a Tokio runtime.
    pub fn start(policy: &InterfacePolicy) -> Result<Self, DiscoveryError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| DiscoveryError::NoRuntime)?;
        let daemon = ServiceDaemon::new()?;
        let receiver = match restrict_to_policy(&daemon, &policy_predicate(policy))
            .and_then(|()| daemon.browse(SERVICE_TYPE))
        {
            Ok(receiver) => receiver,
            Err(e) => {
                shut_down_quietly(&daemon);
                return Err(e.into());
            }
        };
        let hosts = HostMap::default();
        let (sender, events) = mpsc::unbounded_channel();
        let task = runtime.spawn(browse_task(receiver, sender, hosts.clone()));
        Ok(Self {
            events,
            hosts,
            daemon,
            task: Some(task),
        })
    }

    /// The next change, or `None` once the browser has stopped.
    pub async fn next_event(&mut self) -> Option<DiscoveryEvent> {
        self.events.recv().await
    }

    /// The hosts seen now, sorted by display name.
    pub fn hosts(&self) -> Vec<HostInfo> {
        sorted_hosts(&lock(&self.hosts))
    }

    /// Asks the network whether `instance` is still there (RFC 6762 §10.4): if nothing answers
    /// within `timeout`, it is dropped and [`DiscoveryEvent::Gone`] follows. For the app to call
    /// when a join fails, so a host that vanished without a goodbye does not linger for the two
    /// minutes its records live.
    pub fn verify(&self, instance: &str, timeout: Duration) -> Result<(), DiscoveryError> {
        let fullname = {
            let hosts = lock(&self.hosts);
            hosts
                .values()
                .find(|known| known.host.instance == instance)
                .map(|known| known.fullname.clone())
        };
        let fullname =
            fullname.unwrap_or_else(|| format!("{}.{SERVICE_TYPE}", escape_label(instance)));
        Ok(self.daemon.verify(fullname, timeout)?)
    }

    /// Stops browsing and shuts the daemon down.
    pub async fn stop(mut self) {
        match self.daemon.shutdown() {
            Ok(receiver) => {
                wait_for_daemon(receiver, "shutdown").await;
            }
            Err(e) => log::debug!("discovery: daemon already stopped: {e}"),
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            shut_down_quietly(&self.daemon);
        }
    }
}

async fn browse_task(
    receiver: mdns_sd::Receiver<ServiceEvent>,
    events: mpsc::UnboundedSender<DiscoveryEvent>,
    hosts: HostMap,
) {
    while let Ok(event) = receiver.recv_async().await {
        let change = match event {
            ServiceEvent::ServiceResolved(resolved) => {
                let host = HostInfo::from_resolved(&resolved);
                let key = resolved.fullname.to_lowercase();
                let known = KnownHost {
                    fullname: resolved.fullname.clone(),
                    host: host.clone(),
                };
                let previous = lock(&hosts).insert(key, known).map(|known| known.host);
                match previous {
                    None => {
                        log::info!(
                            "discovery: found {:?} at {:?} port {}",
                            host.instance,
                            host.addresses,
                            host.port
                        );
                        DiscoveryEvent::Found(host)
                    }
                    Some(previous) if previous != host => {
                        log::info!("discovery: {:?} changed", host.instance);
                        DiscoveryEvent::Changed(host)
                    }
                    Some(_) => continue,
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                match lock(&hosts)
                    .remove(&fullname.to_lowercase())
                    .map(|known| known.host)
                {
                    Some(host) => {
                        log::info!("discovery: {:?} is gone", host.instance);
                        DiscoveryEvent::Gone(host.instance)
                    }
                    None => continue,
                }
            }
            ServiceEvent::SearchStopped(_) => break,
            _ => continue,
        };
        if events.send(change).is_err() {
            break;
        }
    }
}

fn sorted_hosts(hosts: &BTreeMap<String, KnownHost>) -> Vec<HostInfo> {
    let mut list: Vec<HostInfo> = hosts.values().map(|known| known.host.clone()).collect();
    list.sort_by(|a, b| {
        (a.display_name.to_lowercase(), &a.instance)
            .cmp(&(b.display_name.to_lowercase(), &b.instance))
    });
    list
}

/// Browses for `duration` and returns the hosts seen at the end, sorted by display name: the
/// `lancall-host discover` subcommand. One to three seconds is enough on a quiet LAN (hosts
/// answer a query within about 100 ms; a host that just started needs about 1.5 s).
pub async fn discover_for(
    duration: Duration,
    policy: &InterfacePolicy,
) -> Result<Vec<HostInfo>, DiscoveryError> {
    let browser = Browser::start(policy)?;
    tokio::time::sleep(duration).await;
    let hosts = browser.hosts();
    browser.stop().await;
    Ok(hosts)
}

/// The human output of `lancall-host discover`: one block per host, or a sentence saying none
/// was found and what to try.
pub fn format_hosts_human(hosts: &[HostInfo]) -> String {
    if hosts.is_empty() {
        return "No lancall hosts found on this network. Is the host on the same Wi-Fi? You can also enter its address by hand.\n".to_string();
    }
    let mut out = String::new();
    for host in hosts {
        let addresses: Vec<String> = host.addresses.iter().map(ToString::to_string).collect();
        out.push_str(&format!("{}\n", host.display_name));
        if host.instance != host.display_name {
            out.push_str(&format!("  advertised as: {}\n", host.instance));
        }
        out.push_str(&format!(
            "  addresses:     {} (port {})\n",
            addresses.join(", "),
            host.port
        ));
        out.push_str(&format!(
            "  open rooms:    {}\n",
            if host.open_rooms { "yes" } else { "no" }
        ));
        out.push_str(&format!("  host id:       {}\n", host.host_id));
        match &host.ca_fingerprint {
            Some(fp) => out.push_str(&format!("  CA SHA-256:    {}\n", fp.to_colon_hex())),
            None => out.push_str("  CA SHA-256:    (none)\n"),
        }
        if let Some(why) = &host.not_joinable {
            out.push_str(&format!("  cannot join:   {why}\n"));
        }
    }
    out
}

/// The `--json` output of `lancall-host discover`: one JSON object per host per line, with
/// `instance`, `name`, `host_id`, `hostname`, `addresses` (strings), `port`, `fingerprint`
/// (hex or null), `open_rooms`, `version` (text or null), `joinable`, and `problem` (null, or an
/// object with a `problem` code such as `unsupported_version` and a `message`).
pub fn format_hosts_json_lines(hosts: &[HostInfo]) -> String {
    let mut out = String::new();
    for host in hosts {
        let problem = host.not_joinable.as_ref().map(|why| {
            let mut value = serde_json::to_value(why).unwrap_or(serde_json::Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.insert("message".into(), why.to_string().into());
            }
            value
        });
        let line = serde_json::json!({
            "instance": host.instance,
            "name": host.display_name,
            "host_id": host.host_id,
            "hostname": host.hostname,
            "addresses": host.addresses,
            "port": host.port,
            "fingerprint": host.ca_fingerprint,
            "open_rooms": host.open_rooms,
            "version": host.protocol_version,
            "joinable": host.is_joinable(),
            "problem": problem,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

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

/// A display name fit for an instance label: trimmed, control characters dropped, cut to fit.
fn clean_display_name(display_name: &str) -> String {
    let cleaned: String = display_name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    truncate_utf8(cleaned.trim(), INSTANCE_NAME_MAX_BYTES)
        .trim_end()
        .to_string()
}

/// Four hex digits derived from the host id (32-bit FNV-1a, folded to 16 bits): short, the
/// same on every platform and version, and different for different hosts with overwhelming
/// likelihood whatever the id looks like (`host-a` and `host-b` share a prefix, for example).
fn host_tag(host_id: &str) -> String {
    let hash = host_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{:04x}", (hash >> 16) ^ (hash & 0xffff))
}

fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The instance label of a full service name, with DNS escapes (`\.`, `\\`, `\DDD`) undone.
fn label_of_fullname(fullname: &str) -> String {
    let suffix = format!(".{SERVICE_TYPE}");
    let label = if fullname.len() > suffix.len() && fullname.to_ascii_lowercase().ends_with(&suffix)
    {
        &fullname[..fullname.len() - suffix.len()]
    } else {
        fullname
            .split_once("._")
            .map_or(fullname, |(label, _)| label)
    };
    unescape_label(label)
}

fn unescape_label(label: &str) -> String {
    let mut bytes = Vec::with_capacity(label.len());
    let raw = label.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            let digits = raw
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            if let Some(value) =
                digits.and_then(|d| std::str::from_utf8(d).ok()?.parse::<u8>().ok())
            {
                bytes.push(value);
                i += 4;
            } else {
                bytes.push(raw[i + 1]);
                i += 2;
            }
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn escape_label(label: &str) -> String {
    label.replace('\\', "\\\\").replace('.', "\\.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_unescape_and_truncate() {
        assert_eq!(
            label_of_fullname("Ana\\.s laptop (2)._lancall._tcp.local."),
            "Ana.s laptop (2)"
        );
        assert_eq!(
            label_of_fullname("caf\\195\\169._lancall._tcp.local."),
            "café"
        );
        assert!(
            clean_display_name("  ümlaut ".repeat(20).as_str()).len() <= INSTANCE_NAME_MAX_BYTES
        );
        assert_eq!(host_tag("host-a").len(), 4);
        assert_ne!(host_tag("host-a"), host_tag("host-b"));
        assert_eq!(mdns_hostname("3F2A-9c1e_X"), "lancall-3f2a-9c1ex.local.");
        assert_eq!(mdns_hostname("!!!"), "lancall.local.");
    }
}
