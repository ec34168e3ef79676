/**
 * The scan budget (inspect.ts scanBudgetUnits, charged by matcher.ts and validators/pii.ts):
 * numeric data an agent uploads is inspected, not refused; a body dense with the dearest
 * candidates is either inspected or uninspectable, within its budget, never scanned for seconds.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompiledDlpPolicy } from '../../../proxy/config/types.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine, SCAN_BUDGET_MAX_UNITS, SCAN_BUDGET_MIN_UNITS, scanBudgetUnits } from '../../../proxy/dlp/inspect.js';
import { FINDING_COST, HIT_COST } from '../../../proxy/dlp/matcher.js';
import type { ScanBudget } from '../../../proxy/dlp/types.js';
import { PHONE_LOOKUP_COST, PHONE_REGIONS } from '../../../proxy/dlp/validators/pii.js';
import { ADVERSARIAL, adversarialBody, numericCsv, numericJson } from './numeric-bodies.js';

const policy: CompiledDlpPolicy = {
  packs: ['pii', 'secrets', 'archives'], actions: {}, defaultAction: null, bulkPiiThreshold: null,
  uninspectable: 'block', maxInspectBytes: 16 * 1024 * 1024,
};
const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.alloc(32, 1) });
const engine = createDlpEngine(detectors);
const req = (body: string, ct = 'text/plain') => ({ method: 'POST', url: '/upload', headers: { 'content-type': ct }, body: Buffer.from(body), skipHeaders: [] });
/** A real (Luhn-valid, not a public test PAN) card number, from pii.yaml's examples. */
const CARD = '4556737586899855';
/** The most one candidate can cost past the last check of the budget. */
const ONE_CANDIDATE = HIT_COST + FINDING_COST + PHONE_LOOKUP_COST * PHONE_REGIONS.length;

const numeric: Array<[name: string, body: string, ct: string]> = [
  ['CSV of 6,000 mixed numbers', numericCsv(6_000, 21, CARD), 'text/csv'],
  ['CSV of 20,000 mixed numbers', numericCsv(20_000, 11, CARD), 'text/csv'],
  ['JSON array of 20,000 mixed numbers', numericJson(20_000, 12, CARD), 'application/json'],
  ['CSV of 60,000 mixed numbers (~700 KiB, in a worker)', numericCsv(60_000, 31, CARD), 'text/csv'],
];
for (const [name, body, ct] of numeric) {
  test(`numeric data is inspected, and the card in it found: ${name}`, () => {
    const r = engine.inspect(req(body, ct), policy);
    assert.equal(r.uninspectableDetail, null);
    assert.notEqual(r.reason, 'uninspectable');
    const cards = r.findings.filter((f) => f.type === 'credit_card' && f.action !== 'log');
    assert.equal(cards.reduce((n, f) => n + f.count, 0), 1, JSON.stringify(r.findings.filter((f) => f.type === 'credit_card')));
    assert.ok(r.decision === 'redact' || r.decision === 'block');
  });
}

for (const [name, line] of ADVERSARIAL) {
  for (const kib of [16, 200]) {
    test(`adversarial ${name}, ${kib} KiB: inspected or uninspectable, within its budget`, () => {
      const body = adversarialBody(line, kib * 1024);
      const r = engine.inspect(req(body), policy);
      if (r.uninspectableDetail !== null) {
        assert.match(r.uninspectableDetail, /over the inspection budget of \d+ units for \d+ bytes/);
        assert.ok(r.decision === 'block');
      }
      // The same scan with its budget: never spent by more than one candidate's cost.
      const budget: ScanBudget = { remaining: scanBudgetUnits(body.length), memo: new Map() };
      detectors.scan({ text: body, where: 'body', key: null }, policy.packs, budget);
      assert.ok(budget.remaining >= -ONE_CANDIDATE, `overspent: ${budget.remaining}`);
    });
  }
}

test('budget: a floor, then a unit a byte, up to a ceiling', () => {
  const cases: Array<[bytes: number, units: number]> = [
    [0, SCAN_BUDGET_MIN_UNITS], [50_000, SCAN_BUDGET_MIN_UNITS], [256 * 1024, 262_144],
    [4 * 1024 * 1024, SCAN_BUDGET_MAX_UNITS], [16 * 1024 * 1024, SCAN_BUDGET_MAX_UNITS],
  ];
  for (const [bytes, units] of cases) assert.equal(scanBudgetUnits(bytes), units, String(bytes));
});

