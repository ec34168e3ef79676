import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base64Head, findBase64Runs, isPrintableBase64 } from '../../../proxy/dlp/decode-base64.js';
import { encodeBase64Lines, isWholeBase64, parseMultipart } from '../../../proxy/dlp/decode-multipart.js';
import { hasPercentEscape, percentDecode, percentEncode, splitPairs } from '../../../proxy/dlp/decode-percent.js';
import { base64RunsOf, prng } from './inspect-helpers.js';

const percentCases: Array<[input: string, plus: boolean, out: string]> = [
  ['bob%40example.com', false, 'bob@example.com'],
  ['a+b', true, 'a b'],
  ['a+b', false, 'a+b'],
  ['%3DAKIA', false, '=AKIA'],
  ['caf%C3%A9', false, 'café'],
  ['%F0%9F%98%80', false, '😀'],
  ['100%', false, '100%'],
  ['%zz%4', false, '%zz%4'],
  ['%C3', false, '\uFFFD'],
  ['%C0%80', false, '\uFFFD\uFFFD'],
  ['%ED%A0%80', false, '\uFFFD\uFFFD\uFFFD'],
  ['é%41', false, 'éA'],
  ['%2540', false, '%40'],
];
for (const [input, plus, out] of percentCases) {
  test(`percentDecode ${JSON.stringify(input)} plus=${plus}`, () => {
    assert.equal(percentDecode(input, plus, false).text, out);
    const mapped = percentDecode(input, plus, true);
    assert.equal(mapped.text, out);
    assert.equal(mapped.starts?.length, out.length);
  });
}

test('percentDecode maps decoded units back to their escapes', () => {
  const r = percentDecode('x%40y%C3%A9', false, true);
  assert.equal(r.text, 'x@yé');
  assert.deepEqual([...(r.starts ?? [])], [0, 1, 4, 5]);
  assert.deepEqual([...(r.ends ?? [])], [1, 4, 5, 11]);
});

test('hasPercentEscape, percentEncode, splitPairs', () => {
  assert.equal(hasPercentEscape('50% off'), false);
  assert.equal(hasPercentEscape('a%2Fb'), true);
  assert.equal(percentEncode('[REDACTED:email] x', true), '%5BREDACTED%3Aemail%5D+x');
  assert.deepEqual(splitPairs('a=1&&b&c=').map((p) => [p.nameStart, p.nameEnd, p.valueStart, p.valueEnd]), [
    [0, 1, 2, 3], [5, 6, -1, -1], [7, 8, 9, 9],
  ]);
});

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

test('base64 runs are found the same way in strings and bytes', () => {
  const text = `x ${b64('the quick brown fox jumps over')} y ${'z'.repeat(23)} ${b64('secret=hunter2 and more text')}== end ${'a'.repeat(24)}`;
  const s = findBase64Runs(text).map((r) => text.slice(r.start, r.end));
  const b = base64RunsOf(Buffer.from(text, 'latin1')).map((r) => text.slice(r.start, r.end));
  assert.deepEqual(s, b);
  assert.equal(s.length, 3);
  assert.ok(s[1]?.endsWith('=='));
});

const printable: Array<[name: string, run: string, expected: boolean]> = [
  ['English text', b64('Please send the report to the finance team today.'), true],
  ['URL-safe alphabet', Buffer.from('{"sub":"1234567890","name":"John Doe"}').toString('base64url'), true],
  ['UTF-8 text', b64('Grüße aus Köln, schönes Wetter heute'), true],
  ['random bytes', Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 97 + 13) & 0xff)).toString('base64'), false],
  ['hex digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', false],
  ['UUID without dashes', '550e8400e29b41d4a716446655440000', false],
  ['identifier', 'ThisIsAVeryLongCamelCaseIdentifierName', false],
  ['PNG header', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 1, 0]).toString('base64'), false],
];
for (const [name, run, expected] of printable) {
  test(`isPrintableBase64: ${name} → ${expected}`, () => {
    assert.equal(isPrintableBase64(run, 0, run.length), expected);
    assert.equal(isPrintableBase64(Buffer.from(run, 'latin1'), 0, run.length), expected);
  });
}

test('base64Head decodes enough for tar magic at offset 257', () => {
  const tar = Buffer.alloc(512);
  tar.write('ustar\u000000', 257, 'latin1');
  const run = tar.toString('base64');
  const head = base64Head(run, 0, run.length);
  assert.equal(head.toString('latin1', 257, 262), 'ustar');
  assert.deepEqual(base64Head('UEsDBBQ', 0, 7).subarray(0, 4), Buffer.from([0x50, 0x4b, 0x03, 0x04]));
});

function multipart(boundary: string, parts: string[], eol = '\r\n'): Buffer {
  return Buffer.from(parts.map((p) => `--${boundary}${eol}${p}${eol}`).join('') + `--${boundary}--${eol}`, 'utf8');
}

