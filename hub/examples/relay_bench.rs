//! Relay benchmark: resident memory per connected client, relay latency at a given message rate,
//! and throughput, for N real TLS WebSocket clients against a hub in another process.
//!
//! ```sh
//! cargo run --release -p lancall-hub --example relay_bench -- --clients 5000
//! ```
//!
//! The hub runs in a child process (this same program with `serve`), so that its resident
//! memory is measured alone; the clients run here. Everything is on 127.0.0.1. Both share the
//! machine's cores, as they would not in real use: the latency figures include that contention.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use lancall_hub::host::{self, HostConfig};
use lancall_hub::hub::RoomSpec;
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const ROOM_SIZE: usize = 8;

type Ws = WebSocketStream<TlsStream<TcpStream>>;
/// A sender's half of a connection and the peer id it sends to.
type SenderSink = Arc<tokio::sync::Mutex<(SplitSink<Ws, Message>, String)>>;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if args.get(1).map(String::as_str) == Some("serve") {
        rt.block_on(serve(arg(&args, "--rooms", 1) as usize));
    } else {
        rt.block_on(bench(&args));
    }
}

/// The hub process: open rooms b0..bN, prints its port and CA fingerprint, runs until stdin closes.
async fn serve(rooms: usize) {
    let dir = std::env::temp_dir().join(format!("lancall-bench-{}", std::process::id()));
    let mut config = HostConfig::new(dir.clone());
    config.https_listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    config.http_listen = None;
    config.room = "b0".into();
    config.open = true;
    let host = host::start(config).await.expect("host starts");
    for r in 1..rooms {
        host.hub.create_room(RoomSpec { name: format!("b{r}"), open: true, capacity: Some(ROOM_SIZE), token: None, topology: Default::default() }).expect("room");
    }
    println!("{}", json!({"port": host.https_addr.port(), "fp": host.ca_fingerprint.map(|f| f.to_hex())}));
    std::io::stdout().flush().ok();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
    })
    .await
    .ok();
    host.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

struct Conn {
    sink: SplitSink<Ws, Message>,
    id: String,
}

async fn connect(port: u16, fp: lancall_certs::Fingerprint, room: usize, name: usize) -> (Conn, SplitStream<Ws>) {
    let config = Arc::new(lancall_certs::client_config_pinned(fp));
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.expect("connect");
    tcp.set_nodelay(true).ok();
    let name_ = rustls_pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let tls = tokio_rustls::TlsConnector::from(config).connect(name_, tcp).await.expect("tls");
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/ws"), tls).await.expect("ws");
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(json!({"type":"join","room":format!("b{room}"),"name":format!("c{name}")}).to_string()))
        .await
        .expect("join");
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                assert_eq!(v["type"], "welcome", "{v}");
                let id = v["self"]["id"].as_str().expect("id").to_owned();
                return (Conn { sink, id }, stream);
            }
            Some(Ok(_)) => continue,
            other => panic!("join failed: {other:?}"),
        }
    }
}

