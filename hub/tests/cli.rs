//! The `lancall-host` command line as a person uses it: the mkcert-like subcommands, serving a
//! certificate from elsewhere, the text output with links and QR codes, and clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};

fn host() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lancall-host"));
    c.stdin(Stdio::null());
    c
}

#[test]
fn ca_export_and_issue_make_files_a_standard_client_accepts() {
    let data = tempfile::tempdir().unwrap();
    let out = host().args(["ca", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("SHA-256 fingerprint: ") && shown.contains("BEGIN CERTIFICATE"), "{shown}");

    let der = data.path().join("exported.crt");
    let out = host().args(["ca", "--der", "--export"]).arg(&der).arg("--data-dir").arg(data.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let der_bytes = std::fs::read(&der).unwrap();
    assert!(shown.contains(&lancall_certs::Fingerprint::of(&der_bytes).to_colon_hex()), "the export is the CA shown");

    let leaf_dir = data.path().join("leaf-out");
    let out = host()
        .args(["issue", "--out"])
        .arg(&leaf_dir)
        .args(["192.168.7.20", "nas.local", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let leaf = lancall_certs::Leaf::load_pem_files(&leaf_dir.join("leaf.crt"), &leaf_dir.join("leaf.key")).unwrap();
    assert!(leaf.names().contains_ip("192.168.7.20".parse().unwrap()));
    assert!(leaf.names().contains_dns("nas.local"));

    // A public address is refused with a reason, and no file is written.
    let bad_dir = data.path().join("bad");
    let out = host().args(["issue", "--out"]).arg(&bad_dir).args(["8.8.8.8", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a private"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!bad_dir.join("leaf.crt").exists());
}

#[tokio::test]
async fn tls_cert_flags_serve_a_certificate_from_elsewhere() {
    // Another CA (standing in for a public one) and a leaf from it for 127.0.0.1.
    let other = tempfile::tempdir().unwrap();
    let authority = lancall_certs::Authority::load_or_create(other.path()).unwrap();
    let leaf = authority
        .issue_leaf(&lancall_certs::LeafNames::new(["127.0.0.1".parse().unwrap()], ["localhost"]))
        .unwrap();
    leaf.write_to(other.path()).unwrap();

    let data = tempfile::tempdir().unwrap();
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-http", "--no-mdns", "--json", "--tls-cert"])
        .arg(other.path().join("leaf.crt"))
        .arg("--tls-key")
        .arg(other.path().join("leaf.key"))
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["ca_sha256"], serde_json::Value::Null, "no local CA to pin with an external certificate");
    assert!(!ready["join_url"].as_str().unwrap().contains("fp="));
    let port = ready["https_port"].as_u64().unwrap() as u16;

    // A client that trusts only that other CA (a standard verifier, no pinning) connects.
    let config = lancall_certs::client_config_trusting(authority.ca_der()).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await;
    assert!(tls.is_ok(), "served the given certificate: {:?}", tls.err());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn help_ends_with_examples_a_newcomer_can_copy() {
    let out = host().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let examples = help.split("Examples:").nth(1).unwrap_or_else(|| panic!("no Examples section:\n{help}"));
    for flag in ["--name Kitchen", "--open", "--no-mdns", "--listen 192.168.1.20:8443"] {
        assert!(examples.contains(&format!("lancall-host {flag}")), "no example of {flag}:\n{examples}");
    }
    // Examples fit an 80-column terminal.
    assert!(examples.lines().all(|l| l.chars().count() <= 80), "{examples}");
}

#[test]
fn text_output_has_a_link_and_a_qr_code_for_each_address() {
    let data = tempfile::tempdir().unwrap();
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--name", "Kitchen", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("Press Ctrl+C") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("lancall host \"Kitchen\" is ready."), "{text}");
    assert!(text.contains("https://127.0.0.1:") && text.contains("#room=call&token="), "{text}");
    assert!(text.contains('█') || text.contains('▀') || text.contains('▄'), "a QR code drawn with block characters:\n{text}");
    assert!(text.contains("CA fingerprint (SHA-256): "));
    assert!(text.contains("To trust it (phones, once): open http://127.0.0.1:"));
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let data = tempfile::tempdir().unwrap();
    let out = host()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-mdns", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("could not listen on 127.0.0.1:{port}")) && err.contains("--listen"), "{err}");
}

#[test]
fn a_busy_media_port_is_a_clear_error() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let data = tempfile::tempdir().unwrap();
    let out = host()
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--topology", "sfu", "--media-port", &port.to_string(), "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not open the media port") && err.contains("--media-port") && err.contains(&port.to_string()), "{err}");
}

#[test]
fn several_rooms_each_with_its_own_token_capacity_and_topology() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--room", "standup", "--room", "lobby:open,capacity=3", "--room", "big:sfu,capacity=40", "--media-port", "0"];
    let ready = ready_line(data.path(), &args);
    let rooms = ready["rooms"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, bool, u64, String)> = rooms
        .iter()
        .map(|r| (r["room"].as_str().unwrap_or("").to_owned(), r["open"] == true, r["capacity"].as_u64().unwrap_or(0), r["topology"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        summary,
        [
            ("standup".to_owned(), false, 8, "mesh".to_owned()),
            ("lobby".to_owned(), true, 3, "mesh".to_owned()),
            ("big".to_owned(), false, 40, "sfu".to_owned()),
        ]
    );
    // Each room's link names it (and its own token); the first room is also the top-level one.
    assert_eq!(ready["room"], "standup");
    assert_ne!(rooms[0]["token"], rooms[2]["token"]);
    for r in &rooms {
        let link = r["join_url"].as_str().unwrap_or("");
        assert!(link.contains(&format!("room={}", r["room"].as_str().unwrap_or("?"))), "{link}");
        assert_eq!(link.contains("token="), r["open"] == false, "{link}");
    }
    assert!(ready["media_port"].as_u64().is_some_and(|p| p > 0), "a room goes through the SFU: {ready}");
    // The tokens are kept: the same links after a restart.
    let again = ready_line(data.path(), &args);
    assert_eq!(again["rooms"], ready["rooms"].clone().as_array().map(|a| a.iter().map(|r| {
        let mut r = r.clone();
        r["join_url"] = again["rooms"].as_array().and_then(|x| x.iter().find(|y| y["room"] == r["room"])).map(|y| y["join_url"].clone()).unwrap_or_default();
        r["join_urls"] = again["rooms"].as_array().and_then(|x| x.iter().find(|y| y["room"] == r["room"])).map(|y| y["join_urls"].clone()).unwrap_or_default();
        r
    }).collect::<Vec<_>>()).map(serde_json::Value::from).unwrap_or_default());
}

#[test]
fn a_bad_room_option_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let out = host()
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--room", "standup:loud", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"loud\" is not a room option") && err.contains("capacity=N"), "{err}");
}

#[test]
fn the_ready_line_says_where_media_goes() {
    let data = tempfile::tempdir().unwrap();
    let mesh = ready_line(data.path(), &[]);
    assert_eq!((mesh["topology"].as_str(), mesh["media_port"].as_u64()), (Some("mesh"), None));
    let sfu = ready_line(data.path(), &["--topology", "sfu", "--media-port", "0"]);
    assert_eq!(sfu["topology"], "sfu");
    assert!(sfu["media_port"].as_u64().is_some_and(|p| p > 0), "{sfu}");
}

/// A `--json` host on loopback with `extra` options: the child, its stdin, and its stdout's
/// lines as JSON.
fn json_host(
    data: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, std::process::ChildStdin, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-http", "--no-mdns", "--json", "--data-dir"])
        .arg(data)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap_or_default());
        }
    });
    (child, stdin, lines)
}

