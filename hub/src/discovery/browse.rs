//! Browsing for hosts: a [`Browser`] keeps the list of lancall hosts on the LAN and reports
//! changes; [`discover_for`] is its one-shot form.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::record::escape_label;
use super::{abort_unstopped, policy_predicate, restrict_to_policy, shut_down_quietly, wait_for_daemon, DiscoveryError, HostInfo, SERVICE_TYPE};
use crate::netif::InterfacePolicy;
use lancall_protocol::sync::lock;

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
        abort_unstopped(&mut self.task, &self.daemon);
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
