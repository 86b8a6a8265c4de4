//! Who may use the camera, the microphone and the screen: the app's own pages, nobody else.
//!
//! The webview only ever shows the app's own origin (navigation elsewhere is refused in
//! [`crate::is_app_url`]), but the decision still checks the origin of the page that asks, so a
//! page that got in some other way (a bug, a future iframe) is refused rather than trusted.
//! WebDriver grants media by itself, so this is tested here, not in the end-to-end suite.

use tauri::webview::{PermissionKind, PermissionResponse};
use url::Url;

/// What a page asks for, in the app's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaRequest {
    /// A camera (`getUserMedia` video).
    Camera,
    /// A microphone.
    Microphone,
    /// The screen or a window (`getDisplayMedia`).
    Screen,
    /// Names of the devices (WebKitGTK asks before `enumerateDevices` shows labels).
    DeviceInfo,
    /// Anything else: location, notifications, MIDI, clipboard…
    Other,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Grant it.
    Allow,
    /// Refuse it, without asking the person.
    Deny,
}

/// Whether `url` is one of the app's own pages: `tauri://localhost` (Linux, macOS, iOS) or
/// `http(s)://tauri.localhost` (Windows, Android).
pub fn is_app_origin(url: &Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => url.host_str() == Some("tauri.localhost") && url.port().is_none(),
        _ => false,
    }
}

/// The whole policy: media for the app's own pages; nothing else for anyone.
pub fn decide(page: Option<&Url>, request: MediaRequest) -> Decision {
    let own_page = page.is_some_and(is_app_origin);
    match request {
        MediaRequest::Camera | MediaRequest::Microphone | MediaRequest::Screen | MediaRequest::DeviceInfo if own_page => {
            Decision::Allow
        }
        _ => Decision::Deny,
    }
}

/// Tauri's kinds in the app's terms. `None` for kinds Tauri reports as "other", which the
/// platform layer refines (WebKitGTK's device-info request is one of them).
pub fn from_tauri(kind: PermissionKind) -> Option<MediaRequest> {
    match kind {
        PermissionKind::Camera => Some(MediaRequest::Camera),
        PermissionKind::Microphone => Some(MediaRequest::Microphone),
        PermissionKind::DisplayCapture => Some(MediaRequest::Screen),
        PermissionKind::Other => None,
        _ => Some(MediaRequest::Other),
    }
}

/// The handler Tauri calls for each permission request of the main webview.
pub fn tauri_response(page: Option<&Url>, kind: PermissionKind) -> PermissionResponse {
    let Some(request) = from_tauri(kind) else {
        // Left to the platform handler (see `webview.rs`), which denies what it does not know.
        return PermissionResponse::Default;
    };
    let decision = decide(page, request);
    log::info!(
        "permission request {request:?} from {}: {decision:?}",
        page.map_or_else(|| "an unknown page".to_owned(), |u| u.origin().ascii_serialization())
    );
    match decision {
        Decision::Allow => PermissionResponse::Allow,
        Decision::Deny => PermissionResponse::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|_| Url::parse("about:blank").unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn the_apps_own_page_gets_camera_microphone_and_screen() {
        for page in ["tauri://localhost/index.html", "http://tauri.localhost/", "https://tauri.localhost/index.html#room=x"] {
            let page = url(page);
            for req in [MediaRequest::Camera, MediaRequest::Microphone, MediaRequest::Screen, MediaRequest::DeviceInfo] {
                assert_eq!(decide(Some(&page), req), Decision::Allow, "{page} {req:?}");
            }
            assert_eq!(decide(Some(&page), MediaRequest::Other), Decision::Deny, "{page}");
        }
    }

    #[test]
    fn other_origins_and_unknown_pages_get_nothing() {
        for page in [
            "https://10.0.0.2:7443/",
            "https://evil.example/",
            "http://tauri.localhost.evil.example/",
            "http://tauri.localhost:8080/",
            "tauri://evil/",
            "file:///etc/passwd",
            "about:blank",
        ] {
            let page = url(page);
            for req in [MediaRequest::Camera, MediaRequest::Microphone, MediaRequest::Screen, MediaRequest::DeviceInfo, MediaRequest::Other] {
                assert_eq!(decide(Some(&page), req), Decision::Deny, "{page} {req:?}");
            }
        }
        assert_eq!(decide(None, MediaRequest::Camera), Decision::Deny);
    }

    #[test]
    fn tauri_kinds_map_to_the_policy() {
        let own = url("tauri://localhost/");
        let other = url("https://evil.example/");
        assert_eq!(tauri_response(Some(&own), PermissionKind::Camera), PermissionResponse::Allow);
        assert_eq!(tauri_response(Some(&own), PermissionKind::Microphone), PermissionResponse::Allow);
        assert_eq!(tauri_response(Some(&other), PermissionKind::Camera), PermissionResponse::Deny);
        assert_eq!(tauri_response(Some(&own), PermissionKind::Geolocation), PermissionResponse::Deny);
        assert_eq!(tauri_response(Some(&own), PermissionKind::Notifications), PermissionResponse::Deny);
        // "Other" goes to the platform layer, which refines it (device info) or denies it.
        assert_eq!(tauri_response(Some(&own), PermissionKind::Other), PermissionResponse::Default);
    }
}