/// `--json` with `--knock ask`: the knock is an event line, the answer a line on stdin.
#[tokio::test]
async fn knocks_are_answered_on_stdin_with_json() {
    use std::io::Write;
    let data = tempfile::tempdir().unwrap();
    let (mut child, mut stdin, mut lines) = json_host(data.path(), &["--knock", "ask"]);
    let ready = lines.recv().await.unwrap();
    let port = ready["https_port"].as_u64().unwrap() as u16;
    let fp: lancall_certs::Fingerprint = ready["ca_sha256"].as_str().unwrap().parse().unwrap();
    assert_eq!(ready["ca_words"], fp.speakable(), "the four words of the CA it pins");

    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let config = std::sync::Arc::new(lancall_certs::client_config_pinned(fp));
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/ws"), tls).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(r#"{"type":"knock","room":"call","name":"Ada"}"#)).await.unwrap();

    let knock = lines.recv().await.unwrap();
    assert_eq!(knock["event"], "knock");
    assert_eq!(knock["name"], "Ada");
    assert_eq!(knock["addr"], "127.0.0.1");
    writeln!(stdin, "{}", serde_json::json!({"admit": knock["id"]})).unwrap();
    stdin.flush().unwrap();

    let mut admitted = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "admitted" {
                admitted = Some(v);
                break;
            }
        }
    }
    let admitted = admitted.expect("admitted");
    assert_eq!(admitted["token"], ready["token"]);
    let answered = lines.recv().await.unwrap();
    assert_eq!(answered, serde_json::json!({"event": "knock-answered", "id": knock["id"], "admitted": true}));
    let _ = child.kill();
    let _ = child.wait();
}

