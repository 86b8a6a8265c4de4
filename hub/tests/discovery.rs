//! LAN discovery: the interface policy, and hosts finding each other over mDNS.
//!
//! The mDNS tests run inside network namespaces joined by a veth pair (see `discovery_netns`),
//! never on the machine's own interfaces. They need root and `ip`; without them they print
//! `SKIPPED …` and pass. The interop tests also need python-zeroconf: they use
//! `$LANCALL_ZEROCONF_PYTHON`, else `python3` if it has `zeroconf`, else they install it with pip
//! into a virtualenv under the target directory (kept for later runs), and skip with a message
//! when that fails.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod discovery_netns;
/// The CLI's output of `lancall-host discover` lives in the binary; its forms are checked here.
#[path = "../src/bin/lancall-host/host_list.rs"]
mod host_list;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use discovery_netns::{assert_mdns_threads_confined, Lan, Netns, NsRuntime, ADDRESS_A, ADDRESS_B};
use host_list::{format_hosts_human, format_hosts_json_lines};
use lancall_hub::discovery::{
    discover_for, Advertisement, Advertiser, AdvertiserOptions, Browser, CaFingerprint,
    DiscoveryEvent, HostInfo, NotJoinable, RoomListing, SERVICE_TYPE,
};
use lancall_hub::netif::{self, select_lan_addresses, InterfacePolicy, SkipReason};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn interfaces(list: &[(&str, &str)]) -> Vec<(String, IpAddr)> {
    list.iter()
        .map(|(name, addr)| (name.to_string(), ip(addr)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The interface policy, on made-up interface lists.

#[test]
fn default_policy_keeps_the_lan_and_skips_container_cellular_and_tunnel_interfaces() {
    let machine = interfaces(&[
        ("lo", "127.0.0.1"),
        ("lo", "::1"),
        ("wlan0", "192.168.1.23"),
        ("wlan0", "fe80::1c2:3ff:fe44:5566"),
        ("wlan0", "fd12:3456:789a::23"),
        ("eth0", "10.0.0.5"),
        ("docker0", "172.17.0.1"),
        ("br-3f2a9c1e0b7d", "172.18.0.1"),
        ("virbr0", "192.168.122.1"),
        ("lxcbr0", "10.0.3.1"),
        ("cni0", "10.88.0.1"),
        ("podman0", "10.89.0.1"),
        ("veth1a2b3c", "169.254.10.20"),
        ("rmnet_data0", "10.123.4.5"),
        ("ccmni1", "10.124.4.5"),
        ("tun0", "10.8.0.2"),
        ("tap0", "10.9.0.2"),
        ("wg0", "10.6.0.1"),
        ("tailscale0", "100.101.102.103"),
        ("utun3", "fd7a:115c:a1e0::1"),
        ("ppp0", "10.64.0.9"),
        ("ipsec0", "10.65.0.9"),
    ]);
    let lan = select_lan_addresses(&InterfacePolicy::default(), &machine);
    assert_eq!(
        lan,
        vec![ip("10.0.0.5"), ip("192.168.1.23"), ip("fd12:3456:789a::23")]
    );

    let policy = InterfacePolicy::default();
    assert_eq!(
        policy.skip_reason("docker0", false),
        Some(SkipReason::VirtualBridge)
    );
    assert_eq!(
        policy.skip_reason("br-3f2a9c1e0b7d", false),
        Some(SkipReason::VirtualBridge)
    );
    assert_eq!(
        policy.skip_reason("rmnet0", false),
        Some(SkipReason::Cellular)
    );
    assert_eq!(
        policy.skip_reason("rmnet_data3", false),
        Some(SkipReason::Cellular)
    );
    assert_eq!(policy.skip_reason("wg0", false), Some(SkipReason::Tunnel));
    assert_eq!(
        policy.skip_reason("tailscale0", false),
        Some(SkipReason::Tunnel)
    );
    assert_eq!(policy.skip_reason("lo", true), Some(SkipReason::Loopback));
    assert_eq!(
        policy.skip_reason("vEthernet (WSL (Hyper-V firewall))", false),
        Some(SkipReason::VirtualBridge)
    );
    for lan_name in [
        "wlan0",
        "eth0",
        "en0",
        "enp3s0",
        "wlp2s0",
        "Wi-Fi",
        "Ethernet 2",
        "br0",
        "ap0",
    ] {
        assert_eq!(
            policy.skip_reason(lan_name, false),
            None,
            "{lan_name} is a LAN interface"
        );
    }
}

#[test]
fn explicit_interface_list_is_honoured_even_for_skipped_names() {
    let machine = interfaces(&[
        ("lo", "127.0.0.1"),
        ("wlan0", "192.168.1.23"),
        ("docker0", "172.17.0.1"),
        ("rmnet0", "10.123.4.5"),
    ]);
    let only_docker = InterfacePolicy::only(["docker0"]);
    assert_eq!(
        select_lan_addresses(&only_docker, &machine),
        vec![ip("172.17.0.1")]
    );
    assert_eq!(
        only_docker.skip_reason("wlan0", false),
        Some(SkipReason::NotChosen)
    );

    let two = InterfacePolicy::only(["wlan0", "rmnet0"]);
    assert_eq!(
        select_lan_addresses(&two, &machine),
        vec![ip("10.123.4.5"), ip("192.168.1.23")]
    );

    let named_loopback = InterfacePolicy::only(["lo"]);
    assert_eq!(
        select_lan_addresses(&named_loopback, &machine),
        vec![ip("127.0.0.1")]
    );

    let absent = InterfacePolicy::only(["eth7"]);
    assert!(select_lan_addresses(&absent, &machine).is_empty());
}

#[test]
fn loopback_is_used_only_when_asked() {
    let machine = interfaces(&[("lo", "127.0.0.1"), ("lo", "::1"), ("eth0", "192.168.0.9")]);
    assert_eq!(
        select_lan_addresses(&InterfacePolicy::default(), &machine),
        vec![ip("192.168.0.9")]
    );
    let with_loopback = InterfacePolicy::default().with_loopback(true);
    assert_eq!(
        select_lan_addresses(&with_loopback, &machine),
        vec![ip("127.0.0.1"), ip("192.168.0.9"), ip("::1")]
    );
}

#[test]
fn link_local_ipv4_only_when_nothing_else_and_no_public_or_carrier_addresses() {
    let with_dhcp = interfaces(&[("eth0", "169.254.3.4"), ("wlan0", "192.168.1.2")]);
    assert_eq!(
        select_lan_addresses(&InterfacePolicy::default(), &with_dhcp),
        vec![ip("192.168.1.2")]
    );

    // Two laptops on a cable, no DHCP server: the self-assigned address is all there is.
    let cable_only = interfaces(&[
        ("lo", "127.0.0.1"),
        ("eth0", "169.254.3.4"),
        ("eth0", "fe80::1"),
    ]);
    assert_eq!(
        select_lan_addresses(&InterfacePolicy::default(), &cable_only),
        vec![ip("169.254.3.4")]
    );

    // Public and carrier-grade NAT addresses are not "the LAN" unless asked for.
    let odd = interfaces(&[
        ("eth0", "203.0.113.7"),
        ("eth0", "8.8.4.4"),
        ("eth0", "100.64.1.1"),
        ("eth0", "2a01:4f8::5"),
    ]);
    assert!(select_lan_addresses(&InterfacePolicy::default(), &odd).is_empty());
    let public = InterfacePolicy {
        include_public: true,
        ..InterfacePolicy::default()
    };
    assert_eq!(
        select_lan_addresses(&public, &odd),
        vec![ip("8.8.4.4"), ip("2a01:4f8::5")]
    );
}

// ---------------------------------------------------------------------------------------------
// Output of `lancall-host discover`.

fn sample_host(instance: &str, not_joinable: Option<NotJoinable>) -> HostInfo {
    HostInfo {
        instance: instance.to_string(),
        display_name: "Ana's laptop".to_string(),
        host_id: "host-a".to_string(),
        hostname: "lancall-host-a.local.".to_string(),
        addresses: vec![ip("192.168.1.23")],
        port: 8443,
        ca_fingerprint: Some(fingerprint(0xab)),
        open_rooms: true,
        rooms: Vec::new(),
        protocol_version: Some("1".to_string()),
        not_joinable,
        found_by: lancall_hub::discovery::FoundBy::Mdns,
    }
}

#[test]
fn discover_output_is_one_json_object_per_host_and_readable_text() {
    let hosts = vec![
        sample_host("Ana's laptop", None),
        sample_host(
            "Ana's laptop (2)",
            Some(NotJoinable::UnsupportedVersion {
                version: "2".into(),
            }),
        ),
    ];
    let json = format_hosts_json_lines(&hosts);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["instance"], "Ana's laptop");
    assert_eq!(lines[0]["name"], "Ana's laptop");
    assert_eq!(lines[0]["addresses"], serde_json::json!(["192.168.1.23"]));
    assert_eq!(lines[0]["port"], 8443);
    assert_eq!(lines[0]["fingerprint"], "ab".repeat(32));
    assert_eq!(lines[0]["open_rooms"], true);
    assert_eq!(lines[0]["joinable"], true);
    assert_eq!(lines[0]["problem"], serde_json::Value::Null);
    assert_eq!(lines[1]["joinable"], false);
    assert_eq!(lines[1]["problem"]["problem"], "unsupported_version");
    assert_eq!(lines[1]["problem"]["version"], "2");

    let text = format_hosts_human(&hosts);
    assert!(text.contains("Ana's laptop\n"), "{text}");
    assert!(text.contains("192.168.1.23 (port 8443)"), "{text}");
    assert!(text.contains("advertised as: Ana's laptop (2)"), "{text}");
    assert!(
        text.contains("cannot join:   it runs lancall protocol version 2"),
        "{text}"
    );
    assert!(format_hosts_human(&[]).starts_with("No lancall hosts found"));
}

// ---------------------------------------------------------------------------------------------
// Helpers for the namespace tests.

fn fingerprint(byte: u8) -> CaFingerprint {
    CaFingerprint::from_bytes([byte; 32])
}

fn advertisement(name: &str, host_id: &str, port: u16, fp: u8, open_rooms: bool) -> Advertisement {
    Advertisement {
        display_name: name.to_string(),
        host_id: host_id.to_string(),
        port,
        ca_fingerprint: fingerprint(fp),
        open_rooms,
    }
}

/// Options for tests: a fast address poll so address changes show quickly.
fn fast_options() -> AdvertiserOptions {
    AdvertiserOptions {
        address_poll: Duration::from_millis(200),
        ..AdvertiserOptions::default()
    }
}

/// `RUST_LOG=debug cargo test … -- --nocapture` shows what the daemons did.
fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

fn start_advertiser(rt: &NsRuntime, ad: Advertisement) -> Advertiser {
    init_logging();
    rt.run(async move { Advertiser::start_with(ad, &InterfacePolicy::default(), fast_options()) })
        .expect("advertiser starts")
}

/// A browser running inside a namespace, its events forwarded (with arrival times) to the test.
///
/// Events the test has not asked for yet wait in a backlog, and the probe also keeps the list of
/// hosts the events add up to, so a test can wait for an event or for a state.
struct BrowserProbe {
    events: std_mpsc::Receiver<(Instant, DiscoveryEvent)>,
    backlog: RefCell<VecDeque<(Instant, DiscoveryEvent)>>,
    hosts: RefCell<BTreeMap<String, HostInfo>>,
    verify: tokio::sync::mpsc::UnboundedSender<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl BrowserProbe {
    fn start(rt: &NsRuntime) -> Self {
        init_logging();
        let (sender, events) = std_mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (verify, mut to_verify) = tokio::sync::mpsc::unbounded_channel::<String>();
        rt.spawn(async move {
            let mut browser = Browser::start(&InterfacePolicy::default()).expect("browser starts");
            loop {
                tokio::select! {
                    Some(instance) = to_verify.recv() => {
                        browser.verify(&instance, Duration::from_secs(1)).expect("verify");
                    }
                    event = browser.next_event() => match event {
                        Some(event) => {
                            if sender.send((Instant::now(), event)).is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = &mut stopped => break,
                }
            }
            browser.stop().await;
        });
        Self {
            events,
            backlog: RefCell::default(),
            hosts: RefCell::default(),
            verify,
            stop: Some(stop),
        }
    }

    /// Takes one event from the browser into the backlog and the host list; false on timeout.
    fn pull(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((at, event)) = self.events.recv_timeout(left) else {
            return false;
        };
        match &event {
            DiscoveryEvent::Found(host) | DiscoveryEvent::Changed(host) => {
                self.hosts
                    .borrow_mut()
                    .insert(host.instance.clone(), host.clone());
            }
            DiscoveryEvent::Gone(instance) => {
                self.hosts.borrow_mut().remove(instance);
            }
        }
        self.backlog.borrow_mut().push_back((at, event));
        true
    }

    /// Waits for the first event that `wanted` accepts; panics naming `what` on timeout.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&DiscoveryEvent) -> bool,
    ) -> (Instant, DiscoveryEvent) {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            {
                let mut backlog = self.backlog.borrow_mut();
                if let Some(index) = backlog.iter().skip(scanned).position(|(_, e)| wanted(e)) {
                    return backlog.remove(scanned + index).expect("index in range");
                }
                scanned = backlog.len();
            }
            if !self.pull(deadline) {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; events so far: {:#?}",
                    self.backlog.borrow()
                );
            }
        }
    }

    /// Waits until the hosts seen (by instance name) satisfy `wanted`, and returns them.
    fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&BTreeMap<String, HostInfo>) -> bool,
    ) -> BTreeMap<String, HostInfo> {
        let deadline = Instant::now() + timeout;
        loop {
            if wanted(&self.hosts.borrow()) {
                return self.hosts.borrow().clone();
            }
            if !self.pull(deadline) {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; hosts seen: {:#?}",
                    self.hosts.borrow()
                );
            }
        }
    }
}

impl Drop for BrowserProbe {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `condition` for up to 3 s; panics naming `what` if it never holds.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn found(event: &DiscoveryEvent, host_id: &str) -> Option<HostInfo> {
    match event {
        DiscoveryEvent::Found(host) | DiscoveryEvent::Changed(host) if host.host_id == host_id => {
            Some(host.clone())
        }
        _ => None,
    }
}

fn host_of(event: DiscoveryEvent) -> HostInfo {
    match event {
        DiscoveryEvent::Found(host) | DiscoveryEvent::Changed(host) => host,
        DiscoveryEvent::Gone(instance) => panic!("expected a host, got Gone({instance})"),
    }
}

fn is_gone(event: &DiscoveryEvent, instance: &str) -> bool {
    matches!(event, DiscoveryEvent::Gone(gone) if gone == instance)
}

// ---------------------------------------------------------------------------------------------
// Two lancall hosts in two namespaces.

#[test]
fn two_hosts_find_each_other_with_their_txt_and_a_goodbye_removes_the_stopped_one() {
    require_namespaces!();
    let lan = Lan::create("find").unwrap();
    let (rt_a, rt_b) = (
        NsRuntime::new(&lan.a).unwrap(),
        NsRuntime::new(&lan.b).unwrap(),
    );
    let browser_a = BrowserProbe::start(&rt_a);
    let browser_b = BrowserProbe::start(&rt_b);
    let ad_a = advertisement("Ana's laptop", "host-a", 8443, 0xaa, true);
    let ad_b = advertisement("Bo.s desk", "host-b", 9443, 0xbb, false);
    let host_a = start_advertiser(&rt_a, ad_a.clone());
    let host_b = start_advertiser(&rt_b, ad_b.clone());

    let (_, event) = browser_b.wait_for("B to find A", Duration::from_secs(5), |e| {
        found(e, "host-a").is_some()
    });
    let a = host_of(event);
    assert_eq!(a.instance, ad_a.instance_name());
    assert!(a.instance.starts_with("Ana's laptop ("), "{}", a.instance);
    assert_eq!(a.display_name, "Ana's laptop");
    assert_eq!(a.addresses, vec![ip(ADDRESS_A)]);
    assert_eq!(a.port, 8443);
    assert_eq!(a.ca_fingerprint, Some(fingerprint(0xaa)));
    assert!(a.open_rooms);
    assert_eq!(a.protocol_version.as_deref(), Some("1"));
    assert_eq!(a.hostname, "lancall-host-a.local.");
    assert!(a.is_joinable(), "{a:?}");
    assert_eq!(host_a.instance_name(), a.instance);

    let (_, event) = browser_a.wait_for("A to find B", Duration::from_secs(5), |e| {
        found(e, "host-b").is_some()
    });
    let b = host_of(event);
    assert_eq!(
        b.instance,
        ad_b.instance_name(),
        "a dot in the name survives DNS escaping"
    );
    assert_eq!(b.display_name, "Bo.s desk");
    assert_eq!(b.addresses, vec![ip(ADDRESS_B)]);
    assert_eq!(b.port, 9443);
    assert_eq!(b.ca_fingerprint, Some(fingerprint(0xbb)));
    assert!(!b.open_rooms);
    assert!(b.is_joinable());

    // 2 advertisers + 2 browsers, every daemon thread inside a test namespace.
    assert!(assert_mdns_threads_confined() >= 4);

    let stop_started = Instant::now();
    rt_a.run(host_a.stop());
    let (gone_at, _) =
        browser_b.wait_for("A to be gone from B's list", Duration::from_secs(3), |e| {
            is_gone(e, &a.instance)
        });
    let took = gone_at.saturating_duration_since(stop_started);
    println!(
        "goodbye: A gone from B's list {} ms after stop() was called",
        took.as_millis()
    );
    // RFC 6762 §10.1 has browsers keep a record for 1 s after its goodbye, and the goodbye is
    // repeated 120 ms later: about 1.1 s. Without the goodbye it would be the SRV TTL, 120 s.
    assert!(
        took < Duration::from_secs(2),
        "gone after {took:?}: the goodbye did not work"
    );

    rt_b.run(host_b.stop());
}

#[test]
fn discover_for_lists_the_hosts_on_the_lan_for_the_cli() {
    require_namespaces!();
    let lan = Lan::create("cli").unwrap();
    let (rt_a, rt_b) = (
        NsRuntime::new(&lan.a).unwrap(),
        NsRuntime::new(&lan.b).unwrap(),
    );
    let ad_a = advertisement("Ana's laptop", "host-a", 8443, 0xaa, true);
    let host_a = start_advertiser(&rt_a, ad_a.clone());

    // What `lancall-host discover --json` does, from the other namespace.
    let hosts = rt_b
        .run(async { discover_for(Duration::from_secs(3), &InterfacePolicy::default()).await })
        .unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let json = format_hosts_json_lines(&hosts);
    let line: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(line["instance"], ad_a.instance_name());
    assert_eq!(line["name"], "Ana's laptop");
    assert_eq!(line["addresses"], serde_json::json!([ADDRESS_A]));
    assert_eq!(line["fingerprint"], "aa".repeat(32));
    // The joiner's four words come from the fingerprint it will pin: the host's own, and not
    // those of another CA.
    assert_eq!(line["words"], fingerprint(0xaa).speakable());
    assert_ne!(line["words"], fingerprint(0xbb).speakable());
    assert_eq!(line["joinable"], true);
    assert!(format_hosts_human(&hosts).starts_with("Ana's laptop\n"));
    rt_a.run(host_a.stop());
}

#[test]
fn updates_are_reannounced_and_a_new_name_replaces_the_old_instance() {
    require_namespaces!();
    let lan = Lan::create("upd").unwrap();
    let (rt_a, rt_b) = (
        NsRuntime::new(&lan.a).unwrap(),
        NsRuntime::new(&lan.b).unwrap(),
    );
    let browser_b = BrowserProbe::start(&rt_b);
    let ad_a = advertisement("Ana's laptop", "host-a", 8443, 0xaa, true);
    let host_a = start_advertiser(&rt_a, ad_a.clone());
    browser_b.wait_for("B to find A", Duration::from_secs(5), |e| {
        found(e, "host-a").is_some()
    });

    let host_a = rt_a.run(async move {
        host_a.set_open_rooms(false).await.unwrap();
        host_a
    });
    let (_, event) = browser_b.wait_for(
        "open rooms to change",
        Duration::from_secs(3),
        |e| matches!(e, DiscoveryEvent::Changed(h) if h.host_id == "host-a" && !h.open_rooms),
    );
    assert_eq!(
        host_of(event).instance,
        ad_a.instance_name(),
        "same instance, updated in place"
    );

    // The rooms open to the LAN, with their topology, in TXT `rooms`.
    let host_a = rt_a.run(async move {
        let rooms = vec![
            RoomListing { name: "standup".into(), topology: "sfu".into() },
            RoomListing { name: "lobby".into(), topology: "mesh".into() },
        ];
        host_a.set_rooms(rooms).await.unwrap();
        host_a
    });
    browser_b.wait_for(
        "the rooms to be listed",
        Duration::from_secs(3),
        |e| matches!(e, DiscoveryEvent::Changed(h) if h.host_id == "host-a"
            && h.rooms.iter().map(|r| (r.name.as_str(), r.topology.as_str())).eq([("standup", "sfu"), ("lobby", "mesh")])),
    );

    let host_a = rt_a.run(async move {
        host_a.set_port(8999).await.unwrap();
        host_a
    });
    browser_b.wait_for(
        "the port to change",
        Duration::from_secs(3),
        |e| matches!(e, DiscoveryEvent::Changed(h) if h.host_id == "host-a" && h.port == 8999),
    );

    let host_a = rt_a.run(async move {
        host_a.set_display_name("Ana's desktop").await.unwrap();
        host_a
    });
    browser_b.wait_for("the old name to go", Duration::from_secs(3), |e| {
        is_gone(e, &ad_a.instance_name())
    });
    let (_, event) = browser_b.wait_for(
        "the new name to appear",
        Duration::from_secs(5),
        |e| matches!(e, DiscoveryEvent::Found(h) if h.display_name == "Ana's desktop"),
    );
    let renamed = host_of(event);
    assert_eq!(
        (renamed.host_id.as_str(), renamed.port, renamed.open_rooms),
        ("host-a", 8999, false)
    );
    assert!(
        renamed.instance.starts_with("Ana's desktop ("),
        "{}",
        renamed.instance
    );
    assert_eq!(host_a.instance_name(), renamed.instance);
    rt_a.run(host_a.stop());
}

#[test]
fn address_change_is_readvertised_and_the_browser_sees_the_new_address() {
    require_namespaces!();
    let lan = Lan::create("addr").unwrap();
    let (rt_a, rt_b) = (
        NsRuntime::new(&lan.a).unwrap(),
        NsRuntime::new(&lan.b).unwrap(),
    );
    let browser_b = BrowserProbe::start(&rt_b);
    let host_a = start_advertiser(
        &rt_a,
        advertisement("Ana's laptop", "host-a", 8443, 0xaa, true),
    );
    browser_b.wait_for("B to find A", Duration::from_secs(5), |e| {
        found(e, "host-a").is_some()
    });

    // DHCP hands out a second address: both are advertised.
    lan.a.add_address("eth0", "10.99.0.11/24").unwrap();
    let both = vec![ip(ADDRESS_A), ip("10.99.0.11")];
    let (_, event) = browser_b.wait_for(
        "the second address",
        Duration::from_secs(5),
        |e| matches!(e, DiscoveryEvent::Changed(h) if h.host_id == "host-a" && h.addresses == both),
    );
    assert_eq!(host_of(event).host_id, "host-a");
    assert_eq!(host_a.addresses(), both);

    // The first one goes away: browsers flush it (the new records carry cache-flush).
    let started = Instant::now();
    lan.a
        .del_address("eth0", &format!("{ADDRESS_A}/24"))
        .unwrap();
    let (at, _) = browser_b.wait_for("only the new address", Duration::from_secs(6), |e| {
        matches!(e, DiscoveryEvent::Changed(h) if h.host_id == "host-a" && h.addresses == vec![ip("10.99.0.11")])
    });
    println!(
        "address replaced: browser saw it {} ms after the change",
        at.saturating_duration_since(started).as_millis()
    );
    assert_eq!(host_a.addresses(), vec![ip("10.99.0.11")]);
    rt_a.run(host_a.stop());
}

#[test]
fn two_hosts_with_the_same_display_name_get_distinct_instance_names() {
    require_namespaces!();
    let lan = Lan::create("same").unwrap();
    let (rt_a, rt_b) = (
        NsRuntime::new(&lan.a).unwrap(),
        NsRuntime::new(&lan.b).unwrap(),
    );
    let browser_b = BrowserProbe::start(&rt_b);
    // Started together, as in a room where two people press "host" at once.
    let host_a = start_advertiser(
        &rt_a,
        advertisement("Meeting room", "host-a", 8443, 0xaa, true),
    );
    let host_b = start_advertiser(
        &rt_b,
        advertisement("Meeting room", "host-b", 8443, 0xbb, true),
    );

    let by_host = |hosts: &BTreeMap<String, HostInfo>, id: &str| {
        hosts.values().find(|h| h.host_id == id).cloned()
    };
    let hosts = browser_b.wait_until("both hosts", Duration::from_secs(6), |hosts| {
        by_host(hosts, "host-a").is_some() && by_host(hosts, "host-b").is_some()
    });
    let (a, b) = (
        by_host(&hosts, "host-a").unwrap(),
        by_host(&hosts, "host-b").unwrap(),
    );
    println!(
        "same display name advertised as {:?} and {:?}",
        a.instance, b.instance
    );
    assert_ne!(a.instance, b.instance);
    assert!(a.instance.starts_with("Meeting room (") && b.instance.starts_with("Meeting room ("));
    assert_eq!(
        (a.display_name.as_str(), b.display_name.as_str()),
        ("Meeting room", "Meeting room")
    );
    assert_eq!(host_a.instance_name(), a.instance);
    assert_eq!(host_b.instance_name(), b.instance);

    // The backstop: the same host id running twice (so even the tag is equal). The one that
    // probes second is renamed by RFC 6762 §9 conflict resolution, and says so.
    let twin = rt_a
        .run(async {
            let ad = advertisement("Meeting room", "host-a", 7443, 0xcc, false);
            Advertiser::start_with(ad, &InterfacePolicy::default(), fast_options())
        })
        .unwrap();
    let hosts = browser_b.wait_until("the twin", Duration::from_secs(6), |hosts| {
        hosts
            .values()
            .any(|h| h.host_id == "host-a" && h.port == 7443)
    });
    let twin_seen = hosts.values().find(|h| h.port == 7443).unwrap().clone();
    println!("the twin is advertised as {:?}", twin_seen.instance);
    assert_eq!(twin_seen.instance, format!("{} (2)", a.instance));
    assert_eq!(
        hosts.get(&a.instance).map(|h| h.port),
        Some(8443),
        "the first keeps its name"
    );
    // The advertiser learns of its rename from the daemon's event stream, which may be read a
    // moment after the browser next door has seen the renamed announcement.
    eventually("the twin to know its new name", || {
        twin.instance_name() == twin_seen.instance
    });
    rt_a.run(async move {
        host_a.stop().await;
        twin.stop().await;
    });
    rt_b.run(host_b.stop());
}

#[test]
fn address_watcher_reports_changes_and_stops() {
    require_namespaces!();
    let ns = Netns::create("watch").unwrap();
    // No `dummy` module on every kernel: a veth pair inside the one namespace will do.
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ])
    .unwrap();
    ns.add_address("eth0", "10.99.5.1/24").unwrap();
    ns.ip(&["link", "set", "eth0", "up"]).unwrap();
    let rt = NsRuntime::new(&ns).unwrap();

    let watcher = rt.run(async {
        netif::watch_addresses(InterfacePolicy::default(), Duration::from_millis(100))
    });
    assert_eq!(watcher.current(), vec![ip("10.99.5.1")]);
    let mut receiver = watcher.subscribe();

    ns.add_address("eth0", "192.168.77.1/24").unwrap();
    ns.ip(&[
        "link", "add", "docker0", "type", "veth", "peer", "name", "docker1",
    ])
    .unwrap();
    ns.add_address("docker0", "172.17.0.1/16").unwrap();
    ns.ip(&["link", "set", "docker0", "up"]).unwrap();
    let (seen, mut receiver) = rt.run(async move {
        tokio::time::timeout(Duration::from_secs(3), receiver.changed())
            .await
            .unwrap()
            .unwrap();
        let seen = receiver.borrow_and_update().clone();
        (seen, receiver)
    });
    assert_eq!(
        seen,
        vec![ip("10.99.5.1"), ip("192.168.77.1")],
        "docker0 is not the LAN"
    );

    watcher.stop();
    let closed = rt
        .run(async move { tokio::time::timeout(Duration::from_secs(3), receiver.changed()).await });
    assert!(
        matches!(closed, Ok(Err(_))),
        "the channel closes when the watcher stops"
    );
}

