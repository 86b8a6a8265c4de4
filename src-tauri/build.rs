//! tauri-build: embeds the config, and turns the app's own commands into permissions
//! (`allow-<command>`) so that the capabilities in `capabilities/` grant exactly the commands the
//! UI uses and nothing else. Generated schemas land in `gen/schemas` (`gen` is a link to the
//! repository's top-level `gen/`).

/// Every command the UI may call; each needs a grant in a capability file.
const COMMANDS: &[&str] = &[
    "app_info",
    "save_settings",
    "start_hosting",
    "stop_hosting",
    "answer_knock",
    "prepare_join",
    "signaling_open",
    "signaling_send",
    "signaling_close",
    // Calls whose connections run in Rust (webviews without RTCPeerConnection).
    "native_call_start",
    "native_call_attach",
    "native_call_chat",
    "native_call_mute",
    "native_call_stats",
    "native_call_video",
    "native_call_audio",
    "native_call_hangup",
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
