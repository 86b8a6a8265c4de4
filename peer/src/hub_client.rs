//! The hub connection of a native joiner: WSS to `/ws` through the one pinned connection of
//! `lancall_protocol::client` (the host is trusted only through the CA fingerprint in the join
//! link), then `join`, then pumping JSON both ways between the socket and a [`Call`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lancall_certs::Fingerprint;
use lancall_protocol::client::{connect_hub, ConnectError, HubStream};
use lancall_protocol::hub::{decode_server, ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::call::Call;
use crate::error::PeerError;

/// What a join link says (read by `lancall_protocol::link`).
pub use lancall_protocol::JoinLink;

/// How often we send `ping` (as the web client does).
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// An open, TLS-checked WebSocket to the host's hub.
pub struct HubSocket {
    ws: HubStream,
}

impl HubSocket {
    /// Connects to `wss://HOST:PORT/ws`, accepting the host only if its chain ends at the
    /// link's CA.
    pub async fn connect(link: &JoinLink) -> Result<HubSocket, PeerError> {
        let pin: Fingerprint = link
            .fingerprint
            .parse()
            .map_err(|_| PeerError::BadLink("its host fingerprint (fp=…) is not 64 hex digits".into()))?;
        let ws = connect_hub(&link.addr, pin).await.map_err(|e| match e {
            ConnectError::IdentityChanged { address } => PeerError::IdentityChanged { address, pinned: link.fingerprint.clone() },
            ConnectError::BadName { host } => PeerError::BadLink(format!("{host:?} is not a host name")),
            ConnectError::BadCertificate { address, detail } => PeerError::Unreachable { address, reason: format!("TLS failed: {detail}") },
            ConnectError::Unreachable { address, detail } => PeerError::Unreachable { address, reason: detail },
        })?;
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

