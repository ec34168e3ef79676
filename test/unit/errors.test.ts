/** Every refusal code is documented in the README's table with its status (fastify's errors.test.js). */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REFUSALS, refusalBody, WardenError, type RefusalCode } from '../../proxy/errors.js';
import { ROOT } from '../../proxy/paths.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

for (const [code, { status }] of Object.entries(REFUSALS)) {
  test(`README documents ${code} (${status})`, () => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `no README table row for ${code}`);
    assert.match(row, new RegExp(`\\| ${status}\\b`));
  });
}

test('refusal bodies have the documented shape and never more than asked', () => {
  const body = JSON.parse(refusalBody('dlp', 'req-1', { findings: ['us_ssn'] })) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'findings', 'message', 'request_id', 'type']);
  assert.equal(body.error['type'], 'egress_blocked');
  assert.equal(body.error['code'], 'dlp');
  const e = new WardenError('rate_limited' as RefusalCode);
  assert.equal(e.status, 429);
  assert.equal(e.code, 'rate_limited');
});
