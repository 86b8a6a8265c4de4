// The one place that touches the browser's global RTCPeerConnection. The call logic receives a
// factory instead, so a webview without WebRTC (Linux WebKitGTK) can hand in a Rust-backed
// implementation with the same interface.

/**
 * @returns {((config: RTCConfiguration) => RTCPeerConnection) | null} a factory, or null when
 * this engine has no RTCPeerConnection.
 */
export function browserPeerConnectionFactory() {
  const Ctor = globalThis.RTCPeerConnection;
  if (typeof Ctor !== 'function') return null;
  return (config) => new Ctor(config);
}
