//! Receiving media: whole frames reassembled from a remote track's RTP packets
//! ([`receive_media`], [`Vp8Assembler`]), with picture-loss requests when pictures were lost.

use std::time::{Duration, Instant};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::codec::{vp8_is_keyframe, vp8_keyframe_size};
use crate::media::{FrameSink, MediaKind, RemoteFrame, TrackRole};

/// At most one picture-loss request per this interval.
const PLI_INTERVAL: Duration = Duration::from_millis(500);

/// Reassembles whole frames from a remote track's RTP packets and hands them to the sink, tagged
/// with their `transceiver`; `count` hears each frame's size (and a keyframe's picture size). Asks for a keyframe
/// (PLI, at most every [`PLI_INTERVAL`]) when pictures were lost, and at the next packet after
/// `keyframe_wanted` was set (a recording starts).
pub(crate) async fn receive_media(
    track: Arc<dyn TrackRemote>,
    transceiver: usize,
    kind: MediaKind,
    role: TrackRole,
    sink: FrameSink,
    count: impl Fn(usize, Option<(u32, u32)>) + Send + 'static,
    keyframe_wanted: Arc<AtomicBool>,
) {
    let mut vp8 = Vp8Assembler::default();
    let mut last_pli: Option<Instant> = None;
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let now = Instant::now();
        let (data, keyframe, size) = match kind {
            MediaKind::Audio => {
                if pkt.payload.is_empty() {
                    continue;
                }
                (pkt.payload.clone(), true, None)
            }
            MediaKind::Video => {
                let (frame, lost) = vp8.push(&pkt);
                // A load first: a swap on every packet would cost a write while nobody asks.
                let asked = keyframe_wanted.load(Ordering::Relaxed) && keyframe_wanted.swap(false, Ordering::Relaxed);
                if asked || (lost && last_pli.is_none_or(|t| now.duration_since(t) >= PLI_INTERVAL)) {
                    last_pli = Some(now);
                    let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: pkt.header.ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
                let Some(data) = frame else {
                    continue;
                };
                let size = vp8_keyframe_size(&data);
                let keyframe = vp8_is_keyframe(&data);
                (data, keyframe, size)
            }
        };
        count(data.len(), size);
        sink(RemoteFrame {
            transceiver,
            kind,
            role,
            data,
            keyframe,
            rtp_timestamp: pkt.header.timestamp,
            received: now,
            size,
        });
    }
}

/// The VP8 payload descriptor at the start of each RTP packet's payload (RFC 7741, 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vp8Descriptor {
    /// S: the packet starts a partition.
    start: bool,
    /// PID: the partition it belongs to.
    partition: u8,
    /// Bytes of descriptor before the VP8 data.
    header_len: usize,
}

impl Vp8Descriptor {
    /// None when the payload is shorter than its descriptor says (or empty). A packet may
    /// carry as little as one byte of the frame: the webrtc crate's depacketizer refused
    /// payloads under 4 bytes, so a frame whose last packet was that small never finished,
    /// and the stream waited for the next keyframe (str0m, which the SFU forwards with,
    /// leaves such a packet when a frame is a few bytes over a multiple of its packet size:
    /// 1-50 % of one synthetic sender's pictures were lost that way at every receiver).
    fn parse(p: &[u8]) -> Option<Vp8Descriptor> {
        let first = *p.first()?;
        let mut len = 1;
        if first & 0x80 != 0 {
            // X: an extension byte saying which optional fields follow.
            let x = *p.get(1)?;
            len += 1;
            if x & 0x80 != 0 {
                // I: the picture id, 7 bits, or 15 when its first bit (M) is set.
                let id = *p.get(len)?;
                len += if id & 0x80 != 0 { 2 } else { 1 };
            }
            if x & 0x40 != 0 {
                // L: TL0PICIDX.
                len += 1;
            }
            if x & 0x30 != 0 {
                // T and/or K: one byte for TID, Y and KEYIDX.
                len += 1;
            }
        }
        (len <= p.len()).then_some(Vp8Descriptor {
            start: first & 0x10 != 0,
            partition: first & 0x07,
            header_len: len,
        })
    }
}

/// Collects the packets of one VP8 frame (same RTP timestamp, consecutive sequence numbers,
/// from the start-of-partition packet to the marker). A frame with a hole is dropped, and frames
/// are then held back until the next keyframe (a decoder cannot use them), asking for one.
#[derive(Default)]
struct Vp8Assembler {
    buf: BytesMut,
    timestamp: Option<u32>,
    next_seq: Option<u16>,
    broken: bool,
    need_keyframe: bool,
    started: bool,
}

