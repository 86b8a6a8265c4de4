//! Opus through Debian's libopus (crate `opus`, linked with pkg-config).
//!
//! The engine sends mono 48 kHz audio in 20 ms frames: what WebRTC peers expect by default, and
//! what a webview's `AudioEncoder({codec: 'opus', sampleRate: 48000, numberOfChannels: 1})`
//! produces, so the app may hand in its own Opus packets instead of PCM.

use ::opus as libopus;

use crate::error::PeerError;

/// Samples per second of the audio the engine takes and gives.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Channels of the audio the engine takes and gives.
pub const AUDIO_CHANNELS: usize = 1;
/// Samples in one 20 ms frame at 48 kHz, mono.
pub const AUDIO_FRAME_SAMPLES: usize = 960;

/// An Opus encoder for 20 ms mono frames.
pub struct OpusEncoder {
    inner: libopus::Encoder,
}

impl OpusEncoder {
    /// A VoIP-tuned encoder at `bitrate` bit/s, with in-band FEC (peers offer `useinbandfec=1`).
    pub fn new(bitrate: i32) -> Result<OpusEncoder, PeerError> {
        let mut inner = libopus::Encoder::new(
            AUDIO_SAMPLE_RATE,
            libopus::Channels::Mono,
            libopus::Application::Voip,
        )
        .map_err(|e| PeerError::Codec(format!("libopus could not start an encoder: {e}")))?;
        inner
            .set_bitrate(libopus::Bitrate::Bits(bitrate))
            .map_err(|e| PeerError::Codec(format!("libopus refused bitrate {bitrate}: {e}")))?;
        let _ = inner.set_inband_fec(true);
        Ok(OpusEncoder { inner })
    }

    /// Encodes exactly one 20 ms frame (`AUDIO_FRAME_SAMPLES` samples).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, PeerError> {
        if pcm.len() != AUDIO_FRAME_SAMPLES {
            return Err(PeerError::Codec(format!(
                "an Opus frame here is {AUDIO_FRAME_SAMPLES} samples (20 ms at 48 kHz, mono), got {}",
                pcm.len()
            )));
        }
        self.inner
            .encode_vec(pcm, 1500)
            .map_err(|e| PeerError::Codec(format!("libopus could not encode: {e}")))
    }
}

/// An Opus decoder to mono 48 kHz (tests and the CLI; the app decodes with WebCodecs).
pub struct OpusDecoder {
    inner: libopus::Decoder,
    buf: Vec<i16>,
}

impl OpusDecoder {
    /// A new decoder.
    pub fn new() -> Result<OpusDecoder, PeerError> {
        let inner = libopus::Decoder::new(AUDIO_SAMPLE_RATE, libopus::Channels::Mono)
            .map_err(|e| PeerError::Codec(format!("libopus could not start a decoder: {e}")))?;
        Ok(OpusDecoder {
            inner,
            buf: vec![0; 5760],
        })
    }

    /// Decodes one packet into samples (valid until the next call).
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], PeerError> {
        let n = self
            .inner
            .decode(packet, &mut self.buf, false)
            .map_err(|e| PeerError::Codec(format!("libopus could not decode: {e}")))?;
        Ok(&self.buf[..n])
    }
}

/// Root-mean-square level of `pcm` relative to full scale (0.0 silence .. 1.0).
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / pcm.len() as f64).sqrt() / 32768.0
}
