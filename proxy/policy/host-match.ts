/**
 * Host names: normalisation of untrusted input, `host:port` parsing, allowlist pattern
 * matching and validation, and the per-profile host index (pure: no DNS, no sockets).
 *
 * One normal form everywhere: lowercase, punycode (IDNA via WHATWG `domainToASCII`), no
 * trailing dot; IPv4 as a dotted quad whatever spelling came in; IPv6 in RFC 5952 form without
 * brackets. Config hosts and request hosts both go through {@link normalizeHost}, so matching
 * is plain string comparison.
 */
import { domainToASCII } from 'node:url';
import { formatIp, parseIpv6 } from './address.js';

export type HostKind = 'name' | 'ipv4' | 'ipv6';

/** A normalised host. */
export interface NormalizedHost {
  readonly host: string;
  readonly kind: HostKind;
}

/** A normalised `host:port` authority. */
export interface HostPortTarget extends NormalizedHost {
  readonly port: number;
}

const MAX_HOST_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
// `_` is not hostname syntax (RFC 952/1123) but real hosts use it (DNS-SD, some CDNs), so it
// is accepted in any label but the top-level one, which must be a real TLD shape.
const LABEL = /^[a-z0-9_-]{1,63}$/;
const TLD = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// What may reach domainToASCII: ASCII letters, digits, `-`, `_`, `.` and any non-ASCII
// (IDN). This keeps `%` out, which domainToASCII would percent-decode (`a%2e.com` → `a..com`),
// and `@`, `/`, `\`, `:`, spaces and controls, which are never part of a host.
const ALLOWED_BEFORE_IDNA = /^[a-z0-9._\-\u0080-\uffff]+$/i;
// C1 controls and lone surrogates (`\p{Cs}` under the u flag) only come from malformed input.
const BAD_UNICODE = /[\u0080-\u009f]|\p{Cs}/u;

/**
 * Parses one WHATWG IPv4 number: `0x`/`0X` hex (possibly empty: `0x` is 0), leading `0` octal,
 * otherwise decimal. Returns NaN when the text is none of these.
 */
function parseIpv4Number(part: string): number {
  if (part === '') return NaN;
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return parseInt(part.slice(1), 8);
  if (/^(?:0|[1-9][0-9]*)$/.test(part)) return Number(part);
  return NaN;
}