test('multipart: names, file names, RFC 5987 names, bodies', () => {
  const body = multipart('XyZ', [
    'Content-Disposition: form-data; name="purpose"\r\n\r\nassistants',
    'Content-Disposition: form-data; name="file"; filename="report.csv"\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2',
    'Content-Disposition: form-data; name="doc"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9.txt\r\n\r\n',
  ]);
  const r = parseMultipart(body, 'XyZ');
  assert.ok(r.ok);
  assert.deepEqual(r.parts.map((p) => [p.name, p.filename, body.toString('utf8', p.bodyStart, p.bodyEnd)]), [
    ['purpose', null, 'assistants'],
    ['file', 'report.csv', 'a,b\r\n1,2'],
    ['doc', 'résumé.txt', ''],
  ]);
});

test('multipart: bare LF line endings and a preamble', () => {
  const body = Buffer.concat([Buffer.from('preamble\n'), multipart('b', ['Content-Disposition: form-data; name="a"\n\nvalue'], '\n')]);
  const r = parseMultipart(body, 'b');
  assert.ok(r.ok);
  assert.equal(body.toString('utf8', r.parts[0]?.bodyStart, r.parts[0]?.bodyEnd), 'value');
});

const malformed: Array<[name: string, body: string, boundary: string]> = [
  ['no opening boundary', 'hello', 'b'],
  ['no closing boundary', '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue', 'b'],
  ['headers never end', '--b\r\nContent-Disposition: form-data; name="a"', 'b'],
  ['junk after boundary', '--bX\r\n\r\nv\r\n--b--', 'b'],
  ['empty boundary', '--\r\n\r\nv\r\n----', ''],
];
for (const [name, body, boundary] of malformed) {
  test(`multipart malformed: ${name}`, () => {
    const r = parseMultipart(Buffer.from(body), boundary);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.detail, /^malformed multipart body/);
  });
}

test('multipart: part headers end at the first empty line, CRLF or LF, whichever comes first', () => {
  // What the parser took before it read line by line: the earlier of two searches to the body's end.
  const reference = (headerText: string): [number, number] | null => {
    const crlf = headerText.indexOf('\r\n\r\n');
    const lf = headerText.indexOf('\n\n');
    if (crlf === -1 && lf === -1) return null;
    return crlf !== -1 && (lf === -1 || crlf < lf) ? [crlf, crlf + 4] : [lf, lf + 2];
  };
  const rand = prng(11);
  const alphabet = ['\r', '\n', 'a', ':', ' '];
  for (let n = 0; n < 3000; n++) {
    let h = 'X';
    const len = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < len; i++) h += alphabet[Math.floor(rand() * alphabet.length)];
    const body = Buffer.from(`--b\r\n${h}\r\n\r\nv\r\n--b--`, 'latin1');
    const r = parseMultipart(body, 'b');
    const start = 5; // after "--b\r\n"
    const want = reference(body.toString('latin1', start));
    assert.ok(r.ok && want !== null, JSON.stringify(h));
    const part = r.parts[0];
    assert.deepEqual([part?.headersEnd, part?.bodyStart], [want[0] + start, want[1] + start], JSON.stringify(h));
  }
});

test('encodeBase64Lines wraps at the given length', () => {
  const s = encodeBase64Lines(Buffer.alloc(100, 0x41), 76);
  assert.deepEqual(s.split('\r\n').map((l) => l.length), [76, 60]);
  assert.equal(encodeBase64Lines(Buffer.from('hi'), 0), 'aGk=');
});

// A part that decodes whole holds, decoded, every byte its base64 runs decode to one by one.
const wholeCases: Array<[name: string, encoded: string, whole: boolean]> = [
  ['one line', encodeBase64Lines(Buffer.from('card 4556 7375 8689 9855'), 0), true],
  ['wrapped at 76, CRLF, last line short and padded', encodeBase64Lines(Buffer.alloc(200, 0x41), 76), true],
  ['wrapped at 64, LF, trailing newline', `${encodeBase64Lines(Buffer.alloc(100, 0x41), 64).replace(/\r\n/g, '\n')}\n`, true],
  ['last piece without padding', 'QUJD REVG RA', true],
  ['empty', '', true],
  ['a piece off a 4-character boundary before the last', 'x QUJDREVG', false],
  ['an SSN with spaces', '536 22 8143', false],
  ['padding before the last piece', 'QQ==\r\nQUJD', false],
  ['padding inside one piece', 'QQ==QUJD', false],
];
for (const [name, encoded, whole] of wholeCases) {
  test(`isWholeBase64: ${name} → ${whole}`, () => assert.equal(isWholeBase64(encoded), whole));
}
