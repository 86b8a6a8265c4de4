//! The webview's signaling sessions, carried over Tauri IPC (`ui/js/lib/transport-ipc.js`).
//!
//! A session is one "WebSocket" of the UI's transport interface. It goes either to this app's
//! own hub, in-process ([`Target::Local`], `hub.connect()`, no socket), or to another host over
//! WSS whose TLS is verified only by the CA fingerprint pinned for that address
//! ([`Target::Remote`]). The webview never opens a TLS connection to a host itself.
//!
//! Each session reports through one callback, as [`SessionEvent`]s in order: `open`, then
//! `message`s (the hub's JSON texts, unchanged), then one `close`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use lancall_certs::Fingerprint;
use lancall_hub::hub::{CloseReason, Hub};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use lancall_protocol::HostAddr;
use crate::error::AppError;

/// Sessions open at once; the UI needs one, a few during reconnects.
pub const MAX_SESSIONS: usize = 16;

/// Where a session goes.
#[derive(Clone)]
pub enum Target {
    /// This app's own hub.
    Local(Hub),
    /// Another host, trusted through its pinned CA fingerprint.
    Remote {
        /// Its address.
        addr: HostAddr,
        /// The CA fingerprint it must present.
        pin: Fingerprint,
    },
}

/// What a session reports to the UI (the payload of the `lancall:signaling` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// The id the UI gave the session.
    pub session: String,
    /// `open`, `message` or `close`.
    pub kind: &'static str,
    /// The hub's JSON text, for `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// WebSocket-style close code, for `close`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Why it closed: a sentence for a person, for `close`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `close`: an error code such as `identity-changed` when opening failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// For `close`: whether it had opened.
    pub was_open: bool,
}

impl SessionEvent {
    fn open(session: &str) -> Self {
        SessionEvent { session: session.to_owned(), kind: "open", text: None, code: None, reason: None, error: None, was_open: false }
    }
    fn message(session: &str, text: String) -> Self {
        SessionEvent { session: session.to_owned(), kind: "message", text: Some(text), code: None, reason: None, error: None, was_open: true }
    }
    fn close(session: &str, code: u16, reason: impl Into<String>, was_open: bool) -> Self {
        SessionEvent {
            session: session.to_owned(),
            kind: "close",
            text: None,
            code: Some(code),
            reason: Some(reason.into()),
            error: None,
            was_open,
        }
    }
    fn failed(session: &str, error: &AppError) -> Self {
        SessionEvent { error: Some(error.code()), ..SessionEvent::close(session, 1006, error.to_string(), false) }
    }
}

/// Where session events go (a Tauri event in the app, a channel in tests).
pub type Emit = Arc<dyn Fn(SessionEvent) + Send + Sync>;

enum Command {
    Text(String),
    Close,
}

/// The open sessions, by the UI's id.
#[derive(Clone, Default)]
pub struct Sessions {
    map: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>>,
}

use lancall_protocol::sync::lock;

impl Sessions {
    /// Opens session `id` to `target`; events follow through `emit`. Must run inside a Tokio
    /// runtime.
    pub fn open(&self, id: &str, target: Target, emit: Emit) -> Result<(), AppError> {
        if id.is_empty() || id.len() > 64 {
            return Err(AppError::Session("A session id is 1 to 64 characters.".into()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut map = lock(&self.map);
            map.retain(|_, tx| !tx.is_closed());
            if map.len() >= MAX_SESSIONS {
                return Err(AppError::Session("Too many connections to hosts are open; close some first.".into()));
            }
            if let Some(old) = map.insert(id.to_owned(), tx) {
                let _ = old.send(Command::Close);
            }
        }
        let map = self.map.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            match target {
                Target::Local(hub) => run_local(&id, hub, rx, &emit).await,
                Target::Remote { addr, pin } => run_remote(&id, &addr, pin, rx, &emit).await,
            }
            lock(&map).remove(&id);
        });
        Ok(())
    }

    /// Sends one text to the hub of session `id`.
    pub fn send(&self, id: &str, text: String) -> Result<(), AppError> {
        let map = lock(&self.map);
        let tx = map.get(id).ok_or(AppError::NoSession)?;
        tx.send(Command::Text(text)).map_err(|_| AppError::NoSession)
    }

