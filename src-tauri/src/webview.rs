//! Platform settings of the main webview that Tauri does not expose.
//!
//! Linux (WebKitGTK): media capture is off by default. Turn on `enable-media-stream` (and
//! `enable-webrtc`, which Debian's build compiles out: then `RTCPeerConnection` stays missing and
//! the UI says so), optionally the mock capture devices for tests, and answer the permission
//! requests Tauri does not map (device info) with the same policy as [`crate::permissions`].
//! WebKit decides whether `navigator.mediaDevices` exists when a page is created, so the page is
//! reloaded once after the settings change.
//!
//! Screen sharing needs the desktop portal's ScreenCast interface: [`screen_share_available`].
//!
//! Android: wry's `WebChromeClient` turns an allowed camera or microphone request into the
//! runtime permission prompt; the manifest declares the permissions (see `gen/android`).

use tauri::{Runtime, WebviewWindow};

/// What [`choose_renderer`] decided, to log once logging runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// WebKit's default (or what the environment asked for).
    Default,
    /// No GPU render node: WebKitGTK's DMA-BUF renderer turned off.
    NoDmabuf,
}

/// Linux: WebKitGTK 2.42+ draws through DMA-BUF buffers. Without a GPU render node
/// (`/dev/dri/renderD*`: virtual machines, Xvfb, remote desktops) it falls back to software GL
/// and copies every frame, which costs a whole core for one playing `<video>` (measured under
/// Xvfb: 157 % of a core for the camera preview against 25 % with the older renderer). There,
/// turn it off with `WEBKIT_DISABLE_DMABUF_RENDERER=1`, unless the person set it either way.
/// Call first thing in `main`, before any thread starts and before GTK.
pub fn choose_renderer() -> Renderer {
    #[cfg(target_os = "linux")]
    {
        const VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
        let has_render_node = std::fs::read_dir("/dev/dri")
            .map(|dir| dir.flatten().any(|e| e.file_name().to_string_lossy().starts_with("renderD")))
            .unwrap_or(false);
        if std::env::var_os(VAR).is_none() && !has_render_node {
            // Edition 2021: set_var is safe; nothing else runs yet (see above).
            std::env::set_var(VAR, "1");
            return Renderer::NoDmabuf;
        }
    }
    Renderer::Default
}

/// Applies the settings; `mock_capture` swaps real devices for WebKit's test devices.
pub fn configure<R: Runtime>(window: &WebviewWindow<R>, mock_capture: bool) {
    #[cfg(target_os = "linux")]
    {
        let result = window.with_webview(move |wv| linux::configure(&wv.inner(), mock_capture));
        if let Err(e) = result {
            log::error!("could not configure the webview for camera and microphone: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (window, mock_capture);
    }
}

/// Whether the page can share the screen. WebKitGTK captures a screen only through the desktop
/// portal's ScreenCast interface (PipeWire): without one `getDisplayMedia` can only fail, so the
/// page drops the button. WebKit's mock screen (tests) counts as a screen. Elsewhere the page's
/// own check (`getDisplayMedia` present) decides. Blocks up to two seconds on a D-Bus call: run
/// it off the main thread.
pub fn screen_share_available(mock_capture: bool) -> bool {
    #[cfg(target_os = "linux")]
    {
        mock_capture || linux::screencast_portal_version().is_some()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = mock_capture;
        true
    }
}

/// Whether the page can record. Everywhere it can now: on Linux the Rust side records the
/// bridged connections' frames itself (`recording::start_from_bridge`), because WebKitGTK 2.50's
/// `MediaRecorder` records only through GStreamer's `fmp4` muxer (gst-plugins-rs), which Debian
/// 12 does not ship (measured: WebKit logged "Plugin fmp4 not found" and handed over 0 bytes).
/// Elsewhere the page's own check (`MediaRecorder` present) decides.
pub fn recording_available() -> bool {
    true
}

#[cfg(target_os = "linux")]
mod linux {
    use webkit2gtk::glib::prelude::*;
    use webkit2gtk::{
        DeviceInfoPermissionRequest, PermissionRequestExt, SettingsExt, WebView, WebViewExt,
    };

    use crate::permissions::{decide, Decision, MediaRequest};

    /// The version of the desktop portal's ScreenCast interface on the session bus, if any.
    pub fn screencast_portal_version() -> Option<u32> {
        use webkit2gtk::gio::{self, Cancellable, DBusCallFlags};
        use webkit2gtk::glib::{ToVariant, VariantTy};
        let bus = match gio::bus_get_sync(gio::BusType::Session, Cancellable::NONE) {
            Ok(bus) => bus,
            Err(e) => {
                log::info!("no session bus, so no screen-sharing portal: the share button is hidden ({e})");
                return None;
            }
        };
        let reply = bus.call_sync(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            "org.freedesktop.DBus.Properties",
            "Get",
            Some(&("org.freedesktop.portal.ScreenCast", "version").to_variant()),
            VariantTy::new("(v)").ok(),
            DBusCallFlags::NONE,
            2000,
            Cancellable::NONE,
        );
        match reply {
            Ok(v) => {
                let version = v.child_value(0).as_variant().and_then(|x| x.get::<u32>());
                log::info!("desktop portal ScreenCast version {version:?}");
                version
            }
            Err(e) => {
                log::info!("no screen-sharing portal (xdg-desktop-portal with a ScreenCast backend): the share button is hidden ({e})");
                None
            }
        }
    }

    pub fn configure(webview: &WebView, mock_capture: bool) {
        let Some(settings) = WebViewExt::settings(webview) else {
            log::error!("the webview has no settings object; camera and microphone stay off");
            return;
        };
        settings.set_enable_media_stream(true);
        settings.set_enable_webrtc(true);
        settings.set_enable_mock_capture_devices(mock_capture);
        settings.set_media_playback_requires_user_gesture(false);
        if mock_capture {
            log::warn!("using WebKit's mock camera and microphone (LANCALL_TEST_MOCK_CAPTURE)");
        }
        // Runs after wry's handler, which answers camera, microphone and screen requests with
        // `permissions::tauri_response`; this one gets what wry left unanswered.
        webview.connect_permission_request(|webview, request| {
            let page = webview.uri().and_then(|u| url::Url::parse(u.as_str()).ok());
            let kind = if request.is::<DeviceInfoPermissionRequest>() { MediaRequest::DeviceInfo } else { MediaRequest::Other };
            let decision = decide(page.as_ref(), kind);
            log::info!("permission request {kind:?}: {decision:?}");
            match decision {
                Decision::Allow => request.allow(),
                Decision::Deny => request.deny(),
            }
            true
        });
        webview.reload();
    }
}
