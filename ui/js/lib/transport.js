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

/** Base class with the event plumbing that every transport shares. */
export class Transport extends EventTarget {
  constructor() {
    super();
    this.readyState = 'connecting';
  }

  /** @protected */
  emitOpen() {
    if (this.readyState !== 'connecting') return;
    this.readyState = 'open';
    this.dispatchEvent(new CustomEvent('open'));
  }

  /** @protected */
  emitMessage(message) {
    this.dispatchEvent(new CustomEvent('message', { detail: message }));
  }

  /** @protected */
  emitClose(code, reason, wasOpen) {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason, wasOpen } }));
  }

  send(_message) {
    throw new Error('Transport.send is not implemented');
  }

  close() {
    throw new Error('Transport.close is not implemented');
  }
}
