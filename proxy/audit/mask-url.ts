import { MAX_DEPTH } from '../dlp/views.js';

/**
 * Mask every query value of a URL for the audit `url` field: keys stay (they say what was
 * sent), values become `***`. Userinfo is dropped. Input is untrusted; output never holds
 * a query value.
 *
 * With `sensitive` (a DLP check of a decoded text), every path segment and query key in which
 * it finds something becomes `*` too: a path such as `/v1/files/<secret>` or a key such as
 * `?<secret>=1` is agent-chosen text that would otherwise be recorded as it was sent.
 */
export function maskUrl(url: string, sensitive?: (text: string) => boolean): string {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  let base = q === -1 ? (hash === -1 ? url : url.slice(0, hash)) : url.slice(0, q);
  base = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
  const star = (part: string): string => {
    if (!sensitive || part === '') return part;
    // As written and each percent-decoding of it, as deep as the engine reads (`%2535` is `%35`, is `5`).
    for (let text = part, depth = 0; depth <= MAX_DEPTH; depth++) {
      if (sensitive(text)) return '*';
      const next = decoded(text);
      if (next === text) break;
      text = next;
    }
    return part;
  };
  if (sensitive) {
    const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(base)?.[0] ?? '';
    base = origin + base.slice(origin.length).split('/').map(star).join('/');
  }
  if (q === -1) return base;
  const query = url.slice(q + 1, hash > q ? hash : undefined);
  if (query === '') return base + '?';
  const masked = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq === -1 ? (pair === '' ? '' : '***') : `${star(pair.slice(0, eq))}=***`;
    })
    .join('&');
  return `${base}?${masked}`;
}

/** Percent-decoded (`+` as a space, as in a query), or the text itself when it is not valid. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}
