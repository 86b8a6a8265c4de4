// Where to join: read from a join link's fragment (#room=call&token=HEX&fp=HEX) or typed in.

/**
 * @param {string} href
 * @param {string} [defaultHost] the host when the link names none (a page served by the host)
 * @returns {{host: string, room: string, token: string|null, fingerprint: string|null}}
 */
export function parseJoinLink(href, defaultHost) {
  let url;
  try {
    url = new URL(href);
  } catch {
    return { host: defaultHost ?? '', room: '', token: null, fingerprint: null };
  }
  const params = new URLSearchParams(url.hash.replace(/^#/, ''));
  const sameOrigin = url.protocol === 'https:' || url.protocol === 'http:';
  return {
    host: sameOrigin && url.host ? url.host : defaultHost ?? '',
    room: params.get('room') ?? '',
    token: params.get('token') || null,
    fingerprint: params.get('fp') || null,
  };
}

/**
 * Read what a person typed in the address field: a full join link, or "host[:port]".
 * @param {string} text
 * @returns {{host: string, room?: string, token?: string|null}}
 */
export function parseTypedAddress(text) {
  const t = text.trim();
  if (!t) return { host: '' };
  if (/^[a-z]+:\/\//i.test(t)) {
    const link = parseJoinLink(t, '');
    /** @type {{host: string, room?: string, token?: string|null}} */
    const out = { host: link.host };
    if (link.room) out.room = link.room;
    if (link.token) out.token = link.token;
    return out;
  }
  return { host: t.replace(/\/.*$/, '') };
}

export const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const TOKEN_RE = /^[0-9a-f]{32}$/;
