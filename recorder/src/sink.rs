//! The file a writer writes: buffered, written only at element boundaries, patchable in place,
//! and able to go back to its last good state after a failed write (a full disk), so that what
//! is on disk is always whole elements.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes gathered before they go to the file (a few seconds of a call's media).
const FLUSH_AT: usize = 256 * 1024;

pub(crate) struct FileSink {
    file: File,
    path: PathBuf,
    /// Whole elements not yet written.
    buf: Vec<u8>,
    /// Bytes in the file: everything before this offset is whole elements.
    flushed: u64,
}

impl FileSink {
    /// Makes `path`, which must not exist (a recording never overwrites a file).
    pub fn create(path: &Path) -> io::Result<FileSink> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(FileSink { file, path: path.to_owned(), buf: Vec::with_capacity(FLUSH_AT), flushed: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next byte goes.
    pub fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// Bytes known to be in the file.
    pub fn flushed(&self) -> u64 {
        self.flushed
    }

    /// Appends whole elements (`parts` together make one or more whole elements); writes the
    /// buffer out once it is large.
    pub fn append(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffer to the file. On failure the file is cut back to what it held before
    /// (whole elements) and the buffer is dropped: the error says why.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.flushed += self.buf.len() as u64;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                self.buf.clear();
                self.cut_back();
                Err(e)
            }
        }
    }

    /// Drops a part-written tail: the file ends at the last whole element again.
    fn cut_back(&mut self) {
        let at = self.flushed;
        if let Err(e) = self.file.set_len(at) {
            log::warn!("recording {}: could not cut a part-written tail off: {e}", self.path.display());
        }
        if let Err(e) = self.file.seek(SeekFrom::Start(at)) {
            log::warn!("recording {}: could not go back to its end: {e}", self.path.display());
        }
    }

    /// Overwrites `bytes` at `at` (already appended: in the buffer or in the file). Writing over
    /// bytes the file has needs no new room on the disk, so this works on a full disk too.
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        let end = at + bytes.len() as u64;
        if end > self.position() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a patch past the end"));
        }
        // The part in the buffer.
        if end > self.flushed {
            let from = at.max(self.flushed);
            let skip = (from - at) as usize;
            let start = (from - self.flushed) as usize;
            self.buf[start..start + bytes.len() - skip].copy_from_slice(&bytes[skip..]);
        }
        // The part in the file.
        if at < self.flushed {
            let len = (self.flushed.min(end) - at) as usize;
            self.file.seek(SeekFrom::Start(at))?;
            let written = self.file.write_all(&bytes[..len]);
            self.file.seek(SeekFrom::Start(self.flushed))?;
            written?;
        }
        Ok(())
    }

    /// Drops whatever was appended after `at` (not yet written or already in the file).
    pub fn truncate(&mut self, at: u64) {
        if at >= self.flushed {
            self.buf.truncate((at - self.flushed) as usize);
        } else {
            self.buf.clear();
            self.flushed = at;
            self.cut_back();
        }
    }

    /// Asks the disk to keep what was written (end of a recording).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
