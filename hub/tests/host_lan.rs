//! `lancall-host` on a LAN made of two network namespaces: another machine finds it with
//! `lancall-host discover`, it follows an address change with a new certificate and a new
//! advertisement, and it is gone from the list once stopped. Real processes, real multicast,
//! only inside the test's own namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod discovery_netns;

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discovery_netns::{namespaces_available, output_with_timeout, IsolatedLan, Lan, Netns, NsRuntime, ADDRESS_A};

const BIN: &str = env!("CARGO_BIN_EXE_lancall-host");

fn discover(lan: &Lan) -> Vec<serde_json::Value> {
    let mut cmd = lan.b.exec(BIN);
    cmd.args(["discover", "--json", "--seconds", "2", "--no-scan"]);
    let out = output_with_timeout(cmd, Duration::from_secs(20)).expect("discover runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Starts `lancall-host --json ARGS` in namespace `a` with a fresh data folder; returns the
/// process, its ready line and the folder (kept alive as long as the host runs).
fn spawn_host(lan: &Lan, args: &[&str]) -> (std::process::Child, serde_json::Value, tempfile::TempDir) {
    spawn_host_in(&lan.a, args)
}

/// [`spawn_host`] in namespace `ns`.
fn spawn_host_in(ns: &Netns, args: &[&str]) -> (std::process::Child, serde_json::Value, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut child = ns
        .exec(BIN)
        .args(["--no-http", "--json", "--data-dir"])
        .arg(data.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, serde_json::from_str(&line).unwrap(), data)
}

/// A TLS handshake from namespace `b` to `addr`, pinning `fp` and checking that the certificate
/// names `addr` (with a request for `/healthz` over it).
fn pinned_handshake(rt: &NsRuntime, addr: SocketAddr, fp: lancall_certs::Fingerprint) -> Result<(), String> {
    pinned_get(rt, addr, fp, "/healthz").map(|_| ())
}

/// `GET path` over a TLS connection from namespace `b` to `addr`, pinning `fp`: the body.
fn pinned_get(rt: &NsRuntime, addr: SocketAddr, fp: lancall_certs::Fingerprint, path: &str) -> Result<String, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    rt.run(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let config = Arc::new(lancall_certs::client_config_pinned(fp));
        let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
        let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut response)).await;
        let response = String::from_utf8_lossy(&response).into_owned();
        response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).ok_or(response)
    })
}

