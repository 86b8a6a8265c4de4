//! What the two ports serve to a browser: the UI, the CA, health, and the plain-HTTP helper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request with `Connection: close`; returns (status line, headers lowercased, body).
async fn get<S>(mut stream: S, path: &str, host: &str) -> (String, String, Vec<u8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = buf[split + 4..].to_vec();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (status.to_owned(), headers.to_ascii_lowercase(), body)
}

#[tokio::test]
async fn https_serves_ui_health_and_ca() {
    let th = start_host().await;
    let host = th.addr().to_string();

    let (status, headers, body) = get(tls_connect(&th).await, "/", &host).await;
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("content-type: text/html"));
    assert!(headers.contains("content-security-policy: default-src 'self'"), "{headers}");
    assert!(String::from_utf8_lossy(&body).contains("<title>"));

    let (status, headers, body) = get(tls_connect(&th).await, "/healthz", &host).await;
    assert!(status.contains("200"));
    assert!(headers.contains("content-type: application/json"));
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["protocol"], 1);
    assert_eq!(health["rooms"], 1);
    assert_eq!(health["ca_sha256"], th.host.ca_fingerprint.unwrap().to_hex());
    assert_eq!(health["ca_words"], th.host.ca_fingerprint.unwrap().speakable());

    let (status, headers, body) = get(tls_connect(&th).await, "/ca.crt", &host).await;
    assert!(status.contains("200"));
    assert!(headers.contains("content-type: application/x-x509-ca-cert"));
    assert_eq!(lancall_certs::Fingerprint::of(&body), th.host.ca_fingerprint.unwrap(), "/ca.crt is the CA the host pins");

    let (status, _, body) = get(tls_connect(&th).await, "/no/such/page", &host).await;
    assert!(status.contains("404"));
    assert!(String::from_utf8_lossy(&body).contains("The call is at /"));

    let (status, _, _) = get(tls_connect(&th).await, "/ws", &host).await;
    assert!(status.contains("426"), "a plain GET on /ws asks for an upgrade: {status}");
    th.host.stop().await;
}

