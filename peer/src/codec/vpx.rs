//! VP8 through Debian's libvpx (crate `env-libvpx-sys`: pre-generated bindings, pkg-config).
//!
//! The only `unsafe` code of this crate lives here: a narrow encoder and decoder whose safe
//! methods own every libvpx pointer. Each context is used by one thread at a time (the owner holds
//! it by `&mut`), which is all libvpx asks.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use crate::error::PeerError;

/// A raw picture in I420 (YUV 4:2:0 planar): a full-size Y plane, then U and V at half width and
/// half height. This is what `VideoFrame.copyTo({format: 'I420'})` gives in a webview, and what
/// libvpx takes without conversion.
#[derive(Debug, Clone, Copy)]
pub struct I420Frame<'a> {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Y, U and V planes packed one after the other, `width * height * 3 / 2` bytes.
    pub data: &'a [u8],
}

impl I420Frame<'_> {
    /// Bytes an I420 picture of this size needs.
    pub fn len_for(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    }
}

/// How the VP8 encoder is set up. Defaults fit a LAN call at 640x480 and 30 frames per second.
#[derive(Debug, Clone, Copy)]
pub struct Vp8Config {
    /// Target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Frames per second the caller means to feed (the encoder's time base).
    pub fps: u32,
    /// libvpx speed (`cpu-used`, 0..=16; higher is faster and rougher). 8 is what real-time
    /// WebRTC senders use on small machines.
    pub cpu_used: i32,
    /// Encoder threads.
    pub threads: u32,
    /// A keyframe at least this often, in frames, so a receiver that lost one recovers without
    /// asking (this engine does not act on PLI yet).
    pub keyframe_interval: u32,
}

impl Default for Vp8Config {
    fn default() -> Self {
        Vp8Config {
            bitrate_kbps: 1_200,
            fps: 30,
            cpu_used: 8,
            threads: 1,
            keyframe_interval: 90,
        }
    }
}

/// One encoded VP8 frame.
#[derive(Debug, Clone)]
pub struct Vp8Packet {
    /// The VP8 bitstream of one frame (what goes into one RTP sample).
    pub data: Vec<u8>,
    /// A keyframe: decodable on its own.
    pub keyframe: bool,
}

