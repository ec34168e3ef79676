/**
 * Destination and request policy (pure: decisions are values, STYLE §4).
 *
 * decide stage: `decideDestination` runs on every CONNECT and plain-HTTP request before
 * anything is dialled; `decideRequest` runs on every request inside a MITM tunnel and every
 * plain-HTTP request. Both take untrusted host, port, method and path, never throw for them,
 * and fail closed: anything unparseable is `not_allowlisted`.
 */
import type { CompiledAllowRule, CompiledDenyRule, CompiledProfile } from '../config/types.js';
import { compileGlob, type GlobMatcher } from './glob.js';
import { compileHostIndex, normalizeHost, type HostIndex } from './host-match.js';

/** Outcome of the destination check (host and port only). */
export interface DestinationDecision {
  readonly action: 'allow' | 'deny';
  readonly reason: 'allowlisted' | 'not_allowlisted' | 'denylisted';
  /** The allow entry that admitted the destination (first in config order); null on deny. */
  readonly rule: CompiledAllowRule | null;
  /** Audit `rule`: the allow entry's id, or the deny entry's id for `denylisted`; else null. */
  readonly ruleId: string | null;
  /** Terminate TLS and run DLP (true) or tunnel bytes through untouched (false). False on deny. */
  readonly inspect: boolean;
}

/** Outcome of the per-request check (host, port, method, path). */
export interface RequestDecision {
  readonly action: 'allow' | 'deny';
  readonly reason: 'allowlisted' | 'request_not_allowed' | 'not_allowlisted' | 'denylisted';
  /** The first allow entry, in config order, accepting host, port, method and path; null on deny. */
  readonly rule: CompiledAllowRule | null;
  /** As in {@link DestinationDecision}; null for `request_not_allowed` (no entry decided). */
  readonly ruleId: string | null;
}

/** Why a request is refused. */
export type DenyReason = Exclude<RequestDecision['reason'], 'allowlisted'>;

/** An allow entry with its ports, methods and path globs compiled. */
export interface CompiledAllowEntry {
  readonly rule: CompiledAllowRule;
  readonly ports: ReadonlySet<number>;
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly GlobMatcher[] | null;
}

/** A profile's rules compiled for lookup; built once per profile by {@link compileProfileIndex}. */
export interface ProfileIndex {
  readonly allow: HostIndex<CompiledAllowEntry>;
  readonly deny: HostIndex<CompiledDenyRule>;
}

// Compiled profiles are immutable and replaced wholesale on reload, so the profile object
// itself is the cache key; a WeakMap lets an old config's index go with the config.
const INDEXES = new WeakMap<CompiledProfile, ProfileIndex>();

/**
 * Compiles (once, then from cache) the host indexes, port sets, method sets and path globs of
 * a profile, so that each decision costs O(labels in host + matching entries), not O(rules).
 * Rule hosts must already be normalised (config/load does it with normalizeHostPattern).
 */
export function compileProfileIndex(profile: CompiledProfile): ProfileIndex {
  const cached = INDEXES.get(profile);
  if (cached) return cached;
  const index: ProfileIndex = {
    allow: compileHostIndex(profile.allow.map((rule) => ({
      host: rule.host,
      value: {
        rule,
        ports: new Set(rule.ports),
        methods: rule.methods ? new Set(rule.methods.map((m) => m.toUpperCase())) : null,
        paths: rule.paths ? rule.paths.map(compileGlob) : null,
      },
    }))),
    deny: compileHostIndex(profile.deny.map((rule) => ({ host: rule.host, value: rule }))),
  };
  INDEXES.set(profile, index);
  return index;
}

function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

type Target = { readonly kind: 'denied'; readonly ruleId: string } | { readonly kind: 'candidates'; readonly entries: CompiledAllowEntry[] } | null;

/** Deny entries first (deny wins over allow), then the allow entries for host and port. */
function findCandidates(profile: CompiledProfile, host: string, port: number): Target {
  const normalized = normalizeHost(host);
  if (!normalized || !isValidPort(port)) return null;
  const index = compileProfileIndex(profile);
  const denied = index.deny.lookup(normalized.host)[0];
  if (denied) return { kind: 'denied', ruleId: denied.id };
  return { kind: 'candidates', entries: index.allow.lookup(normalized.host).filter((e) => e.ports.has(port)) };
}

const NOT_ALLOWLISTED_DESTINATION: DestinationDecision = Object.freeze({
  action: 'deny', reason: 'not_allowlisted', rule: null, ruleId: null, inspect: false,
});

/**
 * Decides whether a destination may be reached at all. Untrusted `host` (any spelling;
 * normalised here) and `port`. Deny entries win; otherwise the first allow entry, in config
 * order, whose host pattern matches and whose `ports` include `port` admits it and decides
 * `inspect`; otherwise default deny. Reasons: `allowlisted`, `denylisted`, `not_allowlisted`
 * (also for an invalid host or port). Never throws.
 */
export function decideDestination(profile: CompiledProfile, host: string, port: number): DestinationDecision {
  const target = findCandidates(profile, host, port);
  if (!target) return NOT_ALLOWLISTED_DESTINATION;
  if (target.kind === 'denied') {
    return { action: 'deny', reason: 'denylisted', rule: null, ruleId: target.ruleId, inspect: false };
  }
  const first = target.entries[0];
  if (!first) return NOT_ALLOWLISTED_DESTINATION;
  return { action: 'allow', reason: 'allowlisted', rule: first.rule, ruleId: first.rule.id, inspect: first.rule.inspect };
}

