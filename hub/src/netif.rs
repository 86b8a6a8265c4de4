//! Which network interfaces and addresses are "the LAN".
//!
//! A host puts these addresses in three places: the IP SANs of its leaf certificate, its join links
//! and QR codes, and its mDNS address records. A laptop has many interfaces that are *not* the
//! network its guests are on: Docker and libvirt bridges, VPN tunnels, a phone's cellular link. An
//! address from one of those in a join link is a link that cannot work, and mDNS sent there either
//! goes nowhere or leaks the call into a container network. So every consumer asks this module, with
//! one [`InterfacePolicy`], and they all agree.
//!
//! [`watch_addresses`] polls for changes (Wi-Fi to Ethernet, a DHCP renewal) so the host can
//! reissue its certificate and re-advertise. Polling every few seconds costs one `getifaddrs`
//! call; a netlink/route-socket subscription would be faster but differs on every platform.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why an interface is left out of the LAN by the default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Loopback: reachable only from this device.
    Loopback,
    /// A bridge or virtual link for containers or virtual machines (Docker, Podman, libvirt, LXC,
    /// CNI, VirtualBox, VMware, WSL): guests on the real LAN cannot reach it.
    VirtualBridge,
    /// A cellular data link (Android `rmnet*`/`ccmni*`, iOS `pdp_ip*`, Linux `wwan*`): the
    /// carrier's network, never the room's Wi-Fi, and multicast there is dropped or billed.
    Cellular,
    /// A VPN or tunnel (WireGuard, Tailscale, OpenVPN tun/tap, PPP, IPsec, macOS utun): it may
    /// reach far away, but it is not the local network and usually carries no multicast.
    Tunnel,
    /// Apple peer-to-peer Wi-Fi (AWDL): not a LAN, and mDNS there wakes every nearby Apple device.
    PeerToPeer,
    /// The user chose an explicit list of interfaces and this one is not on it.
    NotChosen,
}

/// Name prefixes (lowercase) of interfaces that are never the LAN, with the reason.
///
/// Prefixes, not exact names, because these are numbered or suffixed (`docker0`, `br-3f2a…`,
/// `vethab12cd`, `rmnet_data0`, `utun3`). `vEthernet (WSL…` and `vEthernet (Default Switch)` are
/// the Windows names of the WSL and Hyper-V NAT switches (other `vEthernet` switches may be a
/// real bridged LAN, so they are not skipped).
const SKIPPED_PREFIXES: &[(&str, SkipReason)] = &[
    ("docker", SkipReason::VirtualBridge),
    ("br-", SkipReason::VirtualBridge),
    ("virbr", SkipReason::VirtualBridge),
    ("lxcbr", SkipReason::VirtualBridge),
    ("lxdbr", SkipReason::VirtualBridge),
    ("cni", SkipReason::VirtualBridge),
    ("podman", SkipReason::VirtualBridge),
    ("veth", SkipReason::VirtualBridge),
    ("flannel", SkipReason::VirtualBridge),
    ("cali", SkipReason::VirtualBridge),
    ("cilium", SkipReason::VirtualBridge),
    ("weave", SkipReason::VirtualBridge),
    ("kube-", SkipReason::VirtualBridge),
    ("vboxnet", SkipReason::VirtualBridge),
    ("vmnet", SkipReason::VirtualBridge),
    ("vethernet (wsl", SkipReason::VirtualBridge),
    ("vethernet (default switch)", SkipReason::VirtualBridge),
    ("rmnet", SkipReason::Cellular),
    ("ccmni", SkipReason::Cellular),
    ("pdp_ip", SkipReason::Cellular),
    ("wwan", SkipReason::Cellular),
    ("tun", SkipReason::Tunnel),
    ("tap", SkipReason::Tunnel),
    ("wg", SkipReason::Tunnel),
    ("tailscale", SkipReason::Tunnel),
    ("utun", SkipReason::Tunnel),
    ("ppp", SkipReason::Tunnel),
    ("ipsec", SkipReason::Tunnel),
    ("zt", SkipReason::Tunnel),
    ("nordlynx", SkipReason::Tunnel),
    ("gif", SkipReason::Tunnel),
    ("stf", SkipReason::Tunnel),
    ("sit", SkipReason::Tunnel),
    ("gre", SkipReason::Tunnel),
    ("ip6tnl", SkipReason::Tunnel),
    ("awdl", SkipReason::PeerToPeer),
    ("llw", SkipReason::PeerToPeer),
];

