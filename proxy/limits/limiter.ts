/**
 * Per-agent request rate and upload budget (DESIGN.md "caps upload size and upload rate, per
 * agent"; reason codes `rate_limited`, `upload_budget`, `body_too_large`). Decisions are
 * returned as values; the server stage turns a refusal into a 413/429 with Retry-After.
 *
 * State lives in two bounded LRU caches so that memory does not grow with the number of
 * clients or destinations:
 *   - request buckets, keyed by agent (`p\0<agentKey>`) and by agent + allow entry
 *     (`r\0<agentKey>\0<rule.id>`) for entries that carry their own `requests:` rate;
 *   - upload windows, keyed by agent.
 * Eviction forgives: an evicted key comes back with a full bucket and an empty window. Size
 * `maxKeys` above the number of live agents × rate-limited entries so that only idle keys
 * are evicted. Measured (test/bench/limits-memory.ts): ~0.16 KB per bucket key, ~0.2 KB per
 * upload window, ~0.7 KB once a window spans several buckets; so at the default 50,000 keys
 * per cache the limiter holds about 45 MB at worst, however many clients come and go.
 */
import type { LRUCache } from 'lru-cache';
import type { CompiledAllowRule, CompiledProfile } from '../config/types.js';
import type { RefusalCode } from '../errors.js';
import { agentStateCache } from './agent-state.js';
import { SlidingWindow } from './sliding-window.js';
import { check, newBucket, available, take, type BucketRate, type BucketState } from './token-bucket.js';

/** Result of {@link Limiter.admitRequest}. `retryAfterSeconds` is whole seconds, at least 1. */
export type Admission =
  | { readonly ok: true }
  | {
    readonly ok: false;
    readonly code: 'rate_limited' | 'upload_budget';
    readonly retryAfterSeconds: number;
    /** The config key whose limit refused it: the audit `rule` (the profile's, or the entry's own rate). */
    readonly rule: string;
  };

/** Result of {@link Limiter.recordUpload}. `retryAfterSeconds` is 0 while within budget. */
export interface UploadStatus {
  readonly withinBudget: boolean;
  readonly retryAfterSeconds: number;
}

/** What {@link Limiter.usage} reports for `warden explain` and the admin port. */
export interface LimitUsage {
  readonly requests: { readonly used: number; readonly limit: number; readonly windowMs: number } | null;
  readonly upload: { readonly usedBytes: number; readonly limitBytes: number; readonly windowMs: number } | null;
}

/** Result of {@link checkBodySize}. */
export type BodySizeCheck = { readonly ok: true } | { readonly ok: false; readonly code: 'body_too_large'; readonly limitBytes: number };

export interface LimiterOptions {
  /** Upper bound on keys per cache (request buckets; upload windows). Default 50,000. */
  readonly maxKeys?: number;
  /** Clock in ms; inject a fake one in tests. Default `Date.now`. Only differences matter. */
  readonly now?: () => number;
}

const DEFAULT_MAX_KEYS = 50_000;

/** Refusals that only a profile's own limit gives, and that limit's key under `profiles.NAME.limits`. */
const PROFILE_LIMITS: Partial<Record<RefusalCode, string>> = { body_too_large: 'max_body', upload_budget: 'upload' };

/**
 * The config key of the profile limit behind a refusal (`profiles.default.limits.upload`), its
 * audit `rule` as an allow entry's key is of a request it allowed; null for any other code. A
 * rate limit may be an allow entry's own: {@link Admission} names which.
 */
export function profileLimitRule(profile: CompiledProfile, code: RefusalCode): string | null {
  const key = PROFILE_LIMITS[code];
  return key === undefined ? null : `profiles.${profile.name}.limits.${key}`;
}

