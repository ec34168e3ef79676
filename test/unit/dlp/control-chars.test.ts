/**
 * Control characters inside a value (red team, session 14): `536-22\u0000-8143` or
 * `AKIA\u001b…` in a JSON string split the value so no pattern read it. Views drop them when
 * normalised (normalize.ts); the fast path, whose normalizeBytes keeps them, leaves a body that
 * holds one to the full path (someBase64RunOrControl, the SIMD module's hasControl).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasControlScalar, someBase64RunOrControl } from '../../../proxy/dlp/decode-base64.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { normalizeText } from '../../../proxy/dlp/normalize.js';
import { someBase64RunSimd } from '../../../proxy/dlp/wasm/base64-runs.js';
import { policy, request } from './inspect-helpers.js';

const normalized: Array<[string, string, string]> = [
  // name, text, normalised
  ['NUL', '536-22\u0000-8143', '536-22-8143'],
  ['ESC', 'AKIA\u001bQYLP', 'AKIAQYLP'],
  ['backspace and form feed', 'a\bb\fc', 'abc'],
  ['DEL', '536\u007f-22', '536-22'],
  ['C1 controls (U+0080, U+009F)', 'a\u0080b\u009fc', 'abc'],
  ['tab, LF and CR stay', 'a\tb\nc\rd', 'a\tb\nc\rd'],
  ['NEL is a space, as before', 'a\u0085b', 'a b'],
  ['beside non-ASCII', 'é\u0000ü', 'éü'],
];
for (const [name, text, want] of normalized) {
  test(`normalizeText drops control characters: ${name}`, () => {
    const n = normalizeText(text);
    assert.equal(n.text, want);
    // The whole normalised text maps back to the whole original.
    if (n.changed) assert.deepEqual(n.toOriginal(0, n.text.length), [0, text.length]);
  });
}

test('the SIMD control check agrees with the scalar one on every byte value, at every offset of a 64-byte step', () => {
  for (let c = 0; c < 256; c++) {
    for (const len of [1, 15, 16, 63, 64, 65, 127, 128, 200]) {
      for (const at of new Set([0, len >> 1, len - 1, Math.min(len - 1, 63), Math.min(len - 1, 64)])) {
        const b = Buffer.alloc(len, 0x20);
        b[at] = c;
        assert.equal(someBase64RunSimd(b, () => false, true), hasControlScalar(b), `byte 0x${c.toString(16)} len ${len} at ${at}`);
        assert.equal(someBase64RunOrControl(b, () => false), hasControlScalar(b));
      }
    }
  }
});

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const bodies: Array<[string, string, string, string, string[]]> = [
  // name, body, content type, decision, findings (type:action)
  ['an SSN split by \\u0000 in JSON', JSON.stringify({ messages: [{ role: 'user', content: 'ssn 536-22\u0000-8143' }] }), 'application/json', 'redact', ['us_ssn:redact']],
  ['an SSN split by \\b in JSON', JSON.stringify({ messages: [{ role: 'user', content: 'ssn 536-22\b-8143' }] }), 'application/json', 'redact', ['us_ssn:redact']],
  ['an AWS key split by ESC in JSON', JSON.stringify({ messages: [{ role: 'user', content: 'key AKIA\u001bQYLPMN5HHHFPZAM2' }] }), 'application/json', 'block', ['aws_access_key_id:block']],
  ['a honeytoken split by DEL in a text body', 'WARDEN-CANARY-\u007f5e1d0b77', 'text/plain', 'block', ['honeytoken:block']],
  ['an SSN split by ESC in a text body', 'ssn 536-22\u001b-8143', 'text/plain', 'redact', ['us_ssn:redact']],
  ['tabs and newlines between values are separators still', JSON.stringify({ messages: [{ role: 'user', content: 'ids 536\t22\n8143' }] }), 'application/json', 'allow', []],
];
for (const [name, body, ct, decision, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`control characters (${ename}): ${name}`, () => {
      const r = engine.inspect(request(body, { 'content-type': ct }), pol);
      assert.equal(r.decision, decision);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
      // Redacted in place, control character and all.
      if (decision === 'redact') assert.equal(r.body?.toString('utf8').includes('8143'), false);
    });
  }
}