// ---------------------------------------------------------------------------------------------
// Interop with python-zeroconf, an mDNS implementation lancall did not write.

const ZEROCONF_BROWSE: &str = r#"
import json, sys, time
from zeroconf import Zeroconf, ServiceBrowser, IPVersion
TYPE = "_lancall._tcp.local."
deadline = time.time() + float(sys.argv[1])
zc = Zeroconf(ip_version=IPVersion.V4Only)
names = set()
class Listener:
    def add_service(self, zc, type_, name): names.add(name)
    def update_service(self, zc, type_, name): names.add(name)
    def remove_service(self, zc, type_, name): pass
browser = ServiceBrowser(zc, TYPE, Listener())
printed = False
while time.time() < deadline and not printed:
    for name in list(names):
        info = zc.get_service_info(TYPE, name, timeout=1000)
        if info is None:
            continue
        txt = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
        print(json.dumps({"name": name, "port": info.port, "server": info.server,
                          "addresses": info.parsed_addresses(), "txt": txt}), flush=True)
        printed = True
    time.sleep(0.05)
browser.cancel()
zc.close()
"#;

const ZEROCONF_PUBLISH: &str = r#"
import asyncio, json, socket, sys
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf
TYPE = "_lancall._tcp.local."

async def main():
    aiozc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    infos = [ServiceInfo(TYPE, spec["name"] + "." + TYPE, port=spec["port"], properties=spec["txt"],
                         server=spec["server"], addresses=[socket.inet_aton(spec["address"])],
                         host_ttl=spec["ttl"], other_ttl=spec["ttl"])
             for spec in json.loads(sys.argv[1])]
    # Probe and announce all at once rather than one after another (about 1.5 s each).
    await asyncio.gather(*[await aiozc.async_register_service(info) for info in infos])
    print("registered", flush=True)
    # Until the test closes stdin (clean exit with goodbyes) or kills us (no goodbye).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await aiozc.async_unregister_all_services()
    await aiozc.async_close()