/**
 * True when a path can be compared to globs as written. A path with dot segments (`/v1/../admin`,
 * also as `%2e%2e`, or with path parameters, `..;` and `..;x=1`, which Tomcat and Spring read
 * as `..`), encoded separators (`%2f`, `%5c`), a percent-encoded `%` (`%252e`: decoded twice by
 * some servers) or backslashes can mean another path once the upstream normalises it, which
 * would let `/v1/*` reach `/admin`. Such paths match no glob (fail closed); entries without
 * `paths` still accept them.
 */
function isPlainPath(path: string): boolean {
  if (!path.startsWith('/') || path.includes('\\')) return false;
  const lower = path.toLowerCase();
  if (lower.includes('%2f') || lower.includes('%5c') || lower.includes('%25')) return false;
  for (const segment of lower.split('/')) {
    const dots = segment.replaceAll('%3b', ';').split(';')[0]!.replaceAll('%2e', '.');
    if (dots === '.' || dots === '..') return false;
  }
  return true;
}

function accepts(entry: CompiledAllowEntry, method: string, path: string, plain: boolean): boolean {
  if (entry.methods && !entry.methods.has(method)) return false;
  if (entry.paths === null) return true;
  return plain && entry.paths.some((match) => match(path));
}

/**
 * Decides one HTTP request. Untrusted `host`, `port`, `method` (upper-cased here) and `path`
 * (origin form; a query or fragment is cut off here before glob matching). Allowed when any
 * allow entry for host and port accepts the method (`methods: null` = any) and the path
 * (`paths: null` = any; see isPlainPath for paths that match no glob); the first such entry in
 * config order is reported. Reasons: `allowlisted`, `denylisted`, `not_allowlisted` (no entry
 * for host and port, or invalid input), `request_not_allowed` (entries exist, none accepts
 * the method and path). Never throws.
 */
export function decideRequest(profile: CompiledProfile, host: string, port: number, method: string, path: string): RequestDecision {
  const target = findCandidates(profile, host, port);
  if (!target) return { action: 'deny', reason: 'not_allowlisted', rule: null, ruleId: null };
  if (target.kind === 'denied') return { action: 'deny', reason: 'denylisted', rule: null, ruleId: target.ruleId };
  if (target.entries.length === 0) return { action: 'deny', reason: 'not_allowlisted', rule: null, ruleId: null };
  const cut = path.search(/[?#]/);
  const bare = cut === -1 ? path : path.slice(0, cut);
  const upper = method.toUpperCase();
  const plain = isPlainPath(bare);
  const entry = target.entries.find((e) => accepts(e, upper, bare, plain));
  if (!entry) return { action: 'deny', reason: 'request_not_allowed', rule: null, ruleId: null };
  return { action: 'allow', reason: 'allowlisted', rule: entry.rule, ruleId: entry.rule.id };
}

/** Headers some servers and frameworks read as the request's method instead of the request line's. */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];
/** Headers some servers (IIS URL Rewrite, Symfony) read as the request's path. */
const PATH_OVERRIDES = ['x-original-url', 'x-rewrite-url'];

/** Every override header, to tell cheaply that a request carries none. */
const OVERRIDE_HEADERS = [...METHOD_OVERRIDES, ...PATH_OVERRIDES];

/**
 * The first reading of {@link overrideReadings} that `profile` does not allow: the header that
 * names it and why it is refused (as {@link decideRequest} says); null when every reading is allowed. Costs one lookup per
 * override header (and allocates nothing) for the usual request, which carries none. Untrusted
 * input as in {@link decideRequest}; never throws.
 */
export function refusedOverride(
  profile: CompiledProfile,
  host: string,
  port: number,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  method: string,
  path: string,
): { readonly header: string; readonly reason: DenyReason } | null {
  let any = false;
  for (const name of OVERRIDE_HEADERS) any ||= headers[name] !== undefined;
  if (!any) return null;
  for (const alt of overrideReadings(headers, method, path)) {
    const d = decideRequest(profile, host, port, alt.method, alt.path);
    if (d.action === 'deny' && d.reason !== 'allowlisted') return { header: alt.header, reason: d.reason };
  }
  return null;
}

/**
 * The other readings of a request that carries an override header: the method or the path an
 * upstream honouring it would act on. A request must be allowed under each (an entry with
 * `methods: [GET]` or `paths` would otherwise pass `X-HTTP-Method-Override: DELETE` or
 * `X-Original-URL: /admin`). Empty for the usual request, which has none.
 */
export function overrideReadings(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  method: string,
  path: string,
): Array<{ readonly header: string; readonly method: string; readonly path: string }> {
  const out: Array<{ header: string; method: string; path: string }> = [];
  const values = (name: string): readonly string[] => {
    const v = headers[name];
    return v === undefined ? [] : typeof v === 'string' ? [v] : v;
  };
  for (const name of METHOD_OVERRIDES) {
    for (const v of values(name)) out.push({ header: name, method: v.trim().toUpperCase(), path });
  }
  for (const name of PATH_OVERRIDES) {
    for (const v of values(name)) {
      let p = v.trim();
      if (!p.startsWith('/')) {
        try {
          p = new URL(p).pathname;
        } catch {
          p = `/${p}`;
        }
      }
      out.push({ header: name, method, path: p.split('?', 1)[0] ?? '/' });
    }
  }
  return out;
}
