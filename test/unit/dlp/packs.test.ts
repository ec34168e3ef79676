/**
 * Custom packs: a pattern failing its own examples (or otherwise broken) is refused with an
 * error naming the file and the pattern id, and the message never contains an example value.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-packs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SECRETISH = 'ACME-TOKEN-9f8e7d6c5b4a';

function packFile(name: string, body: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

function compileWith(file: string): Error {
  try {
    compileDetectors({ packFiles: [file], honeytokens: [], fingerprintKey: Buffer.from('k') });
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the pack to be refused');
}

const broken: Array<[string, string, string, RegExp]> = [
  ['match example that does not match', 'acme_bad_match', `pack: acme
patterns:
  - id: acme_token
    type: vendor_api_key
    pattern: '\\b(ACME-TOKEN-[0-9a-f]{12})\\b'
    examples:
      match: ['nothing here', '${SECRETISH}']
`, /acme_bad_match\.yaml pattern acme_token: examples\.match\[0\]/],
  ['no_match example that matches', 'acme_bad_nomatch', `pack: acme2
patterns:
  - id: acme_token
    type: vendor_api_key
    pattern: '\\b(ACME-TOKEN-[0-9a-f]{12})\\b'
    examples:
      match: ['${SECRETISH}']
      no_match: ['ok', 'leaked ${SECRETISH}']
`, /acme_bad_nomatch\.yaml pattern acme_token: examples\.no_match\[1\]/],
  ['pattern RE2 cannot compile (lookahead)', 'acme_lookahead', `pack: acme3
patterns:
  - id: acme_look
    type: vendor_api_key
    pattern: 'ACME(?=-TOKEN)'
    examples: {match: ['${SECRETISH}']}
`, /acme_lookahead\.yaml pattern acme_look: pattern does not compile with RE2/],
  ['unknown validator', 'acme_validator', `pack: acme4
patterns:
  - id: acme_v
    type: vendor_api_key
    pattern: 'ACME-TOKEN-[0-9a-f]{12}'
    validator: no_such_validator
    examples: {match: ['${SECRETISH}']}
`, /acme_validator\.yaml pattern acme_v: unknown validator/],
  ['unknown field', 'acme_field', `pack: acme5
patterns:
  - id: acme_f
    type: vendor_api_key
    pattern: 'ACME'
    severity: high
    examples: {match: ['ACME']}
`, /acme_field\.yaml: invalid pack at patterns\.0/],
  ['prefilter that misses a match example', 'acme_prefilter', `pack: acme6
patterns:
  - id: acme_p
    type: vendor_api_key
    pattern: '\\b(ACME-TOKEN-[0-9a-f]{12})\\b'
    prefilter: 'ACME-KEY-'
    examples: {match: ['${SECRETISH}']}
`, /acme_prefilter\.yaml pattern acme_p: prefilter does not match examples\.match\[0\]/],
  ['prefilter RE2 cannot compile', 'acme_prefilter_bad', `pack: acme7
patterns:
  - id: acme_q
    type: vendor_api_key
    pattern: 'ACME-TOKEN-[0-9a-f]{12}'
    prefilter: 'ACME(?!x)'
    examples: {match: ['${SECRETISH}']}
`, /acme_prefilter_bad\.yaml pattern acme_q: prefilter does not compile with RE2/],
  ['key pattern not written ^…$ (it could not stand as a JSON member)', 'acme_key_unanchored', `pack: acme8
patterns:
  - id: acme_k
    type: generic_secret
    pattern: '([A-Za-z0-9-]{12,})'
    key: 'acme'
    examples: {match: [{text: '${SECRETISH}', key: acme_token}]}
`, /acme_key_unanchored\.yaml pattern acme_k: a pattern with `key` matches a whole value/],
  ['duplicate pack name', 'acme_dup', `pack: secrets
patterns: []
`, /acme_dup\.yaml: pack name "secrets" is already loaded/],
];

for (const [name, file, body, message] of broken) {
  test(`custom pack refused: ${name}`, () => {
    const err = compileWith(packFile(file, body));
    assert.match(err.message, message);
    assert.ok(!err.message.includes(SECRETISH), 'error message must not contain an example value');
    assert.ok(!err.message.includes('nothing here'), 'error message must not contain an example value');
  });
}

test('a valid custom pack loads and scans', () => {
  const file = packFile('acme_ok', `pack: acme
description: ACME internal tokens
patterns:
  - id: acme_token
    type: vendor_api_key
    pattern: '\\b(ACME-TOKEN-[0-9a-f]{12})\\b'
    action: block
    confidence: high
    examples:
      match: ['${SECRETISH}']
      no_match: ['ACME-TOKEN-short']
`);
  const d = compileDetectors({ packFiles: [file], honeytokens: [], fingerprintKey: Buffer.from('k') });
  assert.ok(d.packNames.includes('acme'));
  const m = d.scan({ text: `deploy with ${SECRETISH}`, where: 'body', key: null }, ['acme']);
  assert.equal(m.length, 1);
  assert.equal(m[0]?.patternId, 'acme.acme_token');
  assert.equal(m[0]?.defaultAction, 'block');
});
