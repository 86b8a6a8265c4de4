//! Advertising this host: an [`Advertiser`] handle and the task that keeps its records in step
//! with the advertisement and the LAN addresses, and says goodbye when stopped.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdns_sd::{DaemonEvent, DaemonStatus, IfKind, IfPredicate, ServiceDaemon, ServiceInfo, UnregisterStatus};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::record::label_of_fullname;
use super::{
    abort_unstopped, mdns_hostname, policy_predicate, restrict_to_policy, shut_down_quietly, wait_for_daemon, Advertisement,
    DiscoveryError, RoomListing, SERVICE_TYPE,
};
use crate::netif::{self, AddressWatcher, InterfacePolicy};
use lancall_protocol::sync::lock;

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
    Rooms(Vec<RoomListing>, oneshot::Sender<()>),
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
            rooms: Vec::new(),
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

    /// Advertises the rooms open to the LAN now (TXT `rooms`).
    pub async fn set_rooms(&self, rooms: Vec<RoomListing>) -> Result<(), DiscoveryError> {
        let (reply, replied) = oneshot::channel();
        self.commands.send(AdvertiserCommand::Rooms(rooms, reply)).await.map_err(|_| DiscoveryError::Stopped)?;
        replied.await.map_err(|_| DiscoveryError::Stopped)
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
        // Not stopped: the daemon's own shutdown sends one goodbye per record.
        abort_unstopped(&mut self.task, &self.daemon);
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
    /// The rooms open to the LAN (TXT `rooms`).
    rooms: Vec<RoomListing>,
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
                    Some(AdvertiserCommand::Rooms(rooms, reply)) => {
                        if rooms != self.rooms {
                            self.rooms = rooms;
                            // The same name: announced again in place (RFC 6762 §8.4).
                            self.register();
                        }
                        let _ = reply.send(());
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
            &self.advertisement.txt_properties(&self.rooms)[..],
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