/// Which interfaces count as the LAN, for addresses and for mDNS alike.
///
/// The default skips loopback and the interfaces listed in [`SkipReason`]. A user whose LAN is
/// on an interface the default skips (a bridge they named `br-lan`, say) or who wants one
/// interface only chooses an explicit list with [`InterfacePolicy::only`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfacePolicy {
    /// `None`: every interface except those the default list skips. `Some(names)`: exactly these
    /// interfaces (by name, as the OS spells it), skip list not applied.
    pub only: Option<Vec<String>>,
    /// Also use loopback (`lo`, 127.0.0.1, ::1). Off by default: a join link with 127.0.0.1 works
    /// only on the host itself. Useful for tests and for a host that is its own only guest.
    pub include_loopback: bool,
    /// Also use public (globally routable) addresses. Off by default because the host's CA is
    /// name-constrained to private ranges and `.local`, so a certificate for a public address
    /// would be rejected anyway; on a LAN that really uses public addresses, turn it on.
    pub include_public: bool,
}

impl InterfacePolicy {
    /// Exactly these interfaces (the user chose them in settings or with `--interface`).
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            only: Some(names.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    /// The same policy with loopback included or not.
    pub fn with_loopback(mut self, include: bool) -> Self {
        self.include_loopback = include;
        self
    }

    /// Why the interface `name` is not part of the LAN, or `None` when it is. `is_loopback` is
    /// whether the interface (or the address being considered) is loopback; names alone do not
    /// tell (`lo`, `lo0`, `Loopback Pseudo-Interface 1`).
    pub fn skip_reason(&self, name: &str, is_loopback: bool) -> Option<SkipReason> {
        if let Some(chosen) = &self.only {
            // An explicit choice wins over every default, loopback included: naming `lo` is
            // asking for it.
            return if chosen.iter().any(|c| c == name) {
                None
            } else {
                Some(SkipReason::NotChosen)
            };
        }
        if is_loopback {
            return (!self.include_loopback).then_some(SkipReason::Loopback);
        }
        let lower = name.to_ascii_lowercase();
        SKIPPED_PREFIXES
            .iter()
            .find(|(prefix, _)| lower.starts_with(prefix))
            .map(|(_, reason)| *reason)
    }

    /// Whether mDNS and addresses may use the interface `name`.
    pub fn allows_interface(&self, name: &str, is_loopback: bool) -> bool {
        self.skip_reason(name, is_loopback).is_none()
    }
}

/// Where an address may be used, from a LAN host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AddressScope {
    /// RFC 1918 IPv4 or an IPv6 unique local address (fc00::/7): the normal LAN case.
    Private,
    /// Globally routable.
    Public,
    /// 169.254/16: self-assigned when there is no DHCP server (two laptops on a cable). Usable,
    /// but only as a last resort: when a DHCP address exists, the link-local one is usually
    /// left over and peers on the LAN cannot reach it.
    LinkLocalV4,
    /// Loopback.
    Loopback,
    /// Never usable in a join link or certificate: unspecified, multicast, IPv6 link-local
    /// (fe80::/10 needs a zone id that browsers do not accept in URLs), CGNAT 100.64/10
    /// (carrier or Tailscale space), documentation ranges and the like.
    Unusable,
}

fn scope_of(addr: IpAddr) -> AddressScope {
    match addr {
        IpAddr::V4(v4) => scope_of_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => scope_of_v4(v4),
            None => scope_of_v6(v6),
        },
    }
}

fn scope_of_v4(v4: Ipv4Addr) -> AddressScope {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        AddressScope::Loopback
    } else if v4.is_link_local() {
        AddressScope::LinkLocalV4
    } else if v4.is_private() {
        AddressScope::Private
    } else if v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || (a == 100 && (64..128).contains(&b))
        || a == 0
        || a >= 240
    {
        AddressScope::Unusable
    } else {
        AddressScope::Public
    }
}

fn scope_of_v6(v6: Ipv6Addr) -> AddressScope {
    let first = v6.segments()[0];
    if v6.is_loopback() {
        AddressScope::Loopback
    } else if v6.is_unspecified() || v6.is_multicast() || (first & 0xffc0) == 0xfe80 {
        AddressScope::Unusable
    } else if (first & 0xfe00) == 0xfc00 {
        AddressScope::Private
    } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
        AddressScope::Unusable
    } else {
        AddressScope::Public
    }
}

