//! The messages peers exchange (docs/PROTOCOL.md, "Peer messages"): inside the hub's
//! `signal.data`, and as JSON text on the `lancall` data channel. The hub never reads them; the
//! web client (`ui/js/lib/call.js`) writes and reads the same shapes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Which of its microphone and camera a peer has turned off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    /// Microphone off (or none).
    #[serde(default)]
    pub audio: bool,
    /// Camera off (or none).
    #[serde(default)]
    pub video: bool,
}

/// `{"state": {...}}`: who the sender is (its session, stable across rejoins) and what it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerState {
    /// 32 lowercase hex characters, random per call.
    pub session: Option<String>,
    /// Mute flags.
    #[serde(default)]
    pub muted: Muted,
    /// Stream id of a shared screen, or null.
    #[serde(default)]
    pub screen: Option<String>,
    /// In an `sfu` room: the sender's own mid of its shared screen's track, or null (absent
    /// in a mesh room).
    #[serde(default, rename = "screenMid", skip_serializing_if = "Option::is_none")]
    pub screen_mid: Option<String>,
}

/// A session description as browsers serialise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// `offer`, `answer` (also `pranswer`, `rollback`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The SDP text.
    #[serde(default)]
    pub sdp: String,
}

/// An ICE candidate as `RTCIceCandidate.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// `candidate:...` attribute text.
    pub candidate: String,
    /// The media section's mid.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
    /// ICE ufrag of the generation this candidate belongs to.
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// One peer message (`signal.data`): exactly one of these keys.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerMessage {
    /// `{"state": ...}`
    State(PeerState),
    /// `{"description": ...}`
    Description(Description),
    /// `{"candidate": ...}`; `None` is the end of candidates (ignored by receivers).
    Candidate(Option<Candidate>),
    /// `{"message": ...}`: in an `sfu` room (no data channels), a data channel message relayed
    /// by the hub.
    Channel(ChannelMessage),
}

impl PeerMessage {
    /// Reads `signal.data`; `None` for anything that is not one of the three shapes (ignored,
    /// like the web client does).
    pub fn from_value(data: &Value) -> Option<PeerMessage> {
        let obj = data.as_object()?;
        if let Some(state) = obj.get("state") {
            let mut s: PeerState = serde_json::from_value(state.clone()).ok()?;
            if s.session
                .as_deref()
                .is_some_and(|x| x.is_empty() || x.len() > 128)
            {
                s.session = None;
            }
            return Some(PeerMessage::State(s));
        }
        if let Some(d) = obj.get("description") {
            return serde_json::from_value(d.clone())
                .ok()
                .map(PeerMessage::Description);
        }
        if let Some(m) = obj.get("message") {
            return ChannelMessage::parse(&m.to_string()).map(PeerMessage::Channel);
        }
        if let Some(c) = obj.get("candidate") {
            if c.is_null() {
                return Some(PeerMessage::Candidate(None));
            }
            return serde_json::from_value(c.clone())
                .ok()
                .map(|c| PeerMessage::Candidate(Some(c)));
        }
        None
    }

    /// Reads `signal.data` as the hub relays it (raw JSON); `None` as for [`Self::from_value`].
    pub fn from_raw(data: &serde_json::value::RawValue) -> Option<PeerMessage> {
        serde_json::from_str::<Value>(data.get()).ok().as_ref().and_then(PeerMessage::from_value)
    }

    /// This message as the `signal` a client sends the hub to reach peer `to`.
    pub fn signal_to(&self, to: &str) -> crate::hub::ClientMessage {
        // A `Value` always serialises; `null` is never reached.
        let data = serde_json::value::to_raw_value(&self.to_value()).unwrap_or_else(|e| {
            log::error!("could not encode a peer message: {e}");
            serde_json::value::RawValue::NULL.to_owned()
        });
        crate::hub::ClientMessage::Signal { to: to.to_owned(), data }
    }

    /// The JSON value to put in `signal.data`.
    pub fn to_value(&self) -> Value {
        match self {
            PeerMessage::State(s) => json!({ "state": s }),
            PeerMessage::Description(d) => json!({ "description": d }),
            PeerMessage::Candidate(c) => json!({ "candidate": c }),
            PeerMessage::Channel(m) => {
                let inner: Value = serde_json::from_str(&m.to_text()).unwrap_or(Value::Null);
                json!({ "message": inner })
            }
        }
    }
}

/// Longest chat line kept (the web client cuts at the same length).
pub const MAX_CHAT_CHARS: usize = 4000;

/// A message on the `lancall` data channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelMessage {
    /// `{"type": "chat", "text": "...", "at": MILLISECONDS}`
    Chat {
        /// The line (cut to `MAX_CHAT_CHARS` characters on receipt).
        text: String,
        /// Sender's clock, milliseconds since the Unix epoch.
        at: Option<f64>,
    },
    /// `{"type": "status", "hand": BOOL, "recording": BOOL}`: the sender's raised hand and
    /// whether it records the call; sent when the channel opens and on every change.
    Status {
        /// Its hand is raised.
        hand: bool,
        /// It is recording (everyone in the call is told: docs/PROTOCOL.md).
        recording: bool,
    },
    /// `{"type": "reaction", "emoji": "…"}`: one of [`REACTIONS`], shown over the sender's tile.
    Reaction {
        /// The emoji.
        emoji: String,
    },
    /// `{"type": "bye"}`: the sender is hanging up.
    Bye,
}