    /// Closes session `id` (a `close` event follows). Closing an unknown session is not an error.
    pub fn close(&self, id: &str) {
        if let Some(tx) = lock(&self.map).remove(id) {
            let _ = tx.send(Command::Close);
        }
    }

    /// Closes every session (when hosting stops, local ones end by themselves).
    pub fn close_all(&self) {
        for (_, tx) in lock(&self.map).drain() {
            let _ = tx.send(Command::Close);
        }
    }
}

async fn run_local(id: &str, hub: Hub, mut commands: mpsc::UnboundedReceiver<Command>, emit: &Emit) {
    let (mut client, mut rx) = match hub.connect() {
        Ok(pair) => pair,
        Err(e) => {
            emit(SessionEvent::close(id, 1001, format!("This device's call has ended ({e})."), false));
            return;
        }
    };
    log::debug!("signaling session {id}: in-process");
    emit(SessionEvent::open(id));
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Text(text)) => client.handle_text(&text),
                Some(Command::Close) | None => {
                    emit(SessionEvent::close(id, 1000, "closed by the app", true));
                    break;
                }
            },
            message = rx.recv() => match message {
                Some(text) => emit(SessionEvent::message(id, text.as_str().to_owned())),
                None => {
                    let (code, reason) = match rx.close_reason() {
                        Some(CloseReason::HostClosing) => (1001, "The call on this device ended."),
                        Some(CloseReason::TooSlow) => (1008, "The app did not keep up with the call's messages."),
                        None => (1006, "The connection to the call ended."),
                    };
                    emit(SessionEvent::close(id, code, reason, true));
                    break;
                }
            },
        }
    }
    // Dropping the client is hanging up: the room is told.
    drop(client);
}

/// Checks that `addr` answers and presents the pinned CA, then hangs up: what the app does
/// before it sends a person into a join.
pub async fn probe(addr: &HostAddr, pin: Fingerprint) -> Result<(), AppError> {
    Ok(lancall_protocol::client::probe(addr, pin).await?)
}

async fn run_remote(id: &str, addr: &HostAddr, pin: Fingerprint, mut commands: mpsc::UnboundedReceiver<Command>, emit: &Emit) {
    let connect = async { lancall_protocol::client::connect_hub(addr, pin).await.map_err(AppError::from) };
    let ws = tokio::select! {
        result = connect => match result {
            Ok(ws) => ws,
            Err(e) => {
                e.log(&format!("signaling session {id}: could not connect to {addr}"));
                emit(SessionEvent::failed(id, &e));
                return;
            }
        },
        // Closed by the UI while still connecting.
        _ = wait_for_close(&mut commands) => {
            emit(SessionEvent::close(id, 1000, "closed by the app", false));
            return;
        }
    };
    log::info!("signaling session {id}: connected to {addr} (CA pinned)");
    emit(SessionEvent::open(id));
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Text(text)) => {
                    if let Err(e) = sink.send(Message::text(text)).await {
                        emit(SessionEvent::close(id, 1006, format!("The connection to {addr} broke: {e}"), true));
                        break;
                    }
                }
                Some(Command::Close) | None => {
                    let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    emit(SessionEvent::close(id, 1000, "closed by the app", true));
                    break;
                }
            },
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => emit(SessionEvent::message(id, text.as_str().to_owned())),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    emit(SessionEvent::close(id, code, reason, true));
                    break;
                }
                // Pings are answered by tungstenite itself; binary frames are not part of the protocol.
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    emit(SessionEvent::close(id, 1006, format!("The connection to {addr} broke: {e}"), true));
                    break;
                }
                None => {
                    emit(SessionEvent::close(id, 1006, format!("{addr} closed the connection."), true));
                    break;
                }
            },
        }
    }
}

async fn wait_for_close(commands: &mut mpsc::UnboundedReceiver<Command>) {
    // Texts sent before the session opened are dropped, as a WebSocket would refuse them.
    while let Some(Command::Text(_)) = commands.recv().await {}
}
