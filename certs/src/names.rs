//! The names a leaf certificate carries, and where they come from.
//!
//! A browser joining by `https://192.168.1.20:8443/` checks that the certificate names
//! 192.168.1.20, so the leaf lists every LAN address of the host, plus the loopback names (for
//! the host's own browser) and `<hostname>.local` (mDNS name). Only addresses inside the CA's name
//! constraints can go in: one name outside them makes every verifier reject the whole leaf.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IP ranges the CA may certify (its permitted name-constraint subtrees): private IPv4
/// (RFC 1918), IPv4 link-local, IPv4 loopback, IPv6 unique-local, IPv6 link-local and `::1`.
/// A public address is refused even if someone gets hold of the CA key.
pub const PERMITTED_IP_RANGES: &[(IpAddr, u8)] = &[
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
    (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    (IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
];

/// The DNS subtrees the CA may certify: `local` (which covers `*.local`, the mDNS names) and
/// `localhost`.
pub const PERMITTED_DNS_NAMES: &[&str] = &["local", "localhost"];

/// True when `ip` lies inside one of [`PERMITTED_IP_RANGES`].
pub fn is_permitted_ip(ip: IpAddr) -> bool {
    PERMITTED_IP_RANGES
        .iter()
        .any(|&(net, prefix)| in_prefix(ip, net, prefix))
}

fn in_prefix(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The set of names (IP addresses and DNS names) in a leaf certificate.
///
/// Sets, so that comparing the persisted leaf's names with the wanted ones ignores order; DNS
/// names are kept in lowercase because DNS is case-insensitive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafNames {
    ips: BTreeSet<IpAddr>,
    dns: BTreeSet<String>,
}

impl LeafNames {
    /// Exactly these names, unfiltered. For leaves outside the usual host set (tests use it to
    /// make a leaf for a public address, which the CA's name constraints must then refuse).
    pub fn new<S: AsRef<str>>(
        ips: impl IntoIterator<Item = IpAddr>,
        dns: impl IntoIterator<Item = S>,
    ) -> LeafNames {
        LeafNames {
            ips: ips.into_iter().collect(),
            dns: dns
                .into_iter()
                .map(|s| s.as_ref().trim_end_matches('.').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// The names for this host: the given LAN addresses (loopback, unspecified and multicast
    /// ones, and any outside the CA's [`PERMITTED_IP_RANGES`], are dropped: see the module doc),
    /// plus `127.0.0.1`, `::1`, `localhost`, and `<label>.local` where `label` is `hostname`
    /// made into a DNS label (skipped when nothing usable remains).
    pub fn for_host(lan_ips: &[IpAddr], hostname: Option<&str>) -> LeafNames {
        let mut ips = BTreeSet::new();
        for &ip in lan_ips {
            let ip = canonical(ip);
            if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
                continue;
            }
            if !is_permitted_ip(ip) {
                log::debug!("not putting {ip} in the certificate: it is not a private LAN address");
                continue;
            }
            ips.insert(ip);
        }
        ips.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
        ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let mut dns = BTreeSet::new();
        dns.insert("localhost".to_owned());
        if let Some(label) = hostname.and_then(dns_label) {
            dns.insert(format!("{label}.local"));
        }
        LeafNames { ips, dns }
    }

    /// The IP addresses, sorted.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ips.iter().copied()
    }

    /// The DNS names (lowercase), sorted.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.dns.iter().map(String::as_str)
    }

    /// True when `ip` is among the names.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.ips.contains(&canonical(ip))
    }

    /// True when `name` (any case) is among the DNS names.
    pub fn contains_dns(&self, name: &str) -> bool {
        self.dns
            .contains(&name.trim_end_matches('.').to_ascii_lowercase())
    }

    /// True when there are no names at all.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.dns.is_empty()
    }

    pub(crate) fn insert_ip(&mut self, ip: IpAddr) {
        self.ips.insert(ip);
    }

    pub(crate) fn insert_dns(&mut self, name: &str) {
        self.dns.insert(name.to_ascii_lowercase());
    }
}

impl fmt::Display for LeafNames {
    /// `192.168.1.20, 127.0.0.1, ::1, localhost, host.local`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self
            .ips
            .iter()
            .map(ToString::to_string)
            .chain(self.dns.iter().cloned())
        {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(&name)?;
        }
        Ok(())
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) names the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// This machine's host name, if it can be found without platform-specific code:
/// `/proc/sys/kernel/hostname` (Linux, Android), the `HOSTNAME` / `COMPUTERNAME` environment
/// variables (shells, Windows), `/etc/hostname`, then the `hostname` command (macOS, BSD).
pub fn hostname() -> Option<String> {
    let clean = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty() && s != "(none)").then_some(s)
    };
    if let Some(h) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(clean)
    {
        return Some(h);
    }
    for var in ["HOSTNAME", "COMPUTERNAME"] {
        if let Some(h) = std::env::var(var).ok().and_then(clean) {
            return Some(h);
        }
    }
    if let Some(h) = std::fs::read_to_string("/etc/hostname")
        .ok()
        .and_then(clean)
    {
        return Some(h);
    }
    #[cfg(all(unix, not(target_os = "android")))]
    if let Ok(out) = std::process::Command::new("hostname")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    {
        if out.status.success() {
            if let Some(h) = String::from_utf8(out.stdout).ok().and_then(clean) {
                return Some(h);
            }
        }
    }
    None
}

/// `hostname` made into one valid DNS label for `<label>.local`: the part before the first dot,
/// lowercased, with every run of characters other than `a-z`, `0-9` turned into one `-`, no
/// leading or trailing `-`, at most 63 characters. `None` when nothing remains or the name is
/// `localhost` (already in every leaf).
///
/// ```
/// assert_eq!(lancall_certs::dns_label("Anna's MacBook Pro.fritz.box").as_deref(),
///            Some("anna-s-macbook-pro"));
/// assert_eq!(lancall_certs::dns_label("---"), None);
/// ```
pub fn dns_label(hostname: &str) -> Option<String> {
    let first = hostname.trim().split('.').next().unwrap_or_default();
    let mut label = String::with_capacity(first.len());
    for c in first.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.ends_with('-') {
            label.push('-');
        }
    }
    let mut label = label.trim_matches('-').to_owned();
    if label.len() > 63 {
        label.truncate(63);
        label = label.trim_end_matches('-').to_owned();
    }
    (!label.is_empty() && label != "localhost").then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn prefixes() {
        for ok in [
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.9.9",
            "127.0.0.2",
        ] {
            assert!(is_permitted_ip(ip(ok)), "{ok}");
        }
        for ok in ["fd12::1", "fc00::1", "fe80::1", "febf::1", "::1"] {
            assert!(is_permitted_ip(ip(ok)), "{ok}");
        }
        for bad in [
            "172.32.0.1",
            "8.8.8.8",
            "100.64.0.1",
            "11.0.0.1",
            "2001:db8::1",
            "::2",
            "fec0::1",
        ] {
            assert!(!is_permitted_ip(ip(bad)), "{bad}");
        }
    }
}
