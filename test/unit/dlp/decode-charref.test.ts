/**
 * HTML numeric character references (decode-charref.ts): the decoder, and the engine reading a
 * value hidden in them (red team, session 12: `&#53;36-22-8143`), through the fast path and the
 * full path, without reporting twice what the text shows as written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coversDecoded, decodeCharRefs, hasCharRef, hasCharRefBytes } from '../../../proxy/dlp/decode-charref.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

const decodes: Array<[string, string, string, number[]]> = [
  // name, input, decoded text, spans
  ['decimal', 'a&#53;b', 'a5b', [1, 2]],
  ['hex, either case of x', '&#x35;&#X36;', '56', [0, 1, 1, 2]],
  ['without the semicolon', '&#53 36', '5 36', [0, 1]],
  ['leading zeros', '&#00053;', '5', [0, 1]],
  ['past U+FFFF: two UTF-16 units', 'x&#128512;y', 'x\u{1F600}y', [1, 3]],
  ['NUL, a surrogate and past U+10FFFF are left as written', '&#0;&#xD800;&#1114112;', '&#0;&#xD800;&#1114112;', []],
  ['not a reference', 'AT&T &# &#x; &#a;', 'AT&T &# &#x; &#a;', []],
  ['named references are not decoded', '&nbsp;&amp;', '&nbsp;&amp;', []],
  ['a reference to `&` is decoded once', '&#38;#53;', '&#53;', [0, 1]],
];
for (const [name, input, text, spans] of decodes) {
  test(`decodeCharRefs: ${name}`, () => {
    const r = decodeCharRefs(input);
    assert.equal(r.text, text);
    assert.deepEqual([...r.spans], spans);
    assert.equal(hasCharRef(input), spans.length > 0 || /&#[0-9]|&#[xX][0-9a-fA-F]/.test(input));
    assert.equal(hasCharRefBytes(Buffer.from(input)), hasCharRef(input));
  });
}

test('coversDecoded: overlap with a decoded character, not adjacency', () => {
  assert.equal(coversDecoded([1, 2], 0, 1), false);
  assert.equal(coversDecoded([1, 2], 2, 5), false);
  assert.equal(coversDecoded([1, 2], 0, 2), true);
  assert.equal(coversDecoded([1, 2, 7, 8], 5, 9), true);
});

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const bodies: Array<[string, string, string, string[]]> = [
  // name, JSON note, decision, findings (type:action)
  ['an SSN with its first digit as a reference', 'ssn &#53;36-22-8143', 'block', ['us_ssn:block']],
  ['an SSN in hex references', 'ssn &#x35;&#x33;&#x36;&#x2d;&#x32;&#x32;&#x2d;&#x38;&#x31;&#x34;&#x33;', 'block', ['us_ssn:block']],
  ['an SSN referenced twice over (&#38;)', 'ssn &#38;#53;36-22-8143', 'block', ['us_ssn:block']],
  ['a honeytoken with one referenced character', 'WARDEN-CANARY-5e1d0b7&#55;', 'block', ['honeytoken:block']],
  ['a plain SSN beside a reference: redacted, reported once', 'it&#39;s ssn 536-22-8143', 'redact', ['us_ssn:redact']],
  ['references and nothing else', 'it&#39;s &#8220;fine&#8221;', 'allow', []],
];
for (const [name, note, decision, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`character references (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content: note }] })), pol);
      assert.equal(r.decision, decision);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
    });
  }
}
