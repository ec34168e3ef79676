/**
 * Mask every query value of a URL for the audit `url` field: keys stay (they say what was
 * sent), values become `***`. Userinfo is dropped. Input is untrusted; output never holds
 * a query value.
 */
export function maskUrl(url: string): string {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  let base = q === -1 ? (hash === -1 ? url : url.slice(0, hash)) : url.slice(0, q);
  base = base.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
  if (q === -1) return base;
  const query = url.slice(q + 1, hash > q ? hash : undefined);
  if (query === '') return base + '?';
  const masked = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq === -1 ? (pair === '' ? '' : '***') : `${pair.slice(0, eq)}=***`;
    })
    .join('&');
  return `${base}?${masked}`;
}
