// The transport interface between the signaling client and a hub.
//
// A transport carries whole protocol messages (plain objects, see docs/PROTOCOL.md) and
// nothing else. Implementations: transport-ws.js (a browser talking WSS to the hub) and
// transport-ipc.js (the app's webview, over Tauri IPC to the app's Rust side, which carries the
// messages on). transport-for.js picks one for a host; nothing above this layer differs.
//
// A transport is an EventTarget with:
//   send(message)   queue one message object; returns false if it could not be sent
//   close()         close for good; a `close` event follows
//   readyState      'connecting' | 'open' | 'closed'
// and events (CustomEvent, payload in `detail`):
//   open            the hub can be talked to
//   message         detail: the message object
//   close           detail: { code, reason, wasOpen } - after this the transport is dead
//
// A transport never reconnects by itself: the signaling client makes a new one.

/** @typedef {{type: string, [field: string]: any}} HubMessage one protocol message (docs/PROTOCOL.md) */

/** Base class with the event plumbing that every transport shares. */
export class Transport extends EventTarget {
  constructor() {
    super();
    /** @type {'connecting'|'open'|'closed'} */
    this.readyState = 'connecting';
  }

  /** @protected */
  emitOpen() {
    if (this.readyState !== 'connecting') return;
    this.readyState = 'open';
    this.dispatchEvent(new CustomEvent('open'));
  }

  /** @protected @param {HubMessage} message */
  emitMessage(message) {
    this.dispatchEvent(new CustomEvent('message', { detail: message }));
  }

  /** @protected @param {number} code @param {string} reason @param {boolean} wasOpen */
  emitClose(code, reason, wasOpen) {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason, wasOpen } }));
  }

  /** @param {object} _message @returns {boolean} */
  send(_message) {
    throw new Error('Transport.send is not implemented');
  }

  close() {
    throw new Error('Transport.close is not implemented');
  }
}
