//! Saving a file someone sent in the call (ui/js/lib/files.js) into the person's Downloads
//! folder, streamed: `file_save_open` (a name and the size announced), `file_save_append` (the
//! bytes, about 1 MB per call, as the raw request body), then `file_save_finish` or
//! `file_save_abort`. A 200 MB file is never one IPC message, and never held whole here.
//!
//! In the Linux app, whose data channels are Rust's (lancall-peer's bridge), a file's bytes need
//! not cross to the webview at all: `rtc_channel_save` (commands/rtc.rs) sends what a channel
//! receives straight into an open file here ([`route`], [`channel_bytes`]), hashed as it is
//! written, and the page only hears how far it got and, at the end, the SHA-256 ([`digest`]).
//! Each 64 KiB message crossing to the page and back cost ~1 MB/s in all.
//!
//! The bytes go to a hidden part file in the Downloads folder, which `finish` links to its final
//! name: the offered name made safe ([`safe_file_name`]: no folders, controls or hidden
//! files), numbered when taken, and never put in an existing file's place (a hard link fails
//! rather than replace). The page checks the SHA-256 before it calls `finish`; here, no more
//! bytes than announced are taken, and a file that ends short is not saved.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest as _, Sha256};
use tauri::{AppHandle, Manager, Runtime};

use crate::error::AppError;
use crate::state::lock;

/// Longest saved name, in characters (the extension kept).
const MAX_NAME_CHARS: usize = 120;
/// Files being received at once, at most (each holds an open file).
const MAX_OPEN: usize = 32;

/// One file being received.
struct Receiving {
    file: File,
    part: PathBuf,
    dir: PathBuf,
    name: String,
    announced: u64,
    written: u64,
    /// SHA-256 of what was written (the page asks for it when bytes came by [`route`]).
    hash: Sha256,
}

/// How often a routed channel tells the page how far it got, in bytes.
const REPORT_BYTES: u64 = 256 * 1024;

/// A bridged data channel whose binary messages go into a file being received.
struct Route {
    handle: String,
    reported: u64,
}

/// Routed channels, by connection id and channel number.
fn routes() -> &'static Mutex<HashMap<(String, u32), Route>> {
    static ROUTES: OnceLock<Mutex<HashMap<(String, u32), Route>>> = OnceLock::new();
    ROUTES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Files being received, by the handle `file_save_open` gave the page.
fn open_files() -> &'static Mutex<HashMap<String, Receiving>> {
    static OPEN: OnceLock<Mutex<HashMap<String, Receiving>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashMap::new()))
}

fn refused(message: impl Into<String>) -> AppError {
    AppError::ReceivedFile(message.into())
}

/// Whether `c` must not be in a file name: controls, bidirectional controls (U+202E shows
/// `exe.txt` for `txt.exe`), zero-width characters, and what file systems refuse.
fn unwanted(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{180e}' | '\u{00ad}')
}

/// The name to save an offered file under (the page's `safeFileName` does the same): its last
/// path part, no controls or bidirectional tricks, `<>:"|?*` as `_`, no leading dots or spaces
/// (nothing hidden: `../../.bashrc` is `bashrc`) or trailing ones, at most [`MAX_NAME_CHARS`]
/// characters with the extension kept; `file` when nothing is left.
pub fn safe_file_name(offered: &str) -> String {
    let visible: String = offered.chars().filter(|c| !unwanted(*c)).collect();
    let last = visible.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last.chars().map(|c| if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c }).collect();
    let kept = kept.trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']);
    let count = kept.chars().count();
    let name = if count <= MAX_NAME_CHARS {
        kept.to_owned()
    } else {
        let ext = kept.rfind('.').filter(|&i| i > 0).map(|i| &kept[i..]).filter(|e| e.chars().count() <= 16).unwrap_or("");
        let stem: String = kept.chars().take(MAX_NAME_CHARS - ext.chars().count()).collect();
        format!("{stem}{ext}")
    };
    if name.is_empty() { "file".to_owned() } else { name }
}

/// `dir/name`, or `dir/stem (2).ext`, `(3)`… when taken.
fn candidate(dir: &Path, name: &str, n: u32) -> PathBuf {
    if n < 2 {
        return dir.join(name);
    }
    match name.rsplit_once('.').filter(|(stem, _)| !stem.is_empty()) {
        Some((stem, ext)) => dir.join(format!("{stem} ({n}).{ext}")),
        None => dir.join(format!("{name} ({n})")),
    }
}

