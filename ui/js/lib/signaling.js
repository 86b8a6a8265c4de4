// The lancall signaling client (docs/PROTOCOL.md): joins a room through a transport, keeps the
// membership alive, and rejoins with backoff when the transport drops. It knows nothing about
// WebRTC or the page; call.js builds on it and the page (page/join.js) shows what it reports.
//
// Events (CustomEvent, payload in `detail`):
//   status       { state: 'connecting'|'joined'|'reconnecting'|'failed'|'closed', attempt?, retryInMs?, reason? }
//   welcome      the hub's welcome message (again after every rejoin, with a new self id)
//   peer-joined  { peer }
//   peer-left    { peer, reason }
//   signal       { from, data }
//   hub-error    the hub's error message, for errors that do not end the session (e.g. unknown-peer)
//   fatal        { code, message } - the join cannot succeed as it is (wrong link, room full, bad
//                name); no retry is scheduled. start() again to retry.
//   closing      { message } - the host is shutting down; a rejoin follows by itself
//   knock-wait   {} - a knock reached the host, which is deciding (start({ knock: true }))
//   admitted     { token } - the host let us in; the join follows by itself

/** Error codes after which retrying the same join is pointless: the same list as
 * lancall-protocol's `ErrorCode::ends_join` (a test there compares them). */
const FATAL_JOIN_CODES = new Set([
  'rate-limited',
  'already-knocking',
  'wrong-token',
  'unknown-room',
  'room-full',
  'invalid-name',
  'missing-field',
  'invalid-field',
]);

/**
 * Backoff between reconnect attempts: 0.5 s doubling to 8 s, with ±25 % jitter.
 * @param {number} attempt 1 for the first retry
 */
