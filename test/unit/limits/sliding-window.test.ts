import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { SlidingWindow } from '../../../proxy/limits/sliding-window.js';

const TWO_MINUTES_MS = 120_000; // 60 buckets of 2,000 ms

test('bucket width', () => {
  const cases: Array<[windowMs: number, buckets: number, bucketMs: number]> = [
    [120_000, 60, 2_000],
    [60_000, 60, 1_000],
    [1_000, 60, 17],   // rounded up: the window is covered, never shortened
    [30, 60, 1],       // never below 1 ms
    [600_000, 10, 60_000],
  ];
  for (const [windowMs, buckets, bucketMs] of cases)
    assert.equal(new SlidingWindow(windowMs, buckets).bucketMs, bucketMs, `${windowMs}/${buckets}`);
});

// [name, adds as [ms, n], query ms, expected total]
const totals: Array<[string, Array<[number, number]>, number, number]> = [
  ['empty', [], 0, 0],
  ['one add', [[0, 100]], 0, 100],
  ['sums adds in one bucket', [[0, 100], [1_999, 50]], 1_999, 150],
  ['still counted exactly windowMs later', [[0, 100]], TWO_MINUTES_MS, 100],
  ['still counted within one bucket past the window', [[0, 100]], TWO_MINUTES_MS + 1_999, 100],
  ['dropped one bucket past the window', [[0, 100]], TWO_MINUTES_MS + 2_000, 0],
  ['late in its bucket: counted windowMs later', [[1_999, 100]], 1_999 + TWO_MINUTES_MS, 100],
  ['late in its bucket: dropped at the next boundary', [[1_999, 100]], 122_000, 0],
  ['only the old part drops', [[0, 100], [60_000, 7]], 122_000, 7],
  ['long idle clears the ring', [[0, 100], [10, 5]], 10 * TWO_MINUTES_MS, 0],
  ['negative and non-finite adds are ignored', [[0, -5], [0, Number.NaN], [0, Infinity], [0, 3]], 0, 3],
  ['a clock that steps back is charged to the newest bucket', [[60_000, 10], [0, 5]], 60_000 + TWO_MINUTES_MS + 1_999, 15],
  ['negative clock readings work', [[-5_000, 10]], -5_000 + TWO_MINUTES_MS, 10],
];
for (const [name, adds, queryMs, expected] of totals) {
  test(`total: ${name}`, () => {
    const w = new SlidingWindow(TWO_MINUTES_MS);
    for (const [ms, n] of adds) w.add(ms, n);
    assert.equal(w.total(queryMs), expected);
  });
}

// [name, adds, now, limit, expected retryAfterMs]
const retries: Array<[string, Array<[number, number]>, number, number, number]> = [
  ['below the limit: no wait', [[0, 100]], 0, 101, 0],
  ['at the limit: wait for the bucket to drop', [[0, 100]], 0, 100, 122_000],
  ['the oldest bucket is enough', [[0, 100], [30_000, 100]], 60_000, 150, 62_000],
  ['needs two buckets to drop', [[0, 100], [30_000, 100]], 60_000, 100, 92_000],
  ['late in a bucket, wait counts from now', [[0, 100]], 121_500, 100, 500],
];
for (const [name, adds, nowMs, limit, expected] of retries) {
  test(`retryAfterMs: ${name}`, () => {
    const w = new SlidingWindow(TWO_MINUTES_MS);
    for (const [ms, n] of adds) w.add(ms, n);
    const wait = w.retryAfterMs(nowMs, limit);
    assert.equal(wait, expected);
    // The promise holds: at now + wait the total is below the limit, 1 ms earlier it is not.
    if (wait > 0) {
      assert.ok(w.total(nowMs + wait - 1) >= limit, 'not yet below 1 ms before');
      assert.ok(w.total(nowMs + wait) < limit, 'below at the promised time');
    }
  });
}

test('against an exact reference: never forgets early, never remembers past window + 2 buckets', () => {
  // Deterministic pseudo-random events (LCG) so a failure reproduces.
  let seed = 42;
  const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (const [windowMs, buckets] of [[120_000, 60], [1_000, 60], [10_000, 7]] as const) {
    const w = new SlidingWindow(windowMs, buckets);
    const events: Array<[number, number]> = [];
    let nowMs = 0;
    for (let i = 0; i < 3_000; i++) {
      nowMs += Math.floor(rand() * windowMs * 0.05);
      const n = Math.floor(rand() * 1000);
      w.add(nowMs, n);
      events.push([nowMs, n]);
      const probe = nowMs + Math.floor(rand() * windowMs * 0.5);
      const lower = events.filter(([t]) => t >= probe - windowMs).reduce((s, [, x]) => s + x, 0);
      const upper = events.filter(([t]) => t > probe - windowMs - 2 * w.bucketMs).reduce((s, [, x]) => s + x, 0);
      const got = w.total(probe);
      nowMs = probe; // time has moved on: later adds must not look like a clock stepping back
      assert.ok(got >= lower && got <= upper, `window ${windowMs}: total ${got} outside [${lower}, ${upper}] at ${probe}`);
    }
  }
});
