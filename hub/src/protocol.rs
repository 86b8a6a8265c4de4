//! The signaling protocol, version 1, exactly as `docs/PROTOCOL.md` writes it down.
//!
//! Decoding is done in one pass into a map of raw JSON values, so that a bad field can be named
//! precisely in the error a person reads, and so that `signal.data` stays opaque: the hub hands
//! the sender's bytes to the receiver without parsing or re-encoding them.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;

/// The protocol version this hub speaks; sent in `welcome.protocol` and in mDNS TXT records.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame a client may send (64 KiB): plenty for an SDP with many codecs, small
/// enough that one client cannot make the hub hold much memory.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Display names longer than this (after trimming) are refused.
pub const MAX_NAME_CHARS: usize = 64;

/// Room names longer than this are refused.
pub const MAX_ROOM_CHARS: usize = 64;

/// A message from a client to the hub.
#[derive(Debug)]
pub enum ClientMessage {
    /// Enter a room.
    Join {
        /// Room name (syntax already checked).
        room: String,
        /// Token from the join link; `None` when absent.
        token: Option<String>,
        /// Display name as sent (checked and trimmed by [`normalize_name`] in the hub).
        name: String,
    },
    /// Relay `data` to peer `to`.
    Signal {
        /// The receiving peer's id.
        to: String,
        /// Opaque JSON, relayed byte for byte.
        data: Box<RawValue>,
    },
    /// Ask the host to be let into a room without a token.
    Knock {
        /// Room name (syntax already checked).
        room: String,
        /// Display name as sent.
        name: String,
    },
    /// Leave the room, keep the connection.
    Leave,
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl ClientMessage {
    /// The wire name of this message's type, for `error.re`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Signal { .. } => "signal",
            ClientMessage::Knock { .. } => "knock",
            ClientMessage::Leave => "leave",
            ClientMessage::Ping => "ping",
        }
    }
}

/// Stable error codes (`error.code`), one per way a client can go wrong. See `docs/PROTOCOL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The frame is not a JSON object, or not text.
    BadJson,
    /// `type` is missing or names no client message.
    UnknownType,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type or breaks a syntax rule.
    InvalidField,
    /// The display name is empty, too long, or has control characters.
    InvalidName,
    /// No room of that name on this host.
    UnknownRoom,
    /// The token is absent or wrong for a room that needs one.
    WrongToken,
    /// The room is at capacity.
    RoomFull,
    /// `join` on a connection that is already in a room.
    AlreadyJoined,
    /// `signal` or `leave` before `join`.
    NotJoined,
    /// `signal` to an id that is not another peer in the sender's room.
    UnknownPeer,
    /// The frame is over [`MAX_FRAME_BYTES`].
    TooLarge,
    /// The client is over its message rate (or this address over its rate of knocks and wrong
    /// tokens); the message was dropped.
    RateLimited,
    /// `knock` while a knock from this connection is still waiting for the host.
    AlreadyKnocking,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad-json",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::MissingField => "missing-field",
            ErrorCode::InvalidField => "invalid-field",
            ErrorCode::InvalidName => "invalid-name",
            ErrorCode::UnknownRoom => "unknown-room",
            ErrorCode::WrongToken => "wrong-token",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::NotJoined => "not-joined",
            ErrorCode::UnknownPeer => "unknown-peer",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::AlreadyKnocking => "already-knocking",
        }
    }
}

/// A refusal to send back to the client as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Stable code for programs.
    pub code: ErrorCode,
    /// A sentence for a person, saying what to do.
    pub message: String,
    /// The `type` of the message that caused it, when it could be read.
    pub re: Option<&'static str>,
    /// For `unknown-peer`: the id that was not found.
    pub peer: Option<String>,
}

