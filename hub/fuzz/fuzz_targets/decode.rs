//! Fuzzes what a client can send: the message decoder, and then the hub acting on whatever
//! decodes, with a second peer in the room so that joins, signals and leaves really happen.
//! Run: `cd hub/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run decode seeds -- -max_total_time=300`
#![no_main]

use lancall_hub::hub::{Hub, HubConfig, RoomSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = lancall_hub::protocol::decode(text);

    let hub = Hub::new(HubConfig { queue_len: 8, ..HubConfig::default() });
    let _ = hub.create_room(RoomSpec { name: "call".into(), open: true, capacity: Some(2), token: None });
    let Ok((mut other, _other_rx)) = hub.connect() else { return };
    other.handle_text(r#"{"type":"join","room":"call","name":"other"}"#);
    let Ok((mut client, mut rx)) = hub.connect() else { return };
    // Each line is one frame, so one input can join, then signal, then leave.
    for frame in text.split('\n') {
        client.handle_text(frame);
    }
    while let Some(reply) = rx.try_recv() {
        // Everything the hub says must be a JSON object with a type.
        let v: serde_json::Value = serde_json::from_str(reply.as_str()).expect("hub replies are JSON");
        assert!(v["type"].is_string());
    }
});
