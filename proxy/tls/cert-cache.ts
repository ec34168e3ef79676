/**
 * A bounded cache of TLS server contexts, one per intercepted host, each holding a leaf minted
 * by `tls/leaf.ts` for the shared process leaf key.
 */
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateAuthority } from './ca.js';
import { issueCertificate, LEAF_VALIDITY_MS, mintLeaf, normalizeCertName, processLeafKey } from './leaf.js';
import type { LeafKey } from './leaf.js';

/**
 * Default bound on cached contexts. Each holds one leaf and one SecureContext: ~30 KiB of
 * OpenSSL memory (an empty OpenSSL 3 SSL_CTX alone is ~16 KiB), so 1,000 stay near 30 MiB.
 * Agents reach few inspected names, and sibling names share a leaf; an evicted name costs one
 * mint (~1 ms) when it comes back. Config: `server.max_cached_leaves`.
 */
export const DEFAULT_CERT_CACHE_MAX = 1_000;

/**
 * Default time a context stays cached: a week, well inside the leaf's 30 days, so a cached leaf
 * is always far from its `notAfter` when served; an entry also never outlives its own leaf minus
 * {@link EXPIRY_MARGIN_MS} (a leaf is capped at the CA's expiry, which may be sooner).
 */
export const DEFAULT_CERT_CACHE_TTL_MS = 7 * 24 * 3600 * 1000;

/** A cached leaf is dropped at least this long before its `notAfter`, for clients whose clock runs ahead. */
const EXPIRY_MARGIN_MS = 24 * 3600 * 1000;

export interface CertCacheOptions {
  /** Maximum number of cached hosts (least recently used evicted). Default {@link DEFAULT_CERT_CACHE_MAX}. */
  readonly max?: number;
  /** Cache lifetime of an entry in ms; must be shorter than the leaf validity. Default {@link DEFAULT_CERT_CACHE_TTL_MS}. */
  readonly ttlMs?: number;
  /** Leaf key; default the process-wide {@link processLeafKey}. */
  readonly leafKey?: LeafKey;
  /** Called after each mint (e.g. to count `warden_leaf_certificates_minted_total`). */
  readonly onMint?: (host: string, durationMs: number) => void;
  /** Called with the number of cold leaves waiting to be minted whenever it changes (see contextFor). */
  readonly onMintQueue?: (waiting: number) => void;
  /**
   * Serve sibling host names from one `*.parent` leaf (see {@link siblingWildcard}). Agents
   * reach many names under one service (regional or per-resource hosts), and each new name
   * otherwise costs a mint plus a SecureContext (~1 ms of blocked event loop). Default false.
   */
  readonly shareSiblings?: boolean;
}

/**
 * The wildcard that may cover `host` for sibling sharing, or null. Only DNS names with at
 * least three labels qualify (`*.example.com` for `a.example.com`, never `*.com`), and four
 * under a two-letter TLD, so a wildcard is never minted directly under a public suffix such
 * as `co.uk`. A wildcard covers one label only, as clients check it.
 */
export function siblingWildcard(host: string): string | null {
  const labels = host.split('.');
  const tld = labels[labels.length - 1] ?? '';
  const min = tld.length === 2 ? 4 : 3;
  if (labels.length < min || labels[0] === '*' || /^[0-9]+$/.test(tld)) return null;
  return `*.${labels.slice(1).join('.')}`;
}

/**
 * Free the OpenSSL memory of a context that has left the cache (evicted, expired or cleared),
 * now rather than at V8's next full collection. V8 is not told about that memory (~30 KiB a
 * context; `process.memoryUsage().external` does not move), so nothing hurries the collection:
 * with incremental marking off (gc.ts) and a cache churned by many names, evicted contexts piled
 * up, and 20,000 names through a 500-entry cache grew the RSS to 567 MiB (89 MiB with this).
 *
 * Safe for connections using the context: each TLS socket's SSL holds its own reference to the
 * SSL_CTX (SSL_new takes one), and every caller builds its TLSSocket in the turn it receives the
 * context (connect.ts startTls; sniCallback), so a context is never handed on after it leaves the
 * cache. `close()` is the method of the native handle (`context.context`) that drops its SSL_CTX
 * and certificates; it is not in Node's documented API, so where a Node version lacks it the
 * context is left to the garbage collector as before (cert-cache.test.ts checks it works).
 */
