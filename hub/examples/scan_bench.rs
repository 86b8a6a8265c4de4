//! Scan benchmark (not a test): on a /24 whose switch passes no multicast (so mDNS finds
//! nothing), how long the subnet scan takes to list the one lancall host there, and how many
//! addresses it asks.
//!
//! Run as root (it creates network namespaces; every probe stays inside them):
//!
//! ```text
//! cargo run -p lancall-hub --example scan_bench -- [RUNS]
//! ```
//!
//! A real host (`host::start`, mDNS off) runs in namespace A behind a bridge whose ports do not
//! flood multicast; each run, namespace B scans its /24 with the default settings and the time
//! from the start of the scan to the list with the host in it is taken. Results go to stdout as
//! Markdown; `bench/discovery.md` records a run.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/discovery_netns/mod.rs"]
mod discovery_netns;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use discovery_netns::{IsolatedLan, NsRuntime, ADDRESS_A};
use lancall_hub::discovery::{scan_subnets, ScanConfig};
use lancall_hub::host::{self, HostConfig};
use lancall_hub::netif::InterfacePolicy;

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    lancall_certs::install_crypto_provider();
    let lan = IsolatedLan::create("scanbench").unwrap();
    let (rt_a, rt_b) = (NsRuntime::new(&lan.a).unwrap(), NsRuntime::new(&lan.b).unwrap());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let (port, fp) = rt_a.run(async move {
        let mut config = HostConfig::new(dir);
        config.https_listen = SocketAddr::new(ADDRESS_A.parse::<IpAddr>().unwrap(), 0);
        config.http_listen = None;
        config.advertise = false;
        let running = host::start(config).await.unwrap();
        let out = (running.https_addr.port(), running.ca_fingerprint.unwrap());
        std::mem::forget(running); // serves until the process ends
        out
    });
    let mut times = Vec::new();
    let mut probes = 0;
    for run in 0..runs {
        let (took, found, asked) = rt_b.run(async move {
            let config = ScanConfig::for_port(port);
            let started = Instant::now();
            let (hosts, asked) = scan_subnets(&InterfacePolicy::default(), &config).await;
            (started.elapsed(), hosts.iter().any(|h| h.ca_fingerprint == Some(fp)), asked)
        });
        assert!(found, "run {run}: the scan did not find the host");
        probes = asked;
        times.push(took.as_secs_f64() * 1000.0);
        // Spaced out: the host answers one address 20 times a minute.
        std::thread::sleep(std::time::Duration::from_millis(3_100));
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((p / 100.0) * times.len() as f64).ceil().max(1.0) as usize - 1];
    println!("| scenario | runs | probes per scan | min ms | p50 ms | p95 ms | max ms | target |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| nothing by mDNS → host listed by the scan (/24, one host) | {runs} | {probes} | {:.0} | {:.0} | {:.0} | {:.0} | < 3000 ms |",
        times[0],
        pct(50.0),
        pct(95.0),
        times[times.len() - 1]
    );
}