/** Retry-After is whole seconds (RFC 9110 §10.2.3); round up so a client never retries early. */
export function toRetryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export class Limiter {
  private readonly now: () => number;
  private readonly buckets: LRUCache<string, BucketState>;
  private readonly uploads: LRUCache<string, SlidingWindow>;

  constructor(opts: LimiterOptions = {}) {
    const maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
    this.now = opts.now ?? Date.now;
    this.buckets = agentStateCache(maxKeys);
    this.uploads = agentStateCache(maxKeys);
  }

  /**
   * The admit-stage limits for one request (the body has not been read yet).
   *
   * Refused with `upload_budget` when the agent's upload window total has reached the
   * profile's budget (nothing left to spend); checked first because its wait is the longer
   * one and an agent told "rate_limited, retry in 1s" would just be refused again. Else
   * refused with `rate_limited` when the profile bucket or the entry's own bucket
   * (`rule.requests`) is empty: both must pass. Tokens are spent only when the request is
   * admitted, from both buckets together, so a refused request costs nothing.
   *
   * @param agentKey agent id, or `ip:<address>` for anonymous clients (trusted: built by us)
   * @param rule the allow entry that matched, or null (e.g. explain without a match)
   */
  admitRequest(agentKey: string, profile: CompiledProfile, rule: CompiledAllowRule | null): Admission {
    const nowMs = this.now();
    const upload = profile.limits.upload;
    if (upload) {
      const window = this.uploadWindow(agentKey, upload.windowMs, false);
      if (window && window.total(nowMs) >= upload.bytes) {
        return { ok: false, code: 'upload_budget', retryAfterSeconds: toRetryAfterSeconds(window.retryAfterMs(nowMs, upload.bytes)), rule: `profiles.${profile.name}.limits.upload` };
      }
    }

    const due: Array<[BucketState, BucketRate, string]> = [];
    if (profile.limits.requests) due.push([this.bucket(profileKey(agentKey), profile.limits.requests, nowMs), profile.limits.requests, `profiles.${profile.name}.limits.requests`]);
    if (rule?.requests) due.push([this.bucket(ruleKey(agentKey, rule.id), rule.requests, nowMs), rule.requests, `${rule.id}.requests`]);

    let waitMs = 0;
    let refusedBy = '';
    for (const [state, rate, key] of due) {
      const result = check(state, rate, nowMs);
      if (!result.ok && result.retryAfterMs > waitMs) {
        waitMs = result.retryAfterMs;
        refusedBy = key;
      }
    }
    if (waitMs > 0) return { ok: false, code: 'rate_limited', retryAfterSeconds: toRetryAfterSeconds(waitMs), rule: refusedBy };
    for (const [state, rate] of due) take(state, rate, nowMs);
    return { ok: true };
  }

  /**
   * Count `bytes` sent upstream by the agent: per chunk for tunnels and WebSockets, per body
   * for inspected requests. `withinBudget` turns false once the window total **exceeds** the
   * budget (a total exactly at the budget is still within it); the caller then closes the
   * tunnel or refuses, and `retryAfterSeconds` says when the total drops back below the budget.
   * With no `upload` limit on the profile nothing is stored.
   */
  recordUpload(agentKey: string, profile: CompiledProfile, bytes: number): UploadStatus {
    const upload = profile.limits.upload;
    if (!upload) return { withinBudget: true, retryAfterSeconds: 0 };
    const nowMs = this.now();
    const window = this.uploadWindow(agentKey, upload.windowMs, true)!;
    window.add(nowMs, bytes);
    if (window.total(nowMs) <= upload.bytes) return { withinBudget: true, retryAfterSeconds: 0 };
    return { withinBudget: false, retryAfterSeconds: toRetryAfterSeconds(window.retryAfterMs(nowMs, upload.bytes)) };
  }

  /**
   * Current figures for the agent under `profile`, without changing any state (or LRU order).
   * `requests.used` is the number of whole tokens missing from the profile bucket.
   */
  usage(agentKey: string, profile: CompiledProfile): LimitUsage {
    const nowMs = this.now();
    const { requests: rate, upload } = profile.limits;
    let requests: LimitUsage['requests'] = null;
    if (rate) {
      const state = this.buckets.peek(profileKey(agentKey));
      const used = state ? rate.amount - Math.floor(available(state, rate, nowMs) + 1e-9) : 0;
      requests = { used: Math.max(0, used), limit: rate.amount, windowMs: rate.windowMs };
    }
    let uploadUsage: LimitUsage['upload'] = null;
    if (upload) {
      const window = this.uploads.peek(agentKey);
      const usedBytes = window && window.windowMs === upload.windowMs ? window.total(nowMs) : 0;
      uploadUsage = { usedBytes, limitBytes: upload.bytes, windowMs: upload.windowMs };
    }
    return { requests, upload: uploadUsage };
  }

  /** Same as the module function {@link checkBodySize}; here so callers holding a Limiter need no second import. */
  checkBodySize(profile: CompiledProfile, declaredLength: number | null): BodySizeCheck {
    return checkBodySize(profile, declaredLength);
  }

  /** Number of keys held (request buckets + upload windows); for the admin port and the bench. */
  get size(): number {
    return this.buckets.size + this.uploads.size;
  }

  private bucket(key: string, rate: BucketRate, nowMs: number): BucketState {
    let state = this.buckets.get(key);
    if (!state) {
      state = newBucket(rate, nowMs);
      this.buckets.set(key, state);
    }
    return state;
  }

  // A reload may change the profile's window length; the old buckets would have the wrong
  // width, so the agent starts a fresh window (only an admin can trigger this).
  private uploadWindow(agentKey: string, windowMs: number, create: boolean): SlidingWindow | undefined {
    const window = this.uploads.get(agentKey);
    if (window && window.windowMs === windowMs) return window;
    if (!create) return undefined;
    const fresh = new SlidingWindow(windowMs);
    this.uploads.set(agentKey, fresh);
    return fresh;
  }
}

/**
 * The admit-stage body check on a declared `Content-Length`. A body of exactly `max_body`
 * bytes is accepted; one byte more is refused. Without a declared length (chunked) the
 * streaming {@link BodyCap} applies instead.
 */
export function checkBodySize(profile: CompiledProfile, declaredLength: number | null): BodySizeCheck {
  const limitBytes = profile.limits.maxBodyBytes;
  if (limitBytes === null || declaredLength === null || declaredLength <= limitBytes) return { ok: true };
  return { ok: false, code: 'body_too_large', limitBytes };
}

/**
 * Streaming counterpart of {@link checkBodySize} for bodies without a declared length (and
 * as a backstop for bodies that lie about it): feed it each chunk's length.
 */
export class BodyCap {
  /** Bytes seen so far. */
  bytes = 0;
  private over = false;

  /** @param maxBytes the profile's `maxBodyBytes`; null means no cap. */
  constructor(readonly maxBytes: number | null) {}

  /** Count `n` more bytes; false once the total exceeds the cap, and false from then on. */
  add(n: number): boolean {
    this.bytes += n;
    if (this.maxBytes !== null && this.bytes > this.maxBytes) this.over = true;
    return !this.over;
  }
}

function profileKey(agentKey: string): string {
  return `p\0${agentKey}`;
}

// Keyed by the allow entry, not by the host the request named: a wildcard entry
// (`*.example.com`) shares one bucket across its sub-domains, so an agent cannot multiply its
// rate by inventing host names. Entry ids are config paths that include the profile name.
function ruleKey(agentKey: string, ruleId: string): string {
  return `r\0${agentKey}\0${ruleId}`;
}