function releaseContext(context: SecureContext): void {
  const native = (context as SecureContext & { context?: { close?: unknown } }).context;
  if (native && typeof native.close === 'function') (native.close as () => void)();
}

/** Counters for tests and metrics. `mints` differs from `misses` only when a mint failed. */
export interface CertCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly mints: number;
  readonly size: number;
}

/** The `SNICallback` shape of `tls.TLSSocket` / `tls.createServer`. */
export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

/** A host name as the cache keys it: the checked name, the sibling wildcard it shares, the key. */
interface CacheEntryName {
  readonly name: ReturnType<typeof normalizeCertName>;
  readonly wildcard: string | null;
  readonly key: string;
}

/**
 * Host → `SecureContext`, bounded by an LRU with a TTL.
 *
 * The context's certificate chain is the leaf alone when the CA is a self-signed root (clients
 * have the root already: they must trust `ca.pem`; sending it again would cost ~500 bytes per
 * handshake and RFC 8446 §4.4.2 allows omitting it), and the leaf followed by `ca.pem` when an
 * admin's CA is an intermediate (clients then need it to build a path to their trusted root).
 *
 * Concurrency: minting itself is synchronous (~1 ms), so a miss is filled before any other
 * callback runs. Concurrent first requests for one host therefore share a single generation
 * without the in-flight promise bookkeeping of lru-cache's `fetch()`. `contextFor` only defers
 * when a mint starts (one per event-loop turn); each queued job looks the cache up again first.
 */
export class CertCache {
  readonly #ca: CertificateAuthority;
  readonly #leafKey: LeafKey;
  readonly #ttlMs: number;
  readonly #cache: LRUCache<string, SecureContext>;
  readonly #onMint: ((host: string, durationMs: number) => void) | undefined;
  readonly #onMintQueue: ((waiting: number) => void) | undefined;
  readonly #shareSiblings: boolean;
  /** Mints waiting for their turn (see contextFor). */
  readonly #mintQueue: Array<() => void> = [];
  #hits = 0;
  #misses = 0;
  #mints = 0;