asyncio.run(main())
"#;

/// A Python interpreter that has python-zeroconf, or why there is none.
fn zeroconf_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let has_zeroconf = |python: &PathBuf| {
                std::process::Command::new(python)
                    .args(["-c", "import zeroconf"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if let Some(python) = std::env::var_os("LANCALL_ZEROCONF_PYTHON").map(PathBuf::from) {
                return if has_zeroconf(&python) {
                    Ok(python)
                } else {
                    Err(format!("LANCALL_ZEROCONF_PYTHON={} cannot import zeroconf", python.display()))
                };
            }
            let system = PathBuf::from("python3");
            if has_zeroconf(&system) {
                return Ok(system);
            }
            // A virtualenv under target/, so the machine's Python is left alone and later runs
            // reuse it.
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zeroconf-venv");
            let python = venv.join("bin/python");
            if has_zeroconf(&python) {
                return Ok(python);
            }
            let how = "install it with `pip install zeroconf` or point LANCALL_ZEROCONF_PYTHON at a Python that has it";
            // nextest runs each test in a process of its own, so two tests may get here at once
            // (a fresh clone's CI run failed when one test used the venv while another was still
            // installing into it): each installs into a private folder, then renames it into
            // place; whoever renames second uses the winner's.
            let staging = venv.with_extension(format!("staging-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            let made = std::process::Command::new("python3").arg("-m").arg("venv").arg(&staging).output();
            if !made.as_ref().is_ok_and(|o| o.status.success()) {
                return Err(format!("python-zeroconf missing and `python3 -m venv` failed: {how}"));
            }
            eprintln!("installing python-zeroconf into {} (once)", venv.display());
            let pip = std::process::Command::new(staging.join("bin/python"))
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "zeroconf>=0.130,<1"])
                .output();
            let installed = match pip {
                Ok(out) if out.status.success() => Ok(()),
                Ok(out) => Err(format!("pip could not install zeroconf ({}): {how}", String::from_utf8_lossy(&out.stderr).trim())),
                Err(e) => Err(format!("could not run pip ({e}): {how}")),
            };
            if let Err(e) = installed {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
            if std::fs::rename(&staging, &venv).is_err() {
                // Another test's venv is in place already.
                let _ = std::fs::remove_dir_all(&staging);
            }
            if has_zeroconf(&python) {
                Ok(python)
            } else {
                Err(format!("the virtualenv at {} cannot import zeroconf: {how}", venv.display()))
            }
        })
        .clone()
}

macro_rules! require_zeroconf {
    () => {
        match zeroconf_python() {
            Ok(python) => python,
            Err(why) => {
                let test = std::thread::current().name().unwrap_or("test").to_string();
                // Straight to stderr, past the test harness's capture, so a skip is seen.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("SKIPPED {test}: {why}\n").as_bytes(),
                );
                return;
            }
        }
    };
}

