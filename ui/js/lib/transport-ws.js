// WebSocket transport: a browser talking to the hub at wss://HOST/ws.
import { Transport } from './transport.js';

export class WebSocketTransport extends Transport {
  /** @param {string} url e.g. wss://10.0.0.2:8443/ws */
  constructor(url) {
    super();
    this.url = url;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (/** @type {any} */ err) {
      // A malformed URL throws synchronously; report it like any failed connection.
      queueMicrotask(() => this.emitClose(1006, String(err?.message ?? err), false));
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => this.emitOpen());
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return; // the protocol is text frames only
      let message;
      try {
        message = JSON.parse(ev.data);
      } catch {
        console.warn('lancall: dropped a frame that is not JSON');
        return;
      }
      if (message && typeof message === 'object' && typeof message.type === 'string') {
        this.emitMessage(message);
      }
    });
    ws.addEventListener('close', (ev) => {
      this.emitClose(ev.code, ev.reason, this.readyState === 'open');
    });
  }

  /** @param {object} message */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  close() {
    if (!this.ws) return;
    // Browsers only allow 1000 or 3000-4999 from script.
    try {
      this.ws.close(1000);
    } catch {
      /* already closing */
    }
    // Closing an already-dead socket fires no event in some engines: report it ourselves.
    if (this.readyState !== 'open') this.emitClose(1000, 'closed by client', false);
  }
}

/** The hub's signaling URL for a host address such as "10.0.0.2:8443". */
/** @param {string} hostAddress */
export function hubWebSocketUrl(hostAddress) {
  return `wss://${hostAddress}/ws`;
}
