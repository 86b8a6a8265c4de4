//! What the app remembers between runs, in `settings.json` in the app-data folder: the name
//! others see, this device's host id (stable across restarts and renames, so others recognise
//! it in their lists), the preferred camera, microphone and speaker, and how the media of a call
//! this device hosts travels.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The file inside the app-data folder.
pub const SETTINGS_FILE: &str = "settings.json";

/// The app's settings. Unknown fields in the file are ignored and missing ones take their
/// defaults, so older and newer versions can share a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The name others see, as a participant and as a host; empty until the person gives one.
    pub display_name: String,
    /// This device's host id in mDNS (128 random bits as hex), made on first run.
    pub host_id: String,
    /// Preferred camera (`MediaDeviceInfo.deviceId`), empty for the default.
    pub camera_id: String,
    /// Preferred microphone.
    pub mic_id: String,
    /// Preferred speaker.
    pub speaker_id: String,
    /// How the media of a call this device hosts travels, as last chosen: `mesh` (directly
    /// between devices), `sfu` (through this device) or `auto`.
    pub host_topology: String,
}

/// The host's topology until the person picks one: directly while two people talk (the lowest
/// delay), through this device from three on. The app's tests pass with it, the app's own call
/// included (tests/app/app.test.mjs moves from two people to three and back). On Android, which
/// hosts mesh only, a saved choice it cannot host falls back to mesh (`start_hosting`).
pub const DEFAULT_HOST_TOPOLOGY: &str = "auto";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            display_name: String::new(),
            host_id: lancall_hub::hub::random_id(),
            camera_id: String::new(),
            mic_id: String::new(),
            speaker_id: String::new(),
            host_topology: DEFAULT_HOST_TOPOLOGY.to_owned(),
        }
    }
}

/// What the UI may change (the host id is the app's own).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SettingsUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New preferred camera.
    pub camera_id: Option<String>,
    /// New preferred microphone.
    pub mic_id: Option<String>,
    /// New preferred speaker.
    pub speaker_id: Option<String>,
}

/// Writes `bytes` to `dir/file` atomically (a temporary file renamed over the old one), so a
/// crash mid-write never leaves half a file.
pub(crate) fn write_atomically(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), AppError> {
    let io = |action, path: &PathBuf, source| AppError::Io { action, path: path.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(|e| io("create the folder", &dir.to_path_buf(), e))?;
    let path = dir.join(file);
    let tmp = dir.join(format!("{file}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("replace", &path, e))?;
    Ok(())
}

impl Settings {
    /// Loads the settings from `dir`, or makes fresh ones (saved at once, so the host id
    /// stays). A file that cannot be read as settings is kept beside as `settings.json.bad`
    /// and replaced, rather than stopping the app.
    pub fn load_or_create(dir: &Path) -> Result<Settings, AppError> {
        let path = dir.join(SETTINGS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Settings>(&bytes) {
                Ok(mut s) => {
                    // A file without a usable host id (hand-written, or from an older version)
                    // gets one now, and keeps it.
                    let stored_id = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v.get("host_id").and_then(|id| id.as_str()).map(str::to_owned));
                    if stored_id.is_none_or(|id| id.trim().is_empty() || id.len() > 64) {
                        s.host_id = lancall_hub::hub::random_id();
                        s.save(dir)?;
                    }
                    return Ok(s);
                }
                Err(e) => {
                    log::warn!("{} is not valid settings ({e}); starting with fresh settings", path.display());
                    let _ = std::fs::rename(&path, dir.join(format!("{SETTINGS_FILE}.bad")));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(AppError::Io { action: "read", path: path.display().to_string(), source }),
        }
        let fresh = Settings::default();
        fresh.save(dir)?;
        Ok(fresh)
    }

    /// Applies what the UI changed; names are trimmed and cut to 64 characters.
    pub fn apply(&mut self, update: SettingsUpdate) {
        if let Some(name) = update.display_name {
            self.display_name = name.trim().chars().filter(|c| !c.is_control()).take(64).collect();
        }
        let clip = |s: String| s.chars().take(512).collect::<String>();
        if let Some(v) = update.camera_id {
            self.camera_id = clip(v);
        }
        if let Some(v) = update.mic_id {
            self.mic_id = clip(v);
        }
        if let Some(v) = update.speaker_id {
            self.speaker_id = clip(v);
        }
    }

    /// Writes the settings atomically (a temporary file renamed over the old one), so a crash
    /// mid-write never leaves half a file.
    pub fn save(&self, dir: &Path) -> Result<(), AppError> {
        write_atomically(dir, SETTINGS_FILE, &serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    /// Keeps the host's choice of topology (already checked by the caller).
    pub fn set_host_topology(&mut self, topology: &str) {
        self.host_topology = topology.to_owned();
    }

    /// The name to host under: the person's name, else the device's.
    pub fn host_name(&self) -> String {
        if !self.display_name.trim().is_empty() {
            return self.display_name.clone();
        }
        lancall_certs::hostname().unwrap_or_else(|| "lancall".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn settings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(first.host_id.len(), 32);
        first.apply(SettingsUpdate {
            display_name: Some("  Ada\u{7} Lovelace ".into()),
            camera_id: Some("cam-2".into()),
            ..SettingsUpdate::default()
        });
        first.save(dir.path()).unwrap();
        let again = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(again, first);
        assert_eq!(again.display_name, "Ada Lovelace");
        assert_eq!(again.camera_id, "cam-2");
        assert_eq!(again.host_topology, DEFAULT_HOST_TOPOLOGY);
        let mut chosen = again;
        chosen.set_host_topology("sfu");
        chosen.save(dir.path()).unwrap();
        assert_eq!(Settings::load_or_create(dir.path()).unwrap().host_topology, "sfu");
    }

    #[test]
    fn a_broken_file_is_kept_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETTINGS_FILE), b"{not json").unwrap();
        let s = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(s.host_id.len(), 32);
        assert!(dir.path().join("settings.json.bad").exists());
        // Missing fields take defaults; unknown ones are ignored.
        std::fs::write(dir.path().join(SETTINGS_FILE), br#"{"display_name":"Bo","future":1}"#).unwrap();
        let s = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(s.display_name, "Bo");
        assert_eq!(s.host_id.len(), 32);
        assert_eq!(Settings::load_or_create(dir.path()).unwrap().host_id, s.host_id);
    }
}
