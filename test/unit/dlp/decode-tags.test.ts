/**
 * Tag characters (decode-tags.ts): "ASCII smuggling", text written in U+E0020–U+E007E, which
 * renders as nothing and which normalisation strips. Red team, session 14: a key written in them
 * passed every view.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTagChars, hasTagChars, hasTagCharsBytes } from '../../../proxy/dlp/decode-tags.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

/** `s` written in tag characters. */
const tags = (s: string): string => [...s].map((c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0) as number))).join('');

const decodes: Array<[string, string, string, number[]]> = [
  // name, input, decoded, spans
  ['a run in the middle', `a${tags('bc')}d`, 'abcd', [1, 3]],
  ['two runs', `${tags('x')}-${tags('y')}`, 'x-y', [0, 1, 2, 3]],
  ['space and tilde are the ends of the range', tags(' ~'), ' ~', [0, 2]],
  ['language tag (U+E0001) and cancel tag (U+E007F) stand for nothing', '\u{E0001}a\u{E007F}', '\u{E0001}a\u{E007F}', []],
  ['other characters of the same plane are left alone', '\u{E0100}\u{E01EF}', '\u{E0100}\u{E01EF}', []],
  ['a lone high surrogate', 'a\uDB40b', 'a\uDB40b', []],
  ['no tag at all', 'plain', 'plain', []],
];
for (const [name, input, text, spans] of decodes) {
  test(`decodeTagChars: ${name}`, () => {
    const r = decodeTagChars(input);
    assert.equal(r.text, text);
    assert.deepEqual([...r.spans], spans);
    assert.equal(hasTagChars(input), spans.length > 0);
    assert.equal(hasTagCharsBytes(Buffer.from(input)), spans.length > 0);
  });
}

test('hasTagCharsBytes agrees with hasTagChars on every code point of U+E0000–U+E01FF and their neighbours', () => {
  for (let cp = 0xdfff0; cp < 0xe0210; cp++) {
    const s = `x${String.fromCodePoint(cp)}y`;
    assert.equal(hasTagCharsBytes(Buffer.from(s)), hasTagChars(s), cp.toString(16));
  }
});

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const bodies: Array<[string, string, string, string[]]> = [
  // name, chat content, decision, findings (type:action)
  ['a GitHub token written in tag characters', `see ${tags('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')} ok`, 'block', ['github_token:block']],
  ['an SSN written in tag characters', `ssn ${tags('536-90-4399')}`, 'block', ['us_ssn:block']],
  ['a honeytoken with its tail in tag characters', `WARDEN-CANARY-${tags('5e1d0b77')}`, 'block', ['honeytoken:block']],
  ['a plain SSN beside tag characters: redacted once', `ssn 536-90-4399 ${tags('hello')}`, 'redact', ['us_ssn:redact']],
  ['tag characters that say nothing', `${tags('just a note')} and text`, 'allow', []],
];
for (const [name, note, decision, findings] of bodies) {
  for (const [ename, engine] of engines) {
    test(`tag characters (${ename}): ${name}`, () => {
      const r = engine.inspect(request(JSON.stringify({ messages: [{ role: 'user', content: note }] })), pol);
      assert.equal(r.decision, decision);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
    });
  }
}
