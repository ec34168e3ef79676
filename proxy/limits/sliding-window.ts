/**
 * A sliding-window sum (bytes or counts) kept in a fixed ring of time buckets, so memory per
 * key is constant however much traffic the key sees. No clock of its own: every call takes
 * `nowMs` from the caller's (injected) clock.
 *
 * Accuracy. Time is cut into buckets of `bucketMs = ceil(windowMs / bucketCount)` and the
 * window sums the current bucket plus the `span = ceil(windowMs / bucketMs)` before it. An
 * amount added at time t is therefore counted for **at least `windowMs`** and for less than
 * `windowMs + 2 * bucketMs` (less than `windowMs + bucketMs` when `bucketMs` divides
 * `windowMs`, as with 60 buckets over 2m: 2s buckets). We err on the side of counting too
 * long on purpose: a budget or an alert may trip up to one bucket late in releasing, but
 * traffic inside the window is never forgotten early, so it cannot be used to slip past.
 *
 * ```
 *   bucket index:  ... c-span-1 | c-span | ... | c-1 | c (now) |
 *                       dropped  |<---------- summed --------->|
 * ```
 *
 * Memory. The ring (`span + 1` numbers, ~0.5 KB for 60 buckets) is allocated only once a key
 * has data in two different buckets, and dropped again when the window empties. Until then the
 * whole sum sits in the head bucket. One-shot keys (a flood of new anonymous clients) thus
 * cost ~0.1 KB instead of ~0.7 KB.
 */
export class SlidingWindow {
  /** Width of one bucket in ms; the accuracy unit described above. */
  readonly bucketMs: number;
  readonly windowMs: number;
  /** span + 1: the number of buckets summed (the current one and `span` before it). */
  private readonly slotCount: number;
  // Invariant: when null, the whole `sum` lies in bucket `headIndex` (see "Memory" above).
  // Otherwise the slot for absolute bucket index i is slotOf(i).
  private slots: number[] | null = null;
  /** Absolute index of the newest bucket the ring has been advanced to. */
  private headIndex = -Infinity;
  private sum = 0;

  /**
   * @param windowMs length of the window (> 0)
   * @param bucketCount how many buckets cut the window (default 60); more is more accurate
   *   and costs 8 bytes per bucket per active key.
   */
  constructor(windowMs: number, bucketCount = 60) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`windowMs must be positive, got ${windowMs}`);
    if (!Number.isInteger(bucketCount) || bucketCount < 1) throw new RangeError(`bucketCount must be a positive integer, got ${bucketCount}`);
    this.windowMs = windowMs;
    this.bucketMs = Math.max(1, Math.ceil(windowMs / bucketCount));
    this.slotCount = Math.ceil(windowMs / this.bucketMs) + 1;
  }

  /** Add `n` (bytes or events) at `nowMs`. Negative or non-finite `n` is ignored. */
  add(nowMs: number, n: number): void {
    if (!(n > 0) || !Number.isFinite(n)) return;
    const index = this.advance(nowMs);
    if (this.slots) this.slots[this.slotOf(index)]! += n;
    this.sum += n;
  }

  /** The windowed sum at `nowMs` (see the accuracy note on the class). */
  total(nowMs: number): number {
    this.advance(nowMs);
    return this.sum;
  }

  /**
   * Milliseconds from `nowMs` until enough old buckets have dropped out for the total to be
   * strictly below `limit`; 0 when it already is. A refusal at `total >= limit` can say
   * "retry after this long" and be right (to the bucket) without the caller polling.
   */
  retryAfterMs(nowMs: number, limit: number): number {
    const current = this.advance(nowMs);
    if (this.sum < limit) return 0;
    const len = this.slotCount;
    // Bucket i drops out once "now" reaches bucket i + len, i.e. at time (i + len) * bucketMs.
    const dropsAtMs = (i: number): number => Math.max(1, (i + len) * this.bucketMs - nowMs);
    if (!this.slots) return dropsAtMs(current);
    let remaining = this.sum;
    for (let i = current - (len - 1); i <= current; i++) {
      remaining -= this.slots[this.slotOf(i)]!;
      if (remaining < limit) return dropsAtMs(i);
    }
    // Only reachable when limit <= 0: nothing ever gets below it; report a full ring.
    return dropsAtMs(current);
  }

  /** True when every bucket is empty (the key holds no information and can be dropped). */
  isEmpty(nowMs: number): boolean {
    return this.total(nowMs) === 0;
  }

  // Non-negative modulo: a clock may legitimately read negative (tests, relative clocks).
  private slotOf(index: number): number {
    const len = this.slotCount;
    return ((index % len) + len) % len;
  }

  /**
   * Move the window forward to the bucket holding `nowMs`, zeroing buckets that fell out of
   * it; returns the absolute index of the current bucket. A clock reading older than the head
   * (a clock that stepped back) is charged to the head bucket instead of rewriting history.
   */
  private advance(nowMs: number): number {
    const index = Math.floor(nowMs / this.bucketMs);
    if (index <= this.headIndex) return this.headIndex;
    if (this.sum === 0 || index - this.headIndex >= this.slotCount) {
      // Empty, or everything dropped out: an empty window needs no ring.
      this.slots = null;
      this.sum = 0;
    } else if (!this.slots) {
      // Data in the head bucket and time moved on: the head will no longer hold the whole sum.
      this.slots = new Array<number>(this.slotCount).fill(0);
      this.slots[this.slotOf(this.headIndex)] = this.sum;
    } else {
      for (let i = this.headIndex + 1; i <= index; i++) {
        const slot = this.slotOf(i);
        this.sum -= this.slots[slot]!;
        this.slots[slot] = 0;
      }
    }
    this.headIndex = index;
    return index;
  }
}
