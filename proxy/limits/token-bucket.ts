/**
 * Token-bucket arithmetic over a small state object. No clock, no I/O: the caller passes
 * `nowMs` (from an injected clock) and owns the state, so tests drive time by hand.
 *
 * A rate `{ amount, windowMs }` ("600 per 1m") means: the bucket holds at most `amount`
 * tokens (the burst) and refills at `amount / windowMs` tokens per millisecond, so a client
 * that waits a full window gets its whole burst back.
 */

/** Per-key bucket state. `tokens` is a real number: refill credits fractions of a token. */
export interface BucketState {
  tokens: number;
  /** Clock reading (ms) at which `tokens` was last brought up to date. */
  updatedMs: number;
}

/** A rate as compiled from `"N per DURATION"` (config/units.ts parseRate). */
export interface BucketRate {
  readonly amount: number;
  readonly windowMs: number;
}

/** Outcome of {@link take} / {@link check}; `retryAfterMs` is when `n` tokens will be there. */
export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

// Why a tolerance: refill is `elapsed * amount / windowMs`, and summing such fractions in
// floating point can leave 0.9999999999998 where exact arithmetic gives 1. Without the slack
// a request arriving exactly when its token is due would be refused with a 1 ms retry.
const EPSILON_TOKENS = 1e-9;

/** A full bucket at `nowMs`: a key seen for the first time gets the whole burst. */
export function newBucket(rate: BucketRate, nowMs: number): BucketState {
  return { tokens: rate.amount, updatedMs: nowMs };
}

/**
 * Tokens available at `nowMs` (refilled, capped at `rate.amount`), without changing `state`.
 * A clock reading earlier than `state.updatedMs` (a clock that stepped back) refills nothing.
 */
export function available(state: BucketState, rate: BucketRate, nowMs: number): number {
  const elapsedMs = Math.max(0, nowMs - state.updatedMs);
  // Multiply before dividing: exact whenever the result is a whole number of tokens.
  return Math.min(rate.amount, state.tokens + (elapsedMs * rate.amount) / rate.windowMs);
}

/**
 * Would {@link take} succeed? Same answer, but `state` is left as it was: lets a caller test
 * several buckets and only spend from them when all of them pass.
 */
export function check(state: BucketState, rate: BucketRate, nowMs: number, n = 1): TakeResult {
  const tokens = available(state, rate, nowMs);
  if (tokens + EPSILON_TOKENS >= n) return { ok: true };
  if (n > rate.amount) {
    // More than the bucket can ever hold. Callers take 1 per request, so this is a programming
    // error rather than client input: fail loudly instead of promising a retry that never works.
    throw new RangeError(`cannot take ${n} tokens from a bucket of ${rate.amount}`);
  }
  let retryAfterMs = Math.max(1, Math.ceil(((n - tokens) * rate.windowMs) / rate.amount));
  // The division can land a hair above a whole number (0.01 * 100 = 1.0000000000000009): ask
  // the same question check() will ask then, so the promised time is the first that passes.
  if (retryAfterMs > 1 && available(state, rate, nowMs + retryAfterMs - 1) + EPSILON_TOKENS >= n) retryAfterMs -= 1;
  return { ok: false, retryAfterMs };
}

/**
 * Take `n` tokens at `nowMs`. On success `state` is updated in place (refilled, then
 * debited); on refusal it is left unchanged, so refused requests do not dig the hole deeper.
 *
 * @throws RangeError when `n > rate.amount` and the bucket is short (can never succeed).
 */
export function take(state: BucketState, rate: BucketRate, nowMs: number, n = 1): TakeResult {
  const result = check(state, rate, nowMs, n);
  if (result.ok) {
    state.tokens = Math.max(0, available(state, rate, nowMs) - n);
    state.updatedMs = Math.max(state.updatedMs, nowMs);
  }
  return result;
}