/// Gives `part` its final name in `dir`: the first free one of `name`, `name (2)`…, by a hard
/// link (which fails rather than replace a file that appeared meanwhile), then drops `part`.
pub fn place(part: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    for n in 1..10_000 {
        let path = candidate(dir, name, n);
        match std::fs::hard_link(part, &path) {
            Ok(()) => {
                std::fs::remove_file(part)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "every numbered name is taken"))
}

/// The person's Downloads folder (`~/Downloads` where the desktop names none).
fn downloads<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, AppError> {
    match app.path().download_dir() {
        Ok(dir) => Ok(dir),
        Err(_) => Ok(app.path().home_dir()?.join("Downloads")),
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AppError {
    let path = path.display().to_string();
    move |source| AppError::Io { action, path, source }
}

/// Starts receiving a file of `size` bytes offered as `name`; answers the handle for the rest.
#[tauri::command]
pub fn file_save_open(app: AppHandle, name: String, size: u64) -> Result<String, AppError> {
    let dir = downloads(&app)?;
    std::fs::create_dir_all(&dir).map_err(io("make the folder", &dir))?;
    let handle = lancall_protocol::ids::random_id();
    let part = dir.join(format!(".lancall-{handle}.part"));
    let file = File::options().write(true).create_new(true).open(&part).map_err(io("start saving to", &part))?;
    let safe = safe_file_name(&name);
    let mut open = lock(open_files());
    if open.len() >= MAX_OPEN {
        drop(open);
        let _ = std::fs::remove_file(&part);
        return Err(refused(format!("Already receiving {MAX_OPEN} files: wait for one to finish.")));
    }
    log::info!("receiving a file: {safe} ({size} bytes announced) into {}", dir.display());
    open.insert(handle.clone(), Receiving { file, part, dir, name: safe, announced: size, written: 0, hash: Sha256::new() });
    Ok(handle)
}

/// Appends `bytes` to the file of `handle`; answers the bytes written so far, and whether that
/// is all that was announced. More than announced, or a write that fails, throws the file away.
fn append(handle: &str, bytes: &[u8]) -> Result<(u64, bool), AppError> {
    let mut open = lock(open_files());
    let Some(r) = open.get_mut(handle) else {
        return Err(refused("That file is not being received (it ended or was cancelled)."));
    };
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if r.written.saturating_add(len) > r.announced {
        let r = open.remove(handle);
        drop(open);
        unroute_handle(handle);
        if let Some(r) = r {
            let _ = std::fs::remove_file(&r.part);
            log::warn!("received file {}: more bytes than the {} announced, thrown away", r.name, r.announced);
        }
        return Err(refused("The sender sent more than the size it announced: the file was thrown away."));
    }
    if let Err(e) = r.file.write_all(bytes) {
        let r = open.remove(handle);
        drop(open);
        unroute_handle(handle);
        if let Some(r) = r {
            let _ = std::fs::remove_file(&r.part);
            return Err(io("save the file to", &r.dir)(e));
        }
        return Err(refused("The file could not be written."));
    }
    r.hash.update(bytes);
    r.written += len;
    Ok((r.written, r.written == r.announced))
}

/// From now on, binary messages on channel `channel` of bridged connection `pc` go into the file
/// of `handle` (one channel per file; a channel that replaces a lost one takes its place).
/// Answers the bytes written so far: where a resumed transfer goes on from.
pub fn route(pc: &str, channel: u32, handle: &str) -> Result<u64, AppError> {
    let written = match lock(open_files()).get(handle) {
        Some(r) => r.written,
        None => return Err(refused("That file is not being received (it ended or was cancelled).")),
    };
    let mut routes = lock(routes());
    routes.retain(|_, r| r.handle != handle);
    if routes.len() >= MAX_OPEN {
        return Err(refused(format!("Already receiving {MAX_OPEN} files: wait for one to finish.")));
    }
    routes.insert((pc.to_owned(), channel), Route { handle: handle.to_owned(), reported: written });
    Ok(written)
}

/// Forgets channel `channel` of `pc` (it closed).
pub fn unroute(pc: &str, channel: u32) {
    lock(routes()).remove(&(pc.to_owned(), channel));
}

fn unroute_handle(handle: &str) {
    lock(routes()).retain(|_, r| r.handle != handle);
}

/// What became of a binary message on a routed channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// Written; `report` when the page should hear the new total now.
    Written { bytes: u64, report: bool },
    /// The file was thrown away (more than announced, a write error): the sentence says why.
    Failed(String),
}

/// Takes a binary message that arrived on channel `channel` of `pc` when that channel is
/// routed into a file; `None` when it is not (the message goes to the page).
pub fn channel_bytes(pc: &str, channel: u32, data: &[u8]) -> Option<Routed> {
    let handle = lock(routes()).get(&(pc.to_owned(), channel)).map(|r| r.handle.clone())?;
    Some(match append(&handle, data) {
        Ok((bytes, whole)) => {
            let mut routes = lock(routes());
            let report = match routes.get_mut(&(pc.to_owned(), channel)) {
                Some(r) if bytes >= r.reported + REPORT_BYTES || whole => {
                    r.reported = bytes;
                    true
                }
                _ => false,
            };
            Routed::Written { bytes, report }
        }
        Err(e) => Routed::Failed(e.to_string()),
    })
}

/// How many bytes of `handle` were written, and their SHA-256 (hex).
#[derive(Debug, serde::Serialize)]
pub struct Written {
    pub bytes: u64,
    pub sha256: String,
}

/// See [`Written`].
pub fn digest(handle: &str) -> Result<Written, AppError> {
    let open = lock(open_files());
    let Some(r) = open.get(handle) else {
        return Err(refused("That file is not being received (it ended or was cancelled)."));
    };
    let sum = r.hash.clone().finalize();
    Ok(Written { bytes: r.written, sha256: sum.iter().map(|b| format!("{b:02x}")).collect() })
}

/// Appends the request's body to the file of the `lancall-file` header's handle; answers the
/// bytes written so far. More than announced throws the file away.
#[tauri::command]
pub fn file_save_append(request: tauri::ipc::Request<'_>) -> Result<u64, AppError> {
    let handle = request.headers().get("lancall-file").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(refused("A file's bytes are sent as bytes."));
    };
    append(&handle, bytes).map(|(written, _)| written)
}

/// Ends a file that arrived whole (the page checked its SHA-256): it gets its final name in the
/// Downloads folder; answers where.
#[tauri::command]
pub fn file_save_finish(handle: String) -> Result<String, AppError> {
    let Some(mut r) = lock(open_files()).remove(&handle) else {
        return Err(refused("That file is not being received (it ended or was cancelled)."));
    };
    unroute_handle(&handle);
    if r.written != r.announced {
        let _ = std::fs::remove_file(&r.part);
        return Err(refused(format!("The file ended after {} of the {} bytes announced: it was not saved.", r.written, r.announced)));
    }
    let synced = r.file.flush().and_then(|()| r.file.sync_all());
    drop(r.file);
    if let Err(e) = synced {
        let _ = std::fs::remove_file(&r.part);
        return Err(io("save the file to", &r.dir)(e));
    }
    match place(&r.part, &r.dir, &r.name) {
        Ok(path) => {
            log::info!("received file saved: {} ({} bytes)", path.display(), r.written);
            Ok(path.display().to_string())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&r.part);
            Err(io("name the file in", &r.dir)(e))
        }
    }
}

