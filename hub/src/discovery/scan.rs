//! The scan: finding lancall hosts when multicast does not get through (Wi-Fi client isolation,
//! guest networks, VPNs, multicast filtering), as LocalSend falls back to an HTTP scan.
//!
//! What it sends: for each IPv4 subnet of an interface the [`InterfacePolicy`] accepts (the
//! interface's own prefix, narrowed to at most a /22 around its address), one TCP connection to
//! lancall's port on each address (its own too: a host on this same machine is listed, as mDNS
//! lists it; the app leaves out its own by host id), at most [`ScanConfig::concurrency`] at a time,
//! each given [`ScanConfig::timeout`] in all; where something answers, one TLS handshake and
//! `GET /.well-known/lancall`. Nothing else, at most [`ScanConfig::max_probes`] addresses per
//! scan. The answer holds the same keys as the mDNS TXT record and is read by the same code
//! ([`HostInfo::from_record`]), so a scanned host is listed, checked and pinned exactly like
//! one found by mDNS. Like the TXT record it is unauthenticated: the fingerprint it gives is what
//! the app then pins, and the four words let people compare it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{FoundBy, HostInfo};
use crate::netif::InterfacePolicy;

/// The path a lancall host answers for the scan.
pub const WELL_KNOWN_PATH: &str = "/.well-known/lancall";
/// A host's answer is small; more is not a lancall host.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// How a scan goes.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// The port to probe (lancall's HTTPS port).
    pub port: u16,
    /// Probes at once.
    pub concurrency: usize,
    /// How long one address may take, connection, TLS and answer together.
    pub timeout: Duration,
    /// Addresses probed at most per scan.
    pub max_probes: usize,
    /// The widest subnet scanned around an address (a /22: 1,022 addresses).
    pub widest_prefix: u8,
}

impl ScanConfig {
    /// The defaults for `port`: 64 at a time, 500 ms each (LocalSend: 50 and 500 ms), so that a
    /// /24 where almost nothing answers takes about 2 s.
    pub fn for_port(port: u16) -> Self {
        ScanConfig { port, concurrency: 64, timeout: Duration::from_millis(500), max_probes: 1024, widest_prefix: 22 }
    }
}

/// The addresses a scan probes: every address of each accepted interface's IPv4 subnet,
/// narrowed to `widest_prefix`, capped at `max_probes` (in interface and address order), never
/// the network or the broadcast address.
pub fn scan_targets(policy: &InterfacePolicy, config: &ScanConfig) -> Vec<Ipv4Addr> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(list) => list,
        Err(e) => {
            log::warn!("scan: cannot list the network interfaces: {e}");
            return Vec::new();
        }
    };
    let mut subnets = Vec::new();
    for i in &interfaces {
        let if_addrs::IfAddr::V4(a) = &i.addr else { continue };
        if a.ip.is_loopback() || !policy.allows_interface(&i.name, a.ip.is_loopback()) {
            continue;
        }
        subnets.push((a.ip, a.prefixlen));
    }
    targets_in(&subnets, config)
}

/// [`scan_targets`] for given `(address, prefix length)` subnets.
pub fn targets_in(subnets: &[(Ipv4Addr, u8)], config: &ScanConfig) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for &(ip, prefix) in subnets {
        // A /31 or /32 has no neighbours to look for.
        let prefix = prefix.max(config.widest_prefix);
        if prefix >= 31 {
            continue;
        }
        let mask = u32::MAX << (32 - u32::from(prefix));
        let network = u32::from(ip) & mask;
        let broadcast = network | !mask;
        for n in (network + 1)..broadcast {
            let candidate = Ipv4Addr::from(n);
            if out.len() >= config.max_probes {
                return out;
            }
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// Scans this device's subnets ([`scan_targets`], then [`scan`]): the lancall hosts found, and
/// how many addresses were asked.
pub async fn scan_subnets(policy: &InterfacePolicy, config: &ScanConfig) -> (Vec<HostInfo>, usize) {
    let targets = scan_targets(policy, config);
    let asked = targets.len();
    log::info!("scanning {asked} addresses on port {}", config.port);
    (scan(targets, config).await, asked)
}

/// Probes `targets` on `config.port` and returns the lancall hosts that answered, each with
/// the address it answered on.
pub async fn scan(targets: Vec<Ipv4Addr>, config: &ScanConfig) -> Vec<HostInfo> {
    // Any certificate: the host is unknown; what it says is checked when joining, where its CA
    // is pinned. Nothing secret is sent.
    let tls = TlsConnector::from(Arc::new(lancall_certs::client_config_probe()));
    let found: Vec<HostInfo> = stream::iter(targets)
        .map(|ip| {
            let tls = tls.clone();
            let addr = SocketAddr::new(IpAddr::V4(ip), config.port);
            async move { tokio::time::timeout(config.timeout, probe(addr, tls)).await.ok().flatten() }
        })
        .buffer_unordered(config.concurrency.max(1))
        .filter_map(|h| async move { h })
        .collect()
        .await;
    merge(found)
}

/// One host per host id (a host with several addresses answers on each; a host found by mDNS
/// and by the scan is one, found by both), addresses merged; the first's details win.
pub fn merge(found: Vec<HostInfo>) -> Vec<HostInfo> {
    let mut out: Vec<HostInfo> = Vec::new();
    for h in found {
        match out.iter_mut().find(|o| !o.host_id.is_empty() && o.host_id == h.host_id) {
            Some(o) => {
                o.addresses.extend(h.addresses);
                o.addresses.sort_by_key(|a| (a.is_ipv6(), *a));
                o.addresses.dedup();
                if o.found_by != h.found_by {
                    o.found_by = FoundBy::MdnsAndScan;
                }
            }
            None => out.push(h),
        }
    }
    out.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.instance.cmp(&b.instance)));
    out
}