impl Vp8Assembler {
    /// Returns a complete frame, if this packet finished one, and whether a keyframe is needed.
    fn push(&mut self, pkt: &rtc::rtp::Packet) -> (Option<Bytes>, bool) {
        if !self.started {
            self.started = true;
            self.need_keyframe = true;
        }
        let seq = pkt.header.sequence_number;
        let Some(descriptor) = Vp8Descriptor::parse(&pkt.payload) else {
            // Padding (a packet with no payload: a sender probing the path) takes a sequence
            // number and carries nothing of the picture: not a loss.
            if pkt.payload.is_empty() && self.next_seq == Some(seq) {
                self.next_seq = Some(seq.wrapping_add(1));
            }
            return (None, false);
        };
        let payload = pkt.payload.slice(descriptor.header_len..);
        let is_start = descriptor.start && descriptor.partition == 0;
        if is_start {
            // The frame before was left unfinished, or packets between it and this one were
            // lost (perhaps whole frames): a delta frame from here on refers to a picture the
            // decoder never got, so wait for a keyframe. (Before this check, the frame after a
            // lost tail was handed on and decoded against the wrong picture.)
            if self.timestamp.is_some() || self.next_seq.is_some_and(|next| next != seq) {
                self.need_keyframe = true;
            }
            self.buf.clear();
            self.broken = false;
            self.timestamp = Some(pkt.header.timestamp);
        } else if self.timestamp != Some(pkt.header.timestamp) || self.next_seq != Some(seq) {
            self.broken = true;
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if self.broken {
            self.need_keyframe = true;
            return (None, true);
        }
        self.buf.extend_from_slice(&payload);
        if !pkt.header.marker {
            return (None, false);
        }
        let frame = self.buf.split().freeze();
        self.timestamp = None;
        if frame.is_empty() {
            return (None, false);
        }
        if self.need_keyframe {
            if !vp8_is_keyframe(&frame) {
                return (None, true);
            }
            self.need_keyframe = false;
        }
        (Some(frame), false)
    }
}


#[cfg(test)]
mod tests {
    use super::Vp8Assembler;
    use bytes::Bytes;
    use rtc::rtp::header::Header;
    use rtc::rtp::Packet;

    /// A keyframe's first bytes (frame tag with the key bit clear, start code, 640x480).
    const KEY: [u8; 10] = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    /// A delta frame's first byte (key bit set).
    const DELTA: [u8; 4] = [0x11, 0x02, 0x00, 0x42];

    /// One RTP packet of a VP8 frame: the 1-byte payload descriptor (S bit on the first packet
    /// of the frame, partition 0), then `bytes`.
    fn packet(seq: u16, timestamp: u32, start: bool, marker: bool, bytes: &[u8]) -> Packet {
        let mut payload = vec![if start { 0x10 } else { 0x00 }];
        payload.extend_from_slice(bytes);
        Packet {
            header: Header { sequence_number: seq, timestamp, marker, ssrc: 7, ..Default::default() },
            payload: Bytes::from(payload),
        }
    }

    /// Pushes a frame split in `parts` packets from `seq` on; returns what the last one gave.
    fn frame(a: &mut Vp8Assembler, seq: u16, ts: u32, bytes: &[u8], parts: usize) -> (Option<Bytes>, bool) {
        let chunks: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(parts)).collect();
        let mut last = (None, false);
        for (i, chunk) in chunks.iter().enumerate() {
            last = a.push(&packet(seq.wrapping_add(i as u16), ts, i == 0, i + 1 == chunks.len(), chunk));
            if i + 1 < chunks.len() {
                assert_eq!(last, (None, false), "a frame is handed over only at its marker");
            }
        }
        last
    }

    #[test]
    fn a_keyframe_in_several_packets_comes_out_whole() {
        let mut a = Vp8Assembler::default();
        let key: Vec<u8> = KEY.iter().chain([7u8; 3000].iter()).copied().collect();
        let (out, want_key) = frame(&mut a, 100, 9000, &key, 3);
        assert_eq!(out.as_deref(), Some(&key[..]));
        assert!(!want_key);
        // The next delta frame follows.
        let (out, want_key) = frame(&mut a, 103, 12000, &DELTA, 1);
        assert_eq!(out.as_deref(), Some(&DELTA[..]));
        assert!(!want_key);
    }

    #[test]
    fn a_stream_that_starts_with_a_delta_frame_waits_for_a_keyframe_and_asks_for_one() {
        let mut a = Vp8Assembler::default();
        assert_eq!(frame(&mut a, 1, 100, &DELTA, 1), (None, true));
        assert_eq!(frame(&mut a, 2, 200, &DELTA, 1), (None, true));
        let (out, want_key) = frame(&mut a, 3, 300, &KEY, 1);
        assert_eq!(out.as_deref(), Some(&KEY[..]));
        assert!(!want_key);
    }

    #[test]
    fn a_lost_packet_drops_its_frame_and_the_deltas_after_it_until_a_keyframe() {
        let mut a = Vp8Assembler::default();
        assert!(frame(&mut a, 10, 100, &KEY, 1).0.is_some());
        // Frame at 200 in two packets, the second lost; the next frame starts at seq 13.
        assert_eq!(a.push(&packet(11, 200, true, false, &DELTA)), (None, false));
        assert_eq!(a.push(&packet(13, 300, true, true, &DELTA)), (None, true), "the gap is seen");
        assert_eq!(frame(&mut a, 14, 400, &DELTA, 1), (None, true), "deltas wait for a keyframe");
        let (out, want_key) = frame(&mut a, 15, 500, &KEY, 2);
        assert_eq!(out.as_deref(), Some(&KEY[..]));
        assert!(!want_key);
        assert!(frame(&mut a, 17, 600, &DELTA, 1).0.is_some(), "and deltas flow again");
    }

