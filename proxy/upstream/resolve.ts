/**
 * resolve stage (thin I/O): `connect_to` mapping, DNS, and the address guard on every answer.
 *
 * Invariant: the address Warden dials is exactly the address checked here. `resolve()` returns
 * `dialHost`, an IP literal that passed isAddressAllowed(); callers dial that IP (undici's
 * `connect.lookup` or `net.connect` pinned to it) and never resolve the name again, so a DNS
 * answer that changes between check and connect (rebinding) cannot reach a private address.
 */
import { promises as dns } from 'node:dns';
import { LRUCache } from 'lru-cache';
import type { Cidr, HostPort } from '../config/types.js';
import { WardenError } from '../errors.js';
import { isAddressAllowed, parseIp, formatIp, type AddressClass } from '../policy/address.js';
import { formatAuthority, hostMatches, normalizeHost, parseHostPort } from '../policy/host-match.js';

/** One DNS answer, as `dns.promises.lookup(host, { all: true })` gives it. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** DNS lookup returning every answer, in resolver order. Injected in tests. */
export type LookupFn = (host: string) => Promise<readonly LookupAddress[]>;

/** Where to dial, after `connect_to` and the address guard. */
export interface ResolvedTarget {
  /** The requested host (normalised) and port: what policy, SNI and Host refer to. */
  readonly host: string;
  readonly port: number;
  /** The checked IP literal to dial (canonical text). Never a name: do not resolve it again. */
  readonly dialHost: string;
  readonly dialPort: number;
  readonly family: 4 | 6;
  /** True when an `upstream.connect_to` entry redirected the connection. */
  readonly connectTo: boolean;
}

/** Options of {@link createResolver}; built from `upstream` in the compiled config. */
export interface ResolverOptions {
  /** Defaults to `dns.promises.lookup(host, { all: true, verbatim: true })`. */
  readonly lookup?: LookupFn;
  /** `upstream.allow_private`: non-public addresses inside these CIDRs may be dialled. */
  readonly allowPrivate: readonly Cidr[];
  /**
   * `upstream.connect_to`: `host:port` (IPv6 bracketed) or `*.suffix:port` → where to dial.
   * An exact key wins over wildcards; among wildcards the longest suffix wins.
   */
  readonly connectTo: ReadonlyMap<string, HostPort>;
  /** How long a checked answer is reused. Default 30 000 ms: short, so DNS changes are seen soon. */
  readonly cacheTtlMs?: number;
  /** Bound on cached names. Default 10 000. */
  readonly maxEntries?: number;
  /** A lookup taking longer than this fails with `dns_error`. Default 5 000 ms. */
  readonly lookupTimeoutMs?: number;
}

/** The resolve stage: one per compiled config (a reload builds a new one with a fresh cache). */
export interface Resolver {
  /**
   * Maps, resolves and checks a destination. `host` and `port` are the decided target
   * (untrusted spelling is normalised again here). Rejects with WardenError `private_address`
   * (an address outside public space and outside `allow_private`) or `dns_error` (no answer,
   * lookup failure or timeout, invalid host). Messages name the host and the address class only.
   */
  resolve(host: string, port: number): Promise<ResolvedTarget>;
}

interface CheckedAddress {
  readonly dialHost: string;
  readonly family: 4 | 6;
}

/** What one (shared) lookup found; turned into a WardenError by each waiting caller. */
type Outcome =
  | { readonly ok: true; readonly addr: CheckedAddress }
  | { readonly ok: false; readonly code: 'private_address'; readonly class: AddressClass }
  | { readonly ok: false; readonly code: 'dns_error'; readonly cause: unknown };

interface WildcardRoute {
  readonly pattern: string;
  readonly port: number;
  readonly target: HostPort;
}

const defaultLookup: LookupFn = (host) => dns.lookup(host, { all: true, verbatim: true });

/** Quotes untrusted text for a message: escaped (no log injection) and bounded. */
function quote(text: string): string {
  return JSON.stringify(text.length > 255 ? `${text.slice(0, 255)}…` : text);
}