/** True when the last label looks numeric: WHATWG then parses the whole host as IPv4 or fails. */
function endsInNumber(labels: readonly string[]): boolean {
  const last = labels[labels.length - 1] ?? '';
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

/**
 * WHATWG URL IPv4 parser: 1 to 4 parts, each decimal, octal or hex; the last part fills the
 * remaining bytes (`127.1` = 127.0.0.1, `2130706433` = 127.0.0.1). Null on failure.
 * Every spelling a client library (curl, Node, Python…) or the upstream might accept is
 * turned into the one dotted quad, so the address guard classifies the real address.
 */
function parseWhatwgIpv4(labels: readonly string[]): string | null {
  if (labels.length === 0 || labels.length > 4) return null;
  const nums = labels.map(parseIpv4Number);
  if (nums.some((n) => Number.isNaN(n))) return null;
  const last = nums[nums.length - 1]!;
  for (let i = 0; i < nums.length - 1; i++) if (nums[i]! > 255) return null;
  if (last >= 256 ** (5 - nums.length)) return null;
  let value = last;
  for (let i = 0; i < nums.length - 1; i++) value += nums[i]! * 256 ** (3 - i);
  const bytes = new Uint8Array([(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
  return formatIp(bytes);
}

/**
 * Normalises a host from untrusted input (CONNECT line, Host header, absolute URL, config):
 * trims, strips `[...]` around IPv6, lowercases, converts IDN to punycode, drops one
 * trailing dot, turns every WHATWG IPv4 spelling into a dotted quad and IPv6 into RFC 5952
 * form (IPv4-mapped stays `::ffff:a.b.c.d`). Returns null for anything that is not a valid
 * host name or IP literal: empty, over 253 characters, empty or over-long labels, characters
 * outside hostname syntax (`%`, `@`, spaces, controls…), `_` or a number-like last label that
 * is not a valid IPv4 address (`1.2.3.4.5`, `foo.0x1`), IPv6 zones. Never throws.
 */
export function normalizeHost(input: string): NormalizedHost | null {
  let s = input.trim();
  if (s === '' || s.length > 1024) return null;
  if (s.startsWith('[') || s.includes(':')) {
    if (s.startsWith('[')) {
      if (!s.endsWith(']')) return null;
      s = s.slice(1, -1);
    }
    const bytes = parseIpv6(s);
    return bytes ? { host: formatIp(bytes), kind: 'ipv6' } : null;
  }
  if (!ALLOWED_BEFORE_IDNA.test(s) || BAD_UNICODE.test(s)) return null;
  // WHATWG host parsing maps IDN (and full-width digits and dots) to ASCII, so 'ｅｘａｍｐｌｅ。com'
  // and '１２７.０.０.１' become what a client would actually connect to. It returns '' on failure.
  const ascii = /^[\x00-\x7f]*$/.test(s) ? s.toLowerCase() : domainToASCII(s);
  if (ascii === '') return null;
  s = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (s === '' || s.length > MAX_HOST_LENGTH) return null;
  const labels = s.split('.');
  if (endsInNumber(labels)) {
    const v4 = parseWhatwgIpv4(labels);
    return v4 ? { host: v4, kind: 'ipv4' } : null;
  }
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label.length > MAX_LABEL_LENGTH) return null;
    if (!(i === labels.length - 1 ? TLD : LABEL).test(label)) return null;
  }
  // ASCII input skipped domainToASCII above for speed; still refuse malformed punycode
  // (`xn--zz`) so that a pattern and a request cannot disagree about what a label means.
  if (s.includes('xn--') && domainToASCII(s) !== s) return null;
  return { host: s, kind: 'name' };
}

/** `host:port`, with brackets around IPv6: the form of CONNECT lines and `connect_to` keys. */
export function formatAuthority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The `Host` header for a checked destination (normalised `host`, `port`): what Warden sends
 * upstream in place of the agent's spelling, which policy matched only after normalising it,
 * so case, a trailing dot, `:00443` or characters IDNA mapping drops (U+00AD) would otherwise
 * reach the upstream as a channel no scan reads. The port is left out when it is the scheme's
 * default, as clients write it (and as a signature over Host, such as AWS SigV4's, covers it).
 */
export function hostHeaderFor(scheme: 'http' | 'https', host: string, port: number): string {
  if (port === (scheme === 'https' ? 443 : 80)) return host.includes(':') ? `[${host}]` : host;
  return formatAuthority(host, port);
}

function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/**
 * Parses an authority from untrusted input: `host:port`, `[v6]:port`, or a bare host /
 * `[v6]` when `defaultPort` is given. Ports are 1-65535 in decimal digits only. An
 * unbracketed IPv6 address is refused (its last group would be ambiguous with a port).
 * Returns null on any malformation; never throws.
 */
export function parseHostPort(authority: string, defaultPort?: number): HostPortTarget | null {
  const s = authority.trim();
  let hostText: string;
  let port: number | null;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close === -1) return null;
    hostText = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest === '') port = defaultPort ?? null;
    else if (rest.startsWith(':')) port = parsePort(rest.slice(1));
    else return null;
  } else {
    const colon = s.indexOf(':');
    if (colon !== s.lastIndexOf(':')) return null;
    if (colon === -1) {
      hostText = s;
      port = defaultPort ?? null;
    } else {
      hostText = s.slice(0, colon);
      port = parsePort(s.slice(colon + 1));
    }
  }
  if (port === null || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  const host = normalizeHost(hostText);
  return host ? { host: host.host, kind: host.kind, port } : null;
}

function looksLikeIp(host: string): boolean {
  return host.includes(':') || /^[0-9.]+$/.test(host);
}

/**
 * Whether a normalised `pattern` (exact host, or `*.suffix`) matches a normalised `host`.
 * `*.example.com` matches sub-domains at any depth (`a.b.example.com`) but not the apex
 * `example.com`. Wildcards never match IP literals.
 */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return host.length > suffix.length && host.endsWith(suffix) && !looksLikeIp(host);
  }
  return pattern === host;
}

