//! Saving a file someone sent in the call (ui/js/lib/files.js) into the person's Downloads
//! folder, streamed: `file_save_open` (a name and the size announced), `file_save_append` (the
//! bytes, about 1 MB per call, as the raw request body), then `file_save_finish` or
//! `file_save_abort`. A 200 MB file is never one IPC message, and never held whole here.
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
    open.insert(handle.clone(), Receiving { file, part, dir, name: safe, announced: size, written: 0 });
    Ok(handle)
}

/// Appends the request's body to the file of the `lancall-file` header's handle; answers the
/// bytes written so far. More than announced throws the file away.
#[tauri::command]
pub fn file_save_append(request: tauri::ipc::Request<'_>) -> Result<u64, AppError> {
    let handle = request.headers().get("lancall-file").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(refused("A file's bytes are sent as bytes."));
    };
    let mut open = lock(open_files());
    let Some(r) = open.get_mut(&handle) else {
        return Err(refused("That file is not being received (it ended or was cancelled)."));
    };
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if r.written.saturating_add(len) > r.announced {
        let r = open.remove(&handle);
        drop(open);
        if let Some(r) = r {
            let _ = std::fs::remove_file(&r.part);
            log::warn!("received file {}: more bytes than the {} announced, thrown away", r.name, r.announced);
        }
        return Err(refused("The sender sent more than the size it announced: the file was thrown away."));
    }
    if let Err(e) = r.file.write_all(bytes) {
        let r = open.remove(&handle);
        drop(open);
        if let Some(r) = r {
            let _ = std::fs::remove_file(&r.part);
            return Err(io("save the file to", &r.dir)(e));
        }
        return Err(refused("The file could not be written."));
    }
    r.written += len;
    Ok(r.written)
}

/// Ends a file that arrived whole (the page checked its SHA-256): it gets its final name in the
/// Downloads folder; answers where.
#[tauri::command]
pub fn file_save_finish(handle: String) -> Result<String, AppError> {
    let Some(mut r) = lock(open_files()).remove(&handle) else {
        return Err(refused("That file is not being received (it ended or was cancelled)."));
    };
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
    use super::{place, safe_file_name};

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