impl ProtocolError {
    /// An error with a code and a message for a person.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError { code, message: message.into(), re: None, peer: None }
    }

    /// Names the message type that caused the error.
    pub fn re(mut self, kind: &'static str) -> Self {
        self.re = Some(kind);
        self
    }

    /// Encodes this error as an `error` message.
    pub fn encode(&self) -> String {
        encode(&ServerMessage::Error {
            code: self.code,
            message: &self.message,
            re: self.re,
            peer: self.peer.as_deref(),
        })
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// Reads one client frame. Never panics, whatever the input (there is a fuzz target for that).
pub fn decode(text: &str) -> Result<ClientMessage, ProtocolError> {
    let fields: HashMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::BadJson,
            format!("That message is not a JSON object ({e}). Each message must be one JSON object with a \"type\" field."),
        )
    })?;
    let kind = match fields.get("type") {
        None => {
            return Err(ProtocolError::new(
                ErrorCode::UnknownType,
                "That message has no \"type\" field. Use one of: join, knock, signal, leave, ping.",
            ))
        }
        Some(raw) => serde_json::from_str::<String>(raw.get()).map_err(|_| {
            ProtocolError::new(ErrorCode::UnknownType, "The \"type\" field must be a string: one of join, knock, signal, leave, ping.")
        })?,
    };
    match kind.as_str() {
        "join" => {
            let room = required_string(&fields, "room", "join")?;
            check_room_name(&room).map_err(|e| e.re("join"))?;
            let token = optional_string(&fields, "token", "join")?;
            let name = required_string(&fields, "name", "join")?;
            Ok(ClientMessage::Join { room, token, name })
        }
        "signal" => {
            let to = required_string(&fields, "to", "signal")?;
            let data = match fields.get("data") {
                Some(raw) => (*raw).to_owned(),
                None => return Err(missing("data", "signal")),
            };
            Ok(ClientMessage::Signal { to, data })
        }
        "knock" => {
            let room = required_string(&fields, "room", "knock")?;
            check_room_name(&room).map_err(|e| e.re("knock"))?;
            let name = required_string(&fields, "name", "knock")?;
            Ok(ClientMessage::Knock { room, name })
        }
        "leave" => Ok(ClientMessage::Leave),
        "ping" => Ok(ClientMessage::Ping),
        other => Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("\"{}\" is not a message this host knows. Use one of: join, knock, signal, leave, ping.", printable(other)),
        )),
    }
}

fn missing(field: &str, kind: &'static str) -> ProtocolError {
    ProtocolError::new(ErrorCode::MissingField, format!("A \"{kind}\" message needs a \"{field}\" field.")).re(kind)
}

fn required_string(fields: &HashMap<String, &RawValue>, field: &str, kind: &'static str) -> Result<String, ProtocolError> {
    optional_string(fields, field, kind)?.ok_or_else(|| missing(field, kind))
}

/// A field that may be absent or `null`; present, it must be a string.
fn optional_string(
    fields: &HashMap<String, &RawValue>,
    field: &str,
    kind: &'static str,
) -> Result<Option<String>, ProtocolError> {
    match fields.get(field) {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).map_err(|_| {
            ProtocolError::new(ErrorCode::InvalidField, format!("The \"{field}\" field of a \"{kind}\" message must be a string."))
                .re(kind)
        }),
    }
}

/// Checks a room name: 1–64 characters from `A–Z a–z 0–9 - _ .`.
pub fn check_room_name(room: &str) -> Result<(), ProtocolError> {
    let ok_chars = room.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if room.is_empty() || room.len() > MAX_ROOM_CHARS || !ok_chars {
        return Err(ProtocolError::new(
            ErrorCode::InvalidField,
            "A room name is 1 to 64 letters, digits, '-', '_' or '.'. Check the link you were given.",
        ));
    }
    Ok(())
}

/// Trims a display name and checks it: 1–64 characters, no control characters.
pub fn normalize_name(name: &str) -> Result<String, ProtocolError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ProtocolError::new(ErrorCode::InvalidName, "Please enter a name so the others know who you are."));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::InvalidName,
            format!("That name is too long: use at most {MAX_NAME_CHARS} characters."),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ProtocolError::new(
            ErrorCode::InvalidName,
            "A name cannot contain control characters such as line breaks or tabs.",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Shortens and cleans client-supplied text before it is quoted back in a message or a log.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A peer as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerInfo {
    /// Random id, new for every join.
    pub id: String,
    /// Display name, trimmed and checked.
    pub name: String,
}

/// Why a peer left its room (`peer-left.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaveReason {
    /// It sent `leave` (or hung up).
    Left,
    /// Its connection closed.
    Disconnected,
    /// Nothing arrived from it for the keep-alive timeout.
    Timeout,
    /// It did not read its messages; the hub dropped it.
    TooSlow,
    /// The host is shutting down.
    HostClosing,
}