#[test]
fn a_host_is_discovered_follows_an_address_change_and_is_gone_after_stopping() {
    if let Err(why) = namespaces_available() {
        eprintln!("SKIPPED a_host_is_discovered_follows_an_address_change_and_is_gone_after_stopping: {why}");
        return;
    }
    let lan = Lan::create("hostlan").unwrap();
    let (mut child, ready, _data) =
        spawn_host(&lan, &["--listen", "0.0.0.0:0", "--name", "Kitchen", "--open", "--topology", "sfu", "--media-port", "0"]);
    let port = ready["https_port"].as_u64().unwrap() as u16;
    let fp_hex = ready["ca_sha256"].as_str().unwrap().to_owned();
    let fp: lancall_certs::Fingerprint = fp_hex.parse().unwrap();
    assert_eq!(ready["join_url"].as_str().unwrap(), format!("https://{ADDRESS_A}:{port}/#room=call&fp={fp_hex}"));
    let instance = ready["mdns_instance"].as_str().expect("advertised").to_owned();
    assert!(instance.starts_with("Kitchen"), "{instance}");

    // Another machine on the LAN finds it, with what an app needs to join and pin.
    let hosts = discover(&lan);
    let found = hosts.iter().find(|h| h["instance"] == instance.as_str()).unwrap_or_else(|| panic!("not found in {hosts:?}"));
    assert_eq!(found["name"], "Kitchen");
    assert_eq!(found["port"], port);
    assert_eq!(found["fingerprint"], fp_hex.as_str());
    assert_eq!(found["open_rooms"], true);
    assert_eq!(found["joinable"], true);
    assert!(found["addresses"].as_array().unwrap().iter().any(|a| a == ADDRESS_A));

    // The pinned path works by the advertised address.
    let rt = NsRuntime::new(&lan.b).unwrap();
    let a: IpAddr = ADDRESS_A.parse().unwrap();
    pinned_handshake(&rt, SocketAddr::new(a, port), fp).expect("pinned handshake by the advertised address");

    // The host gets a second address (DHCP renewal, a second network): the certificate and the
    // advertisement follow, so a joiner using the new address is not refused.
    let new: IpAddr = "10.99.0.11".parse().unwrap();
    lan.a.add_address("eth0", "10.99.0.11/24").unwrap();
    let started = Instant::now();
    loop {
        match pinned_handshake(&rt, SocketAddr::new(new, port), fp) {
            Ok(()) => break,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => panic!("the certificate never named the new address: {e}"),
        }
    }
    let started = Instant::now();
    loop {
        let hosts = discover(&lan);
        let addrs = hosts.iter().find(|h| h["instance"] == instance.as_str()).map(|h| h["addresses"].clone());
        if addrs.as_ref().and_then(|a| a.as_array()).is_some_and(|a| a.iter().any(|x| x == "10.99.0.11")) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the new address was never advertised: {addrs:?}");
    }

    // Its SFU offers the new address to whoever joins from now on (its media candidates).
    let started = Instant::now();
    loop {
        let health = pinned_get(&rt, SocketAddr::new(a, port), fp, "/healthz");
        let offered = health.as_deref().ok().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
        let offered = offered.map(|h| h["media"]["addresses"].clone());
        if offered.as_ref().and_then(|a| a.as_array()).is_some_and(|a| a.iter().any(|x| x == "10.99.0.11")) {
            assert!(offered.unwrap().as_array().unwrap().iter().any(|x| x == ADDRESS_A), "and keeps the first one");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the SFU never offered the new address: {health:?}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // A host that listens on one address advertises only that one, though the machine has two.
    let (mut specific, study, _data2) = spawn_host(&lan, &["--listen", &format!("{ADDRESS_A}:0"), "--name", "Study"]);
    let study_instance = study["mdns_instance"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let addrs = loop {
        let hosts = discover(&lan);
        if let Some(h) = hosts.iter().find(|h| h["instance"] == study_instance.as_str()) {
            break h["addresses"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the second host was never found");
    };
    assert_eq!(addrs, serde_json::json!([ADDRESS_A]), "only the address it listens on");
    let _ = specific.kill();
    let _ = specific.wait();

    // Stopped cleanly, it is no longer listed.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let hosts = discover(&lan);
    assert!(hosts.iter().all(|h| h["instance"] != instance.as_str()), "still listed after stopping: {hosts:?}");
}

/// Where the switch does not pass multicast (client isolation, multicast filtering), mDNS finds
/// nothing, and `discover` then scans the subnet and finds the host with the fingerprint and
/// words it printed; what the scan learned is what the host serves (a pinned handshake works).
/// With LANCALL_NO_MDNS set, discover looks for nothing at all.
#[test]
fn where_multicast_does_not_pass_the_scan_finds_the_host() {
    if let Err(why) = namespaces_available() {
        eprintln!("SKIPPED where_multicast_does_not_pass_the_scan_finds_the_host: {why}");
        return;
    }
    let lan = IsolatedLan::create("isolated").unwrap();
    let (mut child, ready, _data) = spawn_host_in(&lan.a, &["--listen", "0.0.0.0:0", "--name", "Kitchen"]);
    let port = ready["https_port"].as_u64().unwrap().to_string();
    let run = |args: &[&str], no_mdns: bool| {
        let mut cmd = lan.b.exec(BIN);
        cmd.args(["discover", "--json", "--seconds", "2"]).args(args);
        if no_mdns {
            cmd.env("LANCALL_NO_MDNS", "1");
        }
        let started = Instant::now();
        let out = output_with_timeout(cmd, Duration::from_secs(60)).expect("discover runs");
        let hosts: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        (out, hosts, started.elapsed())
    };

    let (out, hosts, _) = run(&["--no-scan"], false);
    assert!(out.status.success());
    assert!(hosts.is_empty(), "mDNS crossed a switch that passes no multicast: {hosts:?}");

    let (out, hosts, took) = run(&["--scan-port", &port], false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("# discover with the scan took {took:?} (2 s of mDNS, then the scan of a /24)");
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let h = &hosts[0];
    assert_eq!(h["found_by"], "scan");
    assert_eq!(h["name"], "Kitchen");
    assert_eq!(h["addresses"], serde_json::json!([ADDRESS_A]));
    assert_eq!(h["fingerprint"], ready["ca_sha256"]);
    assert_eq!(h["words"], ready["ca_words"]);
    assert_eq!(h["joinable"], true);
    let fp: lancall_certs::Fingerprint = h["fingerprint"].as_str().unwrap().parse().unwrap();
    let rt = NsRuntime::new(&lan.b).unwrap();
    let addr = SocketAddr::new(ADDRESS_A.parse::<IpAddr>().unwrap(), port.parse().unwrap());
    assert_eq!(pinned_handshake(&rt, addr, fp), Ok(()));

    let (out, hosts, _) = run(&["--scan", "--scan-port", &port], true);
    assert!(!out.status.success() && hosts.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANCALL_NO_MDNS"), "{}", String::from_utf8_lossy(&out.stderr));

    let _ = child.kill();
    let _ = child.wait();
}
