//! Every `#[tauri::command]` the page may call, in one place: each reads its arguments (IPC
//! input), hands them to the part that does the work (hosting, signaling, settings, recording,
//! the Rust-backed peer connections in [`rtc`]) and answers. The capabilities in
//! `src-tauri/capabilities/` grant exactly these.

#[cfg(target_os = "linux")]
pub mod rtc;
pub mod files;

use std::sync::Arc;

use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State};

use lancall_protocol::HostAddr;
use crate::error::AppError;
use crate::finder::{FinderStatus, HostEntry};
use crate::hosting::{parse_topology, qr_matrix, Hosting, HostingView, QrMatrix, HOST_TOPOLOGIES};
use crate::settings::{Settings, SettingsUpdate};
use crate::signaling::{self, SessionEvent, Target};
use crate::state::{lock, AppState, LocalCall};
use crate::{events, netlock, recording, webview, MAIN_WINDOW};

/// Everything the home screen needs at start.
#[derive(Serialize)]
pub struct AppInfo {
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
    /// How a call this device hosts may carry its media, in the order to offer them (`auto`,
    /// `sfu`, `mesh`; on Android `mesh` only, and no choice is shown).
    host_topologies: &'static [&'static str],
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, AppError> {
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
        host_topologies: HOST_TOPOLOGIES,
    })
}

/// Saves a recording (the request's body) in the Downloads folder under the name in the
/// `lancall-filename` header (made safe and unique); answers the path it was saved to.
#[tauri::command]
pub fn save_recording(app: AppHandle, request: tauri::ipc::Request<'_>) -> Result<String, AppError> {
    let name = request.headers().get("lancall-filename").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(AppError::Recording("A recording is sent as bytes.".into()));
    };
    recording::save(&app, name, bytes).map(|p| p.display().to_string())
}

