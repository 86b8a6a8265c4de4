// A small W3C WebDriver client (fetch, no dependencies): enough to drive the lancall app through
// tauri-driver and WebKitWebDriver.

export class WebDriverError extends Error {
  constructor(status, value) {
    super(`${value?.error ?? status}: ${value?.message ?? ''}`.trim());
    this.status = status;
    this.error = value?.error;
  }
}

/**
 * How long one WebDriver command may take. Without a bound, a webview that froze held a test for
 * 300 s (node's fetch gives up on headers after that) and said only "fetch failed". WebDriver's
 * own script timeout is 30 s, so a live page always answers well within this.
 */
const commandTimeoutMs = () => Number(process.env.LANCALL_WEBDRIVER_TIMEOUT_MS) || 60_000;

export class FrozenError extends Error {}

async function call(base, method, path, body, onHang) {
  // A new session starts the app: allow that more.
  const timeoutMs = commandTimeoutMs() * (onHang ? 1 : 2);
  let res;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err?.name !== 'TimeoutError') throw err;
    const where = onHang ? await onHang(`${method} ${path}`).catch((e) => `(no stacks: ${e.message})`) : '';
    throw new FrozenError(`the app did not answer WebDriver's ${method} ${path.replace(/^\/session\/[^/]+/, '')} within ${timeoutMs / 1000} s: its webview is frozen${where ? `; ${where}` : ''}`);
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new WebDriverError(res.status, json.value);
  return json.value;
}

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  /** Creates a session; retried, since about 1 in 13 creations loses its connection (TESTING.md). */
  static async create(base, capabilities, { attempts = 3 } = {}) {
    let last;
    for (let i = 0; i < attempts; i += 1) {
      try {
        const value = await call(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
        return new Session(base, value.sessionId);
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    throw last;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body, this.onHang);
  }

  async quit() {
    try {
      await this.cmd('DELETE', '');
    } catch {
      /* the app may already be gone */
    }
  }

  /** Runs `fn` (a function's source) in the page with `args`; awaits a returned promise. */
  execute(fn, ...args) {
    const script = `return (${fn}).apply(null, arguments);`;
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  /** Like execute, for async functions: resolves with their result, rejects with their error. */
  async run(fn, ...args) {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn}).apply(null, Array.from(arguments).slice(0, -1)))
        .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ err: String(e && (e.message || e)) }));`;
    const r = await this.cmd('POST', '/execute/async', { script, args });
    if (r && 'err' in r) throw new Error(`in the page: ${r.err}`);
    return r?.ok;
  }

  async find(css) {
    const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    // The W3C element reference is the object's only value.
    return Object.values(v)[0];
  }

  /**
   * Clicks `css` once it stands still: WebDriver clicks at the element's centre, so a click
   * during a smooth scroll (the home screen scrolls to the pre-join card) lands beside it.
   */
  async click(css) {
    const el = await this.find(css);
    let last = null;
    for (let i = 0; i < 40; i += 1) {
      const where = await this.execute((sel) => {
        const r = document.querySelector(sel)?.getBoundingClientRect();
        return r ? `${Math.round(r.x)},${Math.round(r.y)},${Math.round(r.width)},${Math.round(r.height)}` : null;
      }, css);
      if (where !== null && where === last) break;
      last = where;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.cmd('POST', `/element/${el}/click`, {});
  }

  async type(css, text) {
    const el = await this.find(css);
    await this.cmd('POST', `/element/${el}/clear`, {});
    await this.cmd('POST', `/element/${el}/value`, { text });
  }

  async text(css) {
    const el = await this.find(css);
    return this.cmd('GET', `/element/${el}/text`);
  }

  /** Polls `fn` in the page until it returns something truthy; returns that. */
  async waitFor(fn, { timeout = 15_000, interval = 150, what = String(fn) } = {}, ...args) {
    const end = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        last = await this.execute(fn, ...args);
        if (last) return last;
      } catch (err) {
        // A frozen page will not thaw within the wait: say so now.
        if (err instanceof FrozenError) throw err;
        last = err;
      }
      if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, interval));
    }
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }
}
