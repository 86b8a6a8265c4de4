// Where a received file's bytes go (files.js's FileSink), written as they arrive so that a large
// file is never held whole in the page:
// - in a browser, the origin-private file system (OPFS: a file on disk the page may write,
//   `navigator.storage.getDirectory()`), then a download of that file; where there is no OPFS,
//   Blobs of BLOB_PART_BYTES each (Chromium keeps large Blobs out of the page's heap);
// - in the app, its Rust side (src-tauri/src/commands/files.rs): open, append, finish, abort,
//   each append one IPC call of up to WRITE_BYTES, never the whole file in one message.

import { invoke } from './tauri.js';

/** Bytes gathered before one write (one IPC call in the app, one OPFS write in a browser). */
const WRITE_BYTES = 1024 * 1024;
/** Without OPFS: bytes per Blob part. */
const BLOB_PART_BYTES = 16 * 1024 * 1024;
/** The OPFS folder for received files (what an earlier page left is removed on the next call). */
const OPFS_DIR = 'lancall-received';

/** @typedef {import('./files.js').FileSink} FileSink */

/** Gathers chunks into writes of about WRITE_BYTES. */
class Batcher {
  /** @param {(bytes: Uint8Array) => Promise<void>} flush */
  constructor(flush) {
    this.flushTo = flush;
    /** @type {Uint8Array[]} */
    this.parts = [];
    this.size = 0;
  }

  /** @param {Uint8Array} chunk */
  async add(chunk) {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= WRITE_BYTES) await this.flush();
  }

  async flush() {
    if (!this.size) return;
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    this.parts = [];
    this.size = 0;
    await this.flushTo(out);
  }
}

/**
 * The received bytes as a download of no particular type: the browser neither trusts the
 * sender's word for the type nor guesses one from the contents, so it adds no extension of its
 * own to the safe name (it made `bashrc` into `bashrc.txt`).
 * @param {Blob} blob
 */
function untyped(blob) {
  return new Blob([blob], { type: 'application/octet-stream' });
}

/** Whether this browser has the origin-private file system with writable streams. */
function hasOpfs() {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function' &&
    typeof (/** @type {any} */ (globalThis).FileSystemFileHandle?.prototype?.createWritable) === 'function';
}

/** Removes what earlier pages left in the OPFS folder (call once per page). */
export async function clearReceivedLeftovers() {
  if (!hasOpfs()) return;
  try {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(OPFS_DIR, { recursive: true });
  } catch {
    /* nothing there */
  }
}

/**
 * A sink for a browser: the bytes go to disk (OPFS) or Blob parts; `finish` hands the whole
 * file to `deliver` (which starts the download) and resolves to null.
 * @param {string} id the transfer's id (the OPFS file's name)
 * @param {(file: Blob) => void} deliver
 * @returns {Promise<FileSink & {kind: string}>}
 */
export async function browserSink(id, deliver) {
  if (hasOpfs()) {
    try {
      return await opfsSink(id, deliver);
    } catch (err) {
      console.warn('lancall: no OPFS for a received file, keeping it in memory', err);
    }
  }
  /** @type {Blob[]} */
  const blobs = [];
  /** @type {Uint8Array[]} */
  let parts = [];
  let size = 0;
  const seal = () => {
    if (!parts.length) return;
    blobs.push(new Blob(/** @type {BlobPart[]} */ (parts)));
    parts = [];
    size = 0;
  };
  return {
    kind: 'memory',
    async write(chunk) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= BLOB_PART_BYTES) seal();
    },
    async finish() {
      seal();
      deliver(untyped(new Blob(blobs)));
      return null;
    },
    async abort() {
      parts = [];
      blobs.length = 0;
    },
  };
}

/** @param {string} id @param {(file: Blob) => void} deliver @returns {Promise<FileSink & {kind: string}>} */
async function opfsSink(id, deliver) {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(OPFS_DIR, { create: true });
  const handle = await dir.getFileHandle(id, { create: true });
  const writable = await /** @type {any} */ (handle).createWritable({ keepExistingData: false });
  const batch = new Batcher((bytes) => writable.write(bytes));
  const remove = () => dir.removeEntry(id).catch(() => {});
  return {
    kind: 'opfs',
    write: (chunk) => batch.add(chunk),
    async finish() {
      await batch.flush();
      await writable.close();
      // Kept while the page is open (its Save again button reads it); the next call's page
      // removes it (clearReceivedLeftovers).
      deliver(untyped(await handle.getFile()));
      return null;
    },
    async abort() {
      await writable.abort().catch(() => {});
      await remove();
    },
  };
}

/**
 * A sink for the app: its Rust side writes the file into the Downloads folder under a safe
 * name that takes no existing file's place; `finish` resolves to where it was saved. When the
 * transfer's channel is one of the Linux app's Rust-backed channels (rtc-bridge.js), the bytes
 * need not come through the page at all: `routed` hands the channel's bytes to the file in Rust
 * and `digest` says how many were written and their SHA-256.
 * @param {string} name the name offered (the Rust side makes it safe)
 * @param {number} size the bytes announced (the Rust side refuses more)
 * @param {RTCDataChannel|null} [channel] the transfer's channel
 * @returns {Promise<FileSink & {kind: string}>}
 */
export async function appSink(name, size, channel = null) {
  /** @type {string} */
  const handle = await invoke('file_save_open', { name, size });
  const batch = new Batcher((bytes) => invoke('file_save_append', bytes, { headers: { 'lancall-file': handle } }));
  /** @type {FileSink & {kind: string}} */
  const sink = {
    kind: 'app',
    write: (chunk) => batch.add(chunk),
    async finish() {
      await batch.flush();
      return invoke('file_save_finish', { handle });
    },
    async abort() {
      await invoke('file_save_abort', { handle }).catch(() => {});
    },
  };
  if (channel && typeof (/** @type {any} */ (channel).saveBytesTo) === 'function') {
    sink.kind = 'app-routed';
    sink.routed = (dc) => /** @type {any} */ (dc).saveBytesTo(handle);
    sink.digest = () => invoke('rtc_channel_digest', { handle });
  }
  return sink;
}
