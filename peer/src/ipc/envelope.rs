//! The envelope a remote frame crosses IPC in: a fixed header the page's decoder reads, then the
//! encoded bytes (ui/js/rtc/native-media.js reads it).

use std::time::Instant;

use crate::media::{MediaKind, RemoteFrame, TrackRole};

/// Size of the header [`encode_frame`] puts before a frame's bytes.
pub const FRAME_HEADER_LEN: usize = 24;

/// Version byte of the frame envelope.
pub const FRAME_VERSION: u8 = 2;

/// Microseconds since the Unix epoch at `at` (a moment in the past or now): the clock the
/// webview shares with this process (`performance.timeOrigin + performance.now()`), for the
/// latency the way through the app adds.
pub fn wall_micros(at: Instant) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.saturating_sub(at.elapsed()).as_micros()).unwrap_or(u64::MAX)
}

/// One remote frame for the page: a 24-byte header, then the encoded bytes (a whole VP8 frame or
/// one Opus packet). Header, little-endian: version (2), kind (0 video, 1 audio), role (0
/// camera/microphone, 1 screen), flags (bit 0: keyframe), transceiver (u32), RTP timestamp
/// (u32), width (u16), height (u16) (0 when not a keyframe or unknown), then when the frame was
/// complete here (u64, µs since the Unix epoch).
pub fn encode_frame(frame: &RemoteFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + frame.data.len());
    out.push(FRAME_VERSION);
    out.push(match frame.kind {
        MediaKind::Video => 0,
        MediaKind::Audio => 1,
    });
    out.push(match frame.role {
        TrackRole::Main => 0,
        TrackRole::Screen => 1,
    });
    out.push(u8::from(frame.keyframe));
    out.extend_from_slice(&u32::try_from(frame.transceiver).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&frame.rtp_timestamp.to_le_bytes());
    let (w, h) = frame.size.unwrap_or((0, 0));
    out.extend_from_slice(&u16::try_from(w).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&u16::try_from(h).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&wall_micros(frame.received).to_le_bytes());
    out.extend_from_slice(&frame.data);
    out
}

/// First byte of a data channel's binary message crossing IPC (a frame's is [`FRAME_VERSION`]).
pub const CHANNEL_BYTES_TAG: u8 = 0xdc;
/// Size of the header [`encode_channel_bytes`] puts before a message's bytes.
pub const CHANNEL_BYTES_HEADER_LEN: usize = 8;

/// A data channel's binary message for the page (ui/js/rtc/rtc-bridge.js): an 8-byte header,
/// [`CHANNEL_BYTES_TAG`], three zero bytes, the channel id (u32, little-endian), then the bytes.
pub fn encode_channel_bytes(channel: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHANNEL_BYTES_HEADER_LEN + data.len());
    out.extend_from_slice(&[CHANNEL_BYTES_TAG, 0, 0, 0]);
    out.extend_from_slice(&channel.to_le_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_channels_bytes_carry_their_channel_and_are_not_a_frame() {
        let out = super::encode_channel_bytes(7, b"abc");
        assert_eq!(out, [0xdc, 0, 0, 0, 7, 0, 0, 0, b'a', b'b', b'c']);
        assert_ne!(super::CHANNEL_BYTES_TAG, super::FRAME_VERSION);
    }

    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_frame_envelope_carries_what_the_decoder_needs() {
        let frame = RemoteFrame {
            transceiver: 7,
            kind: MediaKind::Video,
            role: TrackRole::Main,
            data: Bytes::from_static(&[1, 2, 3]),
            keyframe: true,
            rtp_timestamp: 0x0102_0304,
            received: Instant::now(),
            size: Some((640, 480)),
        };
        let bytes = encode_frame(&frame);
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 3);
        assert_eq!(&bytes[..4], &[FRAME_VERSION, 0, 0, 1]);
        assert_eq!(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]), 7);
        assert_eq!(
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            0x0102_0304
        );
        assert_eq!(u16::from_le_bytes([bytes[12], bytes[13]]), 640);
        assert_eq!(u16::from_le_bytes([bytes[14], bytes[15]]), 480);
        let mut received = [0u8; 8];
        received.copy_from_slice(&bytes[16..24]);
        let now = wall_micros(Instant::now());
        let received = u64::from_le_bytes(received);
        assert!(received <= now && now - received < 60_000_000, "received {received}, now {now}");
        assert_eq!(&bytes[24..], &[1, 2, 3]);
        let audio = RemoteFrame { kind: MediaKind::Audio, keyframe: false, size: None, ..frame };
        assert_eq!(&encode_frame(&audio)[..4], &[FRAME_VERSION, 1, 0, 0]);
    }

    #[test]
    fn sizes_too_large_for_the_header_are_written_as_unknown() {
        let frame = RemoteFrame {
            transceiver: usize::MAX,
            kind: MediaKind::Video,
            role: TrackRole::Screen,
            data: Bytes::new(),
            keyframe: false,
            rtp_timestamp: 1,
            received: Instant::now(),
            size: Some((70_000, 480)),
        };
        let bytes = encode_frame(&frame);
        assert_eq!(&bytes[..4], &[FRAME_VERSION, 0, 1, 0]);
        assert_eq!(&bytes[4..8], &u32::MAX.to_le_bytes());
        assert_eq!(&bytes[12..14], &[0, 0], "a width past u16 is 'unknown', not a wrapped number");
        assert_eq!(bytes.len(), FRAME_HEADER_LEN);
    }
}
