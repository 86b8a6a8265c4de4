//! The signaling protocol between a client and the hub, version 1, exactly as `docs/PROTOCOL.md`
//! writes it down.
//!
//! The hub decodes client frames with [`decode`] (not serde's derive) in one pass into a map of raw JSON values, so that a bad field can be named
//! precisely in the error a person reads, and so that `signal.data` stays opaque: the hub hands
//! the sender's bytes to the receiver without parsing or re-encoding them.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ice::IceServer;
use crate::peer::{Candidate, Description};

/// The protocol version this hub speaks; sent in `welcome.protocol` and in mDNS TXT records.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame a client may send (64 KiB): plenty for an SDP with many codecs, small
/// enough that one client cannot make the hub hold much memory.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Room names longer than this are refused.
pub const MAX_ROOM_CHARS: usize = 64;

/// The `type` of every message a client may send, in the order `docs/PROTOCOL.md` lists them.
pub const CLIENT_MESSAGE_TYPES: [&str; 9] =
    ["join", "knock", "signal", "leave", "ping", "media-description", "media-candidate", "media-want", "record"];

/// The `type` of every message the hub sends, in the order `docs/PROTOCOL.md` lists them.
pub const SERVER_MESSAGE_TYPES: [&str; 15] = [
    "welcome",
    "peer-joined",
    "peer-left",
    "signal",
    "pong",
    "knock-wait",
    "admitted",
    "refused",
    "error",
    "closing",
    "media-description",
    "media-layers",
    "speakers",
    "topology",
    "recording",
];

/// How a room's media travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Every peer sends to every other peer directly (one connection per pair).
    #[default]
    Mesh,
    /// Every peer has one connection, to the host's selective forwarding unit, which forwards
    /// each track to the others (`media-*` messages).
    Sfu,
}

impl Topology {
    /// The topology as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Mesh => "mesh",
            Topology::Sfu => "sfu",
        }
    }
}

/// Most tracks one `media-want` may name (a call of 64 people with a screen each).
pub const MAX_WANTED_TRACKS: usize = 128;

/// How large a subscriber shows one forwarded video track (`media-want.tracks[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackWant {
    /// The publisher's peer id.
    pub peer: String,
    /// The publisher's own mid for the track (the part after the last `-` of the forwarded
    /// track's msid track id).
    pub mid: String,
    /// Device pixels of the tile's height; 0: not shown (the host stops sending it).
    pub height: u32,
}

/// A message from a client to the hub. Clients build it and [`ClientMessage::encode`] it; the hub
/// reads it with [`decode`], which names a bad field precisely.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// Enter a room.
    Join {
        /// Room name (syntax already checked).
        room: String,
        /// Token from the join link; `None` when absent.
        token: Option<String>,
        /// Display name as sent (the hub applies [`crate::names::normalize_name`]).
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
    /// An offer or answer for the connection to the host's SFU (rooms whose topology is `sfu`).
    MediaDescription {
        /// The session description.
        description: Description,
    },
    /// An ICE candidate for the connection to the host's SFU (optional on a LAN).
    MediaCandidate {
        /// The candidate, as `RTCIceCandidate.toJSON()` gives it.
        candidate: Candidate,
    },
    /// How large this client shows each forwarded video track (replaces the previous list;
    /// tracks not named keep the host's default, the largest layer).
    MediaWant {
        /// One entry per track.
        tracks: Vec<TrackWant>,
    },
    /// Start (`true`) or stop (`false`) the host's recording of this client's room, where the
    /// host lets participants do so (`welcome.recordOnHost`).
    Record {
        /// Recording wanted.
        active: bool,
    },
}

impl ClientMessage {
    /// The JSON text to send.
    pub fn encode(&self) -> String {
        // Every field is a string or already-valid raw JSON: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| {
            log::error!("could not encode a client message: {e}");
            r#"{"type":"ping"}"#.to_owned()
        })
    }

    /// The wire name of this message's type, for `error.re`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Signal { .. } => "signal",
            ClientMessage::Knock { .. } => "knock",
            ClientMessage::Leave => "leave",
            ClientMessage::Ping => "ping",
            ClientMessage::MediaDescription { .. } => "media-description",
            ClientMessage::MediaCandidate { .. } => "media-candidate",
            ClientMessage::MediaWant { .. } => "media-want",
            ClientMessage::Record { .. } => "record",
        }
    }
}

