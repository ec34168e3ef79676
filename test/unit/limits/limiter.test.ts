import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { CompiledAllowRule, CompiledLimits, CompiledProfile } from '../../../proxy/config/types.js';
import { BodyCap, checkBodySize, Limiter, toRetryAfterSeconds, type Admission } from '../../../proxy/limits/limiter.js';

const MIB = 1024 * 1024;

function profile(limits: Partial<CompiledLimits>, name = 'default'): CompiledProfile {
  return {
    name,
    allow: [],
    deny: [],
    limits: { maxBodyBytes: null, upload: null, requests: null, ...limits },
    dlp: { packs: [], actions: {}, defaultAction: null, bulkPiiThreshold: null, uninspectable: 'block', maxInspectBytes: MIB },
  };
}

function rule(id: string, requests: CompiledAllowRule['requests']): CompiledAllowRule {
  return { id, host: 'api.example.com', ports: [443], methods: null, paths: null, inspect: true, credentialHeaders: [], requests };
}

/** A clock the test moves by hand. */
function fakeClock(startMs = 1_000_000): { now: () => number; set: (ms: number) => void } {
  let nowMs = startMs;
  return { now: () => nowMs, set: (ms) => { nowMs = startMs + ms; } };
}

const OK: Admission = { ok: true };
// `rule`: the config key that refused, the audit record's `rule` (the profile's limit unless an entry's own).
const rateLimited = (retryAfterSeconds: number, rule = 'profiles.default.limits.requests'): Admission => ({ ok: false, code: 'rate_limited', retryAfterSeconds, rule });
const budgetSpent = (retryAfterSeconds: number, rule = 'profiles.default.limits.upload'): Admission => ({ ok: false, code: 'upload_budget', retryAfterSeconds, rule });
const ENTRY0 = 'profiles.default.allow[0].requests';

// Steps: advance the clock to `atMs` (relative), then either admit a request (optionally
// through `rule`) or record an upload; compare with the expected value.
type Step =
  | { atMs: number; admit: CompiledAllowRule | null; agent?: string; expect: Admission }
  | { atMs: number; upload: number; agent?: string; expect: { withinBudget: boolean; retryAfterSeconds: number } };

const THREE_PER_SECOND = profile({ requests: { amount: 3, windowMs: 1_000 } });
const HUNDRED_PER_MINUTE = profile({ requests: { amount: 100, windowMs: 60_000 } });
const TWO_PER_MINUTE = profile({ requests: { amount: 2, windowMs: 60_000 } });
const BUDGET_1000_PER_2M = profile({ upload: { bytes: 1_000, windowMs: 120_000 } });
const BUDGET_50MIB_PER_2M = profile({ upload: { bytes: 50 * MIB, windowMs: 120_000 } });
const ONE_PER_MINUTE_RULE = rule('profiles.default.allow[0]', { amount: 1, windowMs: 60_000 });
const TEN_PER_MINUTE_RULE = rule('profiles.default.allow[1]', { amount: 10, windowMs: 60_000 });
const NO_OVERRIDE_RULE = rule('profiles.default.allow[2]', null);