fn codec_error(
    ctx: &mut vpx::vpx_codec_ctx_t,
    what: &str,
    code: vpx::vpx_codec_err_t,
) -> PeerError {
    // SAFETY: `ctx` is an initialised context (or zeroed, for which libvpx returns a static
    // string); the returned C string is static or owned by the context and copied at once.
    let detail = unsafe {
        let p = vpx::vpx_codec_error(ctx);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    PeerError::Codec(format!("libvpx could not {what}: {detail} ({code:?})"))
}

/// A real-time VP8 encoder (one-pass CBR, no lag, error resilient).
pub struct Vp8Encoder {
    ctx: vpx::vpx_codec_ctx_t,
    width: u32,
    height: u32,
    pts: i64,
}

// SAFETY: the context is plain heap state owned by this value; libvpx contexts may move between
// threads as long as one thread uses them at a time, which `&mut self` guarantees.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder for pictures of `width` x `height` (both even).
    pub fn new(width: u32, height: u32, config: Vp8Config) -> Result<Vp8Encoder, PeerError> {
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
            return Err(PeerError::Codec(format!(
                "VP8 needs an even, non-zero picture size, not {width}x{height}"
            )));
        }
        // SAFETY: libvpx fills the zeroed config and context; both stay owned by this function
        // until the context moves into the returned value (libvpx keeps no pointer to `cfg`).
        unsafe {
            let iface = vpx::vpx_codec_vp8_cx();
            let mut cfg: vpx::vpx_codec_enc_cfg_t = MaybeUninit::zeroed().assume_init();
            let rc = vpx::vpx_codec_enc_config_default(iface, &mut cfg, 0);
            if rc != vpx::VPX_CODEC_OK {
                return Err(PeerError::Codec(format!(
                    "libvpx has no VP8 encoder config ({rc:?})"
                )));
            }
            cfg.g_w = width;
            cfg.g_h = height;
            cfg.g_timebase.num = 1;
            cfg.g_timebase.den = config.fps.max(1) as c_int;
            cfg.g_threads = config.threads.max(1);
            cfg.g_lag_in_frames = 0;
            cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
            cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
            cfg.rc_target_bitrate = config.bitrate_kbps;
            cfg.rc_min_quantizer = 4;
            cfg.rc_max_quantizer = 56;
            cfg.rc_undershoot_pct = 100;
            cfg.rc_overshoot_pct = 15;
            cfg.rc_buf_initial_sz = 500;
            cfg.rc_buf_optimal_sz = 600;
            cfg.rc_buf_sz = 1000;
            cfg.rc_dropframe_thresh = 0;
            cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = config.keyframe_interval.max(1);

            let mut ctx: vpx::vpx_codec_ctx_t = MaybeUninit::zeroed().assume_init();
            let rc = vpx::vpx_codec_enc_init_ver(
                &mut ctx,
                iface,
                &cfg,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            );
            if rc != vpx::VPX_CODEC_OK {
                return Err(codec_error(&mut ctx, "start a VP8 encoder", rc));
            }
            let mut encoder = Vp8Encoder {
                ctx,
                width,
                height,
                pts: 0,
            };
            let speed = config.cpu_used.clamp(-16, 16);
            let rc = vpx::vpx_codec_control_(
                &mut encoder.ctx,
                vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int,
                speed as c_int,
            );
            if rc != vpx::VPX_CODEC_OK {
                return Err(codec_error(&mut encoder.ctx, "set the VP8 speed", rc));
            }
            // Cheap and good for camera noise; off for synthetic pictures costs nothing either.
            let _ = vpx::vpx_codec_control_(
                &mut encoder.ctx,
                vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int,
                1 as c_int,
            );
            Ok(encoder)
        }
    }

    /// The picture size this encoder takes.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Encodes one picture; `force_keyframe` makes it a keyframe. Returns the frames libvpx
    /// produced (one, or none when it dropped the picture).
    pub fn encode(
        &mut self,
        frame: &I420Frame<'_>,
        force_keyframe: bool,
    ) -> Result<Vec<Vp8Packet>, PeerError> {
        if frame.width != self.width || frame.height != self.height {
            return Err(PeerError::Codec(format!(
                "this encoder takes {}x{} pictures, not {}x{}",
                self.width, self.height, frame.width, frame.height
            )));
        }
        let need = I420Frame::len_for(frame.width, frame.height);
        if frame.data.len() < need {
            return Err(PeerError::Codec(format!(
                "an I420 picture of {}x{} needs {need} bytes, got {}",
                frame.width,
                frame.height,
                frame.data.len()
            )));
        }
        let flags: vpx::vpx_enc_frame_flags_t = if force_keyframe {
            vpx::VPX_EFLAG_FORCE_KF as _
        } else {
            0
        };
        let mut out = Vec::new();
        // SAFETY: `vpx_img_wrap` only records pointers into `frame.data`, which outlives the
        // `vpx_codec_encode` call (libvpx copies what it needs before returning, lag is 0). The
        // packets returned by `vpx_codec_get_cx_data` stay valid until the next encode call, and
        // are copied out before it.
        unsafe {
            let mut image: vpx::vpx_image_t = MaybeUninit::zeroed().assume_init();
            let wrapped = vpx::vpx_img_wrap(
                &mut image,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width,
                self.height,
                1,
                frame.data.as_ptr() as *mut u8,
            );
            if wrapped.is_null() {
                return Err(PeerError::Codec(
                    "libvpx could not wrap the I420 picture".into(),
                ));
            }
            let rc = vpx::vpx_codec_encode(
                &mut self.ctx,
                &image,
                self.pts,
                1,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            );
            self.pts += 1;
            if rc != vpx::VPX_CODEC_OK {
                return Err(codec_error(&mut self.ctx, "encode a picture", rc));
            }
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            loop {
                let pkt = vpx::vpx_codec_get_cx_data(&mut self.ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    continue;
                }
                let f = (*pkt).data.frame;
                let bytes = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize);
                out.push(Vp8Packet {
                    data: bytes.to_vec(),
                    keyframe: (f.flags & vpx::VPX_FRAME_IS_KEY) != 0,
                });
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed exactly once.
        unsafe {
            vpx::vpx_codec_destroy(&mut self.ctx);
        }
    }
}

/// A decoded picture, copied out of libvpx as tightly packed I420.
#[derive(Debug, Clone)]
pub struct DecodedPicture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y, U, V planes, packed (`I420Frame::len_for(width, height)` bytes).
    pub data: Vec<u8>,
}

impl DecodedPicture {
    /// The luma plane.
    pub fn luma(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }
}

