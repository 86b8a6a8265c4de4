//! lancall, the app: a thin Tauri shell around the host runtime in `lancall-hub`.
//!
//! - The window shows `ui/` (the same call UI browsers get) plus the app's home screen
//!   (`ui/js/page/home.js`): hosts found by mDNS, hosting, joining by link.
//! - Hosting runs the hub, its certificates and the mDNS advertisement in this process
//!   ([`hosting`]).
//! - The webview's signaling goes through IPC to [`signaling`]: in-process to this device's hub,
//!   or over WSS to another host whose CA fingerprint is pinned. The webview itself never opens a
//!   TLS connection to a host.
//! - Camera and microphone are granted to the app's own pages only ([`permissions`]), with the
//!   WebKitGTK settings they need on Linux ([`webview`]); Android asks at run time and holds a
//!   Wi-Fi multicast lock while browsing or hosting ([`netlock`]).

pub mod commands;
pub mod error;
pub mod finder;
pub mod hosting;
pub mod known_hosts;
pub mod netlock;
pub mod options;
pub mod permissions;
pub mod recording;
pub mod settings;
pub mod signaling;
pub mod state;
pub mod webview;

use std::sync::{Arc, Mutex};

use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};
use url::Url;

use crate::finder::FinderStatus;
use crate::options::AppOptions;
use crate::settings::Settings;
use crate::state::{lock, AppState};

/// The main window's label.
pub const MAIN_WINDOW: &str = "main";

/// Events the app sends to its webview.
pub mod events {
    /// The list of hosts on the network changed: `HostEntry[]`.
    pub const HOSTS: &str = "lancall:hosts";
    /// Discovery's state changed: `FinderStatus`.
    pub const FINDER: &str = "lancall:finder";
    /// Someone joined, left or knocked on this device's call: `Presence`.
    pub const PRESENCE: &str = "lancall:presence";
    /// Hosting started or stopped: `HostingView | null`.
    pub const HOSTING: &str = "lancall:hosting";
    /// A signaling session's `open`, `message` or `close`: `SessionEvent`.
    pub const SIGNALING: &str = "lancall:signaling";
}

/// Whether the webview may show `url`: the app's own pages (and the blank page before them).
pub fn is_app_url(url: &Url) -> bool {
    permissions::is_app_origin(url) || url.as_str() == "about:blank"
}

fn start_finder(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let _multicast = app.state::<netlock::NetLock<tauri::Wry>>().acquire("browsing");
        let own_id = lock(&state.settings).host_id.clone();
        let set_status = |status: FinderStatus| {
            *lock(&state.finder) = status.clone();
            let _ = app.emit_to(MAIN_WINDOW, events::FINDER, status);
        };
        set_status(FinderStatus::On);
        // Nothing heard by mDNS after a few seconds: the network may not carry multicast
        // (client isolation, a guest network): search the subnets once.
        let auto = app.clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(AUTO_SCAN_AFTER).await;
            let state = auto.state::<AppState>();
            if lock(&state.hosts).is_empty() {
                log::info!("nothing found by mDNS in {AUTO_SCAN_AFTER:?}: searching this network");
                let _ = scan_network(&auto).await;
            }
        });
        let result = finder::browse(&state.options.interfaces, |hosts| {
            *lock(&state.mdns_hosts) = hosts;
            publish_hosts(&app, &own_id);
        })
        .await;
        if let Err(e) = result {
            log::warn!("not looking for hosts on the network: {e}");
            set_status(FinderStatus::Failed {
                message: format!("Cannot look for calls on this network ({e}). You can still join by link or address."),
            });
        }
    });
}

/// How long mDNS may find nothing before the app searches the subnets by itself.
const AUTO_SCAN_AFTER: std::time::Duration = std::time::Duration::from_secs(4);