const cases: Array<[name: string, prof: CompiledProfile, steps: Step[]]> = [
  ['no limits: everything passes', profile({}), [
    { atMs: 0, admit: null, expect: OK }, { atMs: 0, upload: 10 * MIB, expect: { withinBudget: true, retryAfterSeconds: 0 } },
  ]],
  ['burst of 3, the 4th waits (Retry-After rounds up to 1 s)', THREE_PER_SECOND, [
    { atMs: 0, admit: null, expect: OK }, { atMs: 0, admit: null, expect: OK }, { atMs: 0, admit: null, expect: OK },
    { atMs: 0, admit: null, expect: rateLimited(1) },
    { atMs: 333, admit: null, expect: rateLimited(1) },
    { atMs: 334, admit: null, expect: OK },
  ]],
  ['agents have separate buckets; ip: keys are agents too', THREE_PER_SECOND, [
    ...[0, 1, 2].map((): Step => ({ atMs: 0, admit: null, agent: 'a', expect: OK })),
    { atMs: 0, admit: null, agent: 'a', expect: rateLimited(1) },
    { atMs: 0, admit: null, agent: 'ip:10.0.0.9', expect: OK },
    { atMs: 0, admit: null, agent: 'b', expect: OK },
  ]],
  ['per-entry override: 1 per minute on that entry only', HUNDRED_PER_MINUTE, [
    { atMs: 0, admit: ONE_PER_MINUTE_RULE, expect: OK },
    { atMs: 0, admit: ONE_PER_MINUTE_RULE, expect: rateLimited(60, ENTRY0) },
    { atMs: 0, admit: NO_OVERRIDE_RULE, expect: OK },
    { atMs: 0, admit: null, expect: OK },
    { atMs: 59_999, admit: ONE_PER_MINUTE_RULE, expect: rateLimited(1, ENTRY0) },
    { atMs: 60_000, admit: ONE_PER_MINUTE_RULE, expect: OK },
  ]],
  ['both buckets must pass: the profile bucket runs out first', TWO_PER_MINUTE, [
    { atMs: 0, admit: TEN_PER_MINUTE_RULE, expect: OK },
    { atMs: 0, admit: TEN_PER_MINUTE_RULE, expect: OK },
    { atMs: 0, admit: TEN_PER_MINUTE_RULE, expect: rateLimited(30) },
  ]],
  ['a refusal by the entry bucket spends no profile token', TWO_PER_MINUTE, [
    { atMs: 0, admit: ONE_PER_MINUTE_RULE, expect: OK },
    { atMs: 0, admit: ONE_PER_MINUTE_RULE, expect: rateLimited(60, ENTRY0) },
    { atMs: 0, admit: ONE_PER_MINUTE_RULE, expect: rateLimited(60, ENTRY0) },
    { atMs: 0, admit: null, expect: OK }, // the second profile token is still there
    { atMs: 0, admit: null, expect: rateLimited(30) },
  ]],
  ['upload: exactly the budget is within it, and then nothing is left', BUDGET_1000_PER_2M, [
    { atMs: 0, admit: null, expect: OK },
    { atMs: 0, upload: 999, expect: { withinBudget: true, retryAfterSeconds: 0 } },
    { atMs: 0, admit: null, expect: OK },
    { atMs: 0, upload: 1, expect: { withinBudget: true, retryAfterSeconds: 0 } },
    { atMs: 0, admit: null, expect: budgetSpent(122) },
    { atMs: 0, upload: 1, expect: { withinBudget: false, retryAfterSeconds: 122 } },
  ]],
  ['upload: one byte over in a single body', BUDGET_1000_PER_2M, [
    { atMs: 0, upload: 1_001, expect: { withinBudget: false, retryAfterSeconds: 122 } },
  ]],
  ['upload: window rollover frees the budget', BUDGET_1000_PER_2M, [
    { atMs: 0, upload: 1_001, expect: { withinBudget: false, retryAfterSeconds: 122 } },
    { atMs: 121_999, admit: null, expect: budgetSpent(1) },
    { atMs: 122_000, admit: null, expect: OK },
    { atMs: 122_000, upload: 1_000, expect: { withinBudget: true, retryAfterSeconds: 0 } },
  ]],
  ['upload: only the old part of the window expires', BUDGET_1000_PER_2M, [
    { atMs: 0, upload: 600, expect: { withinBudget: true, retryAfterSeconds: 0 } },
    { atMs: 60_000, upload: 600, expect: { withinBudget: false, retryAfterSeconds: 62 } },
    { atMs: 122_000, admit: null, expect: OK },                      // 600 left in the window
    { atMs: 122_000, upload: 400, expect: { withinBudget: true, retryAfterSeconds: 0 } },
    { atMs: 122_000, admit: null, expect: budgetSpent(60) },        // 1000 again, until 182 s
  ]],
  ['upload: per-chunk accounting of a 50 MiB tunnel', BUDGET_50MIB_PER_2M, [
    ...Array.from({ length: 50 }, (_, i): Step => ({ atMs: i * 100, upload: MIB, expect: { withinBudget: true, retryAfterSeconds: 0 } })),
    { atMs: 5_000, upload: 1, expect: { withinBudget: false, retryAfterSeconds: 117 } }, // the first 2 s bucket (20 MiB) drops at 122 s
  ]],
  ['upload_budget is reported before rate_limited', profile({ requests: { amount: 1, windowMs: 1_000 }, upload: { bytes: 10, windowMs: 60_000 } }), [
    { atMs: 0, admit: null, expect: OK },
    { atMs: 0, upload: 10, expect: { withinBudget: true, retryAfterSeconds: 0 } },
    { atMs: 0, admit: null, expect: budgetSpent(61) },
  ]],
];

for (const [name, prof, steps] of cases) {
  test(`limiter: ${name}`, () => {
    const clock = fakeClock();
    const limiter = new Limiter({ now: clock.now });
    steps.forEach((step, i) => {
      clock.set(step.atMs);
      const agent = step.agent ?? 'agent-1';
      const got = 'admit' in step ? limiter.admitRequest(agent, prof, step.admit) : limiter.recordUpload(agent, prof, step.upload);
      assert.deepEqual(got, step.expect, `step ${i} at +${step.atMs} ms`);
    });
  });
}