/// Asks one address what it is; `None` when it is not a lancall host.
async fn probe(addr: SocketAddr, tls: TlsConnector) -> Option<HostInfo> {
    let tcp = TcpStream::connect(addr).await.ok()?;
    let name = ServerName::IpAddress(addr.ip().into());
    let mut stream = tls.connect(name, tcp).await.ok()?;
    let request = format!("GET {WELL_KNOWN_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_ANSWER_BYTES {
            log::debug!("scan: {addr} answered more than {MAX_ANSWER_BYTES} bytes: not a lancall host");
            return None;
        }
    }
    let host = read_answer(&buf, addr);
    if host.is_none() {
        log::debug!("scan: {addr} answered, but not as a lancall host");
    }
    host
}

/// A host from its HTTP answer (status line, headers, JSON body), `None` if it is not one.
pub(super) fn read_answer(response: &[u8], addr: SocketAddr) -> Option<HostInfo> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..split]).ok()?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&response[split + 4..]).ok()?;
    let txt = body.get("txt")?.as_object()?.clone();
    let instance = body.get("instance")?.as_str()?.chars().take(256).collect::<String>();
    let port = body.get("port").and_then(serde_json::Value::as_u64).and_then(|p| u16::try_from(p).ok())?;
    Some(HostInfo::from_record(
        instance,
        addr.ip().to_string(),
        vec![addr.ip()],
        port,
        move |key: &str| txt.get(key).and_then(serde_json::Value::as_str).map(|v| v.chars().take(256).collect()),
        FoundBy::Scan,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScanConfig {
        ScanConfig::for_port(7443)
    }

    #[test]
    fn targets_are_the_subnet_but_network_and_broadcast() {
        let me = Ipv4Addr::new(192, 168, 1, 20);
        let t = targets_in(&[(me, 24)], &config());
        assert_eq!(t.len(), 254);
        assert!(!t.contains(&Ipv4Addr::new(192, 168, 1, 0)) && !t.contains(&Ipv4Addr::new(192, 168, 1, 255)));
        // Two interfaces on one subnet: each address once.
        assert_eq!(targets_in(&[(me, 24), (Ipv4Addr::new(192, 168, 1, 21), 24)], &config()).len(), 254);
        assert_eq!(t[0], Ipv4Addr::new(192, 168, 1, 1));
    }

    #[test]
    fn a_wide_subnet_is_narrowed_and_the_count_capped() {
        let me = Ipv4Addr::new(10, 1, 2, 3);
        let t = targets_in(&[(me, 8)], &config());
        assert_eq!(t.len(), 1022, "a /22 around the address, less network and broadcast");
        assert!(t.iter().all(|a| a.octets()[..2] == [10, 1] && (0..=3).contains(&a.octets()[2])));
        let few = ScanConfig { max_probes: 100, ..config() };
        assert_eq!(targets_in(&[(me, 24), (Ipv4Addr::new(172, 16, 0, 1), 24)], &few).len(), 100);
        assert!(targets_in(&[(me, 32)], &config()).is_empty());
    }

    #[test]
    fn answers_that_are_not_lancall_are_ignored() {
        let addr: SocketAddr = "10.0.0.9:7443".parse().unwrap_or_else(|_| SocketAddr::from(([10, 0, 0, 9], 7443)));
        assert!(read_answer(b"HTTP/1.1 404 Not Found\r\n\r\nnope", addr).is_none());
        assert!(read_answer(b"HTTP/1.1 200 OK\r\n\r\n<html>", addr).is_none());
        assert!(read_answer(b"garbage", addr).is_none());
        let body = serde_json::json!({
            "instance": "Kitchen (ab12)", "port": 7443,
            "txt": {"v": "1", "id": "ab12cd", "name": "Kitchen", "fp": "ab".repeat(32), "open": "1"},
        });
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{body}");
        let ok = answer.as_bytes();
        let h = read_answer(ok, addr).expect("a host");
        assert_eq!(h.display_name, "Kitchen");
        assert_eq!(h.addresses, vec![addr.ip()]);
        assert!(h.is_joinable() && h.open_rooms);
        let newer = String::from_utf8_lossy(ok).replace("\"v\":\"1\"", "\"v\":\"9\"");
        assert!(!read_answer(newer.as_bytes(), addr).expect("listed").is_joinable(), "a newer protocol is listed, not joinable");
    }
}
