/**
 * findings.ts: values matched inside names are starred out of every `where` (a table), in one
 * pass per `where` whatever the number of such values.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { aggregateFindings, type ResolvedMatch } from '../../../proxy/dlp/findings.js';
import type { Match } from '../../../proxy/dlp/types.js';

const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.alloc(32, 1) });
const match: Match = { type: 'us_ssn', patternId: 'pii.us_ssn_delimited', pack: 'pii', start: 0, end: 11, value: '536-22-8143', confidence: 'medium', defaultAction: 'redact' };
const whereOf = (where: string, secrets: string[]): string =>
  aggregateFindings(detectors, [{ match, where, action: 'redact' }], [], secrets)[0]?.where ?? '';

const cases: Array<[name: string, where: string, secrets: string[], expected: string]> = [
  ['no secrets', 'body.user.id', [], 'body.user.id'],
  ['one secret', 'body.AKIAIOSFODNN7EXAMPLE.x', ['AKIAIOSFODNN7EXAMPLE'], 'body.*.x'],
  ['each occurrence', 'body.tok1234.tok1234', ['tok1234'], 'body.*.*'],
  ['shorter than 4 characters: kept', 'body.abc.x', ['abc'], 'body.abc.x'],
  // The shorter value first: starring it first used to leave the longer one's first characters.
  ['overlapping values, shorter first', 'body.AKIAIOSFODNN7EXAMPLE.x', ['IOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'], 'body.*.x'],
  ['values that overlap partly', 'body.abcdefgh.x', ['abcdef', 'defgh'], 'body.*.x'],
  ['adjacent values', 'body.abcdwxyz.x', ['abcd', 'wxyz'], 'body.*.x'],
  ['same start, several lengths', 'body.AKIA1234.AKIA12345678.x', ['AKIA1234', 'AKIA12345678'], 'body.*.*.x'],
  ['at both ends', 'secretbody.xsecret', ['secret'], '*body.x*'],
];
for (const [name, where, secrets, expected] of cases) test(`where: ${name}`, () => assert.equal(whereOf(where, secrets), expected));

test('where: thousands of names holding secrets, each starred out of its own where', () => {
  const keys = Array.from({ length: 5_000 }, (_, i) => `AKIA${String(i).padStart(16, 'Q')}`);
  const resolved: ResolvedMatch[] = keys.map((k) => ({ match: { ...match, value: k, type: 'aws_access_key_id' }, where: `body.${k}.a`, action: 'block' }));
  const secrets = keys.flatMap((k) => [k, k.toLowerCase(), JSON.stringify(k).slice(1, -1)]);
  const findings = aggregateFindings(detectors, resolved, [], secrets);
  assert.ok(findings.length > 0);
  for (const f of findings) {
    assert.equal(f.where, 'body.*.a');
    assert.ok(!f.where.includes('AKIA'));
  }
});
