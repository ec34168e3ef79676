/**
 * Pure parser for the first TLS record(s) a client sends after CONNECT: finds the SNI
 * host name of the ClientHello so a passthrough tunnel can refuse domain fronting.
 *
 *   bytes ──► record header (type 0x16) ──► handshake header (type 1) ──► ClientHello body
 *                                                                           └─► extensions ─► server_name (0)
 *
 * The ClientHello may span several TLS records and TCP segments: `need_more` asks for more
 * bytes. Input is untrusted; the parser never reads out of bounds and never throws.
 */
export type ClientHelloResult =
  | { readonly kind: 'need_more' }
  | { readonly kind: 'not_tls' }
  | { readonly kind: 'hello'; readonly sni: string | null };

/** A ClientHello larger than this is refused (real ones are < 2 KiB; with post-quantum key shares < 4 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

export function parseClientHello(buf: Buffer): ClientHelloResult {
  // Reassemble the handshake message from consecutive handshake records.
  const parts: Buffer[] = [];
  let off = 0;
  let have = 0;
  let need = -1;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16 || buf[off + 1] !== 0x03) return { kind: 'not_tls' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return { kind: 'not_tls' };
    const body = buf.subarray(off + 5, Math.min(buf.length, off + 5 + len));
    parts.push(body);
    have += body.length;
    if (need < 0 && have >= 4) {
      const hs = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (hs[0] !== 0x01) return { kind: 'not_tls' };
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return { kind: 'not_tls' };
    }
    if (need >= 0 && have >= need) {
      return parseHello((parts.length === 1 ? parts[0]! : Buffer.concat(parts)).subarray(4, need));
    }
    if (body.length < len) break; // record incomplete
    off += 5 + len;
  }
  if (buf.length > 0 && buf[0] !== 0x16) return { kind: 'not_tls' };
  if (buf.length > MAX_CLIENT_HELLO_BYTES + 5 * 8) return { kind: 'not_tls' };
  return { kind: 'need_more' };
}

function parseHello(h: Buffer): ClientHelloResult {
  let p = 2 + 32; // version + random
  if (p + 1 > h.length) return { kind: 'not_tls' };
  p += 1 + h[p]!; // session id
  if (p + 2 > h.length) return { kind: 'not_tls' };
  p += 2 + h.readUInt16BE(p); // cipher suites
  if (p + 1 > h.length) return { kind: 'not_tls' };
  p += 1 + h[p]!; // compression methods
  if (p === h.length) return { kind: 'hello', sni: null }; // no extensions
  if (p + 2 > h.length) return { kind: 'not_tls' };
  const end = Math.min(h.length, p + 2 + h.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return { kind: 'not_tls' };
    if (type === 0) {
      // server_name_list: u16 length, then entries (u8 type, u16 length, name)
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + (len >= 2 ? h.readUInt16BE(p) : 0));
      while (q + 3 <= listEnd) {
        const nameType = h[q]!;
        const nameLen = h.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) return { kind: 'not_tls' };
        if (nameType === 0) return { kind: 'hello', sni: h.toString('latin1', q, q + nameLen) };
        q += nameLen;
      }
      return { kind: 'hello', sni: null };
    }
    p += len;
  }
  return { kind: 'hello', sni: null };
}

/**
 * Whether a passthrough tunnel's ClientHello SNI fits its CONNECT `host` (normalised). A name
 * must be the SNI (case aside). An IP literal must have no SNI at all: RFC 6066 §3 forbids
 * literal addresses there, so a client connecting to an address sends none, and a hello that
 * names a host on an IP CONNECT asks whatever serves that address (a CDN or shared edge) for
 * another site: domain fronting. False means `sni_mismatch`.
 */
export function sniFitsConnectHost(sni: string | null, host: string): boolean {
  const isName = !/^[\d.]+$|:/.test(host);
  return isName ? sni?.toLowerCase() === host : sni === null;
}
