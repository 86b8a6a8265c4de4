// Random ids: call sessions, signaling sessions, the Rust-backed connections and their sources.

/**
 * `byteCount` random bytes as lowercase hex (twice as many characters).
 * @param {number} [byteCount]
 * @returns {string}
 */
export function randomId(byteCount = 16) {
  const bytes = new Uint8Array(byteCount);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