/// Stable error codes (`error.code`), one per way a client can go wrong. See `docs/PROTOCOL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The display name is empty, too long, has control characters, or nothing visible
    /// (see [`crate::names`]).
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
    /// A `media-*` message in a room whose media does not go through the host (topology
    /// `mesh`), or to a host that forwards no media.
    NoMediaServer,
    /// The host's SFU refused a description (unreadable SDP, an answer with no offer
    /// outstanding, an offer while the first one is still being answered), or the media
    /// connection to this client ended; the client starts a new one with a fresh offer.
    MediaFailed,
    /// `record` from a participant of a host that does not let participants record.
    NotAllowed,
    /// The host could not start its recording, or it stopped by itself (a full disk): the
    /// message says why; what was written plays.
    RecordingFailed,
}

impl ErrorCode {
    /// Every code, in the order `docs/PROTOCOL.md` lists them.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadJson,
        ErrorCode::UnknownType,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::InvalidName,
        ErrorCode::UnknownRoom,
        ErrorCode::WrongToken,
        ErrorCode::RoomFull,
        ErrorCode::AlreadyJoined,
        ErrorCode::NotJoined,
        ErrorCode::UnknownPeer,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::AlreadyKnocking,
        ErrorCode::NoMediaServer,
        ErrorCode::MediaFailed,
        ErrorCode::NotAllowed,
        ErrorCode::RecordingFailed,
    ];

    /// After this answer to a `join` or `knock`, retrying the same join is pointless: the link,
    /// the name or the room must change first (or, for `rate-limited`, a minute pass). Clients
    /// stop reconnecting and tell the person. `ui/js/lib/signaling.js` keeps the same list
    /// (`FATAL_JOIN_CODES`); a test in this crate reads it there and compares.
    pub fn ends_join(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::AlreadyKnocking
                | ErrorCode::WrongToken
                | ErrorCode::UnknownRoom
                | ErrorCode::RoomFull
                | ErrorCode::InvalidName
                | ErrorCode::MissingField
                | ErrorCode::InvalidField
        )
    }

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
            ErrorCode::NoMediaServer => "no-media-server",
            ErrorCode::MediaFailed => "media-failed",
            ErrorCode::NotAllowed => "not-allowed",
            ErrorCode::RecordingFailed => "recording-failed",
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
            message: Cow::Borrowed(&self.message),
            re: self.re.map(Cow::Borrowed),
            peer: self.peer.as_deref().map(Cow::Borrowed),
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
        "media-description" => {
            let description: Description = required_object(&fields, "description", "media-description")?;
            if !matches!(description.kind.as_str(), "offer" | "answer") || description.sdp.is_empty() {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidField,
                    "A \"media-description\" needs a description of type \"offer\" or \"answer\" with its SDP.",
                )
                .re("media-description"));
            }
            Ok(ClientMessage::MediaDescription { description })
        }
        "media-candidate" => {
            let candidate = required_object(&fields, "candidate", "media-candidate")?;
            Ok(ClientMessage::MediaCandidate { candidate })
        }
        "media-want" => {
            let tracks: Vec<TrackWant> = required_object(&fields, "tracks", "media-want")?;
            if tracks.len() > MAX_WANTED_TRACKS {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidField,
                    format!("A \"media-want\" names at most {MAX_WANTED_TRACKS} tracks."),
                )
                .re("media-want"));
            }
            Ok(ClientMessage::MediaWant { tracks })
        }
        "record" => {
            let active = match fields.get("active").map(|raw| serde_json::from_str::<bool>(raw.get())) {
                None => return Err(missing("active", "record")),
                Some(Ok(active)) => active,
                Some(Err(_)) => {
                    return Err(ProtocolError::new(
                        ErrorCode::InvalidField,
                        "The \"active\" field of a \"record\" message must be true or false.",
                    )
                    .re("record"))
                }
            };
            Ok(ClientMessage::Record { active })
        }
        other => Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!(
                "\"{}\" is not a message this host knows. Use one of: {}.",
                printable(other),
                CLIENT_MESSAGE_TYPES.join(", ")
            ),
        )),
    }
}