/// An ICE server handed to clients in `welcome.iceServers`, in the shape `RTCPeerConnection` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// `stun:` or `turn:`/`turns:` URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::str::FromStr for IceServer {
    type Err = String;

    /// Parses `stun:host:port`, `turn:host:port` or `turn:user:password@host:port` (also `turns:`),
    /// the form `--ice-server` takes on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("\"{s}\" is not an ICE server URL: write stun:HOST:PORT or turn:USER:PASSWORD@HOST:PORT"))?;
        match scheme {
            "stun" | "stuns" => {
                if rest.contains('@') {
                    return Err(format!("\"{s}\": a STUN server takes no user name or password"));
                }
                Ok(IceServer { urls: vec![s.to_owned()], username: None, credential: None })
            }
            "turn" | "turns" => match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let (user, pass) = userinfo
                        .split_once(':')
                        .ok_or_else(|| format!("\"{s}\": write the TURN credentials as USER:PASSWORD@HOST:PORT"))?;
                    if host.is_empty() {
                        return Err(format!("\"{s}\" has no host after '@'"));
                    }
                    Ok(IceServer {
                        urls: vec![format!("{scheme}:{host}")],
                        username: Some(user.to_owned()),
                        credential: Some(pass.to_owned()),
                    })
                }
                None => Err(format!("\"{s}\": a TURN server needs credentials: turn:USER:PASSWORD@HOST:PORT")),
            },
            _ => Err(format!("\"{s}\" is not an ICE server URL: it must start with stun:, stuns:, turn: or turns:")),
        }
    }
}

/// A message from the hub to a client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage<'a> {
    /// The join succeeded.
    Welcome {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The room joined.
        room: &'a str,
        /// The joiner itself.
        #[serde(rename = "self")]
        me: &'a PeerInfo,
        /// The others already in the room, oldest first.
        peers: Vec<&'a PeerInfo>,
        /// ICE servers for `RTCPeerConnection`.
        #[serde(rename = "iceServers")]
        ice_servers: &'a [IceServer],
    },
    /// Someone entered the room.
    PeerJoined {
        /// Who.
        peer: &'a PeerInfo,
    },
    /// Someone left the room.
    PeerLeft {
        /// Who.
        peer: &'a PeerInfo,
        /// Why.
        reason: LeaveReason,
    },
    /// Relayed data from another peer.
    Signal {
        /// The sender's id.
        from: &'a str,
        /// The sender's data, byte for byte.
        data: &'a RawValue,
    },
    /// Answer to `ping`.
    Pong,
    /// The knock reached the host; wait for `admitted` or `refused`.
    KnockWait {
        /// The room knocked on.
        room: &'a str,
    },
    /// The host let the knocker in: `join` with this token now.
    Admitted {
        /// The room.
        room: &'a str,
        /// The room's token (`null` for an open room).
        token: Option<&'a str>,
    },
    /// The host said no (or went away).
    Refused {
        /// The room.
        room: &'a str,
        /// Sentence for a person.
        message: &'a str,
    },
    /// A refusal; see [`ErrorCode`].
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Sentence for a person.
        message: &'a str,
        /// Type of the message that caused it.
        #[serde(skip_serializing_if = "Option::is_none")]
        re: Option<&'static str>,
        /// For `unknown-peer`: the id not found.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<&'a str>,
    },
    /// The hub is stopping; the connection closes next.
    Closing {
        /// Sentence for a person.
        message: &'a str,
    },
}

