//! Which names go into the host's leaf.

mod common;

use common::ip;
use lancall_certs::{dns_label, LeafNames};

#[test]
fn for_host_adds_loopback_localhost_and_the_mdns_name() {
    let names = LeafNames::for_host(
        &[ip("192.168.1.20"), ip("fd00::20")],
        Some("Anna's Laptop.fritz.box"),
    );
    let ips: Vec<String> = names.ips().map(|i| i.to_string()).collect();
    assert_eq!(ips, ["127.0.0.1", "192.168.1.20", "::1", "fd00::20"]);
    let dns: Vec<&str> = names.dns_names().collect();
    assert_eq!(dns, ["anna-s-laptop.local", "localhost"]);
    assert_eq!(
        names.to_string(),
        "127.0.0.1, 192.168.1.20, ::1, fd00::20, anna-s-laptop.local, localhost"
    );
}

#[test]
fn for_host_drops_addresses_that_cannot_or_must_not_be_certified() {
    let names = LeafNames::for_host(
        &[
            ip("0.0.0.0"),
            ip("127.0.0.5"),
            ip("224.0.0.251"),
            ip("8.8.8.8"),
            ip("100.64.1.1"),
            ip("2001:db8::1"),
            ip("ff02::fb"),
            ip("::"),
            ip("fe80::1"),
            ip("::ffff:10.1.2.3"),
        ],
        None,
    );
    let ips: Vec<String> = names.ips().map(|i| i.to_string()).collect();
    assert_eq!(ips, ["10.1.2.3", "127.0.0.1", "::1", "fe80::1"]);
    assert_eq!(
        names.dns_names().collect::<Vec<_>>(),
        ["localhost"],
        "no hostname, no .local name"
    );
}

#[test]
fn hostnames_become_valid_dns_labels() {
    assert_eq!(dns_label("MyHost").as_deref(), Some("myhost"));
    assert_eq!(dns_label("my_host.lan").as_deref(), Some("my-host"));
    assert_eq!(dns_label("  --Büro PC--  ").as_deref(), Some("b-ro-pc"));
    assert_eq!(dns_label(&"a".repeat(80)).map(|l| l.len()), Some(63));
    assert_eq!(dns_label(""), None);
    assert_eq!(dns_label("___"), None);
    assert_eq!(dns_label("localhost"), None, "already in every leaf");
    assert_eq!(dns_label(".hidden"), None);
}

#[test]
fn names_compare_as_sets_and_dns_ignores_case() {
    let a = LeafNames::new(
        [ip("10.0.0.1"), ip("10.0.0.2")],
        ["Example.LOCAL", "localhost"],
    );
    let b = LeafNames::new(
        [ip("10.0.0.2"), ip("10.0.0.1")],
        ["localhost", "example.local."],
    );
    assert_eq!(a, b);
    assert!(a.contains_dns("EXAMPLE.local"));
}
