// Picks the transport to a hub: IPC inside the app (its Rust side carries the messages on and
// pins the host's certificate), a WebSocket in a browser.
import { inApp } from './tauri.js';
import { IpcTransport } from './transport-ipc.js';
import { WebSocketTransport, hubWebSocketUrl } from './transport-ws.js';

/**
 * The transport for `host` ("host:port"): IPC inside the app, a WebSocket in a browser.
 * @param {string} host
 * @returns {import('./transport.js').Transport}
 */
export function transportFor(host) {
  return inApp() ? new IpcTransport(host) : new WebSocketTransport(hubWebSocketUrl(host));
}