/// A required field read into `T` (an object or array with the documented shape).
fn required_object<T: serde::de::DeserializeOwned>(
    fields: &HashMap<String, &RawValue>,
    field: &str,
    kind: &'static str,
) -> Result<T, ProtocolError> {
    let raw = fields.get(field).ok_or_else(|| missing(field, kind))?;
    serde_json::from_str(raw.get()).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidField,
            format!("The \"{field}\" field of a \"{kind}\" message does not have the documented shape ({e})."),
        )
        .re(kind)
    })
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

/// Shortens and cleans client-supplied text before it is quoted back in a message or a log.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// A peer as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Random id, new for every join.
    pub id: String,
    /// Display name, trimmed and checked.
    pub name: String,
}

/// Why a peer left its room (`peer-left.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl LeaveReason {
    /// The reason as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::Left => "left",
            LeaveReason::Disconnected => "disconnected",
            LeaveReason::Timeout => "timeout",
            LeaveReason::TooSlow => "too-slow",
            LeaveReason::HostClosing => "host-closing",
        }
    }
}

/// A message from the hub to a client. The hub builds it from borrowed parts and [`encode`]s it;
/// a client reads it with [`decode_server`] into owned parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage<'a> {
    /// The join succeeded.
    Welcome {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The room joined.
        room: Cow<'a, str>,
        /// The joiner itself.
        #[serde(rename = "self")]
        me: Cow<'a, PeerInfo>,
        /// The others already in the room, oldest first.
        #[serde(default)]
        peers: Vec<Cow<'a, PeerInfo>>,
        /// ICE servers for `RTCPeerConnection`.
        #[serde(rename = "iceServers", default)]
        ice_servers: Cow<'a, [IceServer]>,
        /// How the room's media travels (absent from older hubs: `mesh`).
        #[serde(default)]
        topology: Topology,
        /// The largest file, in bytes, the host lets people send each other in the call
        /// (`lancall-host --max-file-mb`); absent: no cap.
        #[serde(rename = "maxFileBytes", default, skip_serializing_if = "Option::is_none")]
        max_file_bytes: Option<u64>,
        /// Participants may start and stop the host's recording of this room (`record`).
        #[serde(rename = "recordOnHost", default, skip_serializing_if = "std::ops::Not::not")]
        record_on_host: bool,
    },
    /// Someone entered the room.
    PeerJoined {
        /// Who.
        peer: Cow<'a, PeerInfo>,
    },
    /// Someone left the room.
    PeerLeft {
        /// Who.
        peer: Cow<'a, PeerInfo>,
        /// Why.
        reason: LeaveReason,
    },
    /// Relayed data from another peer.
    Signal {
        /// The sender's id.
        from: Cow<'a, str>,
        /// The sender's data, byte for byte.
        data: Cow<'a, RawValue>,
    },
    /// Answer to `ping`.
    Pong,
    /// The knock reached the host; wait for `admitted` or `refused`.
    KnockWait {
        /// The room knocked on.
        room: Cow<'a, str>,
    },
    /// The host let the knocker in: `join` with this token now.
    Admitted {
        /// The room.
        room: Cow<'a, str>,
        /// The room's token (`null` for an open room).
        #[serde(default)]
        token: Option<Cow<'a, str>>,
    },
    /// The host said no (or went away).
    Refused {
        /// The room.
        room: Cow<'a, str>,
        /// Sentence for a person.
        message: Cow<'a, str>,
    },
    /// A refusal; see [`ErrorCode`].
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Sentence for a person.
        message: Cow<'a, str>,
        /// Type of the message that caused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        re: Option<Cow<'a, str>>,
        /// For `unknown-peer`: the id not found.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<Cow<'a, str>>,
    },
    /// The hub is stopping; the connection closes next.
    Closing {
        /// Sentence for a person.
        message: Cow<'a, str>,
    },
    /// The SFU's offer (it adds or removes tracks it forwards to this client) or its answer to
    /// this client's offer.
    MediaDescription {
        /// The session description.
        description: Cow<'a, Description>,
    },
    /// Which simulcast layers of one of this client's tracks anyone receives: keep those
    /// encodings, pause the others.
    MediaLayers {
        /// The client's own mid of the track.
        mid: Cow<'a, str>,
        /// The rids someone receives.
        rids: Vec<Cow<'a, str>>,
    },
    /// Who is speaking (at most three, loudest first): their audio is what the SFU forwards.
    Speakers {
        /// Peer ids.
        peers: Vec<Cow<'a, str>>,
    },
    /// The room's media now travels this way (a room the host set to `auto`).
    Topology {
        /// Mesh or SFU.
        topology: Topology,
    },
    /// The host started or stopped recording this room (sent to everyone in it, and to a
    /// joiner while it records).
    Recording {
        /// Recording now.
        active: bool,
        /// Who started it: a participant's name; absent: the host itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Cow<'a, str>>,
    },
}

