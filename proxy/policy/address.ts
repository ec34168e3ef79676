/**
 * IP address parsing, CIDR matching and classification (pure: no sockets, no DNS).
 *
 * This is the address guard's brain. upstream/resolve.ts runs {@link isAddressAllowed} on
 * every address Warden would dial (DNS answers, IP literals and `connect_to` targets), so a
 * host name or an unusual spelling cannot smuggle in 127.0.0.1 or 169.254.169.254.
 *
 * Parsing here is deliberately strict: IPv4 only as a plain dotted quad without leading
 * zeros, IPv6 as RFC 4291 text without a zone. Anything else is `invalid`, which is refused.
 * Lenient spellings that URL parsers accept (`0x7f.1`, `127.1`, `0177.0.0.1`) are turned into
 * dotted quads earlier, by normalizeHost in host-match.ts, so the guard sees the real address.
 */
import type { Cidr } from '../config/types.js';

/** A parsed IP address: 4 or 16 network-order bytes. */
export interface ParsedIp {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/**
 * What kind of address this is. Only `public` is dialled by default; every other class needs
 * an `upstream.allow_private` CIDR. `invalid` (unparseable, or an IPv6 zone) is never allowed.
 */
export type AddressClass =
  | 'public'
  | 'loopback'      // 127/8, ::1
  | 'private'       // RFC 1918, local-use NAT64 64:ff9b:1::/48
  | 'link_local'    // 169.254/16 (cloud metadata lives here), fe80::/10
  | 'cgnat'         // 100.64/10 shared address space
  | 'ula'           // fc00::/7 (AWS IPv6 metadata fd00:ec2::254 lives here)
  | 'unspecified'   // 0/8 "this network" (Linux dials 0.0.0.0 as loopback), ::
  | 'multicast'     // 224/4, ff00::/8
  | 'broadcast'     // 255.255.255.255
  | 'documentation' // TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20
  | 'benchmarking'  // 198.18/15, 2001:2::/48
  | 'reserved'      // everything else special-purpose, and IPv6 outside 2000::/3
  | 'invalid';

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/**
 * Strict dotted-quad IPv4 (`10.0.0.1`). Leading zeros are refused rather than guessed at:
 * `010.0.0.1` is 8.0.0.1 to inet_aton but 10.0.0.1 to a naive parser.
 */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!DEC_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/**
 * RFC 4291 IPv6 text (case-insensitive, optional `::`, optional trailing dotted quad).
 * Zones (`fe80::1%eth0`) are refused: a zone makes the address mean different things on
 * different interfaces, and nothing Warden dials legitimately needs one.
 */
export function parseIpv6(text: string): Uint8Array | null {
  const s = text.toLowerCase();
  if (s.length < 2 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const words: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIpv4(g);
        if (!v4) return null;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!HEX_GROUP.test(g)) return null;
        words.push(parseInt(g, 16));
      }
    }
    return words;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(s, true);
    if (!all || all.length !== 8) return null;
    words = all;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Parses a strict IP literal (brackets around IPv6 tolerated); null when it is not one. */
export function parseIp(text: string): ParsedIp | null {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (t.includes(':')) {
    const bytes = parseIpv6(t);
    return bytes ? { family: 6, bytes } : null;
  }
  const bytes = parseIpv4(t);
  return bytes ? { family: 4, bytes } : null;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Canonical text: dotted quad for IPv4; RFC 5952 for IPv6 (lowercase, no leading zeros, the
 * longest run of two or more zero groups compressed, the first on a tie), except that
 * IPv4-mapped addresses keep the mixed form `::ffff:10.0.0.1` so they stay recognisable in
 * audit records and messages.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new Error(`formatIp: expected 4 or 16 bytes, got ${bytes.length}`);
  if (isV4Mapped(bytes)) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestLen < 2) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/**
 * Parses `10.0.0.0/8`, `fc00::/7`, or a bare address (a /32 or /128). Host bits are masked
 * off (`10.1.2.3/8` means 10.0.0.0/8) rather than refused, as most tools do.
 * Trusted input (config); throws an Error whose message suits `FILE:LINE:COL key: message`.
 */
export function parseCidr(text: string): Cidr {
  const written = text.trim();
  const slash = written.indexOf('/');
  const addrText = slash === -1 ? written : written.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) {
    throw new Error(`invalid CIDR "${text}": "${addrText}" is not an IPv4 dotted quad or an IPv6 address`);
  }
  const maxPrefix = ip.family === 4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const p = written.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > maxPrefix) {
      throw new Error(`invalid CIDR "${text}": the prefix length must be a number from 0 to ${maxPrefix}`);
    }
    prefix = Number(p);
  }
  const bytes = ip.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.min(8, Math.max(0, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - bitsHere)) & 0xff);
  }
  return { family: ip.family, bytes, prefix, text: written };
}

