import assert from 'node:assert/strict';
import { test } from 'node:test';
import { needsNormalization, normalizeText } from '../../../proxy/dlp/normalize.js';

const cases: Array<[name: string, input: string, output: string]> = [
  ['ASCII is untouched', 'card 4111 1111 1111 1111', 'card 4111 1111 1111 1111'],
  ['zero-width space inside a card', '4556\u200B7375\u200B8689\u200B9855', '4556737586899855'],
  ['ZWNJ, ZWJ, word joiner, BOM, soft hyphen', 'a\u200Cb\u200Dc\u2060d\uFEFFe\u00ADf', 'abcdef'],
  ['Unicode dashes in an SSN', '536\u201090\u20134399', '536-90-4399'],
  ['minus sign and em dash', '536\u221290\u20144399', '536-90-4399'],
  ['non-breaking hyphen (NFKC then dash)', '536\u201190\u20114399', '536-90-4399'],
  ['NBSP and thin spaces', '536\u00A090\u20094399', '536 90 4399'],
  ['ideographic space', 'a\u3000b', 'a b'],
  ['fullwidth digits and at sign (NFKC)', '\uFF14\uFF15\uFF15\uFF16 bob\uFF20example.com', '4556 bob@example.com'],
  ['ligature expands', 'con\uFB01g', 'config'],
  ['combining accent composes with an ASCII base', 'cafe\u0301', 'café'],
  ['CJK and emoji stay', '東京 😀 ok', '東京 😀 ok'],
  ['bidi override stripped', 'abc\u202Edef', 'abcdef'],
];

for (const [name, input, output] of cases) {
  test(`normalize: ${name}`, () => {
    const n = normalizeText(input);
    assert.equal(n.text, output);
    assert.equal(n.changed, input !== output);
    assert.equal(needsNormalization(input), input !== output);
  });
}

test('offsets map back to the original text, widening over stripped and expanded characters', () => {
  const original = 'x 4556\u200B7375\u200B8689\u200B9855 y';
  const n = normalizeText(original);
  const start = n.text.indexOf('4556');
  const end = start + 16;
  const [a, b] = n.toOriginal(start, end);
  assert.equal(original.slice(a, b), '4556\u200B7375\u200B8689\u200B9855');
  const lig = normalizeText('a\uFB01b');
  assert.deepEqual(lig.toOriginal(2, 3), [1, 2]); // the `i` of `fi` maps to the whole ligature
});

test('offsets of an unchanged text are the identity', () => {
  const n = normalizeText('東京 plain');
  assert.equal(n.changed, false);
  assert.deepEqual(n.toOriginal(3, 8), [3, 8]);
});

test('normalisation is local: a substring normalises to a substring of the normalised whole', () => {
  const pieces = ['"536\u201090\u20134399"', '"\uFF14\uFF15"', '"cafe\u0301"', '"a\u200Bb"', '"\u0301x"'];
  const whole = normalizeText(pieces.join(',')).text;
  for (const p of pieces) assert.ok(whole.includes(normalizeText(p).text), p);
});
