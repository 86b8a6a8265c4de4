//! Android's Wi-Fi multicast lock, held while browsing or hosting.
//!
//! Android's Wi-Fi driver drops incoming multicast (so mDNS) unless an app holds a
//! `WifiManager.MulticastLock`. The lock lives in Kotlin (`MulticastLockPlugin.kt` in the Android
//! project under `gen/android`); this module is the Rust side of that small Tauri mobile plugin.
//! Browsing and hosting each take a [`MulticastGuard`]; the Kotlin lock is reference-counted, so
//! it is held while at least one guard lives. The plugin also asks for `ACCESS_LOCAL_NETWORK`
//! at run time (Android 17+), before the first mDNS use. On other platforms all of this does
//! nothing.

use tauri::plugin::{Builder, TauriPlugin};
use tauri::{Manager, Runtime};

/// The plugin's name (Rust side only: it has no commands for the webview).
pub const PLUGIN_NAME: &str = "lancall-net";

/// The handle to the Kotlin side.
pub struct NetLock<R: Runtime> {
    #[cfg(target_os = "android")]
    handle: tauri::plugin::PluginHandle<R>,
    #[cfg(not(target_os = "android"))]
    _runtime: std::marker::PhantomData<fn() -> R>,
}

/// Holds the multicast lock until dropped.
pub struct MulticastGuard {
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for MulticastGuard {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl<R: Runtime> NetLock<R> {
    /// Asks for the local-network permission (Android 17+; a no-op elsewhere) and takes the
    /// multicast lock. Failures are logged, not fatal: discovery may still work on some
    /// devices, and joining by link always does.
    pub fn acquire(&self, why: &str) -> MulticastGuard {
        #[cfg(target_os = "android")]
        {
            let payload = serde_json::json!({ "tag": why });
            match self.handle.run_mobile_plugin::<serde_json::Value>("acquire", payload) {
                Ok(_) => log::info!("holding the Wi-Fi multicast lock ({why})"),
                Err(e) => log::warn!("could not take the Wi-Fi multicast lock ({why}): {e}; other devices may not be found"),
            }
            let handle = self.handle.clone();
            let why = why.to_owned();
            MulticastGuard {
                release: Some(Box::new(move || {
                    if let Err(e) = handle.run_mobile_plugin::<serde_json::Value>("release", serde_json::json!({ "tag": why })) {
                        log::warn!("could not release the Wi-Fi multicast lock: {e}");
                    }
                })),
            }
        }
        #[cfg(not(target_os = "android"))]
        {
            log::debug!("no multicast lock needed on this platform ({why})");
            MulticastGuard { release: None }
        }
    }
}

/// The plugin: registers the Kotlin class on Android and manages a [`NetLock`].
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new(PLUGIN_NAME)
        .setup(|app, api| {
            #[cfg(target_os = "android")]
            let lock = NetLock { handle: api.register_android_plugin("app.lancall", "MulticastLockPlugin")? };
            #[cfg(not(target_os = "android"))]
            let lock = {
                let _ = api;
                NetLock::<R> { _runtime: std::marker::PhantomData }
            };
            app.manage(lock);
            Ok(())
        })
        .build()
}
