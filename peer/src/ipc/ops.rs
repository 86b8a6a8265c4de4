//! What the page may ask of a bridged connection over IPC, as typed operations, and the checks
//! every request passes before it reaches a connection. Everything here is input from the page:
//! ids, sizes and counts are bounded, and a request that breaks a bound gets a sentence saying so.

use serde::{Deserialize, Serialize};

use crate::bridge::{Snapshot, StatsEntry, TransceiverInfo};
use crate::error::PeerError;
use crate::media::MediaKind;
use crate::messages::{Candidate, Description};
use lancall_protocol::IceServer;

/// Longest connection or source id (rtc-bridge.js makes 24 hex characters).
pub const MAX_ID_LEN: usize = 64;
/// Most operations one batch may carry (the page batches 3 when it lays out a connection).
pub const MAX_BATCH: usize = 32;
/// Longest data-channel label, in bytes.
pub const MAX_LABEL_LEN: usize = 256;
/// Longest text one `channel.send` may carry, in bytes: the size browsers can send on any
/// SCTP stack (SDP's default `max-message-size`).
pub const MAX_CHANNEL_TEXT: usize = 65_536;
/// Longest session description, in bytes (a 16-track offer is ~20 KB).
pub const MAX_SDP_LEN: usize = 256 * 1024;
/// Longest ICE candidate line, in bytes.
pub const MAX_CANDIDATE_LEN: usize = 1024;
/// Most ICE servers a configuration may list.
pub const MAX_ICE_SERVERS: usize = 16;

/// Connection and source ids come from the page: they are IPC input, so only 1 to
/// [`MAX_ID_LEN`] ASCII letters, digits, '-' and '_' pass. Being ASCII, any byte offset into one
/// is a character boundary.
pub fn check_id(id: &str) -> Result<(), PeerError> {
    let ascii = id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.is_empty() || id.len() > MAX_ID_LEN || !ascii {
        return Err(PeerError::BadRequest(format!(
            "Connection and source ids are 1 to {MAX_ID_LEN} ASCII letters, digits, '-' or '_'."
        )));
    }
    Ok(())
}

/// Reads `audio` or `video`.
pub fn parse_kind(kind: &str) -> Result<MediaKind, PeerError> {
    match kind {
        "audio" => Ok(MediaKind::Audio),
        "video" => Ok(MediaKind::Video),
        other => Err(PeerError::BadRequest(format!(
            "\"{}\" is neither audio nor video.",
            other.escape_debug().take(40).collect::<String>()
        ))),
    }
}

/// How the page configures a connection (`RTCConfiguration`'s part that matters here).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PcConfig {
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

impl PcConfig {
    /// Refuses a configuration past the bounds.
    pub fn check(&self) -> Result<(), PeerError> {
        if self.ice_servers.len() > MAX_ICE_SERVERS {
            return Err(PeerError::BadRequest(format!(
                "A connection takes at most {MAX_ICE_SERVERS} ICE servers."
            )));
        }
        Ok(())
    }
}

/// One operation on a connection: a method of `RTCPeerConnection` or of one of its parts.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PcOp {
    /// `addTransceiver(kind, {direction})`, sending `source` (a source id) if any.
    AddTransceiver { kind: String, direction: String, source: Option<String> },
    /// `transceiver.direction = direction`.
    SetDirection { index: usize, direction: String },
    /// `sender.replaceTrack()`.
    SetSource { index: usize, source: Option<String> },
    /// `setLocalDescription()` (or a rollback).
    SetLocal {
        #[serde(default)]
        rollback: bool,
    },
    /// `setRemoteDescription(description)`.
    SetRemote { description: Description },
    /// `addIceCandidate(candidate)`.
    AddCandidate { candidate: Candidate },
    /// `restartIce()`.
    RestartIce,
    /// `createDataChannel(label, {ordered})` as channel `id`.
    CreateChannel { id: u32, label: String, ordered: bool },
    /// `channel.send(text)`.
    ChannelSend { id: u32, text: String },
    /// `channel.close()`.
    ChannelClose { id: u32 },
    /// `getStats()`.
    Stats,
    /// Several operations in one IPC call, run in order, each answered on its own (the page
    /// sends the operations that lay out a new connection this way: on WebKit's busy main thread
    /// each IPC round trip costs 10-35 ms). Not nested; at most [`MAX_BATCH`].
    Batch { ops: Vec<PcOp> },
}