/**
 * Checks an allow/deny host pattern as written in config. Returns a message for
 * `warden check` (to follow `FILE:LINE:COL key.path: `), or null when it is valid.
 * Refused: empty, `*`, `*.tld` (a wildcard over a whole top-level domain), wildcards that are
 * not the whole leading label (`a.*.com`, `*example.com`), wildcards over IP literals,
 * schemes, ports and paths, and anything {@link normalizeHost} rejects.
 */
export function validateHostPattern(pattern: string): string | null {
  const p = pattern.trim();
  if (p === '') return 'host must not be empty';
  if (p.includes('://') || p.includes('/')) return `"${pattern}" must be a host name only, without scheme or path`;
  if (p.includes('*')) {
    if (p === '*' || p === '*.') return 'a lone "*" would allow every host; list the hosts instead';
    if (!p.startsWith('*.') || p.indexOf('*', 1) !== -1) {
      return `"${pattern}": a wildcard must be the whole leading label, as in *.example.com`;
    }
    const rest = normalizeHost(p.slice(2));
    if (!rest) return `"${pattern}" is not a valid host pattern`;
    if (rest.kind !== 'name') return `"${pattern}": wildcards cannot be used with IP addresses`;
    if (!rest.host.includes('.')) {
      return `"${pattern}": a wildcard on a bare top-level domain would allow the whole TLD; name the domain (*.example.${rest.host})`;
    }
    return null;
  }
  if (!p.startsWith('[') && /:[0-9]*$/.test(p) && p.indexOf(':') === p.lastIndexOf(':')) {
    return `"${pattern}" must be a host without a port; use the entry's ports list`;
  }
  return normalizeHost(p) ? null : `"${pattern}" is not a valid host name or IP address`;
}

/**
 * The compiled form of a valid pattern: normalised host, or `*.` + normalised suffix.
 * Null when {@link validateHostPattern} would refuse it.
 */
export function normalizeHostPattern(pattern: string): string | null {
  if (validateHostPattern(pattern) !== null) return null;
  const p = pattern.trim();
  if (p.startsWith('*.')) return `*.${normalizeHost(p.slice(2))!.host}`;
  return normalizeHost(p)!.host;
}

/** Fast lookup from a normalised host to every pattern entry matching it. */
export interface HostIndex<T> {
  /** Every entry whose pattern matches `host` (normalised), in the order they were given. */
  lookup(host: string): T[];
}

/**
 * Builds a {@link HostIndex} over normalised patterns. Exact hosts go in one Map; `*.suffix`
 * entries in a Map keyed by suffix, probed once per parent domain of the host. A lookup costs
 * O(labels in host), not O(rules): 10k rules cost the same as 10.
 */
export function compileHostIndex<T>(entries: ReadonlyArray<{ readonly host: string; readonly value: T }>): HostIndex<T> {
  type Slot = { readonly order: number; readonly value: T };
  const exact = new Map<string, Slot[]>();
  const suffix = new Map<string, Slot[]>();
  entries.forEach((entry, order) => {
    const wildcard = entry.host.startsWith('*.');
    const map = wildcard ? suffix : exact;
    const key = wildcard ? entry.host.slice(2) : entry.host;
    const list = map.get(key);
    if (list) list.push({ order, value: entry.value });
    else map.set(key, [{ order, value: entry.value }]);
  });
  return {
    lookup(host: string): T[] {
      const found: Slot[] = [...(exact.get(host) ?? [])];
      if (suffix.size > 0 && !looksLikeIp(host)) {
        // Start after the first label: `*.example.com` must not match the apex `example.com`.
        for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
          const slots = suffix.get(host.slice(dot + 1));
          if (slots) found.push(...slots);
        }
      }
      if (found.length > 1) found.sort((a, b) => a.order - b.order);
      return found.map((slot) => slot.value);
    },
  };
}