fn ready_line(data: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-http", "--no-mdns", "--json", "--data-dir"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    serde_json::from_str(&line).unwrap()
}

/// The default media port has the HTTPS port's number (UDP), and the SFU starts first: its
/// ICE-TCP port must leave that number to HTTPS (the host package failed to start on 7443).
#[test]
fn the_sfus_tcp_port_leaves_the_https_port_alone() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let data = tempfile::tempdir().unwrap();
    let mut child = host()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-http", "--no-mdns", "--json", "--topology", "sfu", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("no ready line ({e}): {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!((ready["https_port"].as_u64(), ready["media_port"].as_u64()), (Some(u64::from(port)), Some(u64::from(port))));
    let tcp = ready["media_tcp_port"].as_u64().unwrap();
    assert_ne!(tcp, u64::from(port), "ICE-TCP took the HTTPS port");
}

#[test]
fn links_survive_a_restart_until_the_token_is_renewed() {
    let data = tempfile::tempdir().unwrap();
    let first = ready_line(data.path(), &[]);
    let again = ready_line(data.path(), &[]);
    assert_eq!(first["token"], again["token"], "a restarted host keeps its room's token, so shared links still work");
    assert_eq!(first["ca_sha256"], again["ca_sha256"], "and its CA");
    let renewed = ready_line(data.path(), &["--new-token"]);
    assert_ne!(renewed["token"], first["token"], "--new-token makes old links stop working");
    assert_eq!(ready_line(data.path(), &[])["token"], renewed["token"], "the new token is kept in turn");
    let other_room = ready_line(data.path(), &["--room", "standup"]);
    assert_ne!(other_room["token"], renewed["token"], "each room has its own token");
    assert_eq!(ready_line(data.path(), &[])["token"], renewed["token"], "saving one room kept the other");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("rooms.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "tokens are secrets: only the owner may read them");
    }
}

/// Reads `lines` up to and including the first that `last` accepts; the text so far if the
/// output ends first.
fn read_until(lines: &mut impl Iterator<Item = std::io::Result<String>>, last: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let done = last(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("the output ended before the line waited for:\n{}", seen.join("\n"));
}

/// A line of env_logger's log: `[2026-01-02T03:04:05Z INFO  target] message`.
fn is_log_line(line: &str) -> bool {
    line.starts_with('[') && ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].iter().any(|level| line.contains(level))
}

/// What a person sees in the terminal: `lancall-host` with its stderr in the same pipe as its
/// stdout, so that the lines are in the order they were written.
#[cfg(unix)]
#[test]
fn text_mode_prints_the_link_and_qr_code_before_any_log_line() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" 2>&1"#)
        .arg(env!("CARGO_BIN_EXE_lancall-host"))
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--name", "Kitchen", "--log-level", "info", "--data-dir"])
        .arg(data.path())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // The last line the host logs while it starts.
    let seen = read_until(&mut lines, |l| is_log_line(l) && l.contains("serving HTTPS on"));
    let text = seen.join("\n");
    let at = |what: &dyn Fn(&str) -> bool| seen.iter().position(|l| what(l)).unwrap_or_else(|| panic!("missing line in:\n{text}"));

    assert_eq!(seen.iter().find(|l| !l.trim().is_empty()).map(String::as_str), Some("lancall host \"Kitchen\" is ready."), "{text}");
    let first_log = at(&is_log_line);
    let link = at(&|l| l.trim_start().starts_with("https://127.0.0.1:") && l.contains("#room=call&token="));
    let qr = at(&|l| l.contains('█') || l.contains('▀') || l.contains('▄'));
    let short = at(&|l| l.trim_start().starts_with("Token: "));
    let end = at(&|l| l.starts_with("Press Ctrl+C"));
    assert!(link < qr && qr < short && short < end && end < first_log, "link, QR code, short form, then the log:\n{text}");
    // The log lines of the start were held, not lost.
    for logged in ["mDNS advertising is off", "created a new local CA", "room \"call\" made", "serving HTTPS on"] {
        let line = at(&|l| l.contains(logged));
        assert!(line > end && is_log_line(&seen[line]), "{logged:?} logged after the banner:\n{text}");
    }

    // Later lines go straight out.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| is_log_line(l) && l.contains("stopping: telling everyone")), "{rest:?}");
    assert!(child.wait().unwrap().success());
}

