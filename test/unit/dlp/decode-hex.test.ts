import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPrintableHex } from '../../../proxy/dlp/decode-hex.js';

const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');

test('isPrintableHex: text is, digests, odd runs, non-hex and binary are not', () => {
  const cases: Array<[name: string, text: string, expected: boolean]> = [
    ['ASCII text', hex('ssn 536-22-8143 on file'), true],
    ['upper-case digits', hex('ssn 536-22-8143 on file').toUpperCase(), true],
    ['UTF-8 text', hex('naïve café 東京 — ok'), true],
    ['text with a newline and a tab', hex('a\tb\nc\r\nd and more text'), true],
    ['a SHA-256 digest', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', false],
    ['a git object id', '3f2b8c1e9d4a4e6b8a7c1b2c3d4e5f6011223344', false],
    ['odd length', hex('ssn 536-22-8143 on file') + 'a', false],
    ['a non-hex character', hex('ssn 536-22-8143 on file').replace(/.$/, 'g'), false],
    ['invalid UTF-8 (a lone continuation byte)', hex(Buffer.concat([Buffer.from('abcdefghijklmnop'), Buffer.from([0x80])])), false],
    ['too many control bytes', hex(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 65, 66, 67, 68, 69, 70, 71, 72])), false],
    ['shorter than 16 bytes (random ids pass the printable test too often)', hex('ssn 536-22-8143'), false],
    ['a call_ id of 24 hex digits that decodes to printable bytes', '3add8e54367c047d26cfa22e', false],
    ['empty', '', false],
  ];
  for (const [name, text, expected] of cases) {
    assert.equal(isPrintableHex(text, 0, text.length), expected, name);
    assert.equal(isPrintableHex(Buffer.from(`xx${text}yy`), 2, 2 + text.length), expected, `${name} (bytes, offset)`);
  }
});

test('isPrintableHex: a run longer than the shared scratch buffer', () => {
  const long = hex('lorem ipsum dolor sit amet '.repeat(5000));
  assert.ok(long.length / 2 > 64 * 1024);
  assert.equal(isPrintableHex(long, 0, long.length), true);
  assert.equal(isPrintableHex(hex('a short text run'), 0, 32), true, 'the scratch buffer is still usable afterwards');
});
