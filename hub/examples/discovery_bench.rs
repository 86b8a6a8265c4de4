//! Discovery latency benchmark (not a test): how long until a host is visible to a browser in
//! another network namespace, and how long until it is gone after a clean stop.
//!
//! Run as root (it creates network namespaces, and every mDNS packet stays inside them):
//!
//! ```text
//! cargo run -p lancall-hub --example discovery_bench -- [RUNS]
//! ```
//!
//! Scenarios, each RUNS times (default 25):
//! - start → visible: a browser runs in namespace B; a host starts in namespace A. Time from
//!   `Advertiser::start` to the browser's `Found`.
//! - stop → gone: the host has been up for a while; time from `Advertiser::stop` to `Gone`.
//! - browse → visible: the host is up; a browser starts in B. Time from `Browser::start` to
//!   `Found` (the app opening its join screen). Runs are 1.2 s apart (see
//!   `BETWEEN_COLD_BROWSES`).
//!
//! Each run uses a new host id, so its instance and host names are new to every cache.
//! Results go to stdout as a Markdown table; `bench/discovery.md` records a run.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/discovery_netns/mod.rs"]
mod discovery_netns;

use std::time::{Duration, Instant};

use discovery_netns::{assert_mdns_threads_confined, Lan, NsRuntime};
use lancall_hub::discovery::{Advertisement, Advertiser, Browser, CaFingerprint, DiscoveryEvent};
use lancall_hub::netif::InterfacePolicy;

/// How long a host stays up before it is stopped: past its announcements, like a real host.
const UP_BEFORE_STOP: Duration = Duration::from_millis(1_500);
/// Gap between two cold browses. A responder multicasts a record at most once a second (RFC
/// 6762 §6), so a browser that asks within a second of the previous one gets no answer until its
/// second query, one second later: back to back, every run would measure that rule.
const BETWEEN_COLD_BROWSES: Duration = Duration::from_millis(1_200);
/// A run that takes longer than this counts as a failure.
const GIVE_UP: Duration = Duration::from_secs(10);

fn advertisement(run: usize) -> Advertisement {
    Advertisement {
        display_name: "Bench host".to_string(),
        host_id: format!("bench-{}-{run}", std::process::id()),
        port: 8443,
        ca_fingerprint: CaFingerprint::from_bytes([0x5a; 32]),
        open_rooms: true,
    }
}

/// Waits on `browser` (inside its runtime) for the first event `wanted` accepts.
async fn wait_for(
    browser: &mut Browser,
    wanted: impl Fn(&DiscoveryEvent) -> bool,
) -> Option<Instant> {
    tokio::time::timeout(GIVE_UP, async {
        while let Some(event) = browser.next_event().await {
            if wanted(&event) {
                return Some(Instant::now());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn row(name: &str, target: &str, samples: &mut [Duration], failures: usize) {
    samples.sort();
    let ms = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    if samples.is_empty() {
        println!("| {name} | 0 | {failures} | - | - | - | - | {target} |");
        return;
    }
    println!(
        "| {name} | {} | {failures} | {} | {} | {} | {} | {target} |",
        samples.len(),
        ms(samples[0]),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 95.0)),
        ms(samples[samples.len() - 1]),
    );
}

fn main() {
    if let Err(why) = discovery_netns::namespaces_available() {
        eprintln!("discovery_bench: {why}");
        std::process::exit(2);
    }
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25);
    let lan = Lan::create("bench").unwrap();
    let rt_a = NsRuntime::new(&lan.a).unwrap();
    let rt_b = NsRuntime::new(&lan.b).unwrap();
    let policy = InterfacePolicy::default();

    let (mut visible, mut gone, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    let (mut visible_failed, mut gone_failed, mut cold_failed) = (0, 0, 0);

    // start → visible and stop → gone, with one long-lived browser in B.
    let mut browser = {
        let policy = policy.clone();
        rt_b.run(async move { Browser::start(&policy) }).unwrap()
    };
    for run in 0..runs {
        let ad = advertisement(run);
        let host_id = ad.host_id.clone();
        let started = Instant::now();
        let host = {
            let policy = policy.clone();
            rt_a.run(async move { Advertiser::start(ad, &policy) })
                .unwrap()
        };
        let (seen, returned) = rt_b.run(async move {
            let seen = wait_for(
                &mut browser,
                |e| matches!(e, DiscoveryEvent::Found(h) if h.host_id == host_id),
            )
            .await;
            (seen, browser)
        });
        browser = returned;
        match seen {
            Some(at) => visible.push(at - started),
            None => visible_failed += 1,
        }
        if run == 0 {
            assert!(assert_mdns_threads_confined() >= 2);
        }

        std::thread::sleep(UP_BEFORE_STOP);
        let instance = host.instance_name();
        let stopping = Instant::now();
        rt_a.run(host.stop());
        let (seen, returned) = rt_b.run(async move {
            let seen = wait_for(
                &mut browser,
                |e| matches!(e, DiscoveryEvent::Gone(i) if *i == instance),
            )
            .await;
            (seen, browser)
        });
        browser = returned;
        match seen {
            Some(at) => gone.push(at - stopping),
            None => gone_failed += 1,
        }
    }
    rt_b.run(browser.stop());

    // browse → visible: a host that is already up, a browser that starts.
    let host = {
        let policy = policy.clone();
        rt_a.run(async move { Advertiser::start(advertisement(runs), &policy) })
            .unwrap()
    };
    std::thread::sleep(UP_BEFORE_STOP);
    for _ in 0..runs {
        std::thread::sleep(BETWEEN_COLD_BROWSES);
        let policy = policy.clone();
        let seen = rt_b.run(async move {
            let started = Instant::now();
            let mut browser = Browser::start(&policy).unwrap();
            let seen = wait_for(&mut browser, |e| matches!(e, DiscoveryEvent::Found(_))).await;
            browser.stop().await;
            seen.map(|at| at - started)
        });
        match seen {
            Some(took) => cold.push(took),
            None => cold_failed += 1,
        }
    }
    rt_a.run(host.stop());

    println!("| scenario | runs | failed | min ms | p50 ms | p95 ms | max ms | target |");
    println!("|---|---|---|---|---|---|---|---|");
    row(
        "host start → visible in other namespace",
        "≤ 1500 ms",
        &mut visible,
        visible_failed,
    );
    row(
        "clean stop → gone from other namespace",
        "≤ 1000 ms",
        &mut gone,
        gone_failed,
    );
    row(
        "browser start → running host visible",
        "-",
        &mut cold,
        cold_failed,
    );
}
