/**
 * Compile a schema-valid raw config into the immutable CompiledConfig: parse units, normalise
 * hosts, parse CIDRs, resolve paths (relative to the config file's folder), fill defaults.
 * Everything that can fail fails here, at load time, with a positioned issue.
 */
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { PATTERNS_DIR } from '../paths.js';
import { parseCidr } from '../policy/address.js';
import { formatAuthority, normalizeHost, parseHostPort, validateHostPattern } from '../policy/host-match.js';
import type { ConfigPath, IssueCollector } from './load.js';
import type { RawConfig, RawProfile } from './schema.js';
import type {
  AlertRule, AuditConfig, Cidr, CompiledAgent, CompiledAllowRule, CompiledConfig, CompiledDlpPolicy,
  CompiledProfile, DlpAction, Honeytoken, HostPort, UpstreamConfig,
} from './types.js';
import { parseDuration, parseRate, parseSize, type Rate } from './units.js';

/** Shortest honeytoken `value` accepted. */
export const MIN_HONEYTOKEN_CHARS = 8;

/** Headers that carry the agent's own credential for a model API: not DLP-scanned by default. */
export const DEFAULT_CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie'] as const;
const DEFAULT_MAX_INSPECT = 16 * 1024 * 1024;

export function shippedPackNames(): string[] {
  try {
    return readdirSync(PATTERNS_DIR).filter((f) => /\.ya?ml$/.test(f)).map((f) => f.replace(/\.ya?ml$/, '')).sort();
  } catch {
    return [];
  }
}

/** Inspection workers when `dlp.workers` is absent: leave one CPU to the event loop, keep one at least. */
export function defaultDlpWorkers(cpus = availableParallelism()): number {
  return Math.min(4, Math.max(1, cpus - 1));
}

