import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { available, check, newBucket, take, type BucketRate, type TakeResult } from '../../../proxy/limits/token-bucket.js';

const PER_MINUTE_600: BucketRate = { amount: 600, windowMs: 60_000 }; // one token per 100 ms
const PER_MINUTE_7: BucketRate = { amount: 7, windowMs: 60_000 };    // one token per 8571.43 ms
const PER_SECOND_3: BucketRate = { amount: 3, windowMs: 1_000 };

// Each step: [clock ms, tokens to take, expected result].
type Step = [nowMs: number, n: number, expected: TakeResult];
const OK: TakeResult = { ok: true };
const wait = (retryAfterMs: number): TakeResult => ({ ok: false, retryAfterMs });

const cases: Array<[name: string, rate: BucketRate, steps: Step[]]> = [
  ['a fresh bucket holds the whole burst', PER_SECOND_3, [[0, 1, OK], [0, 1, OK], [0, 1, OK], [0, 1, wait(334)]]],
  ['the token is back exactly when due', PER_SECOND_3, [[0, 3, OK], [333, 1, wait(1)], [334, 1, OK], [334, 1, wait(333)]]],
  ['600 per minute: the 601st waits 100 ms', PER_MINUTE_600, [[0, 600, OK], [0, 1, wait(100)], [99, 1, wait(1)], [100, 1, OK]]],
  ['non-integral refill: 7 per minute', PER_MINUTE_7, [[0, 7, OK], [0, 1, wait(8572)], [8571, 1, wait(1)], [8572, 1, OK]]],
  ['exact boundary after many fractional refills', PER_MINUTE_600,
    [[0, 600, OK], ...Array.from({ length: 50 }, (_, i): Step => [(i + 1) * 100, 1, OK]), [5_000, 1, wait(100)]]],
  ['idle time refills at most to the burst', PER_SECOND_3, [[0, 3, OK], [3_600_000, 3, OK], [3_600_000, 1, wait(334)]]],
  ['a refused take spends nothing', PER_SECOND_3, [[0, 3, OK], [100, 1, wait(234)], [200, 1, wait(134)], [334, 1, OK]]],
  ['a clock that steps back refills nothing', PER_SECOND_3, [[1_000, 3, OK], [500, 1, wait(334)], [1_334, 1, OK]]],
];

for (const [name, rate, steps] of cases) {
  test(`take: ${name}`, () => {
    const state = newBucket(rate, steps[0]![0]);
    steps.forEach(([nowMs, n, expected], i) => assert.deepEqual(take(state, rate, nowMs, n), expected, `step ${i} at ${nowMs} ms`));
  });
}

test('check answers like take but leaves the state alone', () => {
  const state = newBucket(PER_SECOND_3, 0);
  take(state, PER_SECOND_3, 0, 3);
  const before = { ...state };
  assert.deepEqual(check(state, PER_SECOND_3, 334), { ok: true });
  assert.deepEqual(state, before);
  assert.deepEqual(check(state, PER_SECOND_3, 100), { ok: false, retryAfterMs: 234 });
});

test('taking more than the burst is a programming error', () => {
  const state = newBucket(PER_SECOND_3, 0);
  take(state, PER_SECOND_3, 0, 1);
  assert.throws(() => take(state, PER_SECOND_3, 0, 4), RangeError);
});

test('a smaller rate after reload caps the tokens held', () => {
  const state = newBucket(PER_MINUTE_600, 0);
  assert.equal(available(state, PER_SECOND_3, 0), 3);
});

test('retryAfterMs is the first moment the take succeeds, across awkward rates', () => {
  const rates: BucketRate[] = [
    { amount: 600, windowMs: 60_000 }, { amount: 7, windowMs: 60_000 }, { amount: 3, windowMs: 1_000 },
    { amount: 1, windowMs: 3_600_000 }, { amount: 1_000_000, windowMs: 1_000 }, { amount: 13, windowMs: 17 },
  ];
  for (const rate of rates) {
    const state = newBucket(rate, 0);
    let nowMs = 0;
    for (let i = 0; i < 200; i++) {
      const result = take(state, rate, nowMs);
      if (result.ok) continue;
      const due = nowMs + result.retryAfterMs;
      assert.equal(check(state, rate, due).ok, true, `${rate.amount}/${rate.windowMs}: not ok at the promised ${due}`);
      if (result.retryAfterMs > 1) assert.equal(check(state, rate, due - 1).ok, false, `${rate.amount}/${rate.windowMs}: ok already at ${due - 1}`);
      nowMs = due;
    }
  }
});
