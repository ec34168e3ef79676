/**
 * Agent identity: who is this client? (DESIGN.md `agents[]`, `auth`, reason `auth_required`.)
 * Pure: the listener hands over the `Proxy-Authorization` header and the socket's remote
 * address; the answer is a value. Tokens never leave this module, are never logged, and are
 * compared only as SHA-256 digests (config stores `token_sha256`, never the token).
 *
 * Order of evidence:
 *   1. `auth: off` ignores credentials altogether; only the source address can identify.
 *   2. Credentials, when sent, decide: a valid id + token is that agent (even from another
 *      agent's source network); anything else sent is refused `auth_required` / `invalid`,
 *      in `optional` mode too (see {@link authenticate}).
 *   3. No credentials: an agent whose `sources` CIDR holds the client address (sidecars that
 *      cannot send credentials); the most specific CIDR wins, then config order.
 *   4. Nobody: `required` refuses (`missing`); `optional` and `off` admit an anonymous client
 *      under the `default` profile.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CompiledAgent } from '../config/types.js';
import { cidrContains } from './address.js';

/** Credentials from a `Proxy-Authorization: Basic` header. Holds a secret: never log it. */
export interface ProxyCredentials {
  readonly id: string;
  readonly token: string;
}

/** Outcome of {@link authenticate}. `agent: null` is an anonymous client. */
export type AuthResult =
  | { readonly ok: true; readonly agent: CompiledAgent | null; readonly profile: string }
  | { readonly ok: false; readonly code: 'auth_required'; readonly detail: 'missing' | 'invalid' };

export type AuthMode = 'required' | 'optional' | 'off';

/** Profile for clients that no agent entry names. */
export const DEFAULT_PROFILE = 'default';

// Far above any real `id:token` (Node caps all headers at 16 KiB anyway); bounds the decode
// work an unauthenticated client can ask for.
const MAX_HEADER_CHARS = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const SHA256_BYTES = 32;
// Compared against when the id is unknown, so an unknown id costs the same hash + compare as
// a known one. Random per process: no token can be crafted to hash to it.
const DUMMY_DIGEST = randomBytes(SHA256_BYTES);
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse `Proxy-Authorization: Basic base64(id:token)` (RFC 7617). Untrusted input; never
 * throws. The scheme is case-insensitive; the credentials must be strict base64 of valid
 * UTF-8, split at the **first** colon (ids have none, tokens may). Any other scheme, bad
 * base64, no colon, or an empty id or token gives null.
 */
export function parseProxyAuthorization(header: string | undefined): ProxyCredentials | null {
  if (header === undefined || header.length > MAX_HEADER_CHARS) return null;
  const m = /^\s*basic\s+(\S+)\s*$/i.exec(header);
  const encoded = m?.[1];
  // length % 4 === 1 can never be valid base64; unpadded forms (some clients) are accepted.
  if (encoded === undefined || !BASE64.test(encoded) || encoded.length % 4 === 1) return null;
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return null; // not UTF-8
  }
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) return null;
  return { id: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

/**
 * Decide who the client is.
 *
 * A **wrong** token (or an unparseable header, or an unknown id) is refused even in
 * `optional` mode rather than downgraded to anonymous: a client that sends credentials means
 * to be a particular agent, so a bad one is either misconfigured (and would silently get the
 * wrong profile and wrong audit identity) or someone guessing tokens, and neither should get
 * through. Checking a token costs one SHA-256 and one `timingSafeEqual` whether or not the
 * id exists, so the time taken says nothing about the token.
 *
 * @param agents compiled `agents[]` (trusted)
 * @param header the raw `Proxy-Authorization` value (untrusted), undefined when absent
 * @param sourceIp the socket's remote address, or null when unknown
 */
export function authenticate(
  agents: readonly CompiledAgent[],
  header: string | undefined,
  sourceIp: string | null,
  mode: AuthMode,
): AuthResult {
  // An empty header carries no claim to be anyone (a client with an empty proxy-credentials
  // setting sends one); it is treated as absent, not as a wrong token.
  if (mode !== 'off' && header !== undefined && header.trim() !== '') {
    const credentials = parseProxyAuthorization(header);
    if (!credentials) return { ok: false, code: 'auth_required', detail: 'invalid' };
    const agent = verifyToken(agents, credentials);
    if (!agent) return { ok: false, code: 'auth_required', detail: 'invalid' };
    return { ok: true, agent, profile: agent.profile };
  }
  const bySource = sourceIp === null ? null : agentForSource(agents, sourceIp);
  if (bySource) return { ok: true, agent: bySource, profile: bySource.profile };
  if (mode === 'required') return { ok: false, code: 'auth_required', detail: 'missing' };
  return { ok: true, agent: null, profile: DEFAULT_PROFILE };
}

/** The agent whose id and token match, or null. Constant time with respect to the token. */
function verifyToken(agents: readonly CompiledAgent[], credentials: ProxyCredentials): CompiledAgent | null {
  const agent = agentsById(agents).get(credentials.id) ?? null;
  const presented = createHash('sha256').update(credentials.token, 'utf8').digest();
  // A malformed digest in config would make timingSafeEqual throw; it matches nothing instead.
  const expected = agent && agent.tokenSha256.length === SHA256_BYTES ? agent.tokenSha256 : DUMMY_DIGEST;
  const equal = timingSafeEqual(presented, expected);
  return equal && expected !== DUMMY_DIGEST ? agent : null;
}

// Compiled config arrays are frozen and swapped whole on reload, so the array itself is a
// sound cache key; the WeakMap lets an old config's index go with it.
const indexes = new WeakMap<readonly CompiledAgent[], ReadonlyMap<string, CompiledAgent>>();

function agentsById(agents: readonly CompiledAgent[]): ReadonlyMap<string, CompiledAgent> {
  let index = indexes.get(agents);
  if (!index) {
    const map = new Map<string, CompiledAgent>();
    // First entry wins on a duplicate id (config validation should refuse duplicates).
    for (const agent of agents) if (!map.has(agent.id)) map.set(agent.id, agent);
    index = map;
    indexes.set(agents, index);
  }
  return index;
}

/**
 * The agent a source address identifies: the one with the longest matching `sources` prefix,
 * first in config order on a tie. IPv4-mapped IPv6 (`::ffff:10.0.0.5`, as dual-stack sockets
 * report IPv4 clients) matches IPv4 CIDRs. A zone suffix (`fe80::1%eth0`) comes from the
 * kernel, not the client, and is dropped.
 */
export function agentForSource(agents: readonly CompiledAgent[], sourceIp: string): CompiledAgent | null {
  const zone = sourceIp.indexOf('%');
  const ip = zone < 0 ? sourceIp : sourceIp.slice(0, zone);
  let best: CompiledAgent | null = null;
  let bestPrefix = -1;
  for (const agent of agents) {
    for (const cidr of agent.sources) {
      // Compare prefixes on one scale: an IPv4 /24 is as specific as an IPv6 /120.
      const prefix = cidr.family === 4 ? cidr.prefix + 96 : cidr.prefix;
      if (prefix > bestPrefix && cidrContains(cidr, ip)) {
        best = agent;
        bestPrefix = prefix;
      }
    }
  }
  return best;
}