#[test]
fn python_zeroconf_sees_a_lancall_host_with_its_txt() {
    require_namespaces!();
    let python = require_zeroconf!();
    let lan = Lan::create("pyb").unwrap();
    let rt_a = NsRuntime::new(&lan.a).unwrap();
    let ad_a = advertisement("Ana's laptop", "host-a", 8443, 0xaa, true);
    let host_a = start_advertiser(&rt_a, ad_a.clone());

    let mut browse = lan.b.exec(python.to_str().unwrap());
    browse.args(["-c", ZEROCONF_BROWSE, "10"]);
    let output = discovery_netns::output_with_timeout(browse, Duration::from_secs(15)).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "python-zeroconf found nothing; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let seen: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        seen["name"],
        format!("{}.{SERVICE_TYPE}", ad_a.instance_name())
    );
    assert_eq!(seen["port"], 8443);
    assert_eq!(seen["server"], "lancall-host-a.local.");
    assert_eq!(seen["addresses"], serde_json::json!([ADDRESS_A]));
    assert_eq!(
        seen["txt"],
        serde_json::json!({"v": "1", "id": "host-a", "name": "Ana's laptop", "fp": "aa".repeat(32), "open": "1"})
    );
    rt_a.run(host_a.stop());
}

/// python-zeroconf publishing services (TTL `ttl` seconds) in `ns`; killed on drop.
struct ZeroconfPublisher {
    child: Child,
}

