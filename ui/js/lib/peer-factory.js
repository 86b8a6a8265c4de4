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
  makeCertificate(Ctor);
  return (config) => new Ctor(certificate ? { ...config, certificates: [certificate] } : config);
}

/** The page's one DTLS certificate, made ahead (see makeCertificate). @type {RTCCertificate|null} */
let certificate = null;
let asked = false;

/**
 * Makes the DTLS certificate every connection of this page uses, once, as early as the page
 * likes (the pre-join card does): a new connection then does not make its own while the
 * person waits for the picture.
 * @param {typeof RTCPeerConnection | undefined} [Ctor]
 */
export function makeCertificate(Ctor = globalThis.RTCPeerConnection) {
  if (asked || typeof Ctor?.generateCertificate !== 'function') return;
  asked = true;
  Ctor.generateCertificate(/** @type {EcKeyGenParams} */ ({ name: 'ECDSA', namedCurve: 'P-256' }))
    .then((c) => {
      certificate = c;
    })
    .catch(() => {});
}
