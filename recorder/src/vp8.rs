//! What a VP8 frame says about itself (RFC 6386 §9.1), read without decoding.

/// True when `frame` is a keyframe (bit 0 of the frame tag is 0).
pub(crate) fn is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

/// The picture size a keyframe announces.
pub(crate) fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || !is_keyframe(frame) || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    (w > 0 && h > 0).then_some((u32::from(w), u32::from(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_says_its_size_and_a_delta_frame_says_nothing() {
        let key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        assert!(is_keyframe(&key));
        assert_eq!(keyframe_size(&key), Some((640, 480)));
        let delta = [0x11, 0x02, 0x00, 0x42];
        assert!(!is_keyframe(&delta));
        assert_eq!(keyframe_size(&delta), None);
        assert_eq!(keyframe_size(&key[..6]), None);
        assert!(!is_keyframe(&[]));
    }
}