/// The merged list of hosts (mDNS's and the scan's) into the state and to the page.
fn publish_hosts(app: &AppHandle, own_id: &str) {
    let state = app.state::<AppState>();
    let all = lancall_hub::discovery::merge(lock(&state.mdns_hosts).iter().chain(lock(&state.scanned).iter()).cloned().collect());
    let hosts = finder::entries(&all, own_id, &lock(&state.known));
    *lock(&state.hosts) = hosts.clone();
    let _ = app.emit_to(MAIN_WINDOW, events::HOSTS, hosts);
}

/// The list again, with what the app now knows (a host joined or forgotten).
pub(crate) fn republish_hosts(app: &AppHandle) {
    let own_id = lock(&app.state::<AppState>().settings).host_id.clone();
    publish_hosts(app, &own_id);
}

/// Searches this device's subnets for lancall hosts (one search at a time) and lists what it
/// finds beside mDNS's. Not when discovery is off (`LANCALL_NO_MDNS`): nothing is sent then.
pub(crate) async fn scan_network(app: &AppHandle) -> Result<finder::ScanReport, error::AppError> {
    use std::sync::atomic::Ordering;
    let state = app.state::<AppState>();
    if !state.options.mdns {
        return Err(error::AppError::BadAddress(
            "Discovery is off on this device (LANCALL_NO_MDNS): join by link, QR code or address.".into(),
        ));
    }
    if state.scanning.swap(true, Ordering::SeqCst) {
        return Err(error::AppError::BadAddress("A search is already under way.".into()));
    }
    let (found, report) = finder::scan(&state.options.interfaces, state.options.scan_port).await;
    state.scanning.store(false, Ordering::SeqCst);
    *lock(&state.scanned) = found;
    let own_id = lock(&state.settings).host_id.clone();
    publish_hosts(app, &own_id);
    Ok(report)
}

/// At most `burst` records in any `window`: the rest are dropped.
struct Burst {
    window: std::time::Duration,
    burst: u32,
    state: Mutex<Option<(std::time::Instant, u32)>>,
}

impl Burst {
    const fn new(window: std::time::Duration, burst: u32) -> Burst {
        Burst { window, burst, state: Mutex::new(None) }
    }

    fn allow(&self, now: std::time::Instant) -> bool {
        let mut state = lock(&self.state);
        match &mut *state {
            Some((start, n)) if now.duration_since(*start) < self.window => {
                *n += 1;
                *n <= self.burst
            }
            _ => {
                *state = Some((now, 1));
                true
            }
        }
    }
}

/// webrtc-rs's connection driver logs an error for every packet it cannot send: hundreds a second
/// while the network is down (measured with a cut link). Five of those every ten seconds say it.
fn not_a_flood(metadata: &log::Metadata) -> bool {
    static DRIVER: Burst = Burst::new(std::time::Duration::from_secs(10), 5);
    metadata.target() != "webrtc::peer_connection::driver" || DRIVER.allow(std::time::Instant::now())
}

fn log_plugin(level: log::LevelFilter) -> tauri::plugin::TauriPlugin<tauri::Wry> {
    use tauri_plugin_log::{Target, TargetKind};
    // webrtc-rs (the Rust-backed peer connections) warns about every DTLS extension Chromium offers that it
    // does not know, and logs each ICE and connection state at info: ours say what matters, except at
    // trace, which shows everything.
    let webrtc = if level == log::LevelFilter::Trace { level } else { log::LevelFilter::Error };
    tauri_plugin_log::Builder::new()
        .level(level)
        // Noisy below warn and not ours.
        .level_for("tao", log::LevelFilter::Warn)
        .level_for("wry", log::LevelFilter::Warn)
        .level_for("mdns_sd", log::LevelFilter::Warn)
        .level_for("rtc", webrtc)
        .level_for("rtc_dtls", webrtc)
        .level_for("rtc_ice", webrtc)
        .level_for("rtc_sctp", webrtc)
        .level_for("webrtc", webrtc)
        .filter(not_a_flood)
        .targets([Target::new(TargetKind::Stderr), Target::new(TargetKind::LogDir { file_name: None })])
        .build()
}

