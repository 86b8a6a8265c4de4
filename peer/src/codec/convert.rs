//! Pictures in the planar layouts a webview's `VideoFrame` hands out (I420, NV12) turned into
//! the I420 the VP8 encoder takes. Packed RGB pictures are turned into I420 in the page
//! (ui/js/rtc/native-media.js) before they cross IPC, which costs less than moving 2.6 times the
//! bytes (measured: 1.2 MB RGBA 12 ms, 0.46 MB I420 3 ms a picture), so that conversion lives
//! there alone.

use std::borrow::Cow;

use super::vpx::I420Frame;

/// How a picture's bytes are laid out (tightly packed: no row padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Y plane, then U and V at quarter size.
    I420,
    /// Y plane, then one plane of interleaved U,V at quarter size.
    Nv12,
}

impl PixelFormat {
    /// Reads a WebCodecs `VideoPixelFormat` name (`I420`, `NV12`).
    pub fn from_webcodecs(name: &str) -> Option<PixelFormat> {
        match name {
            "I420" => Some(PixelFormat::I420),
            "NV12" => Some(PixelFormat::Nv12),
            _ => None,
        }
    }

    /// Bytes a `width` x `height` picture takes in this layout.
    pub fn len_for(self, width: u32, height: u32) -> usize {
        I420Frame::len_for(width, height)
    }
}

/// The picture as I420 (borrowed when it is I420 already). `None` when the size is odd or
/// `data` is not `format.len_for(width, height)` bytes.
pub fn to_i420(format: PixelFormat, width: u32, height: u32, data: &[u8]) -> Option<Cow<'_, [u8]>> {
    if width % 2 != 0 || height % 2 != 0 || data.len() != format.len_for(width, height) {
        return None;
    }
    match format {
        PixelFormat::I420 => Some(Cow::Borrowed(data)),
        PixelFormat::Nv12 => Some(Cow::Owned(nv12_to_i420(width, height, data))),
    }
}

fn nv12_to_i420(width: u32, height: u32, nv12: &[u8]) -> Vec<u8> {
    let luma = width as usize * height as usize;
    let mut out = Vec::with_capacity(nv12.len());
    out.extend_from_slice(&nv12[..luma]);
    let uv = &nv12[luma..];
    out.extend(uv.iter().step_by(2));
    out.extend(uv.iter().skip(1).step_by(2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_read_by_their_webcodecs_names() {
        assert_eq!(PixelFormat::from_webcodecs("I420"), Some(PixelFormat::I420));
        assert_eq!(PixelFormat::from_webcodecs("NV12"), Some(PixelFormat::Nv12));
        assert_eq!(PixelFormat::from_webcodecs("RGBA"), None, "packed pictures are converted in the page");
        assert_eq!(PixelFormat::from_webcodecs("I420A"), None);
    }

    #[test]
    fn nv12_is_deinterleaved_and_i420_is_borrowed() {
        let nv12 = [1u8, 2, 3, 4, 10, 20];
        assert_eq!(
            &to_i420(PixelFormat::Nv12, 2, 2, &nv12).expect("nv12")[..],
            &[1, 2, 3, 4, 10, 20]
        );
        let nv12 = [0u8; 16 + 8]
            .iter()
            .enumerate()
            .map(|(i, _)| i as u8)
            .collect::<Vec<_>>();
        let i420 = to_i420(PixelFormat::Nv12, 4, 4, &nv12).expect("nv12 4x4");
        assert_eq!(&i420[16..], &[16, 18, 20, 22, 17, 19, 21, 23]);
        let same = [7u8; 6];
        assert!(matches!(
            to_i420(PixelFormat::I420, 2, 2, &same),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn odd_sizes_and_wrong_lengths_are_refused() {
        assert!(to_i420(PixelFormat::Nv12, 3, 2, &[0; 9]).is_none());
        assert!(to_i420(PixelFormat::Nv12, 2, 2, &[0; 5]).is_none());
        assert!(to_i420(PixelFormat::I420, 2, 2, &[0; 7]).is_none());
    }
}