/// Throws away a file being received (cancelled, damaged, or the sender left).
#[tauri::command]
pub fn file_save_abort(handle: String) -> Result<(), AppError> {
    unroute_handle(&handle);
    if let Some(r) = lock(open_files()).remove(&handle) {
        drop(r.file);
        if let Err(e) = std::fs::remove_file(&r.part) {
            log::warn!("could not remove {}: {e}", r.part.display());
        }
        log::info!("received file {} thrown away after {} bytes", r.name, r.written);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{channel_bytes, digest, lock, open_files, place, route, safe_file_name, unroute, Receiving, Routed, REPORT_BYTES};
    use sha2::{Digest as _, Sha256};

    /// A file being received into `dir`, as `file_save_open` makes one, under `handle`.
    fn receiving(dir: &std::path::Path, handle: &str, announced: u64) -> std::path::PathBuf {
        let part = dir.join(format!(".lancall-{handle}.part"));
        let file = std::fs::File::options().write(true).create_new(true).open(&part).expect("part file");
        let r = Receiving { file, part: part.clone(), dir: dir.to_owned(), name: "x.bin".into(), announced, written: 0, hash: Sha256::new() };
        lock(open_files()).insert(handle.to_owned(), r);
        part
    }

    #[test]
    fn a_routed_channel_writes_and_hashes_in_rust_and_reports_now_and_then() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let part = receiving(dir.path(), "route-test-a", data.len() as u64);
        assert!(channel_bytes("pc-a", 5, &data[..10]).is_none(), "not routed yet: the page gets it");
        assert_eq!(route("pc-a", 5, "route-test-a").expect("routed"), 0);
        let mut reports = vec![];
        for chunk in data.chunks(65_536) {
            match channel_bytes("pc-a", 5, chunk) {
                Some(Routed::Written { bytes, report }) => {
                    if report {
                        reports.push(bytes);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Every REPORT_BYTES or so, and the whole file.
        assert_eq!(reports.last().copied(), Some(data.len() as u64), "{reports:?}");
        assert!(reports.len() >= 2 && reports[0] >= REPORT_BYTES, "{reports:?}");
        let spaced = &reports[..reports.len() - 1];
        assert!(spaced.windows(2).all(|w| w[1] - w[0] >= REPORT_BYTES), "not after every message: {reports:?}");
        let d = digest("route-test-a").expect("digest");
        assert_eq!(d.bytes, data.len() as u64);
        let want: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(d.sha256, want);
        assert_eq!(std::fs::read(&part).expect("part"), data);
        // A channel that replaces a lost one takes the route, from what the file holds.
        assert_eq!(route("pc-a", 6, "route-test-a").expect("rerouted"), data.len() as u64);
        assert!(channel_bytes("pc-a", 5, b"x").is_none(), "the old channel is no longer routed");
        unroute("pc-a", 6);
        assert!(channel_bytes("pc-a", 6, b"x").is_none());
        lock(open_files()).remove("route-test-a");
    }

    #[test]
    fn more_than_announced_on_a_routed_channel_throws_the_file_away_with_a_sentence() {
        let dir = tempfile::tempdir().expect("temp dir");
        let part = receiving(dir.path(), "route-test-b", 100);
        route("pc-b", 1, "route-test-b").expect("routed");
        assert!(matches!(channel_bytes("pc-b", 1, &[1u8; 60]), Some(Routed::Written { bytes: 60, .. })));
        match channel_bytes("pc-b", 1, &[2u8; 60]) {
            Some(Routed::Failed(why)) => assert!(why.contains("more than the size it announced"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!part.exists(), "the part file is gone");
        assert!(channel_bytes("pc-b", 1, b"more").is_none(), "and the route with it");
        assert!(digest("route-test-b").is_err());
        assert!(route("pc-b", 1, "no-such-handle").is_err());
    }

    #[test]
    fn hostile_names_become_a_plain_file_in_the_folder() {
        assert_eq!(safe_file_name("../../.bashrc"), "bashrc");
        assert_eq!(safe_file_name("..\\..\\windows\\system.ini"), "system.ini");
        assert_eq!(safe_file_name("/etc/passwd"), "passwd");
        assert_eq!(safe_file_name("report\u{202e}fdp.exe"), "reportfdp.exe");
        assert_eq!(safe_file_name("a\u{0}b\nc\td.txt"), "abcd.txt");
        assert_eq!(safe_file_name("what?.txt"), "what_.txt");
        assert_eq!(safe_file_name("..."), "file");
        assert_eq!(safe_file_name(""), "file");
        assert_eq!(safe_file_name("Zoë's notes.pdf"), "Zoë's notes.pdf");
        let long = format!("{}.tar.gz", "x".repeat(300));
        let safe = safe_file_name(&long);
        assert_eq!(safe.chars().count(), 120);
        assert!(safe.ends_with("xx.gz"), "{safe}");
    }

    #[test]
    fn a_received_file_never_takes_an_existing_files_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let existing = dir.path().join("notes.txt");
        std::fs::write(&existing, b"mine").expect("write");
        let part = dir.path().join(".x.part");
        std::fs::write(&part, b"theirs").expect("write");
        let placed = place(&part, dir.path(), "notes.txt").expect("placed");
        assert_eq!(placed, dir.path().join("notes (2).txt"));
        assert_eq!(std::fs::read(&existing).expect("read"), b"mine");
        assert_eq!(std::fs::read(&placed).expect("read"), b"theirs");
        assert!(!part.exists());
        std::fs::write(&part, b"again").expect("write");
        assert_eq!(place(&part, dir.path(), "notes.txt").expect("placed"), dir.path().join("notes (3).txt"));
        std::fs::write(&part, b"bare").expect("write");
        assert_eq!(place(&part, dir.path(), "README").expect("placed"), dir.path().join("README"));
    }
}
