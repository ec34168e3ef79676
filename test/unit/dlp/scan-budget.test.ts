/** A body dense with candidate values is refused as uninspectable instead of being scanned for seconds. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompiledDlpPolicy } from '../../../proxy/config/types.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine, MAX_CANDIDATES_PER_REQUEST } from '../../../proxy/dlp/inspect.js';

const policy: CompiledDlpPolicy = {
  packs: ['pii', 'secrets', 'archives'], actions: {}, defaultAction: null, bulkPiiThreshold: null,
  uninspectable: 'block', maxInspectBytes: 16 * 1024 * 1024,
};
const engine = createDlpEngine(compileDetectors({ honeytokens: [], fingerprintKey: Buffer.alloc(32, 1) }));
const req = (body: string) => ({ method: 'POST', url: '/upload', headers: { 'content-type': 'text/plain' }, body: Buffer.from(body), skipHeaders: [] });

test('past the candidate budget the body is uninspectable (fail closed)', () => {
  const body = 'ref 536-22-8143 ok\n'.repeat(MAX_CANDIDATES_PER_REQUEST + 100);
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
  // Card-shaped numbers that fail Luhn: every one is a candidate, none is a finding.
  const r = engine.inspect(req('order 4556 7375 8689 9856 ok\n'.repeat(MAX_CANDIDATES_PER_REQUEST + 100)), policy);
  assert.equal(r.decision, 'block');
  assert.equal(r.reason, 'uninspectable');
});
