//! A str0m camera that publishes simulcast VP8 layers (listed low to high, each a test pattern of
//! its own size, encoded by its own libvpx encoder), as Chromium does. Each layer can be switched
//! off and on (as a browser does when told a layer is not needed), and each makes a keyframe
//! when the SFU asks for one on it (and only then).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lancall_peer::codec::{I420Frame, Vp8Config, Vp8Encoder};
use lancall_peer::testsrc::TestPattern;
use lancall_sfu::{ParticipantId, Sfu};
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::Event;

use super::str0m_peer::Str0mPeer;

/// One layer's encoder and test pattern.
struct Layer {
    rid: Rid,
    size: (u32, u32),
    pattern: TestPattern,
    encoder: Vp8Encoder,
    /// Sending.
    on: Arc<AtomicBool>,
    /// A keyframe was asked for.
    keyframe: Arc<AtomicBool>,
}

/// A running simulcast camera.
pub struct SimulcastCamera {
    pub peer: Str0mPeer,
    pub id: ParticipantId,
    /// Its camera's mid (in its own session).
    pub mid: String,
    /// Per layer (same order as given): sending or not.
    pub on: Vec<Arc<AtomicBool>>,
    /// Per layer: keyframes the SFU asked for.
    pub keyframes_asked: Arc<Mutex<Vec<u64>>>,
}

impl SimulcastCamera {
    /// Joins `sfu` as `name`, publishing `layers` (rid and picture size, low to high) at 25
    /// pictures a second.
    pub async fn join(
        sfu: &Arc<Sfu>,
        name: &str,
        layers: &[(&'static str, (u32, u32))],
    ) -> SimulcastCamera {
        let layers: Vec<(&'static str, (u32, u32))> = layers.to_vec();
        let on: Vec<Arc<AtomicBool>> = layers
            .iter()
            .map(|_| Arc::new(AtomicBool::new(true)))
            .collect();
        let asked: Vec<Arc<AtomicBool>> = layers
            .iter()
            .map(|_| Arc::new(AtomicBool::new(true)))
            .collect();
        let keyframes_asked: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; layers.len()]));
        let mid: Arc<Mutex<Option<Mid>>> = Arc::default();
        let mut encoders: Vec<Layer> = layers
            .iter()
            .zip(on.iter().zip(&asked))
            .map(|((rid, size), (on, keyframe))| Layer {
                rid: Rid::from(*rid),
                size: *size,
                pattern: TestPattern::new(size.0, size.1),
                encoder: Vp8Encoder::new(
                    size.0,
                    size.1,
                    Vp8Config {
                        fps: 25,
                        // 180 lines: 100 kbit/s; 360: 250.
                        bitrate_kbps: size.1 * size.1 / 600 + 45,
                        keyframe_interval: 1_000_000,
                        ..Vp8Config::default()
                    },
                )
                .expect("an encoder"),
                on: on.clone(),
                keyframe: keyframe.clone(),
            })
            .collect();
        let (mid2, mid3, rids, counts) = (
            mid.clone(),
            mid.clone(),
            layers.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            keyframes_asked.clone(),
        );
        let mut frame = 0u64;
        let mut next_frame = Instant::now();
        let (peer, id) = Str0mPeer::join(
            sfu,
            name,
            move |rtc| {
                let mut simulcast = Simulcast::new();
                for rid in &rids {
                    simulcast.add_send_layer(SimulcastLayer::new(rid));
                }
                let mut change = rtc.sdp_api();
                let m = change.add_media(
                    MediaKind::Video,
                    Direction::SendOnly,
                    Some("cam".into()),
                    None,
                    Some(simulcast),
                );
                *mid2.lock().expect("mid") = Some(m);
                change.apply().expect("an offer")
            },
            move |_, e| {
                if let Event::KeyframeRequest(req) = e {
                    let mut counts = counts.lock().expect("counts");
                    for (i, layer) in asked.iter().enumerate() {
                        let rid = Rid::from(layers[i].0);
                        if req.rid.is_none() || req.rid == Some(rid) {
                            layer.store(true, Ordering::Relaxed);
                            counts[i] += 1;
                        }
                    }
                }
            },
            move |rtc, now| {
                if now < next_frame {
                    return;
                }
                next_frame = now + Duration::from_millis(40);
                let Some(mid) = *mid3.lock().expect("mid") else {
                    return;
                };
                let Some(pt) = rtc
                    .writer(mid)
                    .and_then(|w| w.payload_params().next().map(|p| p.pt()))
                else {
                    return;
                };
                let rtp_time = MediaTime::new(frame * 3_600, Frequency::NINETY_KHZ);
                for layer in &mut encoders {
                    if !layer.on.load(Ordering::Relaxed) {
                        continue;
                    }
                    let data = layer.pattern.next_frame(frame as u32 * 40).to_vec();
                    let picture = I420Frame {
                        width: layer.size.0,
                        height: layer.size.1,
                        data: &data,
                    };
                    let key = layer.keyframe.swap(false, Ordering::Relaxed);
                    for packet in layer.encoder.encode(&picture, key).unwrap_or_default() {
                        if let Some(w) = rtc.writer(mid) {
                            let _ = w.rid(layer.rid).write(pt, now, rtp_time, packet.data);
                        }
                    }
                }
                frame += 1;
            },
        )
        .await;
        let mid = mid
            .lock()
            .expect("mid")
            .map(|m| m.to_string())
            .expect("the camera's mid");
        SimulcastCamera {
            peer,
            id,
            mid,
            on,
            keyframes_asked,
        }
    }
}
