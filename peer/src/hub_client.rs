//! The hub connection of a native joiner: WSS to `/ws`, trusting the host only through the CA
//! fingerprint pinned in the join link (`lancall_certs::client_config_pinned`), then `join`, then
//! pumping JSON both ways between the socket and a [`Call`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lancall_certs::Fingerprint;
use rustls_pki_types::ServerName;
use lancall_protocol::hub::{decode_server, ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

use crate::call::Call;
use crate::error::PeerError;

/// How often we send `ping` (as the web client does).
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Giving up on reaching the host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a join link says: `https://HOST:PORT/#room=ROOM&token=HEX&fp=HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// HTTPS port.
    pub port: u16,
    /// Room name.
    pub room: String,
    /// Room token (absent for an open room).
    pub token: Option<String>,
    /// The host CA's SHA-256 fingerprint, pinned.
    pub fingerprint: Fingerprint,
}

impl JoinLink {
    /// Reads a join link.
    pub fn parse(link: &str) -> Result<JoinLink, PeerError> {
        let bad = |why: &str| PeerError::BadLink(why.to_owned());
        let rest = link
            .trim()
            .strip_prefix("https://")
            .ok_or_else(|| bad("it must start with https://"))?;
        let (authority, fragment) = match rest.split_once('#') {
            Some((before, frag)) => (before.split('/').next().unwrap_or(""), frag),
            None => {
                return Err(bad(
                    "it has no #room=…&token=…&fp=… part; copy the whole link",
                ))
            }
        };
        let authority = authority.split('/').next().unwrap_or("");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("the IPv6 address has no closing ]"))?;
            (h.to_owned(), after.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p),
                None => (authority.to_owned(), ""),
            }
        };
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        let port = if port.is_empty() {
            443
        } else {
            port.parse().map_err(|_| bad("its port is not a number"))?
        };
        let mut room = None;
        let mut token = None;
        let mut fp = None;
        for pair in fragment.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "room" => room = Some(v),
                "token" if !v.is_empty() => token = Some(v),
                "fp" => fp = Some(v),
                _ => {}
            }
        }
        let room = room
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("it names no room"))?;
        let fp = fp.ok_or_else(|| {
            bad("it carries no host fingerprint (fp=…), so the host cannot be checked; use the link the host prints")
        })?;
        let fingerprint: Fingerprint = fp
            .parse()
            .map_err(|_| bad("its host fingerprint (fp=…) is not 64 hex digits"))?;
        Ok(JoinLink {
            host,
            port,
            room,
            token,
            fingerprint,
        })
    }

    /// `host:port` for messages (IPv6 in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// An open, TLS-checked WebSocket to the host's hub.
pub struct HubSocket {
    ws: Ws,
}

impl HubSocket {
    /// Connects to `wss://HOST:PORT/ws`, accepting the host only if its chain ends at the pinned CA.
    pub async fn connect(link: &JoinLink) -> Result<HubSocket, PeerError> {
        lancall_certs::install_crypto_provider();
        let address = link.address();
        let unreachable = |reason: String| PeerError::Unreachable {
            address: address.clone(),
            reason,
        };
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((link.host.as_str(), link.port)),
        )
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let config = lancall_certs::client_config_pinned(link.fingerprint);
        let server_name: ServerName<'static> = match link.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(link.host.clone())
                .map_err(|_| PeerError::BadLink(format!("{:?} is not a host name", link.host)))?,
        };
        let tls = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| {
                let err: &(dyn std::error::Error + 'static) = &e;
                if lancall_certs::find_cert_error(err).is_some_and(|c| c.is_identity_changed()) {
                    PeerError::IdentityChanged {
                        address: address.clone(),
                        pinned: link.fingerprint.to_hex(),
                    }
                } else {
                    unreachable(format!("TLS failed: {e}"))
                }
            })?;
        let url = format!("wss://{address}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .map_err(|e| unreachable(format!("WebSocket handshake failed: {e}")))?;
        Ok(HubSocket { ws })
    }

    /// Sends `join` and pumps messages between the socket and `call` until the socket closes
    /// or `hub_out` ends (after a hang-up). Returns why it stopped.
    pub async fn run(
        mut self,
        link: &JoinLink,
        name: &str,
        call: &Call,
        mut hub_out: mpsc::UnboundedReceiver<ClientMessage>,
    ) -> Result<(), PeerError> {
        let join = ClientMessage::Join { room: link.room.clone(), token: link.token.clone(), name: name.to_owned() };
        self.ws
            .send(Message::text(join.encode()))
            .await
            .map_err(|e| PeerError::HubClosed(e.to_string()))?;
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        loop {
            tokio::select! {
                incoming = self.ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => match decode_server(&text) {
                        Ok(ServerMessage::Error { code, message, re: Some(re), peer }) if re == "join" => {
                            let refused = PeerError::Refused { code: code.as_str().to_owned(), message: message.to_string() };
                            call.hub_message(ServerMessage::Error { code, message, re: Some(re), peer });
                            return Err(refused);
                        }
                        Ok(msg) => call.hub_message(msg),
                        Err(e) => log::warn!("the hub sent a message this client cannot read ({e}); ignored"),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_default();
                        return Err(PeerError::HubClosed(format!("the host closed the connection {why}").trim().to_owned()));
                    }
                    Some(Ok(_)) => {} // pings are answered by tungstenite
                    Some(Err(e)) => return Err(PeerError::HubClosed(e.to_string())),
                    None => return Err(PeerError::HubClosed("the connection ended".into())),
                },
                out = hub_out.recv() => match out {
                    Some(msg) => {
                        let leaving = matches!(msg, ClientMessage::Leave);
                        self.ws.send(Message::text(msg.encode())).await.map_err(|e| PeerError::HubClosed(e.to_string()))?;
                        if leaving {
                            let _ = self.ws.close(None).await;
                            return Ok(());
                        }
                    }
                    None => {
                        let _ = self.ws.close(None).await;
                        return Ok(());
                    }
                },
                _ = ping.tick() => {
                    self.ws.send(Message::text(ClientMessage::Ping.encode())).await.map_err(|e| PeerError::HubClosed(e.to_string()))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn reads_the_links_the_host_prints() {
        let l = JoinLink::parse(&format!(
            "https://10.99.1.1:7443/#room=call&token=abc&fp={FP}"
        ))
        .expect("parses");
        assert_eq!(
            (l.host.as_str(), l.port, l.room.as_str(), l.token.as_deref()),
            ("10.99.1.1", 7443, "call", Some("abc"))
        );
        assert_eq!(l.fingerprint.to_hex(), FP);
        let v6 =
            JoinLink::parse(&format!("https://[fd00::1]:8443/#room=a&fp={FP}")).expect("parses");
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.token.as_deref()),
            ("fd00::1", 8443, None)
        );
        assert_eq!(v6.address(), "[fd00::1]:8443");
    }

    #[test]
    fn says_what_is_wrong_with_a_bad_link() {
        for (link, words) in [
            ("http://x/#room=a", "https"),
            ("https://x:1/", "#room"),
            ("https://x:1/#room=a", "fingerprint"),
            ("https://x:1/#room=a&fp=zz", "64 hex"),
            ("https://x:1/#fp=00", "room"),
        ] {
            let e = JoinLink::parse(link).expect_err(link).to_string();
            assert!(e.contains(words), "{link}: {e}");
        }
    }
}