test('past the budget the body is uninspectable (fail closed), with no data in the detail', () => {
  const body = 'ref 536-22-8143 ok\n'.repeat(100_000);
  const r = engine.inspect(req(body), policy);
  assert.equal(r.decision, 'block');
  // Redact-level findings in a body that could not be inspected to the end cannot be rewritten: dlp block.
  assert.ok(r.reason === 'uninspectable' || r.reason === 'dlp');
  assert.match(r.uninspectableDetail ?? '', /inspection budget/);
  assert.ok(!(r.uninspectableDetail ?? '').includes('536'), 'no data in the detail');
});

test('under the budget the same values are redacted as usual', () => {
  const r = engine.inspect(req('ref 536-22-8143 ok\n'.repeat(50)), policy);
  assert.equal(r.decision, 'redact');
  assert.equal(r.uninspectableDetail, null);
});

test('past the budget with nothing redactable found yet, the reason is uninspectable', () => {
  // Phone-shaped numbers no region accepts (US exchange 0xx, NANP only): every one a libphonenumber call, none a finding.
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(`order 212-0${String(i % 100).padStart(2, '0')}-${String(1000 + i).slice(-4)} ok`);
  const r = engine.inspect(req(lines.join('\n')), policy);
  assert.equal(r.decision, 'block');
  assert.equal(r.reason, 'uninspectable');
});

test('a pattern past its hit cap spends the budget: the rest of the view was not looked at', () => {
  // 120,000 SSN-shaped values: more raw hits than matcher.ts MAX_HITS_PER_PATTERN in one view.
  const budget: ScanBudget = { remaining: 1e12, memo: new Map() };
  detectors.scan({ text: '536-22-8143 '.repeat(120_000), where: 'body', key: null }, ['pii'], budget);
  assert.ok(budget.remaining < 0);
});

test('phone lookups are memoised per request: a repeated value is charged once', () => {
  const units = (text: string): number => {
    const budget: ScanBudget = { remaining: 1e9, memo: new Map() };
    detectors.scan({ text, where: 'body', key: null }, ['pii'], budget);
    return 1e9 - budget.remaining;
  };
  const repeated = Array.from({ length: 500 }, () => '49 3012 3456').join('\n');
  const distinct = Array.from({ length: 500 }, (_, i) => `49 30${String(10 + (i % 90))} ${String(1000 + i).padStart(4, '0')}`).join('\n');
  assert.ok(units(repeated) * 2 < units(distinct), `${units(repeated)} vs ${units(distinct)}`);
});

// ─── inspectWithin: the event loop's bound (server/inspect-pool.ts INLINE_BOUND) ────────────────
/** `{"k<i>":{"pass":"<16 random>"}, …}`: every value a keyed view scanned alone. */
function passMembers(bytes: number, seed: number): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let x = seed;
  const next = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 16;
  };
  let out = '{';
  for (let i = 0; out.length < bytes; i++) {
    let v = '';
    for (let j = 0; j < 16; j++) v += A[next() % A.length];
    out += `"k${i}":{"pass":"${v}"},`;
  }
  return `${out}"n":0}`;
}
const NO_CLOCK = 1e9;
const chat = (text: string) => req(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: text }] }), 'application/json');

test('inspectWithin gives the same result as inspect() while the body fits its bound', () => {
  for (const r of [chat('Summarise the notes, please.'), chat(`My SSN is 536-22-8143 and my card ${CARD}.`), req(numericCsv(300, 5, CARD), 'text/csv')]) {
    assert.deepEqual(engine.inspectWithin(r, policy, { units: 10_000, ms: NO_CLOCK }), engine.inspect(r, policy));
  }
});

test('inspectWithin gives up (null) on a body dense with candidates, by units or by the clock', () => {
  const dense = req(passMembers(64 * 1024, 7), 'application/json');
  const full = engine.inspect(dense, policy);
  assert.equal(full.decision, 'redact', 'the whole scan redacts every password');
  assert.equal(engine.inspectWithin(dense, policy, { units: 10_000, ms: NO_CLOCK }), null, 'past 10,000 units');
  assert.equal(engine.inspectWithin(dense, policy, { units: 1e9, ms: -1 }), null, 'past the deadline');
  assert.deepEqual(engine.inspectWithin(dense, policy, { units: 1e9, ms: NO_CLOCK }), full, 'unbounded, the same result');
  // A CSV of numbers that fits the full budget but not the inline one.
  const csv = req(numericCsv(6_000, 21, CARD), 'text/csv');
  assert.notEqual(engine.inspect(csv, policy).reason, 'uninspectable');
  assert.equal(engine.inspectWithin(csv, policy, { units: 10_000, ms: NO_CLOCK }), null);
});
