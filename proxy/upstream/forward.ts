/**
 * Upstream connections through undici: one keep-alive Pool per (origin, dialled address),
 * POSTs included (Squid opens a new TLS connection per POST; we do not).
 *
 * Invariant: every address we dial has passed isAddressAllowed() in upstream/resolve.ts;
 * the connector dials `dialHost` (an IP) and never resolves the name again, so a DNS answer
 * cannot change between the check and the connect (rebinding-safe). TLS is always verified
 * against the bundled roots plus upstream.ca_file; nothing here can turn verification off.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext, type TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { buildConnector, Pool } from 'undici';
import type { UpstreamTls } from '../audit/events.js';
import type { UpstreamConfig } from '../config/types.js';
import { WardenError, type RefusalCode } from '../errors.js';

export interface DialTarget {
  readonly scheme: 'http' | 'https';
  /** Host name as the client addressed it (SNI and certificate identity). */
  readonly host: string;
  readonly port: number;
  /** The checked IP address to dial. */
  readonly dialHost: string;
  readonly dialPort: number;
}

const IP_RE = /^(\d+\.\d+\.\d+\.\d+|.*:.*)$/;

export function loadUpstreamCa(cfg: UpstreamConfig): string[] {
  const ca = [...rootCertificates];
  if (cfg.caFile) ca.push(readFileSync(cfg.caFile, 'utf8'));
  return ca;
}

/**
 * Default bound on upstream pools. An undici Pool costs ~19 KiB of heap before it opens a
 * connection (its request queue is a fixed 2,048-slot array), and an agent reaching many names
 * under an inspected wildcard gets a pool per name: 512 stay near 10 MiB (2,048 were ~40 MiB,
 * and every atomic full collection marks that heap). The least recently used pool is closed
 * gracefully (its in-flight requests finish); a name that comes back opens a new connection.
 */
export const DEFAULT_MAX_POOLS = 512;
/**
 * A pool not asked for in this long is closed (gracefully), so the pools of names an agent
 * reached once do not hold their heap until 512 others push them out. Its connections are
 * gone well before (undici's keep-alive timeout, 30 s at most).
 */
export const POOL_IDLE_MS = 5 * 60_000;

export class Upstream {
  private readonly pools: LRUCache<string, Pool>;
  private readonly certs = new Map<string, UpstreamTls>();
  /**
   * One trust store for every upstream connection. Passing `ca` to each tls.connect would parse
   * ~145 root certificates per connection (~25 ms of blocked event loop, measured in test/bench
   * workload c); a shared SecureContext parses them once per config.
   */
  readonly secureContext: SecureContext;

  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly cfg: UpstreamConfig, opts: { maxPools?: number; idleMs?: number; now?: () => number } = {}) {
    this.secureContext = createSecureContext({ ca: loadUpstreamCa(cfg), minVersion: 'TLSv1.2' });
    const idleMs = opts.idleMs ?? POOL_IDLE_MS;
    this.pools = new LRUCache<string, Pool>({
      max: opts.maxPools ?? DEFAULT_MAX_POOLS,
      ttl: idleMs,
      updateAgeOnGet: true,
      ttlResolution: 1000, // one clock read (and timer) per second at most on the request path
      ...(opts.now ? { perf: { now: opts.now }, ttlResolution: 0 } : {}),
      dispose: (pool, key) => {
        this.certs.delete(key);
        void pool.close().catch(() => undefined); // in-flight requests finish first
      },
    });
    this.sweep = setInterval(() => this.sweepIdle(), Math.min(60_000, idleMs)).unref();
  }

  /** Close the pools idle past the limit (also runs every minute). */
  sweepIdle(): void {
    this.pools.purgeStale();
  }

  private key(t: DialTarget): string {
    return `${t.scheme}://${t.host}:${t.port}@${t.dialHost}:${t.dialPort}`;
  }

  /** The keep-alive pool for this origin and dialled address. */
  pool(t: DialTarget): Pool {
    const key = this.key(t);
    let pool = this.pools.get(key);
    if (pool) return pool;
    const base = buildConnector({
      secureContext: this.secureContext,
      timeout: this.cfg.connectTimeoutMs,
      maxCachedSessions: 100,
    } as buildConnector.BuildOptions);
    const servername = IP_RE.test(t.host) ? undefined : t.host;
    pool = new Pool(`${t.scheme}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`, {
      connect: (opts, cb) => {
        base({ ...opts, hostname: t.dialHost, port: String(t.dialPort), servername }, (err, socket) => {
          if (err || !socket) return cb(err ?? new Error('connect failed'), null);
          socket.setNoDelay(true); // no Nagle stall on POST bodies (see README: measured ~40 ms)
          if (t.scheme === 'https') this.captureCert(key, socket as TLSSocket);
          cb(null, socket);
        });
      },
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: this.cfg.headersTimeoutMs,
      bodyTimeout: this.cfg.bodyTimeoutMs,
      pipelining: 1,
    });
    this.pools.set(key, pool);
    return pool;
  }

  private captureCert(key: string, socket: TLSSocket): void {
    // getPeerX509Certificate is lazy (fields are computed on access); getPeerCertificate builds
    // a large object with the raw DER and key for every new connection.
    const c = socket.getPeerX509Certificate?.();
    if (!c) return;
    const oneLine = (dn: string): string => dn.split('\n').filter(Boolean).join(', ');
    this.certs.set(key, {
      subject: oneLine(c.subject),
      issuer: oneLine(c.issuer),
      fingerprint256: c.fingerprint256,
      valid_to: new Date(c.validTo).toISOString(),
    });
  }

  /** Details of the certificate the pool's connections presented (null for http or before connect). */
  certFor(t: DialTarget): UpstreamTls | null {
    return this.certs.get(this.key(t)) ?? null;
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'ERR_SSL_WRONG_VERSION_NUMBER', 'ECONNRESET_TLS',
]);

/** Map an undici / socket error to one of our refusal codes (the one place that does this). */
export function upstreamErrorCode(err: unknown): RefusalCode {
  if (err instanceof WardenError) return err.code;
  const e = err as { code?: string; cause?: { code?: string } } | null;
  const code = e?.code ?? '';
  const cause = e?.cause?.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return 'upstream_timeout';
  }
  if (TLS_CODES.has(code) || TLS_CODES.has(cause) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || /certificate/i.test(String((err as Error)?.message))) {
    return 'upstream_tls';
  }
  return 'upstream_error';
}

/** A short, data-free description of an upstream error for the operational log and audit detail. */
export function upstreamErrorDetail(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } } | null;
  return e?.code ?? e?.cause?.code ?? (err as Error)?.name ?? 'error';
}