/// Starts the app (desktop `main`, and the Android entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let renderer = webview::choose_renderer();
    let options = AppOptions::from_env();
    lancall_certs::install_crypto_provider();
    let setup_options = options.clone();
    let result = tauri::Builder::default()
        .plugin(log_plugin(options.log_level))
        .plugin(netlock::init())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::save_settings,
            commands::save_recording,
            commands::files::file_save_open,
            commands::files::file_save_append,
            commands::files::file_save_finish,
            commands::files::file_save_abort,
            commands::start_hosting,
            commands::stop_hosting,
            commands::answer_knock,
            commands::host_record,
            commands::host_add_room,
            commands::host_remove_room,
            commands::qr_code,
            commands::scan_network,
            commands::forget_host,
            commands::prepare_join,
            commands::signaling_open,
            commands::signaling_send,
            commands::signaling_close,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_open,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_op,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_close,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_source_open,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_source_close,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_source_stats,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_source_video,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_source_audio,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_channel_send,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_channel_save,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_channel_digest,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_record_start,
            #[cfg(target_os = "linux")]
            commands::rtc::rtc_record_stop
        ])
        .setup(move |app| {
            if renderer == webview::Renderer::NoDmabuf {
                log::info!("no GPU render node: WebKit's DMA-BUF renderer is off (WEBKIT_DISABLE_DMABUF_RENDERER=1)");
            }
            let options = setup_options;
            let data_dir = match options.data_dir.clone() {
                Some(dir) => dir,
                None => app.path().app_data_dir()?,
            };
            let settings = Settings::load_or_create(&data_dir)?;
            log::info!("lancall {} starting; data in {}", env!("CARGO_PKG_VERSION"), data_dir.display());
            let mock_capture = options.mock_capture;
            let mdns = options.mdns;
            if !mdns {
                log::info!("mDNS is off (LANCALL_NO_MDNS): no advertising, no browsing");
            }
            app.manage(AppState::new(options, data_dir, settings));

            // The page asking for a permission is the last page the webview was allowed to open.
            let current_page: Arc<Mutex<Option<Url>>> = Arc::default();
            let page_for_navigation = current_page.clone();
            let builder = WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
                .on_navigation(move |url| {
                    let allowed = is_app_url(url);
                    if allowed {
                        *lock(&page_for_navigation) = Some(url.clone());
                    } else {
                        log::warn!("refused to open {} inside the app", url.origin().ascii_serialization());
                    }
                    allowed
                })
                .on_permission_request(move |_webview, kind| permissions::tauri_response(lock(&current_page).as_ref(), kind));
            #[cfg(desktop)]
            let builder = builder.title("lancall").inner_size(1180.0, 820.0).min_inner_size(360.0, 560.0);
            let window = builder.build()?;
            webview::configure(&window, mock_capture);
            if mdns {
                start_finder(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    match result {
        Ok(app) => app.run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                let state = app.state::<AppState>();
                #[cfg(target_os = "linux")]
                tauri::async_runtime::block_on(state.bridges.close_all());
                state.sessions.close_all();
                let hosting = tauri::async_runtime::block_on(state.hosting.lock()).take();
                if let Some(hosting) = hosting {
                    tauri::async_runtime::block_on(hosting.stop());
                }
            }
        }),
        Err(e) => {
            log::error!("lancall could not start: {e}");
            eprintln!("lancall could not start: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Burst;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_passes_then_the_rest_of_its_window_is_dropped() {
        let limit = Burst::new(Duration::from_secs(10), 5);
        let t0 = Instant::now();
        let passed = (0..300).filter(|i| limit.allow(t0 + Duration::from_millis(*i * 10))).count();
        assert_eq!(passed, 5, "300 records in 3 s: the first five");
        assert!(limit.allow(t0 + Duration::from_secs(11)), "a new window lets some through again");
        assert!(limit.allow(t0 + Duration::from_secs(12)));
    }
}