  constructor(ca: CertificateAuthority, opts: CertCacheOptions = {}) {
    const max = opts.max ?? DEFAULT_CERT_CACHE_MAX;
    const ttlMs = opts.ttlMs ?? DEFAULT_CERT_CACHE_TTL_MS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`cert cache max must be a positive integer, got ${max}`);
    if (!(ttlMs > 0 && ttlMs < LEAF_VALIDITY_MS)) {
      throw new RangeError(`cert cache ttlMs must be positive and shorter than the leaf validity (${LEAF_VALIDITY_MS} ms), got ${ttlMs}`);
    }
    this.#ca = ca;
    this.#leafKey = opts.leafKey ?? processLeafKey();
    this.#ttlMs = ttlMs;
    this.#onMint = opts.onMint;
    this.#onMintQueue = opts.onMintQueue;
    this.#shareSiblings = opts.shareSiblings ?? false;
    this.#cache = new LRUCache<string, SecureContext>({ max, ttl: ttlMs, updateAgeOnGet: false, dispose: releaseContext });
  }

  /**
   * The context for `hostname` (SNI or CONNECT host; untrusted). Mints on a miss. Throws an
   * `Error` when `hostname` is not a valid DNS name or IP literal (see `normalizeCertName`),
   * which an SNI callback turns into a failed handshake.
   */
  getContext(hostname: string): SecureContext {
    const entry = this.#keyOf(hostname);
    return this.#cached(entry.key) ?? this.#mint(entry);
  }

  /** The cached context under `key`, counted as a hit, or undefined. */
  #cached(key: string): SecureContext | undefined {
    const cached = this.#cache.get(key);
    if (cached) this.#hits++;
    return cached;
  }

  /** Mint, build and cache the context for a name not in the cache. */
  #mint({ name, wildcard, key }: CacheEntryName): SecureContext {
    this.#misses++;
    const started = performance.now();
    const leaf = wildcard
      ? issueCertificate(this.#ca, [wildcard], this.#leafKey, { allowWildcard: true })
      : mintLeaf(this.#ca, name.name, this.#leafKey);
    const context = createSecureContext({
      key: this.#leafKey.privateKeyPem,
      cert: this.#ca.chainPem ? leaf.certPem + this.#ca.chainPem : leaf.certPem,
      minVersion: 'TLSv1.2',
      // ALPN is set on the TLSSocket by tls/intercept.ts, not here.
    });
    this.#mints++;
    const ttl = Math.min(this.#ttlMs, leaf.notAfter.getTime() - Date.now() - EXPIRY_MARGIN_MS);
    // A leaf too close to its CA's expiry to be worth caching is still served, just not kept.
    if (ttl > 0) this.#cache.set(key, context, { ttl });
    this.#onMint?.(name.name, performance.now() - started);
    return context;
  }

  /**
   * The context for `hostname`, passed to `cb`: at once when it is cached, otherwise minted in a
   * later event-loop turn, at most one mint per turn. A mint blocks the loop for ~1.5 ms (most of
   * it OpenSSL parsing the key for the new context), and a burst of cold names used to mint them
   * all in the turn that received their ClientHellos; queued, other sockets' I/O runs between
   * mints. `cb` gets the error of an invalid name, at once. `stillWanted` is asked before
   * minting, so a client that gave up costs nothing.
   */
  contextFor(hostname: string, stillWanted: () => boolean, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    let entry: CacheEntryName;
    try {
      entry = this.#keyOf(hostname);
    } catch (err) {
      cb(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const cached = this.#cached(entry.key);
    if (cached) {
      cb(null, cached);
      return;
    }
    this.#mintQueue.push(() => {
      if (!stillWanted()) return;
      let context: SecureContext;
      try {
        context = this.#cached(entry.key) ?? this.#mint(entry); // a hit when an earlier job minted the same leaf
      } catch (err) {
        cb(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      cb(null, context);
    });
    this.#onMintQueue?.(this.#mintQueue.length);
    if (this.#mintQueue.length === 1) setImmediate(this.#mintNext);
  }

  /** Run one queued mint; the next waits for the next turn (an immediate queued by an immediate does). */
  readonly #mintNext = (): void => {
    const job = this.#mintQueue.shift();
    this.#onMintQueue?.(this.#mintQueue.length);
    if (this.#mintQueue.length > 0) setImmediate(this.#mintNext);
    job?.();
  };

  /** Mints waiting in the queue. */
  get queuedMints(): number {
    return this.#mintQueue.length;
  }

  /** The cache key of `hostname`; throws for a name that cannot be in a certificate. */
  #keyOf(hostname: string): CacheEntryName {
    const name = normalizeCertName(hostname);
    // IPv6 has many spellings of one address; key IPs by their bytes so they share an entry.
    const wildcard = this.#shareSiblings && name.kind !== 'ip' ? siblingWildcard(name.name) : null;
    const key = name.kind === 'ip' ? `ip:${name.bytes.toString('hex')}` : wildcard ?? name.name;
    return { name, wildcard, key };
  }

  /** `SNICallback` for `tls.TLSSocket` / `tls.createServer`; a refused name fails the handshake. */
  readonly sniCallback: SniCallback = (servername, cb) => {
    let context: SecureContext;
    try {
      context = this.getContext(servername);
    } catch (err) {
      cb(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    cb(null, context);
  };

  /** Counters since construction, and the current number of cached hosts. */
  stats(): CertCacheStats {
    return { hits: this.#hits, misses: this.#misses, mints: this.#mints, size: this.#cache.size };
  }

  /** Drop every cached context (e.g. after the CA changed). */
  clear(): void {
    this.#cache.clear();
  }
}
