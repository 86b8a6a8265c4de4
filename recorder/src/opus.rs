//! What an Opus packet says about itself (RFC 6716 §3.1), and the header a WebM Opus track
//! carries (RFC 7845 §5.1).

/// Opus's identification header ("OpusHead", RFC 7845 §5.1), mapping family 0.
pub(crate) fn head(channels: u8) -> [u8; 19] {
    let mut h = [0u8; 19];
    h[..8].copy_from_slice(b"OpusHead");
    h[8] = 1; // version
    h[9] = channels.clamp(1, 2);
    // pre-skip 0 (a WebRTC stream has no encoder delay to hide), then the input rate
    h[12..16].copy_from_slice(&48_000u32.to_le_bytes());
    h
}

/// How long an Opus packet plays, ms, from its TOC byte (RFC 6716 §3.1); 20 when unreadable.
pub(crate) fn duration_ms(packet: &[u8]) -> u64 {
    let Some(toc) = packet.first() else { return 20 };
    let config = toc >> 3;
    // Frame length in tenths of a millisecond, by configuration.
    let frame_tenths: u64 = match config {
        0..=11 => [100, 200, 400, 600][usize::from(config % 4)],
        12..=15 => [100, 200][usize::from(config % 2)],
        _ => [25, 50, 100, 200][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(1, |b| u64::from(b & 0x3F)),
    };
    (frame_tenths * frames / 10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_packets_say_how_long_they_play() {
        assert_eq!(duration_ms(&[0xF8, 0xFF]), 20, "CELT fullband 20 ms, one frame");
        assert_eq!(duration_ms(&[0x78]), 20, "SILK wideband 20 ms");
        assert_eq!(duration_ms(&[0x7A, 0, 0]), 40, "two 20 ms frames");
        assert_eq!(duration_ms(&[0x7B, 0x03]), 60, "three 20 ms frames (code 3)");
        assert_eq!(duration_ms(&[]), 20);
    }

    #[test]
    fn the_header_names_opus_its_channels_and_rate() {
        let h = head(1);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h[9], 1);
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 48_000);
    }
}