/// The text output of `lancall-host ARGS` up to "Press Ctrl+C to stop.".
fn text_banner(data: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--data-dir"])
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = read_until(&mut lines, |l| l.starts_with("Press Ctrl+C"));
    let _ = child.kill();
    let _ = child.wait();
    banner
}

/// The lines of the short form: from "To type it instead" to the next blank line.
fn typed_form(banner: &[String]) -> Vec<String> {
    let text = banner.join("\n");
    let start = banner.iter().position(|l| l.trim_start().starts_with("To type it instead")).unwrap_or_else(|| panic!("no short form:\n{text}"));
    banner[start..].iter().take_while(|l| !l.trim().is_empty()).cloned().collect()
}

#[test]
fn the_short_form_of_the_link_fits_80_columns_and_says_what_the_link_says() {
    let data = tempfile::tempdir().unwrap();
    let banner = text_banner(data.path(), &[]);
    let text = banner.join("\n");
    let link = banner.iter().map(|l| l.trim()).find(|l| l.starts_with("https://") && l.contains('#')).unwrap_or_else(|| panic!("no link:\n{text}"));
    let (base, fragment) = link.split_once('#').unwrap();
    let param = |name: &str| fragment.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("no {name} in {link}"));
    let form = typed_form(&banner);
    for line in &form {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.chars().count());
    }
    let fields: Vec<&str> = form[1..].iter().map(|l| l.trim()).collect();
    assert_eq!(fields, [base.to_owned(), format!("Room:  {}", param("room")), format!("Token: {}", param("token"))], "{text}");
    assert!(form[0].contains("Room and Token"), "{text}");

    // An open room at the longest name a room can have: still 80 columns, and no token to type.
    let room = "a-very-long-room-name.".repeat(3)[..lancall_protocol::hub::MAX_ROOM_CHARS].to_owned();
    let banner = text_banner(data.path(), &["--open", "--room", &room]);
    let form = typed_form(&banner);
    for line in &form {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.chars().count());
    }
    assert_eq!(form.last().map(|l| l.trim().to_owned()), Some(format!("Room:  {room}")), "{form:?}");
    assert!(!form.iter().any(|l| l.contains("Token")), "{form:?}");
}