// A Record, so that a new AddressClass cannot be added without wording for it.
const CLASS_WORDS: Readonly<Record<AddressClass, string>> = {
  public: 'a public',
  loopback: 'a loopback',
  private: 'a private',
  link_local: 'a link-local',
  cgnat: 'a carrier-grade NAT',
  ula: 'a unique-local',
  unspecified: 'an unspecified',
  multicast: 'a multicast',
  broadcast: 'a broadcast',
  documentation: 'a documentation-only',
  benchmarking: 'a benchmarking',
  reserved: 'a reserved',
  invalid: 'an invalid',
};

/** `a link-local address (link_local)`: readable, and the class code for grep. */
function describe(cls: AddressClass): string {
  return `${CLASS_WORDS[cls]} address (${cls})`;
}

/**
 * Checks one address. The returned `dialHost` is the formatting of exactly the bytes that were
 * classified, so nothing can differ between the checked and the dialled address.
 */
function checkAddress(address: string, allowPrivate: readonly Cidr[]):
  { readonly ok: true; readonly addr: CheckedAddress } | { readonly ok: false; readonly class: AddressClass } {
  const parsed = parseIp(address);
  if (!parsed) return { ok: false, class: 'invalid' };
  const dialHost = formatIp(parsed.bytes);
  const verdict = isAddressAllowed(dialHost, allowPrivate);
  if (!verdict.ok) return verdict;
  return { ok: true, addr: { dialHost, family: parsed.family } };
}

function compileConnectTo(connectTo: ReadonlyMap<string, HostPort>): {
  readonly exact: ReadonlyMap<string, HostPort>;
  readonly wildcards: readonly WildcardRoute[];
} {
  const exact = new Map<string, HostPort>();
  const wildcards: WildcardRoute[] = [];
  for (const [key, target] of connectTo) {
    if (key.startsWith('*.')) {
      const colon = key.lastIndexOf(':');
      const suffix = colon === -1 ? null : parseHostPort(`${key.slice(2, colon)}${key.slice(colon)}`);
      if (!suffix || suffix.kind !== 'name') throw new Error(`invalid connect_to key ${quote(key)}: write "*.example.com:443"`);
      wildcards.push({ pattern: `*.${suffix.host}`, port: suffix.port, target });
    } else {
      // Keys are `host:port` with IPv6 bracketed; an unbracketed IPv6 key (`::1:443`) is
      // trusted config, so it is read as address + port at the last colon.
      const last = key.lastIndexOf(':');
      const parsed = parseHostPort(key) ??
        (!key.startsWith('[') && key.indexOf(':') !== last ? parseHostPort(`[${key.slice(0, last)}]${key.slice(last)}`) : null);
      if (!parsed) throw new Error(`invalid connect_to key ${quote(key)}: write "host:port"`);
      exact.set(formatAuthority(parsed.host, parsed.port), target);
    }
  }
  // Most specific first, so `*.api.example.com` beats `*.example.com` whatever the config order.
  wildcards.sort((a, b) => b.pattern.length - a.pattern.length);
  return { exact, wildcards };
}

/**
 * Creates the resolver used by the upstream dialer and the tunnel. Throws (at startup) on a
 * malformed `connect_to` key.
 */
