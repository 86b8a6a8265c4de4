// A connection to the hub opened while the person is still on the pre-join card, so that Join
// does not wait for a TLS handshake (about 25 ms of the first picture: bench/first-picture.md).
// It only pings (the hub closes a silent connection after 30 s); Join takes it over, and if it
// has closed meanwhile Join simply opens a new one.
import { S } from './state.js';
import { transportFor } from '../lib/transport-for.js';

/** How often the waiting connection says it is alive (under the hub's 30 s idle limit). */
const PING_EVERY_MS = 20_000;

/** @type {{host: string, transport: import('../lib/transport.js').Transport, ping: ReturnType<typeof setInterval>} | null} */
let warm = null;

/**
 * Opens a connection to `host` for the Join to come, unless one is open or opening already.
 * Only on the pre-join card, once the page is ready.
 * @param {string} host
 */
export function warmUp(host) {
  if (warm && warm.host === host && warm.transport.readyState !== 'closed') return;
  dropWarm();
  if (!host || S.phase !== 'prejoin' || !S.ready) return;
  const transport = transportFor(host);
  const w = { host, transport, ping: setInterval(() => transport.send({ type: 'ping' }), PING_EVERY_MS) };
  transport.addEventListener('close', () => {
    if (warm === w) {
      clearInterval(w.ping);
      warm = null;
    }
  });
  warm = w;
}

/**
 * The waiting connection to `host`, handed over (it is no longer ours), or null.
 * @param {string} host
 */
export function takeWarm(host) {
  const w = warm;
  if (!w || w.host !== host || w.transport.readyState === 'closed') {
    dropWarm();
    return null;
  }
  clearInterval(w.ping);
  warm = null;
  return w.transport;
}

/** Closes the waiting connection, if any. */
export function dropWarm() {
  const w = warm;
  if (!w) return;
  warm = null;
  clearInterval(w.ping);
  w.transport.close();
}