/// The LAN addresses among `interfaces` (name, address pairs as `list_afinet_netifas` gives
/// them), following `policy`.
///
/// Pure, so the rules can be tested on made-up interface lists. The result is sorted (IPv4
/// before IPv6) and has no duplicates, so two calls can be compared to detect a change.
/// A 169.254/16 address is kept only when nothing else (loopback aside) is left.
pub fn select_lan_addresses(
    policy: &InterfacePolicy,
    interfaces: &[(String, IpAddr)],
) -> Vec<IpAddr> {
    let mut chosen = Vec::new();
    let mut link_local = Vec::new();
    for (name, addr) in interfaces {
        let scope = scope_of(*addr);
        if let Some(reason) = policy.skip_reason(name, scope == AddressScope::Loopback) {
            log::trace!("netif: skipping {name} ({addr}): {reason:?}");
            continue;
        }
        match scope {
            AddressScope::Private | AddressScope::Loopback => chosen.push(*addr),
            AddressScope::Public if policy.include_public => chosen.push(*addr),
            AddressScope::LinkLocalV4 => link_local.push(*addr),
            AddressScope::Public | AddressScope::Unusable => {
                log::trace!("netif: not using {addr} on {name}: {scope:?}");
            }
        }
    }
    if chosen.iter().all(|a| a.is_loopback()) {
        chosen.extend(link_local);
    }
    chosen.sort_by_key(|a| (a.is_ipv6(), *a));
    chosen.dedup();
    chosen
}

/// The LAN addresses of this device now, following `policy`. Empty when it has none (offline,
/// or only skipped interfaces): the caller shows "not connected to a network" rather than
/// failing. A failure to list the interfaces is logged and also gives an empty list.
pub fn lan_addresses(policy: &InterfacePolicy) -> Vec<IpAddr> {
    match local_ip_address::list_afinet_netifas() {
        Ok(interfaces) => select_lan_addresses(policy, &interfaces),
        Err(e) => {
            log::warn!("netif: cannot list network interfaces: {e}");
            Vec::new()
        }
    }
}

/// A background poll of [`lan_addresses`]; see [`watch_addresses`].
///
/// Stops when [`AddressWatcher::stop`] is called or the watcher is dropped. Receivers handed
/// out earlier then see the channel closed (`changed()` returns an error) and keep the last
/// value.
#[derive(Debug)]
pub struct AddressWatcher {
    receiver: watch::Receiver<Vec<IpAddr>>,
    task: JoinHandle<()>,
}

impl AddressWatcher {
    /// A receiver that sees the current addresses and every change.
    pub fn subscribe(&self) -> watch::Receiver<Vec<IpAddr>> {
        self.receiver.clone()
    }

    /// The addresses as of the last poll.
    pub fn current(&self) -> Vec<IpAddr> {
        self.receiver.borrow().clone()
    }

    /// Stops polling.
    pub fn stop(self) {
        // Drop does the work.
    }
}

impl Drop for AddressWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls the LAN addresses every `interval` and publishes each change.
///
/// The first value is read before this returns, so `current()` is valid at once. A failed
/// listing keeps the previous value (a transient netlink error should not make the host drop
/// its certificate SANs). Must be called from within a Tokio runtime, as `tokio::spawn` must.
pub fn watch_addresses(policy: InterfacePolicy, interval: Duration) -> AddressWatcher {
    let (sender, receiver) = watch::channel(lan_addresses(&policy));
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the first value is already sent
        loop {
            ticker.tick().await;
            let interfaces = match local_ip_address::list_afinet_netifas() {
                Ok(interfaces) => interfaces,
                Err(e) => {
                    log::debug!(
                        "netif: cannot list network interfaces, keeping the last addresses: {e}"
                    );
                    continue;
                }
            };
            let fresh = select_lan_addresses(&policy, &interfaces);
            sender.send_if_modified(|current| {
                if *current == fresh {
                    return false;
                }
                log::info!("netif: LAN addresses changed from {current:?} to {fresh:?}");
                *current = fresh;
                true
            });
        }
    });
    AddressWatcher { receiver, task }
}