    #[test]
    fn a_packet_of_another_frame_in_the_middle_breaks_the_frame() {
        let mut a = Vp8Assembler::default();
        assert!(frame(&mut a, 1, 100, &KEY, 1).0.is_some());
        assert_eq!(a.push(&packet(2, 200, true, false, &DELTA)), (None, false));
        // Right sequence number, wrong timestamp: not this frame's continuation.
        assert_eq!(a.push(&packet(3, 999, false, true, &DELTA)), (None, true));
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut a = Vp8Assembler::default();
        let key: Vec<u8> = KEY.iter().chain([1u8; 100].iter()).copied().collect();
        let (out, _) = frame(&mut a, u16::MAX - 1, 100, &key, 4);
        assert_eq!(out.as_deref(), Some(&key[..]), "65534, 65535, 0, 1 are in order");
        assert!(frame(&mut a, 2, 200, &DELTA, 1).0.is_some());
    }

    #[test]
    fn garbage_and_empty_packets_give_nothing_and_do_not_panic() {
        let mut a = Vp8Assembler::default();
        let empty = Packet { header: Header::default(), payload: Bytes::new() };
        assert_eq!(a.push(&empty), (None, false));
        // A descriptor saying "extensions follow" with nothing after it.
        let truncated = Packet { header: Header::default(), payload: Bytes::from_static(&[0x90]) };
        assert_eq!(a.push(&truncated).0, None);
        // A start packet with its marker and no frame bytes.
        assert_eq!(a.push(&packet(5, 1, true, true, &[])).0, None);
        assert!(frame(&mut a, 6, 2, &KEY, 1).0.is_some(), "a good frame after the garbage still comes out");
    }

    #[test]
    fn a_frame_whose_last_packet_carries_one_byte_comes_out_whole() {
        // As str0m cuts a frame a byte over a multiple of its packet size: the last packet is
        // the descriptor and one byte (the webrtc crate's depacketizer refused it).
        let mut a = Vp8Assembler::default();
        let key: Vec<u8> = KEY.iter().chain([5u8; 1190].iter()).copied().collect();
        assert_eq!(a.push(&packet(40, 900, true, false, &key[..1199])), (None, false));
        let (out, want_key) = a.push(&packet(41, 900, false, true, &key[1199..]));
        assert_eq!(out.as_deref(), Some(&key[..]));
        assert!(!want_key);
        assert_eq!(frame(&mut a, 42, 1800, &DELTA, 1), (Some(Bytes::from_static(&DELTA)), false), "no keyframe wait after it");
    }

    #[test]
    fn padding_between_frames_is_not_a_loss() {
        let mut a = Vp8Assembler::default();
        assert!(frame(&mut a, 1, 100, &KEY, 1).0.is_some());
        let padding = |seq| Packet { header: Header { sequence_number: seq, timestamp: 100, ssrc: 7, ..Default::default() }, payload: Bytes::new() };
        assert_eq!(a.push(&padding(2)), (None, false));
        assert_eq!(a.push(&padding(3)), (None, false));
        assert_eq!(frame(&mut a, 4, 200, &DELTA, 1), (Some(Bytes::from_static(&DELTA)), false));
        // A packet really missing still is one.
        assert_eq!(frame(&mut a, 6, 300, &DELTA, 1), (None, true));
    }

    #[test]
    fn the_payload_descriptor_is_read_with_its_optional_fields() {
        use super::Vp8Descriptor;
        let d = |start, partition, header_len| Some(Vp8Descriptor { start, partition, header_len });
        assert_eq!(Vp8Descriptor::parse(&[0x10, 0xaa]), d(true, 0, 1));
        assert_eq!(Vp8Descriptor::parse(&[0x03, 0xaa]), d(false, 3, 1));
        // X, then I with a 15-bit picture id (M set), L and T/K: 1 + 1 + 2 + 1 + 1 bytes.
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0xf0, 0x81, 0x23, 0x07, 0x40, 0xaa]), d(true, 0, 6));
        // X with a 7-bit picture id only.
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0x80, 0x11, 0xaa]), d(true, 0, 3));
        // A descriptor and no frame bytes is well-formed (an empty start is dropped later).
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0x80, 0x11]), d(true, 0, 3));
        // Shorter than its descriptor says, or empty.
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0x80]), None);
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0x80, 0x81, 0x23]), d(true, 0, 4));
        assert_eq!(Vp8Descriptor::parse(&[0x90, 0x80, 0x81]), None);
        assert_eq!(Vp8Descriptor::parse(&[]), None);
    }
}