function bytesInPrefix(net: Uint8Array, prefix: number, addr: Uint8Array): boolean {
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (net[i] !== addr[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (net[full]! & mask) === (addr[full]! & mask);
}

function containsParsed(cidr: Cidr, ip: ParsedIp): boolean {
  if (cidr.family === ip.family) return bytesInPrefix(cidr.bytes, cidr.prefix, ip.bytes);
  // An IPv4-mapped IPv6 address is the same destination as its IPv4 address (the kernel
  // dials it over IPv4), so the two spellings must match the same CIDRs in either direction.
  if (cidr.family === 4 && isV4Mapped(ip.bytes)) return bytesInPrefix(cidr.bytes, cidr.prefix, ip.bytes.subarray(12));
  if (cidr.family === 6 && ip.family === 4) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff; mapped[11] = 0xff; mapped.set(ip.bytes, 12);
    return bytesInPrefix(cidr.bytes, cidr.prefix, mapped);
  }
  return false;
}

/**
 * True when `ip` (strict literal) lies in `cidr`. IPv4-mapped IPv6 addresses match IPv4
 * CIDRs and vice versa. An unparseable `ip` is in no CIDR.
 */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const parsed = parseIp(ip);
  return parsed !== null && containsParsed(cidr, parsed);
}

type RangeTable = ReadonlyArray<readonly [Cidr, AddressClass]>;
const table = (rows: ReadonlyArray<readonly [string, AddressClass]>): RangeTable =>
  rows.map(([text, cls]) => [parseCidr(text), cls] as const);

// First match wins, so narrower ranges come before the ranges that contain them.
// Sources: IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890 and updates).
const V4_RANGES = table([
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],   // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6_RANGES = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'private'],    // local-use IPv4/IPv6 translation (RFC 8215)
  ['100::/64', 'reserved'],         // discard-only
  ['2001:2::/48', 'benchmarking'],
  ['2001::/23', 'reserved'],        // IETF protocol assignments, Teredo 2001::/32 included
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'ula'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'reserved'],        // deprecated site-local
  ['ff00::/8', 'multicast'],
]);

const GLOBAL_UNICAST_V6 = parseCidr('2000::/3');
const NAT64_WKP = parseCidr('64:ff9b::/96');
const SIX_TO_FOUR = parseCidr('2002::/16');

function classifyV4(b: Uint8Array): AddressClass {
  for (const [cidr, cls] of V4_RANGES) if (bytesInPrefix(cidr.bytes, cidr.prefix, b)) return cls;
  return 'public';
}

/**
 * The IPv4 address an IPv6 address stands for, when it is one of the forms that end up
 * talking to that IPv4 host: IPv4-mapped `::ffff:a.b.c.d`, deprecated IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` (the translator dials the IPv4 address for us), and
 * 6to4 `2002:AABB:CCDD::` (the relay). Null otherwise.
 */
export function embeddedIpv4(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length !== 16) return null;
  if (isV4Mapped(bytes)) return bytes.subarray(12);
  let compat = true;
  for (let i = 0; i < 12; i++) if (bytes[i] !== 0) { compat = false; break; }
  // :: and ::1 are not IPv4-compatible addresses; they have classes of their own.
  if (compat && !(bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0 && bytes[15]! <= 1)) return bytes.subarray(12);
  if (bytesInPrefix(NAT64_WKP.bytes, NAT64_WKP.prefix, bytes)) return bytes.subarray(12);
  if (bytesInPrefix(SIX_TO_FOUR.bytes, SIX_TO_FOUR.prefix, bytes)) return bytes.subarray(2, 6);
  return null;
}

function classifyParsed(ip: ParsedIp): AddressClass {
  if (ip.family === 4) return classifyV4(ip.bytes);
  const v4 = embeddedIpv4(ip.bytes);
  if (v4) return classifyV4(v4);
  for (const [cidr, cls] of V6_RANGES) if (bytesInPrefix(cidr.bytes, cidr.prefix, ip.bytes)) return cls;
  // Fail closed: only global unicast space can be public; unassigned space is not.
  return bytesInPrefix(GLOBAL_UNICAST_V6.bytes, GLOBAL_UNICAST_V6.prefix, ip.bytes) ? 'public' : 'reserved';
}

/**
 * Classifies a strict IP literal (untrusted: DNS answers, normalised hosts). IPv6 forms that
 * embed an IPv4 address (see {@link embeddedIpv4}) take the class of that IPv4 address.
 * Unparseable input is `invalid`.
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip);
  return parsed ? classifyParsed(parsed) : 'invalid';
}

/** Result of the address guard: a value, not an exception (STYLE §4). */
export type AddressVerdict = { readonly ok: true } | { readonly ok: false; readonly class: AddressClass };

/**
 * The address guard. Public addresses pass. Any other address passes only inside one of the
 * admin's `upstream.allow_private` CIDRs, checked against the address itself and against the
 * IPv4 address it embeds (the address it was classified by), so `::ffff:10.0.0.1` and
 * `64:ff9b::a00:1` are allowed by `10.0.0.0/8` exactly as `10.0.0.1` is.
 * Invariant: upstream/resolve.ts calls this on every address Warden dials.
 */
export function isAddressAllowed(ip: string, allowPrivate: readonly Cidr[]): AddressVerdict {
  const parsed = parseIp(ip);
  if (!parsed) return { ok: false, class: 'invalid' };
  const cls = classifyParsed(parsed);
  if (cls === 'public') return { ok: true };
  const v4 = parsed.family === 6 ? embeddedIpv4(parsed.bytes) : null;
  for (const cidr of allowPrivate) {
    if (containsParsed(cidr, parsed)) return { ok: true };
    if (v4 && containsParsed(cidr, { family: 4, bytes: v4 })) return { ok: true };
  }
  return { ok: false, class: cls };
}
