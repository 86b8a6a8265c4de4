// The one module that touches the Tauri app's global (`globalThis.__TAURI__`, present inside the
// lancall app with `withGlobalTauri`): is this the app, call a command, listen to an event, make
// a channel. Everything else asks here, so a browser and the app differ in one place.

/**
 * @typedef {object} TauriGlobal
 * @property {{ invoke: (cmd: string, args?: unknown, options?: { headers?: Record<string, string> }) => Promise<any>,
 *   Channel?: new () => TauriChannel }} core
 * @property {{ listen: (name: string, fn: (ev: { payload: any }) => void) => Promise<() => void> }} event
 */
/** @typedef {{ onmessage: ((message: any) => void) | null }} TauriChannel */

/** @returns {TauriGlobal | undefined} */
function tauri() {
  return /** @type {any} */ (globalThis).__TAURI__;
}

/** True inside the lancall app (Tauri IPC can be used). */
export function inApp() {
  return typeof tauri()?.core?.invoke === 'function';
}

/** True when the app can also stream to the page (Tauri channels), as the Rust-backed connections need. */
export function hasChannels() {
  return inApp() && typeof tauri()?.core?.Channel === 'function';
}

/**
 * Runs an app command (src-tauri/src/lib.rs lists them). Rejects outside the app.
 * @param {string} cmd
 * @param {unknown} [args] an object of named arguments, or raw bytes
 * @param {{ headers?: Record<string, string> }} [options]
 * @returns {Promise<any>}
 */
export function invoke(cmd, args, options) {
  const t = tauri();
  if (!t) return Promise.reject(new Error(`not in the lancall app (command ${cmd})`));
  return options === undefined ? t.core.invoke(cmd, args) : t.core.invoke(cmd, args, options);
}

/**
 * Calls `fn` with the payload of every app event `name`; resolves once listening.
 * @param {string} name
 * @param {(payload: any) => void} fn
 * @returns {Promise<() => void>} stops listening
 */
export function listen(name, fn) {
  const t = tauri();
  if (!t) return Promise.reject(new Error(`not in the lancall app (event ${name})`));
  return t.event.listen(name, (ev) => fn(ev.payload));
}

/**
 * A channel the app's Rust side streams messages to (pass it as a command argument).
 * @returns {TauriChannel}
 */
export function newChannel() {
  const Channel = tauri()?.core?.Channel;
  if (!Channel) throw new Error('no Tauri channels here');
  return new Channel();
}