/// Encodes a hub message as JSON text.
pub fn encode(msg: &ServerMessage<'_>) -> String {
    // Serializing these types cannot fail: every field is a string, number, enum or raw JSON
    // that was already valid when it arrived. Fall back to a fixed error rather than panic.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        log::error!("could not encode a hub message: {e}");
        r#"{"type":"error","code":"bad-json","message":"The host could not encode a reply."}"#.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        match decode(text) {
            Ok(m) => panic!("expected an error for {text}, got {m:?}"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn decodes_each_client_message() {
        match decode(r#"{"type":"join","room":"call","token":"ab","name":" Ada "}"#) {
            Ok(ClientMessage::Join { room, token, name }) => {
                assert_eq!(room, "call");
                assert_eq!(token.as_deref(), Some("ab"));
                assert_eq!(name, " Ada ");
            }
            other => panic!("{other:?}"),
        }
        match decode(r#"{"type":"signal","to":"p1","data":{"sdp":"v=0\r\n","n":[1,2.5e3]}}"#) {
            Ok(ClientMessage::Signal { to, data }) => {
                assert_eq!(to, "p1");
                assert_eq!(data.get(), r#"{"sdp":"v=0\r\n","n":[1,2.5e3]}"#);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(decode(r#"{"type":"leave"}"#), Ok(ClientMessage::Leave)));
        assert!(matches!(decode(r#"{"type":"ping","extra":1}"#), Ok(ClientMessage::Ping)));
        assert!(matches!(decode(r#"{"type":"join","room":"r","token":null,"name":"x"}"#), Ok(ClientMessage::Join { token: None, .. })));
    }

    #[test]
    fn every_bad_shape_has_its_code() {
        assert_eq!(code("not json"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadJson);
        assert_eq!(code("\"join\""), ErrorCode::BadJson);
        assert_eq!(code("{}"), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":5}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join","name":"a"}"#), ErrorCode::MissingField);
        assert_eq!(code(r#"{"type":"join","room":"r"}"#), ErrorCode::MissingField);
        assert_eq!(code(r#"{"type":"join","room":7,"name":"a"}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"join","room":"a b","name":"a"}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"join","room":"r","name":"a","token":1}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"signal","to":"x"}"#), ErrorCode::MissingField);
        assert_eq!(code(r#"{"type":"signal","data":{}}"#), ErrorCode::MissingField);
        assert_eq!(code(r#"{"type":"signal","to":[],"data":{}}"#), ErrorCode::InvalidField);
    }

    #[test]
    fn errors_name_the_message_they_refer_to() {
        let e = decode(r#"{"type":"signal","to":"x"}"#).err();
        assert_eq!(e.map(|e| e.re), Some(Some("signal")));
        let text = ProtocolError::new(ErrorCode::RoomFull, "full").re("join").encode();
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "room-full");
        assert_eq!(v["re"], "join");
        assert!(v.get("peer").is_none());
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(normalize_name("  Ada Lovelace \n").ok().as_deref(), Some("Ada Lovelace"));
        assert_eq!(normalize_name(&"é".repeat(64)).map(|n| n.chars().count()).ok(), Some(64));
        assert!(normalize_name(&"é".repeat(65)).is_err());
        assert!(normalize_name("   ").is_err());
        assert!(normalize_name("a\u{7}b").is_err());
        assert!(normalize_name("a\nb").is_err());
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let me = PeerInfo { id: "a".into(), name: "Ada".into() };
        let other = PeerInfo { id: "b".into(), name: "Grace".into() };
        let ice = [IceServer { urls: vec!["stun:10.0.0.1:3478".into()], username: None, credential: None }];
        let text = encode(&ServerMessage::Welcome { protocol: 1, room: "call", me: &me, peers: vec![&other], ice_servers: &ice });
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(v["type"], "welcome");
        assert_eq!(v["self"]["name"], "Ada");
        assert_eq!(v["peers"][0]["id"], "b");
        assert_eq!(v["iceServers"][0]["urls"][0], "stun:10.0.0.1:3478");
        let data = RawValue::from_string(r#"{"x": 1}"#.into()).expect("raw");
        let text = encode(&ServerMessage::Signal { from: "a", data: &data });
        assert_eq!(text, r#"{"type":"signal","from":"a","data":{"x": 1}}"#);
        let text = encode(&ServerMessage::PeerLeft { peer: &me, reason: LeaveReason::TooSlow });
        assert!(text.contains(r#""reason":"too-slow""#), "{text}");
    }

    #[test]
    fn ice_server_flags_parse() {
        let s: IceServer = "turn:alice:s3cret@10.0.0.2:3478".parse().expect("turn");
        assert_eq!(s.urls, vec!["turn:10.0.0.2:3478"]);
        assert_eq!(s.username.as_deref(), Some("alice"));
        assert_eq!(s.credential.as_deref(), Some("s3cret"));
        let s: IceServer = "stun:10.0.0.2:3478".parse().expect("stun");
        assert_eq!(s.urls, vec!["stun:10.0.0.2:3478"]);
        assert!("turn:10.0.0.2:3478".parse::<IceServer>().is_err());
        assert!("http://x".parse::<IceServer>().is_err());
        assert!("stun:u:p@x".parse::<IceServer>().is_err());
    }
}
