//! The host's two ports.
//!
//! - HTTPS (one TLS port): the web UI embedded from `ui/`, the signaling WebSocket at `/ws`, the
//!   CA at `/ca.crt` (DER, what phones install) and `/ca.pem`, and `GET /healthz`.
//! - Plain HTTP: only a page that explains how to trust the host's CA, the CA files, and a
//!   redirect to HTTPS for everything else. A phone can open it before it trusts anything.
//!
//! HTTP is parsed by hyper; the WebSocket after the upgrade is tokio-tungstenite's. Every
//! WebSocket connection is a [`Client`](crate::hub::Client) of the hub, like the app's own
//! in-process client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use include_dir::{include_dir, Dir};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::{CloseReason, Hub};
use crate::protocol::{check_room_name, ErrorCode, LeaveReason, PROTOCOL_VERSION};
use crate::trust_page;

/// The CA file the trust page offers; named here too because [`ServerOptions`] carries it.
pub use crate::trust_page::CaDownload;

/// The web UI, built into the binary so that one file serves everything.
static UI: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../ui");

/// Default HTTPS port of `lancall-host`.
pub const DEFAULT_HTTPS_PORT: u16 = lancall_protocol::link::DEFAULT_HTTPS_PORT;
/// Default plain-HTTP port of `lancall-host` (the CA page and redirects).
pub const DEFAULT_HTTP_PORT: u16 = 7080;

/// Frames over this close the connection (close code 1009). Between 64 KiB and this, the hub
/// answers `too-large` and the connection stays: a client that sent a big SDP by mistake learns
/// why, while nobody can make the host buffer megabytes.
pub const HARD_FRAME_LIMIT: usize = 1024 * 1024;

/// Content-Security-Policy of the UI: scripts and styles only from the host itself, media from
/// the page's own streams. The same policy is used by the Tauri app.
pub const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
media-src 'self' blob: mediastream:; connect-src 'self' wss: https:; object-src 'none'; base-uri 'none'; \
frame-ancestors 'none'; form-action 'self'";

/// Timing of keep-alives and handshakes.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often the hub pings each WebSocket.
    pub ping_interval: Duration,
    /// A client from which nothing arrives this long is dropped.
    pub idle_timeout: Duration,
    /// Longest a TLS handshake or HTTP request head may take.
    pub handshake_timeout: Duration,
    /// Longest one write to a client may take before it counts as gone.
    pub write_timeout: Duration,
    /// How long a shutdown waits for connections to close after telling them.
    pub drain_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(3),
        }
    }
}

/// What the server needs besides the hub.
#[derive(Clone)]
pub struct ServerOptions {
    /// Where the HTTPS port listens (port 0: any free port).
    pub https_listen: SocketAddr,
    /// Where the plain-HTTP port listens; `None` for no plain port.
    pub http_listen: Option<SocketAddr>,
    /// TLS settings (the leaf certificate, or one from elsewhere).
    pub tls: Arc<rustls::ServerConfig>,
    /// The CA to offer for download; `None` when the certificate comes from a public CA.
    pub ca: Option<CaDownload>,
    /// The host's display name, shown on the CA page.
    pub host_name: String,
    /// The host's stable id, for `/.well-known/lancall` (the scan's probe); `None` for a host
    /// that serves a certificate from elsewhere (not discoverable: app joiners pin the host's CA).
    pub host_id: Option<String>,
    /// Keep-alive and timeout settings.
    pub timing: Timing,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A port could not be opened.
    #[error("could not listen on {addr}: {source}. Is another lancall host (or another program) using that port? Pick another with --listen, or port 0 for any free one")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound server, not yet serving.
pub struct Server {
    hub: Hub,
    https: TcpListener,
    http: Option<TcpListener>,
    ctx: Arc<Ctx>,
}

struct Ctx {
    hub: Hub,
    tls: TlsAcceptor,
    ca: Option<CaDownload>,
    host_name: String,
    host_id: Option<String>,
    timing: Timing,
    https_port: u16,
    /// Recent `/.well-known/lancall` requests per address (the knocks' limit, counted apart).
    probes: std::sync::Mutex<crate::hub::AddressLimit>,
    started: Instant,
    tracker: TaskTracker,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

impl Server {
    /// Opens the ports.
    pub async fn bind(hub: Hub, options: ServerOptions) -> Result<Server, ServerError> {
        let https = bind(options.https_listen).await?;
        let http = match options.http_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let https_port = https.local_addr().map(|a| a.port()).unwrap_or(options.https_listen.port());
        let ctx = Arc::new(Ctx {
            hub: hub.clone(),
            tls: TlsAcceptor::from(options.tls),
            ca: options.ca,
            host_name: options.host_name,
            host_id: options.host_id,
            timing: options.timing,
            probes: std::sync::Mutex::new(crate::hub::AddressLimit::default()),
            https_port,
            started: Instant::now(),
            tracker: TaskTracker::new(),
        });
        Ok(Server { hub, https, http, ctx })
    }