export function compileConfig(raw: RawConfig, file: string, c: IssueCollector): CompiledConfig | null {
  const base = dirname(file);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));

  const guard = <T>(path: ConfigPath, fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      c.add(path, (err as Error).message);
      return fallback;
    }
  };

  const hostPort = (path: ConfigPath, text: string, ephemeralOk = false): HostPort => {
    // Port 0 (the OS picks one) makes sense only for our own listeners, never for a target.
    if (ephemeralOk && /:0$/.test(text)) {
      const hp0 = parseHostPort(`${text.slice(0, -2)}:1`);
      if (hp0) return { host: hp0.host, port: 0 };
    }
    const hp = parseHostPort(text);
    if (!hp) {
      c.add(path, `expected "host:port" with a port from 1 to 65535, got "${text}"`);
      return { host: '127.0.0.1', port: 1 };
    }
    return { host: hp.host, port: hp.port };
  };

  const listen = hostPort(['listen'], raw.listen ?? '127.0.0.1:8080', true);
  const admin = raw.admin === undefined ? null : hostPort(['admin'], raw.admin, true);
  const caDir = abs(raw.ca_dir ?? '../certs');

  // Custom pack files: their names join the shipped ones.
  const packFiles = (raw.dlp?.packs ?? []).map((p) => abs(p));
  const allPacks = [...shippedPackNames(), ...packFiles.map((p) => basename(p).replace(/\.ya?ml$/, ''))];

  const cidrs = (path: ConfigPath, list: readonly string[] | undefined): Cidr[] =>
    (list ?? []).flatMap((text, i) => guard([...path, i], () => [parseCidr(text)], [] as Cidr[]));

  // Profiles.
  const profiles = new Map<string, CompiledProfile>();
  for (const [name, rp] of Object.entries(raw.profiles ?? {})) {
    profiles.set(name, compileProfile(name, rp, c, allPacks, guard));
  }

  const auth = raw.auth ?? 'optional';
  if (auth !== 'required' && !profiles.has('default')) {
    c.add(['profiles'], `a "default" profile is required unless auth is "required" (unauthenticated traffic uses it)`);
  }

  // Agents.
  const agents: CompiledAgent[] = [];
  const seen = new Set<string>();
  (raw.agents ?? []).forEach((a, i) => {
    const p: ConfigPath = ['agents', i];
    if (seen.has(a.id)) c.add([...p, 'id'], `duplicate agent id "${a.id}"`);
    seen.add(a.id);
    if (a.token !== undefined) {
      c.add([...p, 'token'], 'plaintext tokens are refused: store the SHA-256 of the token as token_sha256 (e.g. printf %s "$TOKEN" | sha256sum)', true);
    }
    const digest = (a.token_sha256 ?? '').toLowerCase();
    if (a.token_sha256 === undefined && a.token === undefined && (a.sources ?? []).length === 0) {
      c.add(p, 'an agent needs token_sha256 (or sources, for source-address identity)');
    } else if (a.token_sha256 !== undefined && !/^[0-9a-f]{64}$/.test(digest)) {
      c.add([...p, 'token_sha256'], 'must be 64 hex characters (the SHA-256 of the token)');
    }
    const profile = a.profile ?? 'default';
    if (!profiles.has(profile)) c.add([...p, 'profile'], `unknown profile "${profile}"`);
    agents.push({
      id: a.id,
      tokenSha256: /^[0-9a-f]{64}$/.test(digest) ? Buffer.from(digest, 'hex') : Buffer.alloc(0),
      profile,
      sources: cidrs([...p, 'sources'], a.sources),
    });
  });

  // Upstream.
  const connectTo = new Map<string, HostPort>();
  for (const [key, target] of Object.entries(raw.upstream?.connect_to ?? {})) {
    const p: ConfigPath = ['upstream', 'connect_to', key];
    const wildcard = key.startsWith('*.');
    const hp = parseHostPort(wildcard ? key.slice(2) : key);
    if (!hp) {
      c.add(p, `key must be "host:port" (or "*.suffix:port"), got "${key}"`, true);
      continue;
    }
    if (wildcard) {
      const err = validateHostPattern(`*.${hp.host}`);
      if (err) c.add(p, err, true);
    }
    connectTo.set(`${wildcard ? '*.' : ''}${formatAuthority(hp.host, hp.port)}`, hostPort(p, target));
  }
  const ms = (path: ConfigPath, v: string | number | undefined, dflt: number): number =>
    v === undefined ? dflt : guard(path, () => parseDuration(v), dflt);
  const upstream: UpstreamConfig = {
    caFile: raw.upstream?.ca_file ? abs(raw.upstream.ca_file) : null,
    connectTo,
    allowPrivate: cidrs(['upstream', 'allow_private'], raw.upstream?.allow_private),
    connectTimeoutMs: ms(['upstream', 'connect_timeout'], raw.upstream?.connect_timeout, 10_000),
    headersTimeoutMs: ms(['upstream', 'headers_timeout'], raw.upstream?.headers_timeout, 300_000),
    bodyTimeoutMs: ms(['upstream', 'body_timeout'], raw.upstream?.body_timeout, 300_000),
  };

  // Honeytokens.
  const honeytokens: Honeytoken[] = [];
  const honeyIds = new Map<string, number>();
  (raw.honeytokens ?? []).forEach((h, i) => {
    const p: ConfigPath = ['honeytokens', i];
    const first = honeyIds.get(h.id);
    if (first !== undefined) c.add([...p, 'id'], `duplicate id "${h.id}" (also honeytokens[${first}]): records name a honeytoken by its id`);
    else honeyIds.set(h.id, i);
    if ((h.value === undefined) === (h.sha256 === undefined)) c.add(p, 'give exactly one of value or sha256');
    // Matched anywhere in every request, and always a block with a critical alert: a short value
    // ("ab") would fire on ordinary text. The value is never echoed (it is a secret).
    if (h.value !== undefined && h.value.trim().length < MIN_HONEYTOKEN_CHARS) c.add([...p, 'value'], `a honeytoken value needs at least ${MIN_HONEYTOKEN_CHARS} characters (a shorter one matches ordinary text)`);
    const sha = h.sha256?.toLowerCase() ?? null;
    if (sha !== null && !/^[0-9a-f]{64}$/.test(sha)) c.add([...p, 'sha256'], 'must be 64 hex characters');
    honeytokens.push({ id: h.id, value: h.value ?? null, sha256: sha });
  });

  // Detection rules.
  const alerts: AlertRule[] = [];
  const alertNames = new Map<string, number>();
  (raw.alerts ?? []).forEach((a, i) => {
    const p: ConfigPath = ['alerts', i];
    const first = alertNames.get(a.name);
    if (first !== undefined) c.add([...p, 'name'], `duplicate name "${a.name}" (also alerts[${first}]): records name a rule by it`);
    else alertNames.set(a.name, i);
    const bytes = a.when === 'upload_bytes';
    const num = (key: 'over' | 'at_least'): number | null => {
      const v = a[key];
      if (v === undefined) return null;
      return guard([...p, key], () => {
        if (bytes) return parseSize(v);
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`must be a whole number, got "${v}"`);
        return n;
      }, null);
    };
    let over = num('over');
    let atLeast = num('at_least');
    if (a.when === 'archive_upload' && over === null && atLeast === null) atLeast = 1;
    if ((over === null) === (atLeast === null)) c.add(p, 'give exactly one of over or at_least');
    if (atLeast === 0) c.add([...p, 'at_least'], 'must be at least 1 (0 would fire on every event)');
    if (a.when === 'requests_to' && !(a.hosts ?? []).length) c.add([...p, 'hosts'], 'requests_to needs hosts (e.g. sts.amazonaws.com or oauth2.googleapis.com/token)');
    const targets = (a.hosts ?? []).map((h, j) => {
      const slash = h.indexOf('/');
      const n = normalizeHost(slash === -1 ? h : h.slice(0, slash));
      if (!n) c.add([...p, 'hosts', j], `invalid host "${h}"`);
      return (n?.host ?? h) + (slash === -1 ? '' : h.slice(slash));
    });
    let quarantineMs: number | null = null;
    if (a.action !== undefined && a.action !== 'alert') {
      const m = /^block\s+(\S+)$/.exec(a.action.trim());
      if (!m) c.add([...p, 'action'], `expected "alert" or "block <duration>" (e.g. "block 10m"), got "${a.action}"`);
      else quarantineMs = guard([...p, 'action'], () => parseDuration(m[1]!), null);
    }
    const windowMs = ms([...p, 'within'], a.within, a.when === 'archive_upload' ? 60_000 : 0);
    if (windowMs <= 0) c.add([...p, 'within'], 'a window is required (e.g. 2m)');
    // A rule with an issue is never used (the whole config is refused); the stand-ins keep it well-typed.
    if (over === null && atLeast === null) over = 0;
    alerts.push({
      name: a.name, kind: a.when, over, atLeast, windowMs: Math.max(windowMs, 1),
      targets, severity: a.severity ?? (a.when === 'archive_upload' ? 'warning' : 'critical'), quarantineMs,
    });
  });

  // Audit.
  const ra = raw.audit ?? {};
  const auditFile = ra.file === undefined ? abs('../audit/audit.jsonl') : ra.file === null ? null : abs(ra.file);
  const auditCfg: AuditConfig = {
    file: auditFile === null ? null : {
      path: auditFile,
      rotateBytes: ra.rotate_size === undefined ? null : guard(['audit', 'rotate_size'], () => parseSize(ra.rotate_size!), null),
      rotateDaily: ra.rotate_daily ?? false,
      fsync: ra.fsync ?? 'checkpoint',
    },
    stdout: ra.stdout ?? false,
    http: ra.http === undefined ? null : {
      url: ra.http.url,
      format: ra.http.format ?? 'json',
      tokenEnv: ra.http.token_env ?? null,
      spoolDir: abs(ra.http.spool_dir ?? join(dirname(auditFile ?? join(caDir, 'x')), 'spool')),
      spoolMaxBytes: ra.http.spool_max === undefined ? 256 * 1024 * 1024 : guard(['audit', 'http', 'spool_max'], () => parseSize(ra.http!.spool_max!), 0),
      batchSize: ra.http.batch_size ?? 500,
      flushIntervalMs: ms(['audit', 'http', 'flush_interval'], ra.http.flush_interval, 1000),
      caFile: ra.http.ca_file ? abs(ra.http.ca_file) : null,
    },
    signKeyPath: abs(ra.sign_key ?? join(caDir, 'audit-sign.key')),
    checkpointEvery: ra.checkpoint_every ?? 1000,
    checkpointIntervalMs: ms(['audit', 'checkpoint_interval'], ra.checkpoint_interval, 10_000),
    format: ra.format ?? 'warden',
  };
  if (ra.http) guard(['audit', 'http', 'url'], () => {
    const u = new URL(ra.http!.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('must be an http(s) URL');
  }, undefined);

  const rs = raw.server ?? {};
  const size = (path: ConfigPath, v: string | number | undefined, dflt: number): number =>
    v === undefined ? dflt : guard(path, () => parseSize(v), dflt);
  // Node reads a keep-alive timeout of 0 as "none" (idle client connections would stay open for
  // ever), and a socket timer past 2^31 ms as 1 ms.
  const keepAliveMs = (path: ConfigPath, v: string | number | undefined, dflt: number): number =>
    v === undefined ? dflt : guard(path, () => {
      const n = parseDuration(v);
      if (n <= 0) throw new Error('must be more than 0 (0 would keep idle connections open for ever)');
      if (n > 86_400_000) throw new Error('must be at most 1d');
      return n;
    }, dflt);

  return {
    file,
    listen,
    admin,
    mode: raw.mode ?? 'enforce',
    caDir,
    auth,
    agents,
    profiles,
    upstream,
    honeytokens,
    alerts,
    audit: auditCfg,
    dlp: { packFiles, workers: raw.dlp?.workers ?? defaultDlpWorkers() },
    server: {
      maxConnections: rs.max_connections ?? 10_000,
      maxHeaderBytes: size(['server', 'max_header_size'], rs.max_header_size, 32 * 1024),
      headersTimeoutMs: ms(['server', 'headers_timeout'], rs.headers_timeout, 30_000),
      idleTimeoutMs: ms(['server', 'idle_timeout'], rs.idle_timeout, 120_000),
      keepAliveTimeoutMs: keepAliveMs(['server', 'keep_alive_timeout'], rs.keep_alive_timeout, 60_000),
      maxInspectBufferBytes: size(['server', 'max_inspect_buffer'], rs.max_inspect_buffer, 256 * 1024 * 1024),
      drainTimeoutMs: ms(['server', 'drain_timeout'], rs.drain_timeout, 10_000),
      maxCachedLeaves: rs.max_cached_leaves ?? 1_000,
    },
  };
}