export function backoffDelay(attempt) {
  const base = Math.min(8000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** How often to send `ping`, and how long a silent hub is trusted before reconnecting. */
const PING_INTERVAL_MS = 5000;
const SILENCE_LIMIT_MS = 15000;

export class SignalingClient extends EventTarget {
  /**
   * @param {object} opts
   * @param {() => import('./transport.js').Transport} opts.connect gives a transport for each
   *   try: a fresh one, or one opened ahead of time (open already, or still connecting)
   * @param {string} opts.room
   * @param {string|null} opts.token
   * @param {string} opts.name
   */
  constructor({ connect, room, token, name }) {
    super();
    this.connect = connect;
    this.room = room;
    this.token = token || null;
    this.name = name;
    this.transport = null;
    this.selfId = null;
    this.joined = false;
    this.stopped = true;
    this.attempt = 0;
    this.everJoined = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    this.lastHeard = 0;
  }

  /**
   * Connect and join; rejoins by itself until stop() or a fatal error.
   * @param {{knock?: boolean}} [opts] knock: ask the host to be let in (no token), then join
   */
  start({ knock = false } = {}) {
    this.knocking = knock;
    this.stopped = false;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    this.open();
  }

  /** While waiting to reconnect, try at once instead (the person pressed "Retry now"). */
  retryNow() {
    if (this.stopped || this.transport) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  /** Send `leave` if joined, then close for good. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const t = this.transport;
    this.transport = null;
    if (t) {
      if (this.joined) t.send({ type: 'leave' });
      t.close();
    }
    this.joined = false;
    this.emit('status', { state: 'closed' });
  }

  /**
   * Relay `data` to one peer. Returns false while not joined (the message is not queued).
   * @param {string} to a peer id
   * @param {object} data
   */
  signal(to, data) {
    if (!this.joined || !this.transport) return false;
    return this.transport.send({ type: 'signal', to, data });
  }

  /**
   * Send a `media-*` message to the host's SFU (rooms whose topology is `sfu`). Returns false
   * while not joined (the message is not queued).
   * @param {'media-description'|'media-candidate'|'media-want'} type
   * @param {object} fields
   */
  media(type, fields) {
    if (!this.joined || !this.transport) return false;
    return this.transport.send({ type, ...fields });
  }

  /**
   * Ask the host to start (true) or stop (false) recording the room (where `welcome.recordOnHost`
   * says participants may). Returns false while not joined.
   * @param {boolean} active
   */
  record(active) {
    if (!this.joined || !this.transport) return false;
    return this.transport.send({ type: 'record', active });
  }

  /** @private @param {string} type @param {unknown} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @private */
  open() {
    if (this.stopped) return;
    this.emit('status', {
      state: this.everJoined ? 'reconnecting' : 'connecting',
      attempt: this.attempt,
    });
    const transport = this.connect();
    this.transport = transport;
    this.joined = false;
    const opened = () => {
      if (this.transport !== transport) return;
      this.lastHeard = Date.now();
      if (this.knocking) transport.send({ type: 'knock', room: this.room, name: this.name });
      else transport.send({ type: 'join', room: this.room, token: this.token, name: this.name });
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(transport), PING_INTERVAL_MS);
    };
    transport.addEventListener('open', opened);
    transport.addEventListener('message', (ev) => {
      if (this.transport !== transport) return;
      this.lastHeard = Date.now();
      this.onMessage(/** @type {CustomEvent} */ (ev).detail);
    });
    transport.addEventListener('close', (ev) => {
      if (this.transport !== transport) return;
      this.transport = null;
      this.joined = false;
      clearInterval(this.pingTimer);
      this.scheduleRetry(/** @type {CustomEvent} */ (ev).detail);
    });
    // A transport opened ahead of time (the page's pre-join card does) is ready at once; one
    // that closed meanwhile counts as a failed try.
    if (transport.readyState === 'open') opened();
    else if (transport.readyState === 'closed') queueMicrotask(() => {
      if (this.transport !== transport) return;
      this.transport = null;
      this.scheduleRetry({ wasOpen: false });
    });
  }

  /** @private @param {import('./transport.js').Transport} transport */
  keepAlive(transport) {
    if (this.transport !== transport) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      // The socket looks open but nothing arrives: drop it and rejoin.
      transport.close();
      return;
    }
    transport.send({ type: 'ping' });
  }

  /** @private @param {{wasOpen?: boolean}|undefined} closeInfo the transport's close details */
  scheduleRetry(closeInfo) {
    if (this.stopped) return;
    this.attempt += 1;
    const retryInMs = backoffDelay(this.attempt);
    this.emit('status', {
      state: 'reconnecting',
      attempt: this.attempt,
      retryInMs,
      everJoined: this.everJoined,
      reason: closeInfo?.wasOpen ? 'dropped' : 'unreachable',
    });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), retryInMs);
  }

  /** @private @param {import('./transport.js').HubMessage} msg */
  onMessage(msg) {
    switch (msg.type) {
      case 'welcome':
        this.joined = true;
        this.everJoined = true;
        this.attempt = 0;
        this.selfId = msg.self?.id ?? null;
        this.emit('status', { state: 'joined' });
        this.emit('welcome', msg);
        break;
      case 'peer-joined':
        this.emit('peer-joined', { peer: msg.peer });
        break;
      case 'peer-left':
        this.emit('peer-left', { peer: msg.peer, reason: msg.reason });
        break;
      case 'signal':
        this.emit('signal', { from: msg.from, data: msg.data });
        break;
      case 'pong':
        break;
      case 'media-description':
      case 'media-layers':
      case 'speakers':
      case 'topology':
      case 'recording':
        this.emit(msg.type, msg);
        break;
      case 'knock-wait':
        this.emit('knock-wait', {});
        break;
      case 'admitted':
        this.knocking = false;
        this.token = msg.token ?? null;
        this.emit('admitted', { token: this.token });
        this.transport?.send({ type: 'join', room: this.room, token: this.token, name: this.name });
        break;
      case 'refused':
        this.fail('refused', msg.message || 'The host did not let you in.');
        break;
      case 'closing':
        this.emit('closing', { message: msg.message || 'The host is shutting down.' });
        break;
      case 'error':
        if ((msg.re === 'join' || msg.re === 'knock') && FATAL_JOIN_CODES.has(msg.code)) {
          this.fail(msg.code, msg.message);
        } else {
          if (msg.code === 'already-joined') break;
          console.warn('lancall hub error', msg.code, msg.message);
          this.emit('hub-error', msg);
        }
        break;
      default:
        // Newer hubs may add message types; ignore them.
        break;
    }
  }

  /**
   * The join cannot succeed as it is: stop, and say why.
   * @private
   * @param {string} code
   * @param {string} message
   */
  fail(code, message) {
    this.stopped = true;
    this.knocking = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const t = this.transport;
    this.transport = null;
    t?.close();
    this.emit('status', { state: 'failed', reason: code });
    this.emit('fatal', { code, message });
  }
}
