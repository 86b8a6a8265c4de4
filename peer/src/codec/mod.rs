//! Codecs: VP8 (libvpx) and Opus (libopus), both from Debian's packages.

pub mod convert;
pub mod opus;
pub mod vpx;

pub use self::convert::{to_i420, PixelFormat};
pub use self::opus::{
    OpusDecoder, OpusEncoder, AUDIO_CHANNELS, AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE,
};
pub use self::vpx::{
    vp8_is_keyframe, vp8_keyframe_size, DecodedPicture, I420Frame, Vp8Config, Vp8Decoder,
    Vp8Encoder, Vp8Packet,
};