    /// The HTTPS port's address (with the real port when 0 was asked for).
    pub fn https_addr(&self) -> std::io::Result<SocketAddr> {
        self.https.local_addr()
    }

    /// The plain-HTTP port's address, if there is one.
    pub fn http_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.http.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until `stop` is cancelled; then tells every client the host is closing, waits
    /// a moment for the goodbyes to go out, and returns.
    pub async fn run(self, stop: CancellationToken) {
        let Server { hub, https, http, ctx } = self;
        let https_task = {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            tokio::spawn(accept_loop(https, stop, ctx, Port::Https))
        };
        let http_task = http.map(|listener| {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            tokio::spawn(accept_loop(listener, stop, ctx, Port::Http))
        });
        stop.cancelled().await;
        let _ = https_task.await;
        if let Some(task) = http_task {
            let _ = task.await;
        }
        hub.shutdown("The host is shutting down. The call will resume when it is back.");
        ctx.tracker.close();
        if tokio::time::timeout(ctx.timing.drain_timeout, ctx.tracker.wait()).await.is_err() {
            log::warn!("some connections were still open after the shutdown notice; closing anyway");
        }
    }
}

#[derive(Clone, Copy)]
enum Port {
    Https,
    Http,
}

async fn accept_loop(listener: TcpListener, stop: CancellationToken, ctx: Arc<Ctx>, port: Port) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, remote)) => {
                let _ = tcp.set_nodelay(true);
                let ctx2 = ctx.clone();
                ctx.tracker.spawn(async move {
                    match port {
                        Port::Https => serve_tls(tcp, remote, ctx2).await,
                        Port::Http => serve_http(TokioIo::new(tcp), remote, ctx2, Port::Http).await,
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                log::warn!("could not accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_tls(tcp: TcpStream, remote: SocketAddr, ctx: Arc<Ctx>) {
    match tokio::time::timeout(ctx.timing.handshake_timeout, ctx.tls.accept(tcp)).await {
        Ok(Ok(tls)) => serve_http(TokioIo::new(tls), remote, ctx, Port::Https).await,
        Ok(Err(e)) => log::debug!("TLS handshake with {remote} failed: {e}"),
        Err(_) => log::debug!("TLS handshake with {remote} timed out"),
    }
}

async fn serve_http<I>(io: TokioIo<I>, remote: SocketAddr, ctx: Arc<Ctx>, port: Port)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move {
            Ok::<_, Infallible>(match port {
                Port::Https => route_https(req, remote, &ctx),
                Port::Http => route_http(&req, &ctx),
            })
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(io, service)
        .with_upgrades();
    if let Err(e) = conn.await {
        log::debug!("HTTP connection from {remote} ended: {e}");
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn text(status: StatusCode, body: impl Into<String>) -> Resp {
    respond(status, "text/plain; charset=utf-8", body.into())
}

fn route_https(req: Request<Incoming>, remote: SocketAddr, ctx: &Arc<Ctx>) -> Resp {
    let path = req.uri().path().to_owned();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Only GET is served here.\n");
    }
    match path.as_str() {
        "/ws" => upgrade_websocket(req, remote, ctx),
        // The call page's invite QR code (the page has the link; one QR maker for every screen).
        "/qr" => match req.uri().query().and_then(crate::qr::text_from_query).as_deref().and_then(crate::qr::qr_matrix) {
            Some(qr) => {
                let mut resp = respond(StatusCode::OK, "application/json", serde_json::json!(qr).to_string());
                resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            }
            None => text(
                StatusCode::BAD_REQUEST,
                format!("Ask for /qr?text=… with a percent-encoded text of 1 to {} bytes.\n", crate::qr::MAX_QR_TEXT),
            ),
        },
        "/room" => room_peek(req.uri().query().unwrap_or(""), remote, ctx),
        "/.well-known/lancall" => well_known(remote, ctx),
        "/healthz" => {
            let stats = ctx.hub.stats();
            let body = serde_json::json!({
                "status": if ctx.hub.is_closing() { "closing" } else { "ok" },
                "protocol": PROTOCOL_VERSION,
                "version": env!("CARGO_PKG_VERSION"),
                "rooms": stats.rooms,
                "peers": stats.peers,
                "connections": stats.connections,
                "uptime_s": ctx.started.elapsed().as_secs(),
                "ca_sha256": ctx.ca.as_ref().map(|ca| ca.sha256_hex.clone()),
                "ca_words": ctx.ca.as_ref().map(|ca| ca.words.clone()),
                "media": media_json(&ctx.hub),
            });
            respond(StatusCode::OK, "application/json", body.to_string())
        }
        "/ca.crt" | "/ca.pem" => ca_file(&path, ctx),
        _ => static_file(&path),
    }
}

/// The SFU's counters for `/healthz` (`null` when media does not go through this host).
fn media_json(hub: &Hub) -> serde_json::Value {
    #[cfg(feature = "sfu")]
    if let (Some(c), Some(addr)) = (hub.media_counters(), hub.media_addr()) {
        return serde_json::json!({
            "port": addr.port(),
            "tcp_port": hub.media_tcp_addr().map(|a| a.port()),
            "addresses": hub.media_addresses(),
            "datagrams_received": c.datagrams_received,
            "datagrams_dropped": c.dropped(),
            "frames_forwarded": c.frames_forwarded,
            "keyframe_requests": c.keyframe_requests,
            "participants_failed": c.participants_failed,
            "panics_contained": c.panics_contained,
        });
    }
    let _ = hub;
    serde_json::Value::Null
}

/// `GET /.well-known/lancall`: what the mDNS TXT record says (protocol, host id, name, CA
/// fingerprint, open rooms), for a device whose network does not carry multicast and which
/// scans its subnet instead (`discovery::scan`). Unauthenticated, like the TXT record; limited
/// per address as knocks are (a scan asks each host once; more is someone hammering the port).
fn well_known(remote: SocketAddr, ctx: &Ctx) -> Resp {
    let (Some(host_id), Some(ca)) = (&ctx.host_id, &ctx.ca) else {
        return text(StatusCode::NOT_FOUND, "This host is not discoverable: it serves a certificate from elsewhere. Use its link.\n");
    };
    if lancall_protocol::sync::lock(&ctx.probes).over_limit(remote.ip(), Instant::now()) {
        return text(StatusCode::TOO_MANY_REQUESTS, "Too many requests from this device: wait a minute.\n");
    }
    let Ok(ca_fingerprint) = ca.sha256_hex.parse() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "The host's CA fingerprint is unreadable.\n");
    };
    let ad = crate::discovery::Advertisement {
        display_name: ctx.host_name.clone(),
        host_id: host_id.clone(),
        port: ctx.https_port,
        ca_fingerprint,
        open_rooms: ctx.hub.has_open_rooms(),
    };
    let rooms = crate::discovery::open_room_listings(&ctx.hub);
    let mut resp = respond(StatusCode::OK, "application/json", ad.well_known(&rooms).to_string());
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /room?room=NAME&token=TOKEN`: the host's name and who is in the room, for the pre-join
/// card, to whoever holds the room's link (the token is checked as `join` checks it).
fn room_peek(query: &str, remote: SocketAddr, ctx: &Ctx) -> Resp {
    let param = |key: &str| query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
    let Some(room) = param("room").filter(|r| check_room_name(r).is_ok()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Ask for /room?room=NAME&token=TOKEN with the room name and token of the join link.\n",
        );
    };
    let token = param("token").filter(|t| !t.is_empty());
    let (status, body) = match ctx.hub.peek(room, token, Some(remote.ip())) {
        Ok(peek) => (
            StatusCode::OK,
            serde_json::json!({
                "host": ctx.host_name,
                "room": peek.room,
                "people": peek.people,
                "capacity": peek.capacity,
            }),
        ),
        Err(e) => {
            let status = match e.code {
                ErrorCode::UnknownRoom => StatusCode::NOT_FOUND,
                ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::FORBIDDEN,
            };
            (status, serde_json::json!({ "code": e.code.as_str(), "message": e.message }))
        }
    };
    let mut resp = respond(status, "application/json", body.to_string());
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn ca_file(path: &str, ctx: &Ctx) -> Resp {
    let Some(ca) = &ctx.ca else {
        return text(
            StatusCode::NOT_FOUND,
            "This host uses a certificate from a public authority: there is nothing to install.\n",
        );
    };
    let mut resp = if path == "/ca.crt" {
        respond(StatusCode::OK, "application/x-x509-ca-cert", ca.der.clone())
    } else {
        respond(StatusCode::OK, "application/x-pem-file", ca.pem.clone())
    };
    let name = if path == "/ca.crt" { "lancall-ca.crt" } else { "lancall-ca.pem" };
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn static_file(path: &str) -> Resp {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|seg| seg == ".." || seg.starts_with('.')) {
        return text(StatusCode::NOT_FOUND, "Not found.\n");
    }
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel.to_owned() };
    match UI.get_file(&rel) {
        Some(file) => {
            let mut resp = respond(StatusCode::OK, content_type(&rel), Bytes::from_static(file.contents()));
            let h = resp.headers_mut();
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(UI_CSP));
            h.insert(
                "permissions-policy",
                HeaderValue::from_static("camera=(self), microphone=(self), display-capture=(self), speaker-selection=(self)"),
            );
            resp
        }
        None => text(StatusCode::NOT_FOUND, format!("There is no page {path} here. The call is at /.\n")),
    }
}

fn header_is(req: &Request<Incoming>, name: header::HeaderName, want: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(want))
}

fn upgrade_websocket(mut req: Request<Incoming>, remote: SocketAddr, ctx: &Arc<Ctx>) -> Resp {
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes()));
    let is_upgrade = header_is(&req, header::CONNECTION, "upgrade") && header_is(&req, header::UPGRADE, "websocket");
    let (Some(accept), true) = (key, is_upgrade) else {
        return text(StatusCode::UPGRADE_REQUIRED, "This is lancall's signaling WebSocket: connect with a WebSocket client.\n");
    };
    if !header_is(&req, header::SEC_WEBSOCKET_VERSION, "13") {
        let mut resp = text(StatusCode::UPGRADE_REQUIRED, "Only WebSocket version 13 is spoken here.\n");
        resp.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return resp;
    }
    if ctx.hub.is_closing() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "The host is shutting down.\n");
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let ctx2 = ctx.clone();
    ctx.tracker.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .max_message_size(Some(HARD_FRAME_LIMIT))
                    .max_frame_size(Some(HARD_FRAME_LIMIT))
                    // Small buffers: thousands of idle signaling connections must stay cheap.
                    .read_buffer_size(4 * 1024)
                    .write_buffer_size(0);
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                run_websocket(ws, remote, &ctx2).await;
            }
            Err(e) => log::debug!("WebSocket upgrade from {remote} failed: {e}"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

fn close_frame(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// One WebSocket client, from upgrade to close.
async fn run_websocket<S>(ws: WebSocketStream<S>, remote: SocketAddr, ctx: &Ctx)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let Ok((mut client, mut outbox)) = ctx.hub.connect_from(Some(remote.ip())) else {
        let _ = sink.send(close_frame(CloseCode::Away, "the host is shutting down")).await;
        return;
    };
    log::debug!("WebSocket client connected from {remote}");
    let timing = ctx.timing;
    let mut pinger = tokio::time::interval_at(tokio::time::Instant::now() + timing.ping_interval, timing.ping_interval);
    let mut deadline = tokio::time::Instant::now() + timing.idle_timeout;
    let end = loop {
        tokio::select! {
            frame = stream.next() => {
                deadline = tokio::time::Instant::now() + timing.idle_timeout;
                match frame {
                    Some(Ok(Message::Text(t))) => client.handle_text(t.as_str()),
                    Some(Ok(Message::Binary(_))) => client.handle_binary(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break LeaveReason::Disconnected,
                    Some(Err(WsError::Capacity(e))) => {
                        log::info!("closing a client from {remote} that sent a frame over {HARD_FRAME_LIMIT} bytes: {e}");
                        let _ = send_with_timeout(&mut sink, close_frame(CloseCode::Size, "frame over 1 MiB"), timing).await;
                        break LeaveReason::Disconnected;
                    }
                    Some(Err(e)) => {
                        log::debug!("WebSocket from {remote} failed: {e}");
                        break LeaveReason::Disconnected;
                    }
                }
            }
            out = outbox.recv() => match out {
                Some(first) => {
                    // Write everything that is queued, then flush once.
                    let mut ok = feed_with_timeout(&mut sink, Message::Text(first), timing).await;
                    while ok {
                        match outbox.try_recv() {
                            Some(more) => ok = feed_with_timeout(&mut sink, Message::Text(more), timing).await,
                            None => break,
                        }
                    }
                    if !ok || !flush_with_timeout(&mut sink, timing).await {
                        break LeaveReason::Disconnected;
                    }
                }
                None => {
                    let (frame, reason) = match outbox.close_reason() {
                        Some(CloseReason::TooSlow) => (close_frame(CloseCode::Policy, "too slow: messages were not read"), LeaveReason::TooSlow),
                        _ => (close_frame(CloseCode::Away, "the host is shutting down"), LeaveReason::HostClosing),
                    };
                    let _ = send_with_timeout(&mut sink, frame, timing).await;
                    break reason;
                }
            },
            _ = pinger.tick() => {
                if !send_with_timeout(&mut sink, Message::Ping(Bytes::new()), timing).await {
                    break LeaveReason::Disconnected;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                log::info!("dropping a client from {remote}: nothing heard for {} s", timing.idle_timeout.as_secs());
                let _ = send_with_timeout(&mut sink, close_frame(CloseCode::Policy, "silent past the keep-alive timeout"), timing).await;
                break LeaveReason::Timeout;
            }
        }
    };
    client.disconnect(end);
    log::debug!("WebSocket client from {remote} gone ({end:?})");
}

type WsSink<S> = futures_util::stream::SplitSink<WebSocketStream<S>, Message>;

async fn send_with_timeout<S>(sink: &mut WsSink<S>, msg: Message, timing: Timing) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    matches!(tokio::time::timeout(timing.write_timeout, sink.send(msg)).await, Ok(Ok(())))
}

async fn feed_with_timeout<S>(sink: &mut WsSink<S>, msg: Message, timing: Timing) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    matches!(tokio::time::timeout(timing.write_timeout, sink.feed(msg)).await, Ok(Ok(())))
}

async fn flush_with_timeout<S>(sink: &mut WsSink<S>, timing: Timing) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    matches!(tokio::time::timeout(timing.write_timeout, sink.flush()).await, Ok(Ok(())))
}

/// The host part of the `Host` header, without the port (IPv6 keeps its brackets).
fn request_host(req: &Request<Incoming>) -> Option<String> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next()?.to_owned()
    } else {
        host.split(':').next()?.to_owned()
    };
    let ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    ok.then_some(host)
}

fn route_http(req: &Request<Incoming>, ctx: &Ctx) -> Resp {
    let path = req.uri().path();
    match path {
        "/ca.crt" | "/ca.pem" => ca_file(path, ctx),
        "/trust.js" => respond(StatusCode::OK, "text/javascript; charset=utf-8", trust_page::SCRIPT),
        "/" | "/trust" => {
            let https = request_host(req).map(|h| format!("https://{h}:{}/", ctx.https_port));
            let rooms: Vec<(String, String)> =
                crate::discovery::open_room_listings(&ctx.hub).into_iter().map(|r| (r.name, r.topology)).collect();
            let mut resp = respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                trust_page::render(ctx.ca.as_ref(), &ctx.host_name, https.as_deref(), &rooms),
            );
            resp.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"),
            );
            resp
        }
        _ => match request_host(req) {
            Some(host) => {
                let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let target = format!("https://{host}:{}{pq}", ctx.https_port);
                let mut resp = text(StatusCode::PERMANENT_REDIRECT, format!("The call is at {target}\n"));
                if let Ok(v) = HeaderValue::from_str(&target) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                resp
            }
            None => text(StatusCode::BAD_REQUEST, "Open this host by its address, for example http://192.168.1.20:7080/.\n"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_is_embedded_with_an_index() {
        assert!(UI.get_file("index.html").is_some());
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(static_file("/../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(static_file("/.git/config").status(), StatusCode::NOT_FOUND);
        assert_eq!(static_file("/").status(), StatusCode::OK);
    }
}