test('usage reports the figures without spending anything', () => {
  const clock = fakeClock();
  const limiter = new Limiter({ now: clock.now });
  const prof = profile({ requests: { amount: 3, windowMs: 1_000 }, upload: { bytes: 1_000, windowMs: 120_000 } });
  assert.deepEqual(limiter.usage('a', prof), {
    requests: { used: 0, limit: 3, windowMs: 1_000 }, upload: { usedBytes: 0, limitBytes: 1_000, windowMs: 120_000 },
  });
  limiter.admitRequest('a', prof, null);
  limiter.admitRequest('a', prof, null);
  limiter.recordUpload('a', prof, 700);
  const expected = { requests: { used: 2, limit: 3, windowMs: 1_000 }, upload: { usedBytes: 700, limitBytes: 1_000, windowMs: 120_000 } };
  assert.deepEqual(limiter.usage('a', prof), expected);
  assert.deepEqual(limiter.usage('a', prof), expected, 'asking twice changes nothing');
  clock.set(500);
  assert.equal(limiter.usage('a', prof).requests?.used, 1, 'half a window refills 1.5 tokens: 1 whole one missing');
  assert.deepEqual(limiter.usage('a', profile({})), { requests: null, upload: null });
});

test('Retry-After seconds round up and are at least 1', () => {
  const cases: Array<[ms: number, seconds: number]> = [[0, 1], [1, 1], [999, 1], [1_000, 1], [1_001, 2], [122_000, 122]];
  for (const [ms, seconds] of cases) assert.equal(toRetryAfterSeconds(ms), seconds, `${ms} ms`);
});

test('checkBodySize: exactly max_body is accepted, one byte over is refused', () => {
  const cases: Array<[maxBodyBytes: number | null, declared: number | null, ok: boolean]> = [
    [1_000, 999, true], [1_000, 1_000, true], [1_000, 1_001, false], [1_000, 0, true],
    [1_000, null, true],   // chunked: BodyCap decides while streaming
    [null, 10 * MIB, true], // no cap configured
    [0, 0, true], [0, 1, false],
  ];
  const limiter = new Limiter();
  for (const [maxBodyBytes, declared, ok] of cases) {
    const prof = profile({ maxBodyBytes });
    const expected = ok ? { ok: true } : { ok: false, code: 'body_too_large', limitBytes: maxBodyBytes };
    assert.deepEqual(checkBodySize(prof, declared), expected, `max ${maxBodyBytes}, declared ${declared}`);
    assert.deepEqual(limiter.checkBodySize(prof, declared), expected);
  }
});

test('BodyCap: streaming, sticky once over', () => {
  const cases: Array<[name: string, maxBytes: number | null, chunks: number[], results: boolean[]]> = [
    ['exactly at the cap', 1_000, [500, 500], [true, true]],
    ['one byte over', 1_000, [500, 501], [true, false]],
    ['stays refused after going over', 1_000, [1_001, 0, 1], [false, false, false]],
    ['1-byte chunks to the cap and one more', 3, [1, 1, 1, 1], [true, true, true, false]],
    ['no cap', null, [MIB, MIB], [true, true]],
    ['empty chunks', 0, [0, 0, 1], [true, true, false]],
  ];
  for (const [name, maxBytes, chunks, results] of cases) {
    const cap = new BodyCap(maxBytes);
    assert.deepEqual(chunks.map((n) => cap.add(n)), results, name);
    assert.equal(cap.bytes, chunks.reduce((a, b) => a + b, 0), name);
  }
});

test('state stays within maxKeys', () => {
  const limiter = new Limiter({ maxKeys: 10, now: fakeClock().now });
  const prof = profile({ requests: { amount: 5, windowMs: 1_000 }, upload: { bytes: 1_000, windowMs: 60_000 } });
  for (let i = 0; i < 1_000; i++) {
    limiter.admitRequest(`agent-${i}`, prof, rule(`profiles.default.allow[${i}]`, { amount: 1, windowMs: 1_000 }));
    limiter.recordUpload(`agent-${i}`, prof, 10);
  }
  assert.ok(limiter.size <= 20, `size ${limiter.size}`);
});

test('a reload that changes the upload window starts a fresh window', () => {
  const limiter = new Limiter({ now: fakeClock().now });
  limiter.recordUpload('a', BUDGET_1000_PER_2M, 1_000);
  const longer = profile({ upload: { bytes: 1_000, windowMs: 600_000 } });
  assert.equal(limiter.usage('a', longer).upload?.usedBytes, 0);
  assert.deepEqual(limiter.admitRequest('a', longer, null), OK);
});

test('constructor refuses a nonsensical maxKeys', () => {
  assert.throws(() => new Limiter({ maxKeys: 0 }), RangeError);
});