/// The reactions a peer may send; anything else is ignored on receipt (the web client's list).
pub const REACTIONS: [&str; 6] = ["👍", "👏", "😂", "😮", "❤️", "🎉"];

impl ChannelMessage {
    /// Parses a data channel text; `None` for anything else (ignored).
    pub fn parse(text: &str) -> Option<ChannelMessage> {
        let v: Value = serde_json::from_str(text).ok()?;
        match v.get("type")?.as_str()? {
            "chat" => {
                let text = v.get("text")?.as_str()?;
                Some(ChannelMessage::Chat {
                    text: text.chars().take(MAX_CHAT_CHARS).collect(),
                    at: v.get("at").and_then(Value::as_f64),
                })
            }
            "status" => Some(ChannelMessage::Status {
                hand: v.get("hand").and_then(Value::as_bool) == Some(true),
                recording: v.get("recording").and_then(Value::as_bool) == Some(true),
            }),
            "reaction" => {
                let emoji = v.get("emoji")?.as_str()?;
                REACTIONS.contains(&emoji).then(|| ChannelMessage::Reaction { emoji: emoji.to_owned() })
            }
            "bye" => Some(ChannelMessage::Bye),
            _ => None,
        }
    }

    /// The JSON text to send.
    pub fn to_text(&self) -> String {
        match self {
            ChannelMessage::Chat { text, at } => {
                json!({ "type": "chat", "text": text, "at": at.unwrap_or_else(now_ms) }).to_string()
            }
            ChannelMessage::Status { hand, recording } => {
                json!({ "type": "status", "hand": hand, "recording": recording }).to_string()
            }
            ChannelMessage::Reaction { emoji } => json!({ "type": "reaction", "emoji": emoji }).to_string(),
            ChannelMessage::Bye => json!({ "type": "bye" }).to_string(),
        }
    }
}

/// Milliseconds since the Unix epoch (as JavaScript's `Date.now()`).
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// 32 random lowercase hex characters (a session id): the crate's one id maker.
pub use crate::ids::random_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_messages_round_trip_in_the_web_clients_shapes() {
        let state = json!({"state": {"session": "ab", "muted": {"audio": true, "video": false}, "screen": null}});
        let m = PeerMessage::from_value(&state);
        assert!(
            matches!(&m, Some(PeerMessage::State(s)) if s.muted.audio && s.session.as_deref() == Some("ab"))
        );
        assert_eq!(m.map(|m| m.to_value()), Some(state));

        let cand = json!({"candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "u"}});
        assert_eq!(
            PeerMessage::from_value(&cand).map(|m| m.to_value()),
            Some(cand)
        );
        assert_eq!(
            PeerMessage::from_value(&json!({"candidate": null})),
            Some(PeerMessage::Candidate(None))
        );
        assert_eq!(PeerMessage::from_value(&json!({"other": 1})), None);
        let relayed = json!({"message": {"type": "reaction", "emoji": "👍"}});
        assert_eq!(
            PeerMessage::from_value(&relayed),
            Some(PeerMessage::Channel(ChannelMessage::Reaction { emoji: "👍".into() }))
        );
        assert_eq!(PeerMessage::from_value(&relayed).map(|m| m.to_value()), Some(relayed));
        let sfu_state = json!({"state": {"session": "ab", "muted": {"audio": false, "video": false}, "screen": "s", "screenMid": "2"}});
        assert!(matches!(PeerMessage::from_value(&sfu_state), Some(PeerMessage::State(s)) if s.screen_mid.as_deref() == Some("2")));
        assert_eq!(PeerMessage::from_value(&json!("text")), None);
    }

    #[test]
    fn channel_messages_parse_and_cut_long_chat() {
        assert_eq!(
            ChannelMessage::parse(r#"{"type":"bye"}"#),
            Some(ChannelMessage::Bye)
        );
        let long = "x".repeat(5000);
        let Some(ChannelMessage::Chat { text, .. }) =
            ChannelMessage::parse(&json!({"type": "chat", "text": long, "at": 1}).to_string())
        else {
            panic!("chat not parsed");
        };
        assert_eq!(text.len(), MAX_CHAT_CHARS);
        assert_eq!(ChannelMessage::parse("not json"), None);
        assert_eq!(
            ChannelMessage::parse(r#"{"type":"status","hand":true,"recording":"yes"}"#),
            Some(ChannelMessage::Status { hand: true, recording: false }),
            "only a JSON true counts"
        );
        let status = ChannelMessage::Status { hand: false, recording: true };
        assert_eq!(ChannelMessage::parse(&status.to_text()), Some(status));
        let thumbs = ChannelMessage::Reaction { emoji: "👍".into() };
        assert_eq!(ChannelMessage::parse(&thumbs.to_text()), Some(thumbs));
        assert_eq!(
            ChannelMessage::parse(r#"{"type":"reaction","emoji":"<img src=x>"}"#),
            None,
            "a reaction outside the list is dropped"
        );
        assert_eq!(ChannelMessage::parse(r#"{"type":"chat"}"#), None);
    }
}
