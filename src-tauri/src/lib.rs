//! lancall, the app: a thin Tauri shell around the host runtime in `lancall-hub`.
//!
//! - The window shows `ui/` (the same call UI browsers get) plus the app's home screen
//!   (`ui/js/home.js`): hosts found by mDNS, hosting, joining by link.
//! - Hosting runs the hub, its certificates and the mDNS advertisement in this process
//!   ([`hosting`]).
//! - The webview's signaling goes through IPC to [`signaling`]: in-process to this device's hub,
//!   or over WSS to another host whose CA fingerprint is pinned. The webview itself never opens a
//!   TLS connection to a host.
//! - Camera and microphone are granted to the app's own pages only ([`permissions`]), with the
//!   WebKitGTK settings they need on Linux ([`webview`]); Android asks at run time and holds a
//!   Wi-Fi multicast lock while browsing or hosting ([`netlock`]).

pub mod address;
pub mod error;
pub mod finder;
pub mod hosting;
#[cfg(target_os = "linux")]
pub mod rtc_bridge;
pub mod netlock;
pub mod options;
pub mod permissions;
pub mod recording;
pub mod settings;
pub mod signaling;
pub mod state;
pub mod webview;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State, WebviewUrl, WebviewWindowBuilder};
use url::Url;

use crate::address::HostAddr;
use crate::error::AppError;
use crate::finder::{FinderStatus, HostEntry};
use crate::hosting::{Hosting, HostingView};
use crate::options::AppOptions;
use crate::settings::{Settings, SettingsUpdate};
use crate::signaling::{SessionEvent, Target};
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

/// Everything the home screen needs at start.
#[derive(Serialize)]
struct AppInfo {
    version: &'static str,
    platform: &'static str,
    settings: Settings,
    mdns: bool,
    finder: FinderStatus,
    hosts: Vec<HostEntry>,
    hosting: Option<HostingView>,
    /// Whether screen sharing can work here (see `webview::screen_share_available`).
    screen_share: bool,
    /// Whether the webview can record (see `webview::recording_available`).
    recording: bool,
}

#[tauri::command]
async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, AppError> {
    let hosting = state.hosting.lock().await.as_ref().map(Hosting::view);
    static PLATFORM: tokio::sync::OnceCell<(bool, bool)> = tokio::sync::OnceCell::const_new();
    let mock_capture = state.options.mock_capture;
    let (screen_share, recording) = *PLATFORM
        .get_or_init(|| async move {
            tokio::task::spawn_blocking(move || (webview::screen_share_available(mock_capture), webview::recording_available()))
                .await
                .unwrap_or((false, false))
        })
        .await;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        platform: std::env::consts::OS,
        settings: lock(&state.settings).clone(),
        mdns: state.options.mdns,
        finder: lock(&state.finder).clone(),
        hosts: lock(&state.hosts).clone(),
        hosting,
        screen_share,
        recording,
    })
}

/// Saves a recording (the request's body) in the Downloads folder under the name in the
/// `lancall-filename` header (made safe and unique); answers the path it was saved to.
#[tauri::command]
fn save_recording(app: AppHandle, request: tauri::ipc::Request<'_>) -> Result<String, AppError> {
    let name = request.headers().get("lancall-filename").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(AppError::Recording("A recording is sent as bytes.".into()));
    };
    recording::save(&app, name, bytes).map(|p| p.display().to_string())
}

#[tauri::command]
async fn save_settings(state: State<'_, AppState>, update: SettingsUpdate) -> Result<Settings, AppError> {
    let renamed = update.display_name.is_some();
    let settings = {
        let mut settings = lock(&state.settings);
        settings.apply(update);
        settings.save(&state.data_dir)?;
        settings.clone()
    };
    if renamed {
        if let Some(hosting) = state.hosting.lock().await.as_mut() {
            hosting.rename(settings.host_name()).await;
        }
    }
    Ok(settings)
}

#[tauri::command]
async fn start_hosting(app: AppHandle, state: State<'_, AppState>) -> Result<HostingView, AppError> {
    let mut slot = state.hosting.lock().await;
    if let Some(hosting) = slot.as_ref() {
        return Ok(hosting.view());
    }
    let (name, host_id) = {
        let s = lock(&state.settings);
        (s.host_name(), s.host_id.clone())
    };
    let multicast = state.options.mdns.then(|| app.state::<netlock::NetLock<tauri::Wry>>().acquire("hosting"));
    let emitter = app.clone();
    let hosting = Hosting::start(&state.options, &state.data_dir, name, host_id, multicast, move |presence| {
        if let Err(e) = emitter.emit_to(MAIN_WINDOW, events::PRESENCE, presence) {
            log::warn!("could not update the participant list: {e}");
        }
    })
    .await
    .inspect_err(|e| e.log("could not start hosting"))?;
    let (port, addresses) = hosting.local_addresses();
    *lock(&state.local) = Some((hosting.hub(), port, addresses));
    let view = hosting.view();
    *slot = Some(hosting);
    let _ = app.emit_to(MAIN_WINDOW, events::HOSTING, &view);
    Ok(view)
}