#[tokio::test]
async fn plain_http_explains_trust_serves_the_ca_and_redirects_the_rest() {
    let th = start_host().await;
    let http = th.host.http_addr.expect("plain port");
    let https_port = th.addr().port();

    let tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    let (status, headers, body) = get(tcp, "/", &format!("127.0.0.1:{}", http.port())).await;
    assert!(status.contains("200"));
    assert!(headers.contains("text/html"));
    let page = String::from_utf8_lossy(&body);
    let fp = th.host.ca_fingerprint.unwrap().to_hex().to_uppercase();
    assert!(page.contains(&fp[..2]) && page.contains("Android") && page.contains("iPhone"), "the trust page");
    let words = th.host.ca_fingerprint.unwrap().speakable();
    assert!(page.contains(&format!(r#"id="ca-words">{words}<"#)), "the four words to compare aloud");
    assert!(page.contains(&format!("https://127.0.0.1:{https_port}/")), "links to the HTTPS call page");

    let tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    let (status, _, body) = get(tcp, "/ca.crt", "127.0.0.1").await;
    assert!(status.contains("200"));
    assert_eq!(lancall_certs::Fingerprint::of(&body), th.host.ca_fingerprint.unwrap());

    let tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    let (status, headers, _) = get(tcp, "/join?x=1", &format!("127.0.0.1:{}", http.port())).await;
    assert!(status.contains("308"), "{status}");
    assert!(headers.contains(&format!("location: https://127.0.0.1:{https_port}/join?x=1")), "{headers}");
    th.host.stop().await;
}

/// The pre-join card's `/room`: the host's name and who is in the call, for the link's holder
/// only; a wrong token says so (and counts as a wrong join would); nonsense gets a 400.
#[tokio::test]
async fn room_says_who_is_in_the_call_to_the_links_holder() {
    let th = start_host().await;
    let host = th.addr().to_string();
    let token = th.token().expect("a token");
    let json = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).unwrap();

    let (status, headers, body) = get(tls_connect(&th).await, &format!("/room?room=call&token={token}"), &host).await;
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("cache-control: no-store"), "{headers}");
    let empty = json(&body);
    assert_eq!(empty["host"], "test host");
    assert_eq!(empty["room"], "call");
    assert_eq!(empty["people"], serde_json::json!([]));
    assert_eq!(empty["capacity"], 8);

    let (_ada, _) = WsClient::joined(&th, "Ada").await;
    let (_bob, _) = WsClient::joined(&th, "<b>Bob</b>").await;
    let (_, _, body) = get(tls_connect(&th).await, &format!("/room?token={token}&room=call"), &host).await;
    assert_eq!(json(&body)["people"], serde_json::json!(["Ada", "<b>Bob</b>"]), "oldest first, names as data");

    let wrong = "0".repeat(32);
    let (status, _, body) = get(tls_connect(&th).await, &format!("/room?room=call&token={wrong}"), &host).await;
    assert!(status.contains("403"), "{status}");
    let err = json(&body);
    assert_eq!(err["code"], "wrong-token");
    assert!(err.get("people").is_none(), "nobody's name without the token: {err}");
    let (status, _, body) = get(tls_connect(&th).await, "/room?room=call", &host).await;
    assert!(status.contains("403"), "no token: {status}");
    assert_eq!(json(&body)["code"], "wrong-token");

    let (status, _, body) = get(tls_connect(&th).await, &format!("/room?room=nope&token={token}"), &host).await;
    assert!(status.contains("404"), "{status}");
    assert_eq!(json(&body)["code"], "unknown-room");
    for bad in ["/room", "/room?room=", "/room?room=a%20b", "/room?room=../etc"] {
        let (status, _, body) = get(tls_connect(&th).await, bad, &host).await;
        assert!(status.contains("400"), "{bad}: {status}");
        assert!(String::from_utf8_lossy(&body).contains("room=NAME&token=TOKEN"), "{bad}");
    }
    th.host.stop().await;
}

/// The scan's probe, `/.well-known/lancall`: what the mDNS TXT record says, no more; limited
/// per address as knocks are (a scan asks once; a flood gets 429 and the host goes on).
#[tokio::test]
async fn well_known_says_what_the_txt_record_says_and_is_limited() {
    let th = start_host().await;
    let host = th.addr().to_string();
    let (status, headers, body) = get(tls_connect(&th).await, "/.well-known/lancall", &host).await;
    assert!(status.contains("200"), "{status}");
    assert!(headers.contains("content-type: application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["port"], th.addr().port());
    assert!(v["instance"].as_str().unwrap().starts_with("test host ("), "{v}");
    let txt = v["txt"].as_object().unwrap();
    let mut keys: Vec<&str> = txt.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["fp", "id", "name", "open", "v"], "the TXT record's keys, nothing secret");
    assert_eq!(txt["v"], "1");
    assert_eq!(txt["fp"], th.host.ca_fingerprint.unwrap().to_hex());
    assert_eq!(txt["id"], th.host.host_id);
    assert_eq!(txt["open"], "0");
    assert!(!String::from_utf8_lossy(&body).contains(&th.token().unwrap()), "no token");

    // A room open to the LAN, made while the host runs, is listed with its topology; the room
    // that needs a token is not named.
    let spec = lancall_hub::host::RoomConfig { name: "lobby".into(), open: true, capacity: 8, topology: lancall_hub::hub::RoomTopology::Mesh };
    th.host.room_control().add(spec).await.unwrap();
    let (_, _, body) = get(tls_connect(&th).await, "/.well-known/lancall", &host).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((v["txt"]["open"].as_str(), v["txt"]["rooms"].as_str()), (Some("1"), Some("lobby:mesh")), "{v}");

    let mut limited = 0;
    for _ in 0..25 {
        let (status, _, _) = get(tls_connect(&th).await, "/.well-known/lancall", &host).await;
        if status.contains("429") {
            limited += 1;
        } else {
            assert!(status.contains("200"), "{status}");
        }
    }
    // 20 answers per minute per address (as knocks), then 429 (at least one here, even if a
    // very slow machine let the window start again part way).
    assert!(limited >= 1, "no 429 after 26 requests");
    let (status, _, _) = get(tls_connect(&th).await, "/healthz", &host).await;
    assert!(status.contains("200"), "the host goes on");
    th.host.stop().await;
}