/// `--json` keeps stdout machine-readable: only JSON lines, the ready line with the same keys as
/// before, and the log on stderr as it happens (not held back as in text mode).
#[cfg(unix)]
#[test]
fn json_mode_stdout_is_only_json_lines_with_the_same_ready_keys() {
    let data = tempfile::tempdir().unwrap();
    let mut child = host()
        .args(["--listen", "127.0.0.1:0", "--no-mdns", "--json", "--log-level", "info", "--data-dir"])
        .arg(data.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let mut keys: Vec<&str> = ready.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ca_sha256", "ca_words", "capacity", "event", "host_id", "http_port", "http_url", "https_port", "https_url", "https_urls",
            "join_url", "join_urls", "mdns_instance", "media_port", "media_tcp_port", "name", "open", "pid", "room", "rooms", "token", "topology"
        ]
    );
    assert_eq!(ready["event"], "ready");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    for line in &rest {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON on stdout: {line}");
    }
    assert_eq!(rest.last().map(String::as_str), Some(r#"{"event":"stopped"}"#), "{rest:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(log.contains("serving HTTPS on"), "{log}");
}

/// `lancall-host --version` says the version the packages carry (the workspace's, one place).
#[test]
fn version_is_the_packages_version() {
    let out = host().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("lancall-host {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn recordings_lists_the_files_of_the_recordings_folder() {
    let data = tempfile::tempdir().unwrap();
    // None yet: said so, not an error.
    let out = host().args(["recordings", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No recordings in"), "{}", String::from_utf8_lossy(&out.stdout));
    let dir = data.path().join("recordings");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("call_Ada_2026-12-06_10-00-00.webm"), vec![0u8; 1500]).unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a recording").unwrap();
    let out = host().args(["recordings", "--json", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["path"].as_str().unwrap().ends_with("call_Ada_2026-12-06_10-00-00.webm"));
    assert_eq!(lines[0]["bytes"], 1500);
}

/// Rooms added and removed while the host runs, on stdin with `--json`: the new room's link
/// works (a client joins it, through the SFU the first `sfu` room started), its token survives
/// a restart, a bad room is refused with a sentence, and a removed room tells whoever is in it.
#[tokio::test]
async fn rooms_are_added_and_removed_on_stdin_while_the_host_runs() {
    use futures_util::{SinkExt, StreamExt};
    use std::io::Write;
    use tokio_tungstenite::tungstenite::Message;
    let data = tempfile::tempdir().unwrap();
    let (mut child, mut stdin, mut lines) = json_host(data.path(), &["--media-port", "0"]);
    let ready = lines.recv().await.unwrap();
    assert_eq!(ready["media_port"], serde_json::Value::Null, "a mesh host opens no media port at start");
    let port = ready["https_port"].as_u64().unwrap() as u16;
    let fp: lancall_certs::Fingerprint = ready["ca_sha256"].as_str().unwrap().parse().unwrap();
    let mut next_event = async || loop {
        let v = lines.recv().await.unwrap();
        if v["event"] != "peer-joined" && v["event"] != "peer-left" {
            return v;
        }
    };

    writeln!(stdin, r#"{{"add-room":"standup:sfu,capacity=12"}}"#).unwrap();
    writeln!(stdin, r#"{{"add-room":"bad room!"}}"#).unwrap();
    stdin.flush().unwrap();
    let added = next_event().await;
    assert_eq!(added["event"], "room-added", "{added}");
    assert_eq!((added["room"].as_str(), added["topology"].as_str(), added["capacity"].as_u64()), (Some("standup"), Some("sfu"), Some(12)));
    let token = added["token"].as_str().unwrap().to_owned();
    assert!(added["join_url"].as_str().unwrap().contains(&format!("room=standup&token={token}")), "{added}");
    let refused = next_event().await;
    assert_eq!((refused["event"].as_str(), refused["command"].as_str()), (Some("error"), Some("add-room")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("cannot be a room name"), "{refused}");

    // A client joins the new room with its link's token, and is told its media goes through the host.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls_pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let config = std::sync::Arc::new(lancall_certs::client_config_pinned(fp));
    let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/ws"), tls).await.unwrap();
    let join = serde_json::json!({"type": "join", "room": "standup", "token": token, "name": "Ada"});
    ws.send(Message::text(join.to_string())).await.unwrap();
    let mut received = Vec::new();
    while let Some(Ok(Message::Text(t))) = ws.next().await {
        let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        received.push(v.clone());
        if v["type"] == "welcome" {
            break;
        }
    }
    let welcome = received.last().unwrap();
    assert_eq!((welcome["type"].as_str(), welcome["topology"].as_str()), (Some("welcome"), Some("sfu")), "{received:?}");

    // Removed: Ada is told, with the room's name, and her connection ends.
    writeln!(stdin, r#"{{"remove-room":"standup"}}"#).unwrap();
    writeln!(stdin, r#"{{"remove-room":"standup"}}"#).unwrap();
    stdin.flush().unwrap();
    assert_eq!(next_event().await, serde_json::json!({"event": "room-removed", "room": "standup"}));
    let again = next_event().await;
    assert_eq!((again["event"].as_str(), again["command"].as_str()), (Some("error"), Some("remove-room")), "{again}");
    let mut closing = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "closing" {
                closing = Some(v);
            }
        }
    }
    let closing = closing.expect("a closing message before the connection ended");
    assert!(closing["message"].as_str().unwrap().contains("closed the room \"standup\""), "{closing}");
    let _ = child.kill();
    let _ = child.wait();

    // The room's token was saved: added again after a restart, its old links work.
    let saved = std::fs::read_to_string(data.path().join("rooms.json")).unwrap();
    assert!(saved.contains(&token), "{saved}");
}