#[tauri::command]
async fn stop_hosting(app: AppHandle, state: State<'_, AppState>) -> Result<(), AppError> {
    let hosting = state.hosting.lock().await.take();
    *lock(&state.local) = None;
    if let Some(hosting) = hosting {
        hosting.stop().await;
    }
    let _ = app.emit_to(MAIN_WINDOW, events::HOSTING, Option::<HostingView>::None);
    Ok(())
}

#[tauri::command]
async fn answer_knock(state: State<'_, AppState>, id: String, admit: bool) -> Result<(), AppError> {
    let hosting = state.hosting.lock().await;
    hosting.as_ref().ok_or(AppError::NotHosting)?.answer_knock(&id, admit)
}

/// Where the UI should point its signaling client.
#[derive(Serialize)]
struct JoinTarget {
    /// `host:port`, as the UI passes it to `signaling_open`.
    host: String,
    /// This device's own call.
    local: bool,
    /// The pinned fingerprint.
    fingerprint: Option<String>,
}

/// Checks a host before the person joins it: the address is read, the fingerprint to pin is
/// found (given, or from the mDNS record of that address), and a TLS handshake proves the host
/// holds that CA. The pin is then kept for the signaling session. A host found by mDNS may
/// announce several addresses and listen on only some: `alternatives` are tried in order when
/// an address does not answer (never when one answers with the wrong identity).
#[tauri::command]
async fn prepare_join(
    state: State<'_, AppState>,
    address: String,
    fingerprint: Option<String>,
    alternatives: Option<Vec<String>>,
) -> Result<JoinTarget, AppError> {
    let given = match fingerprint.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => Some(text.parse::<lancall_certs::Fingerprint>().map_err(|_| {
            AppError::BadAddress("The link's fingerprint (fp) is damaged: it should be 64 hexadecimal digits. Ask for the link again.".into())
        })?),
        None => None,
    };
    let mut first_error = None;
    for candidate in std::iter::once(address).chain(alternatives.unwrap_or_default().into_iter().take(8)) {
        let addr = match HostAddr::parse(&candidate) {
            Ok(addr) => addr,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        if state.local_hub_for(&addr).is_some() {
            return Ok(JoinTarget { host: addr.to_string(), local: true, fingerprint: None });
        }
        let Some(pin) = state.fingerprint_for(&addr, given) else {
            first_error.get_or_insert(AppError::NoFingerprint { host: addr.to_string() });
            continue;
        };
        match signaling::probe(&addr, pin).await {
            Ok(()) => {
                log::info!("pinned {addr} to CA {}", pin.to_hex());
                lock(&state.pins).insert(addr.to_string(), pin);
                return Ok(JoinTarget { host: addr.to_string(), local: false, fingerprint: Some(pin.to_hex()) });
            }
            Err(e @ AppError::Unreachable { .. }) => {
                e.log(&format!("checking {addr}"));
                first_error.get_or_insert(e);
            }
            Err(e) => {
                e.log(&format!("checking {addr}"));
                return Err(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| AppError::BadAddress("No address to join.".into())))
}

#[tauri::command]
async fn signaling_open(app: AppHandle, state: State<'_, AppState>, session: String, host: String) -> Result<(), AppError> {
    let addr = HostAddr::parse(&host)?;
    let target = match state.local_hub_for(&addr) {
        Some(hub) => Target::Local(hub),
        None => {
            let pin = lock(&state.pins).get(&addr.to_string()).copied();
            Target::Remote { pin: pin.ok_or_else(|| AppError::NoFingerprint { host: addr.to_string() })?, addr }
        }
    };
    let emit: signaling::Emit = Arc::new(move |event: SessionEvent| {
        if let Err(e) = app.emit_to(MAIN_WINDOW, events::SIGNALING, &event) {
            log::warn!("could not pass a signaling message to the window: {e}");
        }
    });
    state.sessions.open(&session, target, emit)
}


#[tauri::command]
fn signaling_send(state: State<'_, AppState>, session: String, texts: Vec<String>) -> Result<(), AppError> {
    // Several at once keep their order without one IPC round trip each.
    texts.into_iter().try_for_each(|text| state.sessions.send(&session, text))
}

#[tauri::command]
fn signaling_close(state: State<'_, AppState>, session: String) {
    state.sessions.close(&session);
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
        let result = finder::browse(&state.options.interfaces, own_id, |hosts| {
            *lock(&state.hosts) = hosts.clone();
            let _ = app.emit_to(MAIN_WINDOW, events::HOSTS, hosts);
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
            app_info,
            save_settings,
            save_recording,
            start_hosting,
            stop_hosting,
            answer_knock,
            prepare_join,
            signaling_open,
            signaling_send,
            signaling_close,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_open,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_op,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_close,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_source_open,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_source_close,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_source_stats,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_source_video,
            #[cfg(target_os = "linux")]
            rtc_bridge::commands::rtc_source_audio
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