export function createResolver(opts: ResolverOptions): Resolver {
  const lookup = opts.lookup ?? defaultLookup;
  const allowPrivate = opts.allowPrivate;
  const lookupTimeoutMs = opts.lookupTimeoutMs ?? 5_000;
  const routes = compileConnectTo(opts.connectTo);
  // Only answers that passed the guard are cached, under the name they answer for; the
  // allow_private list is fixed for this resolver (a reload builds a new one), so a cached
  // verdict stays valid for its TTL.
  const cache = new LRUCache<string, CheckedAddress>({
    max: opts.maxEntries ?? 10_000,
    ttl: opts.cacheTtlMs ?? 30_000,
  });
  // Concurrent misses for one name share one lookup.
  const inFlight = new Map<string, Promise<Outcome>>();
  // Whole answers per (host as written, port): every request inside a kept-alive tunnel asks
  // again, and normalising, routing and checking the same name each time cost ~8 µs per request
  // (test/bench workload a). An answer never outlives the DNS cache entry it came from.
  const answers = new LRUCache<string, ResolvedTarget>({ max: opts.maxEntries ?? 10_000, ttl: opts.cacheTtlMs ?? 30_000 });

  function route(host: string, port: number): HostPort | null {
    const exact = routes.exact.get(formatAuthority(host, port));
    if (exact) return exact;
    for (const w of routes.wildcards) if (w.port === port && hostMatches(w.pattern, host)) return w.target;
    return null;
  }

  async function lookupWithTimeout(name: string): Promise<readonly LookupAddress[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // Not unref'd: the timer is cleared as soon as the lookup settles, and while it runs
      // a request is waiting on it.
      timer = setTimeout(() => reject(new Error(`lookup timed out after ${lookupTimeoutMs} ms`)), lookupTimeoutMs);
    });
    try {
      return await Promise.race([lookup(name), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function resolveName(name: string): Promise<Outcome> {
    let answers: readonly LookupAddress[];
    try {
      answers = await lookupWithTimeout(name);
    } catch (cause) {
      return { ok: false, code: 'dns_error', cause };
    }
    if (answers.length === 0) return { ok: false, code: 'dns_error', cause: null };
    // Every answer is checked, not only the one we pick: a name answering one public and one
    // private address is the DNS-rebinding shape (a client retrying the next answer, or our
    // own later lookup, would reach the private one), so the whole name is refused.
    let first: CheckedAddress | null = null;
    for (const answer of answers) {
      const checked = checkAddress(answer.address, allowPrivate);
      if (!checked.ok) return { ok: false, code: 'private_address', class: checked.class };
      first ??= checked.addr;
    }
    return { ok: true, addr: first! };
  }

  async function resolveCached(name: string, label: string): Promise<CheckedAddress> {
    const hit = cache.get(name);
    if (hit) return hit;
    let pending = inFlight.get(name);
    if (!pending) {
      pending = resolveName(name).finally(() => inFlight.delete(name));
      inFlight.set(name, pending);
    }
    // The shared lookup yields a value; each caller words its own error (its own label).
    const outcome = await pending;
    if (outcome.ok) {
      cache.set(name, outcome.addr);
      return outcome.addr;
    }
    if (outcome.code === 'private_address') {
      throw new WardenError('private_address', `${label} resolves to ${describe(outcome.class)}`);
    }
    throw new WardenError('dns_error', outcome.cause === null ? `${label} has no addresses` : `cannot resolve ${label}`,
      outcome.cause === null ? undefined : { cause: outcome.cause });
  }

  return {
    async resolve(host: string, port: number): Promise<ResolvedTarget> {
      const key = `${host}\u0000${port}`;
      const known = answers.get(key);
      if (known) return known;
      const target = normalizeHost(host);
      if (!target || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw new WardenError('dns_error', `${quote(host)} is not a valid host name or port`);
      }
      const mapped = route(target.host, port);
      const dial = mapped ? normalizeHost(mapped.host) : target;
      const dialPort = mapped ? mapped.port : port;
      const label = mapped
        ? `connect_to target ${quote(mapped.host)} for ${quote(target.host)}`
        : quote(target.host);
      if (!dial) throw new WardenError('dns_error', `${label} is not a valid host name`);
      let addr: CheckedAddress;
      let ttl: number | undefined; // undefined: the answers cache's own TTL
      if (dial.kind === 'name') {
        addr = await resolveCached(dial.host, label);
        ttl = cache.getRemainingTTL(dial.host);
        if (!(ttl > 0)) ttl = 1; // evicted meanwhile: keep the answer only for this instant
      } else {
        // IP literals (any spelling, already a canonical literal after normalizeHost) are
        // checked directly: `0x7f000001` and `127.1` arrive here as 127.0.0.1.
        const checked = checkAddress(dial.host, allowPrivate);
        if (!checked.ok) throw new WardenError('private_address', `${label} is ${describe(checked.class)}`);
        addr = checked.addr;
      }
      const out: ResolvedTarget = { host: target.host, port, dialHost: addr.dialHost, dialPort, family: addr.family, connectTo: mapped !== null };
      answers.set(key, out, ttl === undefined ? undefined : { ttl });
      return out;
    },
  };
}
