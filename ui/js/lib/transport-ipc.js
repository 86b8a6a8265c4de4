// IPC transport: the app's webview talking to the app's own Rust side over Tauri IPC, which
// carries the messages on to a hub: in-process when this device hosts, or over WSS to another
// host whose certificate fingerprint the app pinned. The webview never opens a TLS connection
// to a host itself. Same interface as transport-ws.js (see transport.js).
//
// Rust side (src-tauri/src/signaling.rs): commands `signaling_open {session, host}`,
// `signaling_send {session, texts}`, `signaling_close {session}`; one event,
// `lancall:signaling`, with {session, kind: 'open'|'message'|'close', text?, code?, reason?,
// error?, was_open}. Texts are the hub's JSON, unchanged.
import { Transport } from './transport.js';
import { invoke, listen } from './tauri.js';
import { randomId } from './ids.js';

const SIGNALING_EVENT = 'lancall:signaling';

/** Open transports by session id. */
const sessions = new Map();
/** @type {Promise<() => void> | null} */
let listening = null;

/** One listener for every session, registered before the first session opens. */
function listenOnce() {
  if (!listening) {
    listening = listen(SIGNALING_EVENT, (e) => {
      sessions.get(e?.session)?.onEvent(e);
    });
  }
  return listening;
}

export class IpcTransport extends Transport {
  /** @param {string} host "host:port" as the app's prepare_join returned it */
  constructor(host) {
    super();
    this.host = host;
    this.session = randomId(12);
    /** The app's error code when opening failed (e.g. 'identity-changed'), else null. */
    this.error = null;
    /** @type {string[]} texts waiting to go (flush) */
    this.queue = [];
    this.flushing = false;
    sessions.set(this.session, this);
    listenOnce()
      .then(() => {
        if (this.readyState === 'closed') return undefined;
        return invoke('signaling_open', { session: this.session, host });
      })
      .catch((err) => this.finish(1006, err?.message ?? String(err), false, err?.code ?? null));
  }

  /**
   * @private
   * @param {{session: string, kind: string, text?: string, code?: number, reason?: string, error?: string, was_open?: boolean}} e
   */
  onEvent(e) {
    switch (e.kind) {
      case 'open':
        this.emitOpen();
        break;
      case 'message': {
        let message;
        try {
          message = JSON.parse(e.text ?? '');
        } catch {
          console.warn('lancall: dropped a message that is not JSON');
          return;
        }
        if (message && typeof message === 'object' && typeof message.type === 'string') this.emitMessage(message);
        break;
      }
      case 'close':
        this.finish(e.code ?? 1006, e.reason ?? '', !!e.was_open, e.error ?? null);
        break;
      default:
        break;
    }
  }

  /** @param {object} message */
  send(message) {
    if (this.readyState !== 'open') return false;
    this.queue.push(JSON.stringify(message));
    this.flush();
    return true;
  }

  /** Sends queued texts in one call at a time, so they reach the hub in order. @private */
  flush() {
    if (this.flushing || !this.queue.length || this.readyState !== 'open') return;
    this.flushing = true;
    const texts = this.queue.splice(0);
    invoke('signaling_send', { session: this.session, texts })
      .catch((err) => console.warn('lancall: a signaling message was not sent', err?.message ?? err))
      .finally(() => {
        this.flushing = false;
        this.flush();
      });
  }

  close() {
    if (this.readyState === 'closed') return;
    const wasOpen = this.readyState === 'open';
    invoke('signaling_close', { session: this.session }).catch(() => {});
    this.finish(1000, 'closed by client', wasOpen, null);
  }

  /** @private @param {number} code @param {string} reason @param {boolean} wasOpen @param {string|null} error */
  finish(code, reason, wasOpen, error) {
    sessions.delete(this.session);
    if (error) this.error = error;
    this.emitClose(code, reason, wasOpen);
  }
}
