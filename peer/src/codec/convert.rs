//! Pictures in the layouts a webview hands out (`VideoFrame.format`: I420, NV12, RGBA, RGBX,
//! BGRA, BGRX) turned into the I420 the VP8 encoder takes. BT.601 video range, as browsers'
//! encoders assume for camera pictures.

use std::borrow::Cow;

use super::vpx::I420Frame;

/// How a picture's bytes are laid out (tightly packed: no row padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Y plane, then U and V at quarter size.
    I420,
    /// Y plane, then one plane of interleaved U,V at quarter size.
    Nv12,
    /// 4 bytes a pixel: R, G, B, then alpha or padding (RGBA and RGBX).
    Rgba,
    /// 4 bytes a pixel: B, G, R, then alpha or padding (BGRA and BGRX).
    Bgra,
}

impl PixelFormat {
    /// Reads a WebCodecs `VideoPixelFormat` name (`I420`, `NV12`, `RGBA`, `RGBX`, `BGRA`,
    /// `BGRX`).
    pub fn from_webcodecs(name: &str) -> Option<PixelFormat> {
        match name {
            "I420" => Some(PixelFormat::I420),
            "NV12" => Some(PixelFormat::Nv12),
            "RGBA" | "RGBX" => Some(PixelFormat::Rgba),
            "BGRA" | "BGRX" => Some(PixelFormat::Bgra),
            _ => None,
        }
    }

    /// Bytes a `width` x `height` picture takes in this layout.
    pub fn len_for(self, width: u32, height: u32) -> usize {
        match self {
            PixelFormat::I420 | PixelFormat::Nv12 => I420Frame::len_for(width, height),
            PixelFormat::Rgba | PixelFormat::Bgra => width as usize * height as usize * 4,
        }
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
        PixelFormat::Rgba => Some(Cow::Owned(packed_to_i420::<0, 2>(width, height, data))),
        PixelFormat::Bgra => Some(Cow::Owned(packed_to_i420::<2, 0>(width, height, data))),
    }
}

/// Converts RGBA pixels (what a canvas's `getImageData` gives) to I420. `width` and `height`
/// must be even.
pub fn rgba_to_i420(width: u32, height: u32, rgba: &[u8]) -> Option<Vec<u8>> {
    if width % 2 != 0 || height % 2 != 0 || rgba.len() < width as usize * height as usize * 4 {
        return None;
    }
    Some(packed_to_i420::<0, 2>(width, height, rgba))
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

/// 4-byte pixels with red at byte `R` and blue at byte `B` (green at 1).
fn packed_to_i420<const R: usize, const B: usize>(width: u32, height: u32, px: &[u8]) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut out = vec![0u8; I420Frame::len_for(width, height)];
    let (y_plane, chroma) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    for (y_px, src) in y_plane.iter_mut().zip(px.chunks_exact(4)) {
        let (r, g, b) = (i32::from(src[R]), i32::from(src[1]), i32::from(src[B]));
        *y_px = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(0, 255) as u8;
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let (mut r, mut g, mut b) = (0i32, 0i32, 0i32);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let p = ((2 * y + dy) * w + 2 * x + dx) * 4;
                r += i32::from(px[p + R]);
                g += i32::from(px[p + 1]);
                b += i32::from(px[p + B]);
            }
            let (r, g, b) = (r / 4, g / 4, b / 4);
            u_plane[y * w / 2 + x] =
                (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            v_plane[y * w / 2 + x] =
                (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_read_by_their_webcodecs_names() {
        assert_eq!(PixelFormat::from_webcodecs("RGBX"), Some(PixelFormat::Rgba));
        assert_eq!(PixelFormat::from_webcodecs("BGRA"), Some(PixelFormat::Bgra));
        assert_eq!(PixelFormat::from_webcodecs("NV12"), Some(PixelFormat::Nv12));
        assert_eq!(PixelFormat::from_webcodecs("I420A"), None);
    }

    #[test]
    fn colours_land_where_they_belong_whatever_the_byte_order() {
        // A 2x2 picture of pure red.
        let rgba = [255u8, 0, 0, 255].repeat(4);
        let bgra = [0u8, 0, 255, 255].repeat(4);
        let a = to_i420(PixelFormat::Rgba, 2, 2, &rgba).expect("rgba");
        let b = to_i420(PixelFormat::Bgra, 2, 2, &bgra).expect("bgra");
        assert_eq!(a, b);
        // BT.601 red: Y 82, U 90, V 240.
        assert_eq!(&a[..], &[82, 82, 82, 82, 90, 240]);
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
        assert!(to_i420(PixelFormat::Rgba, 3, 2, &[0; 24]).is_none());
        assert!(to_i420(PixelFormat::Rgba, 2, 2, &[0; 15]).is_none());
        assert!(to_i420(PixelFormat::I420, 2, 2, &[0; 7]).is_none());
    }

    #[test]
    fn rgba_white_and_black_map_to_video_range() {
        let mut rgba = vec![255u8; 4 * 4 * 4];
        rgba[..16].fill(0);
        let i420 = rgba_to_i420(4, 4, &rgba).expect("converts");
        assert_eq!(i420[0], 16);
        assert_eq!(i420[15], 235);
        assert_eq!(i420.len(), 24);
        assert!(rgba_to_i420(3, 4, &rgba).is_none());
    }
}