impl ZeroconfPublisher {
    fn start(python: &Path, ns: &Netns, specs: serde_json::Value) -> Self {
        let mut child = ns
            .exec(python.to_str().unwrap())
            .args(["-c", ZEROCONF_PUBLISH, &specs.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "registered" {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut publisher = Self { child };
        if ready_rx.recv_timeout(Duration::from_secs(15)).is_err() {
            publisher.kill();
            panic!("python-zeroconf did not register its services");
        }
        publisher
    }

    /// SIGKILL: the process dies without sending goodbyes, as a host that loses power.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn close_stdin(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
    }
}

impl Drop for ZeroconfPublisher {
    fn drop(&mut self) {
        self.close_stdin();
        self.kill();
    }
}

#[test]
fn lancall_browser_sees_python_zeroconf_services_and_drops_them_when_their_records_expire() {
    require_namespaces!();
    let python = require_zeroconf!();
    let lan = Lan::create("pyp").unwrap();
    let rt_a = NsRuntime::new(&lan.a).unwrap();
    let browser_a = BrowserProbe::start(&rt_a);
    // Short enough to wait for, long enough that python-zeroconf answers the refresh queries
    // in time (with 3 s some records lapsed while it was still running).
    let ttl = 6;
    let fp = "cd".repeat(32);
    let specs = serde_json::json!([
        {"name": "Py host", "port": 7443, "server": "py-host.local.", "address": ADDRESS_B, "ttl": ttl,
         "txt": {"v": "1", "id": "py-1", "name": "Python host", "fp": fp, "open": "1"}},
        {"name": "Py future", "port": 7444, "server": "py-host.local.", "address": ADDRESS_B, "ttl": ttl,
         "txt": {"v": "2", "id": "py-2", "name": "Future host", "fp": fp, "open": "1"}},
        {"name": "Py broken", "port": 7445, "server": "py-host.local.", "address": ADDRESS_B, "ttl": ttl,
         "txt": {"v": "1", "id": "py-3", "name": "Broken host", "fp": "not-hex", "open": "0"}},
        {"name": "Py bare", "port": 7446, "server": "py-host.local.", "address": ADDRESS_B, "ttl": ttl,
         "txt": {}},
    ]);
    let mut publisher = ZeroconfPublisher::start(&python, &lan.b, specs);

    let names = ["Py host", "Py future", "Py broken", "Py bare"];
    let seen = browser_a.wait_until(
        "the four python services",
        Duration::from_secs(8),
        |hosts| names.iter().all(|name| hosts.contains_key(*name)),
    );
    let hosts: Vec<HostInfo> = names.iter().map(|name| seen[*name].clone()).collect();
    let [good, future, broken, bare] = <[HostInfo; 4]>::try_from(hosts).unwrap();
    assert_eq!(good.display_name, "Python host");
    assert_eq!(good.host_id, "py-1");
    assert_eq!(good.addresses, vec![ip(ADDRESS_B)]);
    assert_eq!(good.port, 7443);
    assert_eq!(good.ca_fingerprint, Some(fingerprint(0xcd)));
    assert!(good.open_rooms);
    assert!(good.is_joinable(), "{good:?}");
    assert_eq!(
        future.not_joinable,
        Some(NotJoinable::UnsupportedVersion {
            version: "2".into()
        })
    );
    assert_eq!(broken.not_joinable, Some(NotJoinable::BadFingerprint));
    assert_eq!(broken.ca_fingerprint, None);
    assert!(!broken.open_rooms);
    assert_eq!(bare.not_joinable, Some(NotJoinable::MissingVersion));
    assert_eq!(
        bare.display_name, "Py bare",
        "falls back to the instance name"
    );

    // Vanish without a goodbye: the records expire after their TTL and Gone still comes.
    browser_a.backlog.borrow_mut().clear();
    let killed = Instant::now();
    publisher.kill();
    for instance in names {
        let (at, _) = browser_a.wait_for(instance, Duration::from_secs(ttl + 4), |e| {
            is_gone(e, instance)
        });
        println!(
            "{instance}: gone {} ms after the publisher died (TTL {ttl} s)",
            at.saturating_duration_since(killed).as_millis()
        );
    }
}

#[test]
fn verify_drops_a_host_that_vanished_without_goodbye_long_before_its_records_expire() {
    require_namespaces!();
    let python = require_zeroconf!();
    let lan = Lan::create("vfy").unwrap();
    let rt_a = NsRuntime::new(&lan.a).unwrap();
    let browser_a = BrowserProbe::start(&rt_a);
    let specs = serde_json::json!([
        {"name": "Py host", "port": 7443, "server": "py-host.local.", "address": ADDRESS_B, "ttl": 120,
         "txt": {"v": "1", "id": "py-1", "name": "Python host", "fp": "cd".repeat(32), "open": "1"}},
    ]);
    let mut publisher = ZeroconfPublisher::start(&python, &lan.b, specs);
    browser_a.wait_for("the python host", Duration::from_secs(8), |e| {
        found(e, "py-1").is_some()
    });

    // The host loses power: no goodbye, records good for two more minutes. A join fails, and
    // the app asks the network whether the host is still there.
    publisher.kill();
    let asked = Instant::now();
    browser_a.verify.send("Py host".to_string()).unwrap();
    let (at, _) = browser_a.wait_for("the python host to be gone", Duration::from_secs(5), |e| {
        is_gone(e, "Py host")
    });
    println!(
        "verify: gone {} ms after asking",
        at.saturating_duration_since(asked).as_millis()
    );
}
