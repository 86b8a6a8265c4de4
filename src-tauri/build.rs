//! tauri-build: embeds the config, and turns the app's own commands into permissions
//! (`allow-<command>`) so that the capabilities in `capabilities/` grant exactly the commands the
//! UI uses and nothing else. Generated schemas land in `gen/schemas` (`gen` is a link to the
//! repository's top-level `gen/`).

/// Every command the UI may call; each needs a grant in a capability file.
const COMMANDS: &[&str] = &[
    "app_info",
    "save_settings",
    "save_recording",
    // Files sent in the call, saved in Downloads (commands/files.rs).
    "file_save_open",
    "file_save_append",
    "file_save_finish",
    "file_save_abort",
    "start_hosting",
    "stop_hosting",
    "answer_knock",
    "host_record",
    "host_add_room",
    "host_remove_room",
    "qr_code",
    "scan_network",
    "forget_host",
    "prepare_join",
    "signaling_open",
    "signaling_send",
    "signaling_close",
    // RTCPeerConnection backed by Rust (webviews without WebRTC).
    "rtc_open",
    "rtc_op",
    "rtc_close",
    "rtc_source_open",
    "rtc_source_close",
    "rtc_source_stats",
    "rtc_source_video",
    "rtc_source_audio",
    // Files in the call over those connections: bytes sent, and received straight into a file.
    "rtc_channel_send",
    "rtc_channel_save",
    "rtc_channel_digest",
    // Recording in Rust from those connections (WebKitGTK cannot record without fmp4).
    "rtc_record_start",
    "rtc_record_stop",
];

fn main() {
    println!("cargo:rerun-if-changed=../ui");
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        // A build script reports failure by panicking; the message says what is wrong.
        panic!("tauri-build failed: {e:#}");
    }
}