#[tauri::command]
pub async fn save_settings(state: State<'_, AppState>, update: SettingsUpdate) -> Result<Settings, AppError> {
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

/// Starts hosting. `topology`: how the call's media travels (`auto`, `sfu` or `mesh`; checked
/// before anything starts, and kept in the settings); the one chosen last time when absent.
#[tauri::command]
pub async fn start_hosting(app: AppHandle, state: State<'_, AppState>, topology: Option<String>) -> Result<HostingView, AppError> {
    let chosen = topology.as_deref().map(parse_topology).transpose()?;
    let mut slot = state.hosting.lock().await;
    if let Some(hosting) = slot.as_ref() {
        return Ok(hosting.view());
    }
    let (name, host_id, topology) = {
        let mut s = lock(&state.settings);
        let topology = match chosen {
            Some(t) => {
                if s.host_topology != t.as_str() {
                    s.set_host_topology(t.as_str());
                    if let Err(e) = s.save(&state.data_dir) {
                        e.log("keeping the host's choice of topology");
                    }
                }
                t
            }
            // A saved choice this build cannot host (a settings file from the desktop on a
            // phone) falls back to mesh.
            None => parse_topology(&s.host_topology).unwrap_or_default(),
        };
        (s.host_name(), s.host_id.clone(), topology)
    };
    let multicast = state.options.mdns.then(|| app.state::<netlock::NetLock<tauri::Wry>>().acquire("hosting"));
    let emitter = app.clone();
    let hosting = Hosting::start(&state.options, &state.data_dir, name, host_id, topology, multicast, move |presence| {
        if let Err(e) = emitter.emit_to(MAIN_WINDOW, events::PRESENCE, presence) {
            log::warn!("could not update the participant list: {e}");
        }
    })
    .await
    .inspect_err(|e| e.log("could not start hosting"))?;
    let (port, addresses) = hosting.local_addresses();
    *lock(&state.local) = Some(LocalCall { hub: hosting.hub(), port, addresses });
    let view = hosting.view();
    *slot = Some(hosting);
    let _ = app.emit_to(MAIN_WINDOW, events::HOSTING, &view);
    Ok(view)
}

#[tauri::command]
pub async fn stop_hosting(app: AppHandle, state: State<'_, AppState>) -> Result<(), AppError> {
    let hosting = state.hosting.lock().await.take();
    *lock(&state.local) = None;
    if let Some(hosting) = hosting {
        hosting.stop().await;
    }
    let _ = app.emit_to(MAIN_WINDOW, events::HOSTING, Option::<HostingView>::None);
    Ok(())
}

/// Starts (`active`) or stops the host's recording of its call (one WebM file per person in
/// `recordings/` in the app-data folder); answers the hosting screen's view as it is then. A
/// refusal (the media does not go through this computer, the folder cannot be written) is a
/// sentence saying why.
#[tauri::command]
pub async fn host_record(state: State<'_, AppState>, active: bool) -> Result<HostingView, AppError> {
    // Not under the hosting lock: a start waits for everyone's top layer (up to 2 s).
    let recorder = state.hosting.lock().await.as_ref().ok_or(AppError::NotHosting)?.recorder();
    recorder.record(active).await.inspect_err(|e| e.log(if active { "starting the host's recording" } else { "stopping the host's recording" }))?;
    let hosting = state.hosting.lock().await;
    Ok(hosting.as_ref().ok_or(AppError::NotHosting)?.view())
}

/// Makes another room on this host, with a link of its own (`topology`: how its media travels,
/// as for the main room; the saved choice when absent); answers the hosting view with it listed.
#[tauri::command]
pub async fn host_add_room(state: State<'_, AppState>, name: String, topology: Option<String>) -> Result<HostingView, AppError> {
    let topology = match topology.as_deref() {
        Some(t) => parse_topology(t)?,
        None => parse_topology(&lock(&state.settings).host_topology).unwrap_or_default(),
    };
    // Not under the hosting lock: the first room through this computer starts the SFU.
    let rooms = state.hosting.lock().await.as_ref().ok_or(AppError::NotHosting)?.rooms();
    rooms.add(&name, topology).await.inspect_err(|e| e.log("adding a room"))?;
    let hosting = state.hosting.lock().await;
    Ok(hosting.as_ref().ok_or(AppError::NotHosting)?.view())
}

/// Ends one of the host's rooms besides the main one: everyone in it is told; answers the
/// hosting view without it.
#[tauri::command]
pub async fn host_remove_room(state: State<'_, AppState>, name: String) -> Result<HostingView, AppError> {
    let hosting = state.hosting.lock().await;
    let hosting = hosting.as_ref().ok_or(AppError::NotHosting)?;
    hosting.rooms().remove(&name).inspect_err(|e| e.log("removing a room"))?;
    Ok(hosting.view())
}

#[tauri::command]
pub async fn answer_knock(state: State<'_, AppState>, id: String, admit: bool) -> Result<(), AppError> {
    let hosting = state.hosting.lock().await;
    hosting.as_ref().ok_or(AppError::NotHosting)?.answer_knock(&id, admit)
}

/// Where the UI should point its signaling client.
#[derive(Serialize)]
pub struct JoinTarget {
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
/// The QR code of `text` (a join link) for the call page's invite: the same maker as the host
/// screen's and the browser page's (`lancall_hub::qr`).
#[tauri::command]
pub fn qr_code(text: String) -> Result<QrMatrix, AppError> {
    qr_matrix(&text).ok_or_else(|| AppError::BadAddress(format!("no QR code for a text of {} bytes (1 to {} fit)", text.len(), lancall_hub::qr::MAX_QR_TEXT)))
}

/// "Search this network": the subnets probed for lancall hosts, found ones listed with the rest.
#[tauri::command]
pub async fn scan_network(app: AppHandle) -> Result<crate::finder::ScanReport, AppError> {
    crate::scan_network(&app).await
}

/// Forgets a host joined before (by its CA fingerprint); the list is sent again.
#[tauri::command]
pub fn forget_host(app: AppHandle, state: State<'_, AppState>, fingerprint: String) -> Result<bool, AppError> {
    let forgot = lock(&state.known).forget(fingerprint.trim())?;
    crate::republish_hosts(&app);
    Ok(forgot)
}

/// Checks a host before joining it and pins its CA. `confirmed`: the person chose to join a
/// host that claims the name or id of one joined before with another certificate.
#[tauri::command]
pub async fn prepare_join(
    state: State<'_, AppState>,
    address: String,
    fingerprint: Option<String>,
    alternatives: Option<Vec<String>>,
    confirmed: Option<bool>,
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
                first_error.get_or_insert(AppError::from(e));
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
        if confirmed != Some(true) {
            // Listed under a name or id the app joined before, with another CA: not without a yes.
            // (A link whose fingerprint is not the listed one's is for the probe below to refuse.)
            let pin_hex = pin.to_hex();
            let listed = lock(&state.hosts)
                .iter()
                .find(|h| h.addresses.contains(&addr.to_string()) && h.fingerprint.as_deref() == Some(pin_hex.as_str()))
                .cloned();
            if let Some(h) = listed {
                if let crate::known_hosts::Trust::NotTheSame { name } = lock(&state.known).judge(&h.name, &h.host_id, Some(&pin_hex)) {
                    return Err(AppError::NotTheSameHost { name });
                }
            }
        }
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
pub async fn signaling_open(app: AppHandle, state: State<'_, AppState>, session: String, host: String) -> Result<(), AppError> {
    let addr = HostAddr::parse(&host)?;
    let target = match state.local_hub_for(&addr) {
        Some(hub) => Target::Local(hub),
        None => {
            let pin = lock(&state.pins).get(&addr.to_string()).copied();
            Target::Remote { pin: pin.ok_or_else(|| AppError::NoFingerprint { host: addr.to_string() })?, addr }
        }
    };
    // A join that succeeds through a pinned connection (the hub's welcome came) makes the host
    // known: its name and id as listed, its CA, the address.
    let joined_remote = match &target {
        Target::Remote { addr, pin } => {
            let listed = lock(&state.hosts).iter().find(|h| h.fingerprint.as_deref() == Some(&pin.to_hex())).cloned();
            Some(crate::known_hosts::KnownHost {
                host_id: listed.as_ref().map(|h| h.host_id.clone()).unwrap_or_default(),
                name: listed.map(|h| h.name).unwrap_or_default(),
                fingerprint: pin.to_hex(),
                address: addr.to_string(),
                last_seen: 0,
            })
        }
        Target::Local(_) => None,
    };
    let remembered = std::sync::atomic::AtomicBool::new(false);
    let emit: signaling::Emit = Arc::new(move |event: SessionEvent| {
        if let (Some(host), Some(text)) = (&joined_remote, &event.text) {
            if !remembered.load(std::sync::atomic::Ordering::Relaxed) && is_welcome(text) {
                remembered.store(true, std::sync::atomic::Ordering::Relaxed);
                let state = app.state::<AppState>();
                let saved = lock(&state.known).remember(host.clone());
                match saved {
                    Ok(()) => crate::republish_hosts(&app),
                    Err(e) => e.log("remembering the host just joined"),
                }
            }
        }
        if let Err(e) = app.emit_to(MAIN_WINDOW, events::SIGNALING, &event) {
            log::warn!("could not pass a signaling message to the window: {e}");
        }
    });
    state.sessions.open(&session, target, emit)
}


#[tauri::command]
pub fn signaling_send(state: State<'_, AppState>, session: String, texts: Vec<String>) -> Result<(), AppError> {
    // Several at once keep their order without one IPC round trip each.
    texts.into_iter().try_for_each(|text| state.sessions.send(&session, text))
}

#[tauri::command]
pub fn signaling_close(state: State<'_, AppState>, session: String) {
    state.sessions.close(&session);
}


/// Whether a hub message is its `welcome` (a join that succeeded).
fn is_welcome(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: &'a str,
    }
    serde_json::from_str::<Typed<'_>>(text).is_ok_and(|t| t.kind == "welcome")
}
