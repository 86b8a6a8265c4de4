//! EBML, the binary format Matroska and WebM are made of: elements of an ID, a size and a body,
//! sizes as variable-length integers. Only what a WebM writer needs, building into a `Vec<u8>`.
//!
//! Every master element gets an 8-byte size, filled in when its children are done: the offsets
//! of fields inside it stay fixed while it grows, so a field can be patched later in place (the
//! picture size once the first keyframe says it), and an unfinished element can say "unknown
//! size" (what live streams and MediaRecorder write) and still be read.

/// Element IDs used here (Matroska's, as they are written: the marker bits are part of them).
pub(crate) mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;

    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;

    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
}

/// "Size unknown" as an 8-byte size: the element runs until something that cannot be inside it.
pub(crate) const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The largest size an 8-byte size can say (all ones is "unknown").
pub(crate) const MAX_SIZE8: u64 = (1 << 56) - 2;

/// `size` as an 8-byte variable-length integer (callers keep it below [`MAX_SIZE8`]).
pub(crate) fn size8(size: u64) -> [u8; 8] {
    let mut out = size.min(MAX_SIZE8).to_be_bytes();
    out[0] = 0x01;
    out
}

/// `size` as the shortest variable-length integer (1 to 8 bytes).
fn size_vint(size: u64, out: &mut Vec<u8>) {
    for len in 1..8u32 {
        // A length-`len` integer holds 7 * len bits; all ones is reserved for "unknown".
        let max = (1u64 << (7 * len)) - 1;
        if size < max {
            let marked = size | (1u64 << (7 * len));
            out.extend_from_slice(&marked.to_be_bytes()[(8 - len as usize)..]);
            return;
        }
    }
    out.extend_from_slice(&size8(size));
}

/// The bytes an ID is written as (its leading zero bytes dropped).
fn push_id(id: u32, out: &mut Vec<u8>) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// An element tree being written.
#[derive(Default)]
pub(crate) struct Ebml {
    pub buf: Vec<u8>,
}

impl Ebml {
    /// An element's ID and a size of `len`.
    pub fn header(&mut self, id: u32, len: u64) {
        push_id(id, &mut self.buf);
        size_vint(len, &mut self.buf);
    }

    /// An unsigned integer in the fewest bytes.
    pub fn uint(&mut self, id: u32, value: u64) {
        let bytes = value.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
        self.bytes(id, &bytes[skip..]);
    }

    /// An unsigned integer in exactly `width` bytes; returns where its bytes start, for
    /// [`patch_uint`] later.
    pub fn uint_fixed(&mut self, id: u32, value: u64, width: usize) -> usize {
        self.header(id, width as u64);
        let at = self.buf.len();
        self.buf.extend_from_slice(&value.to_be_bytes()[8 - width..]);
        at
    }

    /// An 8-byte float.
    pub fn float(&mut self, id: u32, value: f64) {
        self.bytes(id, &value.to_be_bytes());
    }

    /// A string (ASCII or UTF-8).
    pub fn string(&mut self, id: u32, value: &str) {
        self.bytes(id, value.as_bytes());
    }

    /// Binary data.
    pub fn bytes(&mut self, id: u32, value: &[u8]) {
        self.header(id, value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    /// A master element holding what `children` writes (with an 8-byte size, see the module).
    pub fn master(&mut self, id: u32, children: impl FnOnce(&mut Ebml)) {
        push_id(id, &mut self.buf);
        let size_at = self.buf.len();
        self.buf.extend_from_slice(&UNKNOWN_SIZE);
        children(self);
        let len = (self.buf.len() - size_at - 8) as u64;
        self.buf[size_at..size_at + 8].copy_from_slice(&size8(len));
    }

    /// A Void element (padding readers skip) exactly `total` bytes long, `total` >= 2.
    pub fn void(&mut self, total: usize) {
        push_id(id::VOID, &mut self.buf);
        // One size byte up to 126 bytes of body, else an 8-byte size.
        if total <= 128 {
            let body = total.saturating_sub(2);
            size_vint(body as u64, &mut self.buf);
            self.buf.resize(self.buf.len() + body, 0);
        } else {
            let body = total - 1 - 8;
            self.buf.extend_from_slice(&size8(body as u64));
            self.buf.resize(self.buf.len() + body, 0);
        }
    }
}

/// `value` as `width` big-endian bytes (the body of a [`Ebml::uint_fixed`] field).
pub(crate) fn patch_uint(value: u64, width: usize) -> Vec<u8> {
    value.to_be_bytes()[8 - width..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_fewest_bytes_and_never_say_unknown_by_accident() {
        let enc = |n: u64| {
            let mut v = Vec::new();
            size_vint(n, &mut v);
            v
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        assert_eq!(enc(127), [0x40, 0x7F], "0xFF alone would mean unknown");
        assert_eq!(enc(16_382), [0x7F, 0xFE]);
        assert_eq!(enc(16_383), [0x20, 0x3F, 0xFF]);
        assert_eq!(size8(5), [0x01, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn ids_keep_their_marker_bits_and_masters_their_length() {
        let mut e = Ebml::default();
        e.master(id::TRACKS, |e| e.uint(id::TRACK_NUMBER, 1));
        assert_eq!(e.buf, [0x16, 0x54, 0xAE, 0x6B, 0x01, 0, 0, 0, 0, 0, 0, 3, 0xD7, 0x81, 0x01]);
    }

    #[test]
    fn voids_fill_exactly_the_room_asked_for() {
        for total in [2, 11, 127, 128, 129, 200] {
            let mut e = Ebml::default();
            e.void(total);
            assert_eq!(e.buf.len(), total, "{total}");
        }
    }
}
