//! What the SFU reads from and changes in the SDP text str0m makes, where str0m has no API for
//! it: the media sections a client offered to receive on (its "receive slots"), and the msid of
//! each such section once a track is bound to it.
//!
//! str0m takes the msid of a section the other side created from that side's offer (a
//! receive-only section has none, so str0m makes one up) and has no public way to change it.
//! The msid is all a client has to tell whose track a section carries, so the SFU writes it
//! into every description it sends that participant.

use std::collections::HashMap;

use str0m::media::Mid;

use crate::MediaKind;

/// What a slot's section says about its track: `Some((stream, track))` once a track is bound
/// to it, `None` while it is spare (its msid is taken out, so the client shows nothing for it).
pub(crate) type SlotMsids = HashMap<Mid, Option<(String, String)>>;

/// The media sections of an answer (or offer) that str0m sends on: `a=sendonly`, with a mid,
/// in order, with their kind.
pub(crate) fn send_sections(sdp: &str) -> Vec<(Mid, MediaKind)> {
    let mut out = Vec::new();
    for section in sections(sdp).into_iter().skip(1) {
        let kind = match section.first().and_then(|l| l.split_whitespace().next()) {
            Some("m=audio") => MediaKind::Audio,
            Some("m=video") => MediaKind::Video,
            _ => continue,
        };
        // A rejected section (port 0) carries nothing.
        if section.first().and_then(|l| l.split_whitespace().nth(1)) == Some("0") {
            continue;
        }
        let sends = section.iter().any(|l| l.trim_end() == "a=sendonly");
        let mid = section.iter().find_map(|l| l.trim_end().strip_prefix("a=mid:"));
        if let (true, Some(mid)) = (sends, mid) {
            out.push((Mid::from(mid), kind));
        }
    }
    out
}

/// `sdp` with the msid of each section in `slots` replaced (`a=msid:` and the `msid` of its
/// `a=ssrc:` lines), or removed for a spare slot. Other sections are left as they are.
pub(crate) fn with_slot_msids(sdp: &str, slots: &SlotMsids) -> String {
    if slots.is_empty() {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + 64);
    for section in sections(sdp) {
        let mid = section
            .iter()
            .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
            .map(Mid::from);
        let slot = mid.and_then(|m| slots.get(&m));
        for line in section {
            let Some(slot) = slot else {
                out.push_str(line);
                continue;
            };
            let eol = &line[line.trim_end_matches(['\r', '\n']).len()..];
            let text = line.trim_end_matches(['\r', '\n']);
            if text.starts_with("a=msid:") {
                if let Some((stream, track)) = slot {
                    out.push_str(&format!("a=msid:{stream} {track}{eol}"));
                }
            } else if let Some((ssrc, _)) = text
                .strip_prefix("a=ssrc:")
                .and_then(|rest| rest.split_once(' '))
                .filter(|(_, attr)| attr.starts_with("msid:"))
            {
                if let Some((stream, track)) = slot {
                    out.push_str(&format!("a=ssrc:{ssrc} msid:{stream} {track}{eol}"));
                }
            } else {
                out.push_str(line);
            }
        }
    }
    out
}

/// The session part, then each media section, as lines that keep their line ends.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\n\
o=- 1 2 IN IP4 0.0.0.0\r\n\
s=-\r\n\
a=group:BUNDLE 0 1 2 3\r\n\
a=msid-semantic: WMS abc\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:0\r\n\
a=recvonly\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
a=mid:1\r\n\
a=recvonly\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:2\r\n\
a=sendonly\r\n\
a=msid:random1 random2\r\n\
a=ssrc:11 cname:x\r\n\
a=ssrc:11 msid:random1 random2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
a=mid:3\r\n\
a=sendonly\r\n\
a=msid:random3 random4\r\n\
a=ssrc:12 cname:x\r\n\
a=ssrc:12 msid:random3 random4\r\n\
a=ssrc:13 msid:random3 random4\r\n\
m=video 0 UDP/TLS/RTP/SAVPF 96\r\n\
a=mid:4\r\n\
a=sendonly\r\n";

    #[test]
    fn the_sections_the_sfu_sends_on_are_its_slots() {
        let got = send_sections(ANSWER);
        assert_eq!(got, vec![(Mid::from("2"), MediaKind::Audio), (Mid::from("3"), MediaKind::Video)]);
    }

    #[test]
    fn a_bound_slot_carries_its_owner_in_every_msid_and_a_spare_one_none() {
        let mut slots = SlotMsids::new();
        slots.insert(Mid::from("3"), Some(("peer-b".into(), "peer-b-1".into())));
        slots.insert(Mid::from("2"), None);
        let out = with_slot_msids(ANSWER, &slots);
        assert!(out.contains("a=mid:3\r\na=sendonly\r\na=msid:peer-b peer-b-1\r\n"), "{out}");
        assert!(out.contains("a=ssrc:12 msid:peer-b peer-b-1\r\na=ssrc:13 msid:peer-b peer-b-1\r\n"), "{out}");
        assert!(out.contains("a=ssrc:12 cname:x\r\n"));
        assert!(!out.contains("random1") && !out.contains("random3"), "{out}");
        // Everything else is as it was.
        assert_eq!(out.lines().count(), ANSWER.lines().count() - 2);
        assert!(out.starts_with("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\na=group:BUNDLE 0 1 2 3\r\n"));
        assert!(out.contains("a=mid:0\r\na=recvonly\r\nm=video"));
    }

    #[test]
    fn without_slots_the_text_is_unchanged() {
        assert_eq!(with_slot_msids(ANSWER, &SlotMsids::new()), ANSWER);
        assert_eq!(send_sections("garbage\nm=\nm=video\n"), vec![]);
    }
}