impl PcOp {
    /// The operation's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            PcOp::AddTransceiver { .. } => "addTransceiver",
            PcOp::SetDirection { .. } => "setting a direction",
            PcOp::SetSource { .. } => "replaceTrack",
            PcOp::SetLocal { rollback: true } => "rollback",
            PcOp::SetLocal { rollback: false } => "setLocalDescription",
            PcOp::SetRemote { .. } => "setRemoteDescription",
            PcOp::AddCandidate { .. } => "addIceCandidate",
            PcOp::RestartIce => "restartIce",
            PcOp::CreateChannel { .. } => "createDataChannel",
            PcOp::ChannelSend { .. } => "a data channel send",
            PcOp::ChannelClose { .. } => "closing a data channel",
            PcOp::Stats => "getStats",
            PcOp::Batch { .. } => "a batch of operations",
        }
    }

    /// Refuses an operation past the bounds, before anything runs.
    pub fn check(&self) -> Result<(), PeerError> {
        let too = |what: &str, limit: usize| {
            Err(PeerError::BadRequest(format!("{what} is longer than {limit} bytes.")))
        };
        match self {
            PcOp::AddTransceiver { kind, source, .. } => {
                parse_kind(kind)?;
                source.as_deref().map_or(Ok(()), check_id)
            }
            PcOp::SetSource { source, .. } => source.as_deref().map_or(Ok(()), check_id),
            PcOp::SetRemote { description } if description.sdp.len() > MAX_SDP_LEN => {
                too("The session description", MAX_SDP_LEN)
            }
            PcOp::SetRemote { description } if !matches!(description.kind.as_str(), "offer" | "answer") => {
                Err(PeerError::BadRequest("A remote description is an offer or an answer.".into()))
            }
            PcOp::AddCandidate { candidate } if candidate.candidate.len() > MAX_CANDIDATE_LEN => {
                too("The ICE candidate", MAX_CANDIDATE_LEN)
            }
            PcOp::CreateChannel { label, .. } if label.len() > MAX_LABEL_LEN => {
                too("The channel's label", MAX_LABEL_LEN)
            }
            PcOp::ChannelSend { text, .. } if text.len() > MAX_CHANNEL_TEXT => {
                too("The message", MAX_CHANNEL_TEXT)
            }
            PcOp::Batch { ops } if ops.len() > MAX_BATCH => Err(PeerError::BadRequest(format!(
                "A batch holds at most {MAX_BATCH} operations."
            ))),
            PcOp::Batch { ops } => {
                if ops.iter().any(|op| matches!(op, PcOp::Batch { .. })) {
                    return Err(PeerError::BadRequest("A batch cannot hold another batch.".into()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// What an operation answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PcAnswer {
    None,
    Transceiver(TransceiverInfo),
    Snapshot(Snapshot),
    Stats(Vec<StatsEntry>),
    Batch(Vec<Outcome>),
}

/// One operation's answer in a batch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok(PcAnswer),
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_comes_as_a_list_of_operations_and_answers_each_on_its_own() {
        let op: PcOp = serde_json::from_value(serde_json::json!({
            "op": "batch",
            "ops": [{ "op": "create-channel", "id": 1, "label": "lancall", "ordered": true }, { "op": "stats" }],
        }))
        .expect("a batch");
        assert!(
            matches!(&op, PcOp::Batch { ops } if matches!(ops[..], [PcOp::CreateChannel { id: 1, .. }, PcOp::Stats]))
        );
        assert!(op.check().is_ok());
        let answer = PcAnswer::Batch(vec![
            Outcome::Ok(PcAnswer::None),
            Outcome::Error("There is no transceiver 9.".into()),
        ]);
        assert_eq!(
            serde_json::to_value(&answer).expect("json"),
            serde_json::json!([{ "ok": null }, { "error": "There is no transceiver 9." }])
        );
    }

    #[test]
    fn ids_from_the_page_are_short_ascii_or_refused() {
        assert!(check_id("0123456789abcdef01234567").is_ok());
        assert!(check_id(&"a".repeat(64)).is_ok());
        // "aéééé" is 9 bytes: slicing it at byte 8 for a thread name panicked before ids were ASCII.
        for hostile in ["aéééé", "", &"a".repeat(65), "a\0b", "../x", "🙂", "a b"] {
            assert!(check_id(hostile).is_err(), "{hostile:?} was accepted");
        }
    }

    #[test]
    fn kinds_are_audio_or_video() {
        assert!(matches!(parse_kind("audio"), Ok(MediaKind::Audio)));
        assert!(matches!(parse_kind("video"), Ok(MediaKind::Video)));
        assert!(parse_kind("screen").is_err());
        let long = parse_kind(&"\u{202e}x".repeat(1000)).expect_err("refused");
        assert!(long.to_string().len() < 400, "the sentence quotes a bounded part of the input");
    }

    fn decode(v: serde_json::Value) -> Result<PcOp, String> {
        let op: PcOp = serde_json::from_value(v).map_err(|e| e.to_string())?;
        op.check().map_err(|e| e.to_string())?;
        Ok(op)
    }

    #[test]
    fn requests_past_the_bounds_are_refused_before_they_run() {
        use serde_json::json;
        let nested = json!({ "op": "batch", "ops": [{ "op": "batch", "ops": [] }] });
        assert!(decode(nested).expect_err("nested").contains("cannot hold another batch"));
        let many = json!({ "op": "batch", "ops": vec![json!({ "op": "stats" }); MAX_BATCH + 1] });
        assert!(decode(many).expect_err("too many").contains("at most 32"));
        let big = json!({ "op": "channel-send", "id": 1, "text": "x".repeat(MAX_CHANNEL_TEXT + 1) });
        assert!(decode(big).expect_err("too big").contains("longer than"));
        let sdp = json!({ "op": "set-remote", "description": { "type": "pranswer", "sdp": "v=0" } });
        assert!(decode(sdp).expect_err("pranswer").contains("offer or an answer"));
        let source = json!({ "op": "set-source", "index": 0, "source": "aéééé" });
        assert!(decode(source).expect_err("hostile id").contains("ASCII"));
        let kind = json!({ "op": "add-transceiver", "kind": "screen", "direction": "sendrecv", "source": null });
        assert!(decode(kind).expect_err("kind").contains("neither audio nor video"));
        // Unknown operations and fields are refused by the decoder, not ignored.
        assert!(decode(json!({ "op": "format-disk" })).is_err());
        assert!(decode(json!({ "op": "channel-close", "id": 1, "extra": 1 })).is_err());
        assert!(decode(json!({ "op": "set-direction", "index": -1, "direction": "sendrecv" })).is_err());
        assert!(decode(json!({ "op": "set-direction", "index": 2, "direction": "sendrecv" })).is_ok());
    }
}
