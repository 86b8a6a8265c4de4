//! Session descriptions and candidates as they are signalled: descriptions in webrtc-rs's shape,
//! the DTLS role every answer must keep ([`SetupRole`]), and candidates named the way browsers
//! look them up.

use std::sync::OnceLock;

use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription,
};

use crate::error::PeerError;
use crate::messages::{Candidate, Description};

/// A local candidate as browsers want it signalled (None for the end of candidates). The webrtc
/// crate leaves sdpMid empty; browsers look the section up by it. With BUNDLE every candidate
/// belongs to the first section: name its mid and this generation's ufrag.
pub(crate) async fn signalled_candidate(
    pc: &dyn PeerConnection,
    ev: &RTCPeerConnectionIceEvent,
) -> Option<Candidate> {
    let init = ev.candidate.to_json().ok()?;
    if init.candidate.is_empty() {
        return None;
    }
    let (mid, ufrag) = match pc.local_description().await {
        Some(d) => (
            first_attr(&d.sdp, "a=mid:"),
            first_attr(&d.sdp, "a=ice-ufrag:"),
        ),
        None => (None, None),
    };
    Some(Candidate {
        candidate: init.candidate,
        sdp_mid: Some(mid.unwrap_or_else(|| "0".to_owned())),
        sdp_mline_index: Some(0),
        username_fragment: ufrag,
    })
}

/// A signalled candidate in the shape webrtc-rs takes.
pub(crate) fn candidate_init(c: Candidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
        url: None,
    }
}

pub(crate) fn description_from(
    kind: &str,
    sdp: String,
) -> Result<RTCSessionDescription, PeerError> {
    // The struct has a private cache field: build it the way it is deserialised.
    serde_json::from_value(serde_json::json!({ "type": kind, "sdp": sdp }))
        .map_err(|e| PeerError::Webrtc(format!("bad session description of type {kind:?}: {e}")))
}

/// Our side's DTLS role (`a=setup`) for the life of a connection, so that every answer we signal
/// says it.
///
/// webrtc-rs 0.21 writes its configured answering role (`active`) into every answer, a
/// renegotiation's too, even in a session where it is `passive` because it made the first offer
/// and the browser answered `active`. JSEP wants a later answer to keep the established role, and
/// browsers refuse one that does not ("Failed to set SSL role for the transport"): the browser
/// stays in have-local-offer and what its offer added (a shared screen) never flows. The crate
/// only accepts the answer it wrote, and takes its role from the first exchange alone, so the
/// answer is corrected where it is signalled.
#[derive(Default)]
pub(crate) struct SetupRole(OnceLock<&'static str>);

impl SetupRole {
    /// `setLocalDescription()` of the answer to the remote offer `pc` holds, once the role is
    /// known (learnt before the answer replaces the current descriptions).
    pub(crate) async fn answer(&self, pc: &dyn PeerConnection) -> Result<(), PeerError> {
        self.learn(pc).await;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        Ok(())
    }

    /// Learns the role from the last completed exchange, if not known yet: the current
    /// descriptions are then the ones the crate wrote and the other side accepted.
    async fn learn(&self, pc: &dyn PeerConnection) {
        if self.0.get().is_some() {
            return;
        }
        let local = pc.current_local_description().await;
        let remote = pc.current_remote_description().await;
        if let Some(role) = established_setup(
            local.as_ref().map(|d| d.sdp.as_str()),
            remote.as_ref().map(|d| d.sdp.as_str()),
        ) {
            let _ = self.0.set(role);
        }
    }

    /// `desc` as it is to be signalled: an answer with the session's role.
    pub(crate) fn signalled(&self, desc: RTCSessionDescription) -> Description {
        let kind = desc.sdp_type.to_string();
        match self.0.get() {
            Some(role)
                if kind == "answer"
                    && first_attr(&desc.sdp, "a=setup:").as_deref() != Some(*role) =>
            {
                log::debug!("signalling the answer with a=setup:{role}, the role this session has");
                Description {
                    kind,
                    sdp: with_setup(&desc.sdp, role),
                }
            }
            _ => Description {
                kind,
                sdp: desc.sdp,
            },
        }
    }
}

/// Our side's `a=setup` value in the session the current descriptions made: ours when we
/// answered (active or passive), the opposite of theirs when we offered (actpass). `None` before
/// the first exchange completed.
fn established_setup(local: Option<&str>, remote: Option<&str>) -> Option<&'static str> {
    match first_attr(local?, "a=setup:")?.as_str() {
        "active" => Some("active"),
        "passive" => Some("passive"),
        _ => match first_attr(remote?, "a=setup:")?.as_str() {
            "active" => Some("passive"),
            "passive" => Some("active"),
            _ => None,
        },
    }
}

/// `sdp` with every `a=setup` line saying `role`.
fn with_setup(sdp: &str, role: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=setup:") {
            let end = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            out.push_str("a=setup:");
            out.push_str(role);
            out.push_str(end);
        } else {
            out.push_str(line);
        }
    }
    out
}

fn first_attr(sdp: &str, prefix: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::{established_setup, with_setup};

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:actpass\r\na=mid:0\r\n";

    #[test]
    fn the_role_is_ours_when_we_answered_and_the_opposite_of_theirs_when_we_offered() {
        let answer = |role: &str| OFFER.replace("actpass", role);
        assert_eq!(
            established_setup(Some(&answer("active")), Some(OFFER)),
            Some("active")
        );
        assert_eq!(
            established_setup(Some(&answer("passive")), Some(OFFER)),
            Some("passive")
        );
        assert_eq!(
            established_setup(Some(OFFER), Some(&answer("active"))),
            Some("passive")
        );
        assert_eq!(
            established_setup(Some(OFFER), Some(&answer("passive"))),
            Some("active")
        );
        // Before the first exchange completed there is no role to keep.
        assert_eq!(established_setup(None, None), None);
        assert_eq!(established_setup(Some(OFFER), None), None);
        assert_eq!(established_setup(Some(OFFER), Some(OFFER)), None);
    }

    #[test]
    fn every_setup_line_is_rewritten_and_nothing_else() {
        let sdp = "v=0\r\na=setup:active\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:active\r\na=mid:1\r\n";
        assert_eq!(
            with_setup(sdp, "passive"),
            "v=0\r\na=setup:passive\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=setup:passive\r\na=mid:1\r\n"
        );
        assert_eq!(with_setup("a=setup:active", "passive"), "a=setup:passive");
    }
}