/// A VP8 decoder (used by tests and the CLI to prove that real pictures arrive; the app decodes
/// in the webview with WebCodecs instead).
pub struct Vp8Decoder {
    ctx: vpx::vpx_codec_ctx_t,
}

// SAFETY: as for the encoder: owned heap state, used by one thread at a time through `&mut`.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A new decoder.
    pub fn new() -> Result<Vp8Decoder, PeerError> {
        // SAFETY: libvpx initialises the zeroed context; it moves into the returned value.
        unsafe {
            let mut ctx: vpx::vpx_codec_ctx_t = MaybeUninit::zeroed().assume_init();
            let rc = vpx::vpx_codec_dec_init_ver(
                &mut ctx,
                vpx::vpx_codec_vp8_dx(),
                ptr::null(),
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            );
            if rc != vpx::VPX_CODEC_OK {
                return Err(codec_error(&mut ctx, "start a VP8 decoder", rc));
            }
            Ok(Vp8Decoder { ctx })
        }
    }

    /// Decodes one VP8 frame; returns the picture it produced, if any.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<DecodedPicture>, PeerError> {
        if data.is_empty() {
            return Ok(None);
        }
        // SAFETY: `data` is valid for the call; the image returned by `vpx_codec_get_frame` is
        // owned by the context and valid until the next decode, and is copied out before then.
        // Plane pointers and strides come from libvpx and cover `d_h` rows of `d_w` bytes (luma)
        // and half that (chroma).
        unsafe {
            let rc = vpx::vpx_codec_decode(
                &mut self.ctx,
                data.as_ptr(),
                data.len() as _,
                ptr::null_mut(),
                0,
            );
            if rc != vpx::VPX_CODEC_OK {
                return Err(codec_error(&mut self.ctx, "decode a frame", rc));
            }
            let mut iter: vpx::vpx_codec_iter_t = ptr::null();
            let mut last = None;
            loop {
                let img = vpx::vpx_codec_get_frame(&mut self.ctx, &mut iter);
                if img.is_null() {
                    break;
                }
                let img = &*img;
                if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 {
                    continue;
                }
                let (w, h) = (img.d_w as usize, img.d_h as usize);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
                for (plane, pw, ph) in [(0usize, w, h), (1, cw, ch), (2, cw, ch)] {
                    let base = img.planes[plane];
                    let stride = img.stride[plane] as isize;
                    for row in 0..ph {
                        let p = base.offset(row as isize * stride);
                        out.extend_from_slice(std::slice::from_raw_parts(p, pw));
                    }
                }
                last = Some(DecodedPicture {
                    width: img.d_w,
                    height: img.d_h,
                    data: out,
                });
            }
            Ok(last)
        }
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed exactly once.
        unsafe {
            vpx::vpx_codec_destroy(&mut self.ctx);
        }
    }
}

/// The picture size a VP8 keyframe announces (RFC 6386 §9.1), read without decoding: lets the
/// app size its canvas, and the stats report a resolution, before any decoder runs.
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 {
        return None;
    }
    let is_key = frame[0] & 0x01 == 0;
    if !is_key || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((u32::from(w), u32::from(h)))
}

/// True when `frame` is a VP8 keyframe (bit 0 of the frame tag is 0).
pub fn vp8_is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_round_trip_keeps_size_and_keyframe_header() {
        let mut pattern = crate::testsrc::TestPattern::new(320, 240);
        let mut enc = Vp8Encoder::new(320, 240, Vp8Config::default()).expect("encoder");
        let mut dec = Vp8Decoder::new().expect("decoder");
        let mut decoded = 0;
        for i in 0..5 {
            let data = pattern.next_frame(i).to_vec();
            for p in enc
                .encode(
                    &I420Frame {
                        width: 320,
                        height: 240,
                        data: &data,
                    },
                    i == 3,
                )
                .expect("encode")
            {
                if i == 0 || i == 3 {
                    assert!(p.keyframe && vp8_is_keyframe(&p.data));
                    assert_eq!(vp8_keyframe_size(&p.data), Some((320, 240)));
                }
                let pic = dec.decode(&p.data).expect("decode").expect("a picture");
                assert_eq!(
                    (pic.width, pic.height, pic.data.len()),
                    (320, 240, I420Frame::len_for(320, 240))
                );
                decoded += 1;
            }
        }
        assert_eq!(decoded, 5);
        assert!(Vp8Encoder::new(321, 240, Vp8Config::default()).is_err());
    }
}
