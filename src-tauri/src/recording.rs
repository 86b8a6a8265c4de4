//! Recordings in the person's Downloads folder, under a safe name that never overwrites a file.
//!
//! Two ways in. Where the webview records (`MediaRecorder`), the page hands the finished file's
//! bytes over IPC ([`save`]): browsers save the page's `<a download>` link, the app's webview does
//! not (WebKitGTK saved nothing: measured, no file anywhere under the home folder). On Linux,
//! where WebKitGTK cannot record without GStreamer's `fmp4` (not in Debian 12) but the Rust side
//! holds every encoded frame of the call, the recording is made there ([`start_from_bridge`]):
//! lancall_peer taps the frames of the person recorded and lancall_recorder writes them as WebM
//! straight into the file, which plays even if the app stops mid-way.

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, Runtime};

use crate::error::AppError;

/// The file name to use for what the page called `wanted`: its last path part, with only
/// letters, digits, `-`, `_` and `.` kept, and one of the extensions a recording has. `None` if
/// nothing usable is left.
pub fn safe_name(wanted: &str) -> Option<String> {
    let last = wanted.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(120)
        .collect();
    let kept = kept.trim_start_matches('.');
    let (stem, ext) = kept.rsplit_once('.')?;
    if stem.is_empty() || !matches!(ext, "mp4" | "webm" | "weba") {
        return None;
    }
    Some(format!("{stem}.{ext}"))
}

/// `dir/name`, or `dir/stem (2).ext`, `(3)`… if that is taken.
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}).{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Starts recording `target` (a remote person's transceivers, or our own sources) as WebM in
/// the Downloads folder under `name` (see [`safe_name`]; `.webm`), as recording `id` of the
/// page's bridged connections. Answers the file's path.
#[cfg(target_os = "linux")]
pub async fn start_from_bridge<R: Runtime>(
    app: &AppHandle<R>,
    bridges: &lancall_peer::ipc::Bridges,
    id: &str,
    name: &str,
    target: lancall_peer::ipc::RecordTarget,
) -> Result<PathBuf, AppError> {
    let name = safe_name(name)
        .filter(|n| n.ends_with(".webm"))
        .ok_or_else(|| AppError::Recording(format!("\"{name}\" is not a WebM recording's file name.")))?;
    let dir = downloads(app)?;
    std::fs::create_dir_all(&dir).map_err(|source| AppError::Io {
        action: "make the folder",
        path: dir.display().to_string(),
        source,
    })?;
    let path = unique_path(&dir, &name);
    bridges.start_recording(id, &path, target).await.map_err(recording_error)?;
    Ok(path)
}

/// Stops recording `id` of the page's bridged connections; answers its files (a second one when
/// the picture size changed) and, if it stopped early (a full disk), why.
#[cfg(target_os = "linux")]
pub async fn stop_from_bridge(
    bridges: &lancall_peer::ipc::Bridges,
    id: &str,
) -> Result<lancall_peer::ipc::RecordingDone, AppError> {
    let done = bridges.stop_recording(id).await.map_err(recording_error)?;
    log::info!("recording saved: {:?} ({} ms)", done.files, done.duration_ms);
    Ok(done)
}

/// A recorder's error keeps its sentence (the disk is full, the folder cannot be written).
#[cfg(target_os = "linux")]
fn recording_error(e: lancall_peer::PeerError) -> AppError {
    match e {
        lancall_peer::PeerError::Recording(e) => AppError::Recording(e.to_string()),
        other => other.into(),
    }
}

/// The person's Downloads folder (`~/Downloads` where the desktop names none).
fn downloads<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, AppError> {
    match app.path().download_dir() {
        Ok(dir) => Ok(dir),
        Err(_) => Ok(app.path().home_dir()?.join("Downloads")),
    }
}

/// Writes `bytes` as `name` (see [`safe_name`]) in the Downloads folder; answers where.
pub fn save<R: Runtime>(app: &AppHandle<R>, name: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
    let name = safe_name(name)
        .ok_or_else(|| AppError::Recording(format!("\"{name}\" is not a recording's file name (.mp4, .webm or .weba).")))?;
    if bytes.is_empty() {
        return Err(AppError::Recording("The recording is empty: nothing was recorded.".into()));
    }
    let dir = downloads(app)?;
    let io = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| AppError::Io { action, path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io("make the folder", &dir))?;
    let path = unique_path(&dir, &name);
    std::fs::write(&path, bytes).map_err(io("save the recording to", &path))?;
    log::info!("recording saved: {} ({} bytes)", path.display(), bytes.len());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::{safe_name, unique_path};

    #[test]
    fn names_keep_to_a_file_in_the_folder_with_a_recording_extension() {
        assert_eq!(safe_name("lancall_2026-11-22_12-00-00_Grace.mp4").as_deref(), Some("lancall_2026-11-22_12-00-00_Grace.mp4"));
        assert_eq!(safe_name("../../.bashrc.webm").as_deref(), Some("bashrc.webm"));
        assert_eq!(safe_name("/etc/passwd"), None);
        assert_eq!(safe_name("a b;c.webm").as_deref(), Some("abc.webm"));
        assert_eq!(safe_name("x.sh"), None);
        assert_eq!(safe_name(".mp4"), None);
        assert_eq!(safe_name(""), None);
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = unique_path(dir.path(), "rec.mp4");
        assert_eq!(first, dir.path().join("rec.mp4"));
        std::fs::write(&first, b"x").expect("write");
        assert_eq!(unique_path(dir.path(), "rec.mp4"), dir.path().join("rec (2).mp4"));
        std::fs::write(dir.path().join("rec (2).mp4"), b"x").expect("write");
        assert_eq!(unique_path(dir.path(), "rec.mp4"), dir.path().join("rec (3).mp4"));
    }
}