/// Latencies (µs) recorded by readers for the current phase.
#[derive(Default)]
struct Recorder {
    phase: AtomicU64,
    lat_us: Mutex<Vec<u64>>,
    received: AtomicU64,
    errors: AtomicU64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn bench(args: &[String]) {
    let clients = arg(args, "--clients", 5000) as usize;
    let rates: Vec<u64> = args
        .iter()
        .position(|a| a == "--rates")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|r| r.parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 5000, 10000, 20000]);
    let seconds = arg(args, "--seconds", 10);
    let senders_wanted = arg(args, "--senders", 1000) as usize;
    let rooms = clients.div_ceil(ROOM_SIZE);

    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .args(["serve", "--rooms", &rooms.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn hub");
    let pid = child.id();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("ready json");
    let port = ready["port"].as_u64().expect("port") as u16;
    let fp: lancall_certs::Fingerprint = ready["fp"].as_str().expect("fp").parse().expect("fp");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(pid);

    // Connect everyone, 64 at a time.
    let started = Instant::now();
    let recorder = Arc::new(Recorder::default());
    let epoch = Instant::now();
    let mut conns: Vec<Conn> = Vec::with_capacity(clients);
    let mut idx = 0;
    while idx < clients {
        let batch: Vec<_> = (idx..(idx + 64).min(clients)).map(|i| connect(port, fp, i / ROOM_SIZE, i)).collect();
        for (conn, mut stream) in futures_util::future::join_all(batch).await {
            let rec = recorder.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(t) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else { continue };
                    match v["type"].as_str() {
                        Some("signal") => {
                            let sent = v["data"]["t"].as_u64().unwrap_or(0);
                            let phase = v["data"]["p"].as_u64().unwrap_or(u64::MAX);
                            if phase == rec.phase.load(Ordering::Relaxed) {
                                let now = epoch.elapsed().as_nanos() as u64;
                                rec.lat_us.lock().expect("lock").push(now.saturating_sub(sent) / 1000);
                                rec.received.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Some("error") => {
                            rec.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
            });
            conns.push(conn);
        }
        idx += 64;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_full = rss_kib(pid);
    let per_client = (rss_full.saturating_sub(rss_idle)) as f64 / clients as f64;
    println!("## Relay benchmark: {clients} clients in {rooms} rooms of {ROOM_SIZE}");
    println!();
    println!("- connected and joined in {connect_secs:.1} s");
    println!("- hub resident memory: {:.1} MiB idle, {:.1} MiB with {clients} clients ({per_client:.1} KiB per client)", rss_idle as f64 / 1024.0, rss_full as f64 / 1024.0);
    println!();

    // Senders: the first member of each of the first rooms sends to the second member.
    let senders: Vec<usize> = (0..rooms).map(|r| r * ROOM_SIZE).filter(|i| i + 1 < clients).take(senders_wanted).collect();
    let targets: Vec<String> = senders.iter().map(|i| conns[i + 1].id.clone()).collect();
    let mut sinks: Vec<(SplitSink<Ws, Message>, String)> = Vec::new();
    // Take the sender sinks out; the rest stay connected and idle.
    let mut all: Vec<Option<Conn>> = conns.into_iter().map(Some).collect();
    for (s, target) in senders.iter().zip(targets) {
        let conn = all[*s].take().expect("sender");
        sinks.push((conn.sink, target));
    }
    let sinks: Vec<SenderSink> =
        sinks.into_iter().map(|s| Arc::new(tokio::sync::Mutex::new(s))).collect();

    println!("| offered msg/s | delivered msg/s | p50 ms | p99 ms | max ms | lost | hub CPU % |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    for (phase, rate) in rates.iter().enumerate() {
        let phase = phase as u64 + 1;
        recorder.phase.store(phase, Ordering::SeqCst);
        recorder.lat_us.lock().expect("lock").clear();
        recorder.received.store(0, Ordering::SeqCst);
        let per_sender = *rate as f64 / sinks.len() as f64;
        let interval = Duration::from_secs_f64(1.0 / per_sender);
        let sent = Arc::new(AtomicU64::new(0));
        let cpu0 = cpu_ticks(pid);
        let t0 = Instant::now();
        let tasks: Vec<_> = sinks
            .iter()
            .enumerate()
            .map(|(k, sink)| {
                let (sink, sent) = (sink.clone(), sent.clone());
                tokio::spawn(async move {
                    // Spread the senders over one interval so the load is smooth.
                    let offset = interval.mul_f64(k as f64 / 1000.0 % 1.0);
                    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
                    let mut guard = sink.lock().await;
                    let (sink, to) = &mut *guard;
                    loop {
                        let at = tick.tick().await;
                        if at >= end {
                            break;
                        }
                        let t = epoch.elapsed().as_nanos() as u64;
                        let msg = json!({"type":"signal","to":to,"data":{"t":t,"p":phase,"pad":"x".repeat(200)}});
                        if sink.send(Message::text(msg.to_string())).await.is_err() {
                            break;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        futures_util::future::join_all(tasks).await;
        let elapsed = t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu = (cpu_ticks(pid) - cpu0) as f64 / ticks_per_sec / (elapsed + 0.5) * 100.0;
        let sent = sent.load(Ordering::SeqCst);
        let received = recorder.received.load(Ordering::SeqCst);
        let mut lat = std::mem::take(&mut *recorder.lat_us.lock().expect("lock"));
        lat.sort_unstable();
        println!(
            "| {rate} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {cpu:.0} |",
            received as f64 / elapsed,
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat.last().map(|m| *m as f64 / 1000.0).unwrap_or(f64::NAN),
            sent.saturating_sub(received),
        );
    }
    println!();
    println!("- errors from the hub during the run: {}", recorder.errors.load(Ordering::SeqCst));
    println!("- senders: {}, each to one peer in its room; 200-byte payloads; {seconds} s per rate", sinks.len());
    drop(child.stdin.take());
    let _ = child.wait();
}