type Guard = <T>(path: ConfigPath, fn: () => T, fallback: T) => T;

function compileProfile(name: string, rp: RawProfile, c: IssueCollector, allPacks: string[], guard: Guard): CompiledProfile {
  const base: ConfigPath = ['profiles', name];
  const hostPattern = (path: ConfigPath, text: string): string => {
    const wildcard = text.startsWith('*.');
    const n = normalizeHost(wildcard ? text.slice(2) : text);
    if (!n) {
      c.add(path, `invalid host "${text}"`);
      return text;
    }
    const pattern = (wildcard ? '*.' : '') + n.host;
    const err = validateHostPattern(pattern);
    if (err) c.add(path, err);
    return pattern;
  };
  const rate = (path: ConfigPath, v: string | undefined, sized: boolean): Rate | null =>
    v === undefined ? null : guard(path, () => parseRate(v, sized), null);

  const allow: CompiledAllowRule[] = (rp.allow ?? []).map((entry, i) => {
    const p: ConfigPath = [...base, 'allow', i];
    if (typeof entry === 'string') {
      return {
        id: `profiles.${name}.allow[${i}]`, host: hostPattern(p, entry), ports: [443, 80], methods: null, paths: null,
        inspect: true, credentialHeaders: [...DEFAULT_CREDENTIAL_HEADERS], requests: null,
      };
    }
    (entry.ports ?? []).forEach((port, j) => {
      if (port < 1 || port > 65535) c.add([...p, 'ports', j], `port must be 1-65535, got ${port}`);
    });
    (entry.methods ?? []).forEach((m, j) => {
      if (!/^[A-Za-z]+$/.test(m)) c.add([...p, 'methods', j], `invalid method "${m}"`);
    });
    (entry.paths ?? []).forEach((g, j) => {
      if (!g.startsWith('/') && g !== '*') c.add([...p, 'paths', j], `a path glob starts with "/" (e.g. /v1/*), got "${g}"`);
    });
    return {
      id: `profiles.${name}.allow[${i}]`,
      host: hostPattern([...p, 'host'], entry.host),
      ports: entry.ports ?? [443, 80],
      methods: entry.methods ? entry.methods.map((m) => m.toUpperCase()) : null,
      paths: entry.paths ?? null,
      inspect: entry.inspect ?? true,
      credentialHeaders: (entry.credential_headers ?? [...DEFAULT_CREDENTIAL_HEADERS]).map((h) => h.toLowerCase()),
      requests: rate([...p, 'requests'], entry.requests, false),
    };
  });
  const deny = (rp.deny ?? []).map((h, i) => ({ id: `profiles.${name}.deny[${i}]`, host: hostPattern([...base, 'deny', i], h) }));

  const rl = rp.limits ?? {};
  const limits = {
    maxBodyBytes: rl.max_body === undefined ? null : guard([...base, 'limits', 'max_body'], () => parseSize(rl.max_body!), null),
    upload: ((r) => (r ? { bytes: r.amount, windowMs: r.windowMs } : null))(rate([...base, 'limits', 'upload'], rl.upload, true)),
    requests: rate([...base, 'limits', 'requests'], rl.requests, false),
  };

  const rd = rp.dlp ?? {};
  const packs = rd.packs ?? allPacks;
  packs.forEach((pk, i) => {
    if (!allPacks.includes(pk)) c.add([...base, 'dlp', 'packs', i], `unknown pack "${pk}" (known: ${allPacks.join(', ')})`);
  });
  const actions: Record<string, DlpAction> = {};
  let defaultAction: DlpAction | null = null;
  for (const [type, action] of Object.entries(rd.actions ?? {})) {
    if (type === 'default') defaultAction = action;
    else actions[type] = action;
  }
  const dlp: CompiledDlpPolicy = {
    packs,
    actions,
    defaultAction,
    bulkPiiThreshold: rd.bulk_pii_threshold === undefined ? 10 : rd.bulk_pii_threshold,
    uninspectable: rd.uninspectable ?? 'block',
    maxInspectBytes: rd.max_inspect === undefined ? DEFAULT_MAX_INSPECT : guard([...base, 'dlp', 'max_inspect'], () => parseSize(rd.max_inspect!), DEFAULT_MAX_INSPECT),
  };
  return { name, allow, deny, limits, dlp };
}