/// Reads one hub message, as a client does. Unknown types and bad shapes are an error saying so:
/// a client of an older version skips such a message rather than stop.
pub fn decode_server(text: &str) -> Result<ServerMessage<'static>, serde_json::Error> {
    // serde buffers an internally tagged enum's fields before it picks the variant, and a raw
    // JSON value cannot be read from that buffer: `signal` (whose `data` stays raw, byte for byte)
    // is read on its own.
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    #[derive(Deserialize)]
    struct Relayed {
        from: String,
        data: Box<RawValue>,
    }
    if serde_json::from_str::<Kind>(text)?.kind == "signal" {
        let Relayed { from, data } = serde_json::from_str(text)?;
        return Ok(ServerMessage::Signal { from: Cow::Owned(from), data: Cow::Owned(data) });
    }
    serde_json::from_str(text)
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
        assert_eq!(code(r#"{"type":"media-description"}"#), ErrorCode::MissingField);
        assert_eq!(code(r#"{"type":"media-description","description":"v=0"}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"media-description","description":{"type":"rollback","sdp":"v=0"}}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"media-description","description":{"type":"offer","sdp":""}}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"media-candidate","candidate":{"sdpMid":"0"}}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"type":"media-want","tracks":[{"peer":"b","mid":"1","height":-1}]}"#), ErrorCode::InvalidField);
        let many = format!(r#"{{"type":"media-want","tracks":[{}]}}"#, vec![r#"{"peer":"b","mid":"1","height":1}"#; 129].join(","));
        assert_eq!(code(&many), ErrorCode::InvalidField);
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
    fn server_messages_have_the_documented_shape() {
        let me = PeerInfo { id: "a".into(), name: "Ada".into() };
        let other = PeerInfo { id: "b".into(), name: "Grace".into() };
        let ice = [IceServer { urls: vec!["stun:10.0.0.1:3478".into()], username: None, credential: None }];
        let text = encode(&ServerMessage::Welcome {
            protocol: 1,
            room: "call".into(),
            me: Cow::Borrowed(&me),
            peers: vec![Cow::Borrowed(&other)],
            ice_servers: Cow::Borrowed(&ice),
            topology: Topology::Mesh,
            max_file_bytes: Some(5_000_000),
            record_on_host: false,
        });
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(v["type"], "welcome");
        assert_eq!(v["maxFileBytes"], 5_000_000);
        assert_eq!(v["self"]["name"], "Ada");
        assert_eq!(v["peers"][0]["id"], "b");
        assert_eq!(v["iceServers"][0]["urls"][0], "stun:10.0.0.1:3478");
        let data = RawValue::from_string(r#"{"x": 1}"#.into()).expect("raw");
        let text = encode(&ServerMessage::Signal { from: "a".into(), data: Cow::Borrowed(&data) });
        assert_eq!(text, r#"{"type":"signal","from":"a","data":{"x": 1}}"#);
        let text = encode(&ServerMessage::PeerLeft { peer: Cow::Borrowed(&me), reason: LeaveReason::TooSlow });
        assert!(text.contains(r#""reason":"too-slow""#), "{text}");
        for reason in [LeaveReason::Left, LeaveReason::Disconnected, LeaveReason::Timeout, LeaveReason::TooSlow, LeaveReason::HostClosing] {
            assert_eq!(serde_json::to_string(&reason).ok(), Some(format!("\"{}\"", reason.as_str())));
        }
    }

    #[test]
    fn clients_read_every_hub_message_back() {
        let me = PeerInfo { id: "a".into(), name: "Ada \"the first\"".into() };
        let ice = [IceServer { urls: vec!["stun:10.0.0.1:3478".into()], username: None, credential: None }];
        let data = RawValue::from_string(r#"{"description":{"type":"offer","sdp":"v=0\r\n"}}"#.into()).expect("raw");
        let all = [
            ServerMessage::Welcome {
                protocol: PROTOCOL_VERSION,
                room: "call".into(),
                me: Cow::Borrowed(&me),
                peers: vec![Cow::Borrowed(&me)],
                ice_servers: Cow::Borrowed(&ice),
                topology: Topology::Sfu,
                max_file_bytes: Some(200_000_000),
                record_on_host: true,
            },
            ServerMessage::PeerJoined { peer: Cow::Borrowed(&me) },
            ServerMessage::PeerLeft { peer: Cow::Borrowed(&me), reason: LeaveReason::HostClosing },
            ServerMessage::Signal { from: "b".into(), data: Cow::Borrowed(&data) },
            ServerMessage::Pong,
            ServerMessage::KnockWait { room: "call".into() },
            ServerMessage::Admitted { room: "call".into(), token: Some("t".into()) },
            ServerMessage::Refused { room: "call".into(), message: "No.".into() },
            ServerMessage::Error { code: ErrorCode::UnknownPeer, message: "Gone.".into(), re: Some("signal".into()), peer: Some("z".into()) },
            ServerMessage::Closing { message: "Bye.".into() },
            ServerMessage::MediaDescription {
                description: Cow::Owned(Description { kind: "offer".into(), sdp: "v=0\r\n".into() }),
            },
            ServerMessage::MediaLayers { mid: "1".into(), rids: vec!["q".into(), "h".into()] },
            ServerMessage::Speakers { peers: vec!["a".into()] },
            ServerMessage::Topology { topology: Topology::Sfu },
            ServerMessage::Recording { active: true, by: Some("Ada".into()) },
        ];
        for msg in &all {
            let text = encode(msg);
            let back = decode_server(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            // Re-encoding what was read gives the same text: nothing is lost or reshaped.
            assert_eq!(encode(&back), text);
        }
        let types: Vec<String> = all
            .iter()
            .map(|m| serde_json::from_str::<serde_json::Value>(&encode(m)).map(|v| v["type"].to_string()).unwrap_or_default())
            .map(|t| t.trim_matches('"').to_owned())
            .collect();
        assert_eq!(types, SERVER_MESSAGE_TYPES);
        assert!(decode_server(r#"{"type":"dance"}"#).is_err());
        assert!(decode_server(r#"{"type":"signal","from":"b"}"#).is_err());
    }

    #[test]
    fn what_clients_encode_the_hub_decodes() {
        let data = RawValue::from_string(r#"{"candidate":null}"#.into()).expect("raw");
        let all = [
            ClientMessage::Join { room: "call".into(), token: Some("t".into()), name: "Ada".into() },
            ClientMessage::Knock { room: "call".into(), name: "Ada".into() },
            ClientMessage::Signal { to: "b".into(), data },
            ClientMessage::Leave,
            ClientMessage::Ping,
            ClientMessage::MediaDescription { description: Description { kind: "answer".into(), sdp: "v=0\r\n".into() } },
            ClientMessage::MediaCandidate {
                candidate: Candidate {
                    candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                },
            },
            ClientMessage::MediaWant { tracks: vec![TrackWant { peer: "b".into(), mid: "1".into(), height: 360 }] },
            ClientMessage::Record { active: false },
        ];
        let kinds: Vec<&str> = all.iter().map(ClientMessage::kind).collect();
        assert_eq!(kinds, CLIENT_MESSAGE_TYPES);
        for bad in [r#"{"type":"record"}"#, r#"{"type":"record","active":"yes"}"#] {
            assert!(decode(bad).is_err_and(|e| e.re == Some("record")), "{bad}");
        }
        for msg in &all {
            let text = msg.encode();
            let back = decode(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(back.encode(), text);
        }
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for (code, text) in ErrorCode::ALL.iter().zip(&codes) {
            assert_eq!(serde_json::to_string(code).ok(), Some(format!("\"{text}\"")));
        }
    }

}
