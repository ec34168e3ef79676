import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import type { CompiledDlpPolicy } from '../../../proxy/config/types.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { applyEdits } from '../../../proxy/dlp/redact.js';
import type { InspectRequest, InspectResult } from '../../../proxy/dlp/types.js';
import { fakeDetectors, policy, request } from './inspect-helpers.js';

const SSN = '123-45-6789';
const R_SSN = '[REDACTED:us_ssn]';
const R_EMAIL = '[REDACTED:email]';

function inspect(req: InspectRequest, pol: Partial<CompiledDlpPolicy> = {}): InspectResult {
  return createDlpEngine(fakeDetectors()).inspect(req, policy(pol));
}

/** The body must be the original with exactly these substitutions, byte for byte. */
const exactCases: Array<[name: string, body: string, contentType: string, expected: string]> = [
  ['JSON: formatting, key order, big numbers and escapes kept',
    '{ "b" : 1, "2": "x", "1" : "ssn 123-45-6789",\n  "big": 12345678901234567890, "e": "caf\\u00e9", "dup": 1, "dup": 2 }', 'application/json',
    '{ "b" : 1, "2": "x", "1" : "ssn [REDACTED:us_ssn]",\n  "big": 12345678901234567890, "e": "caf\\u00e9", "dup": 1, "dup": 2 }'],
  ['JSON: nested arguments edited in place inside the outer string',
    '{"arguments":"{\\"ssn\\": \\"123-45-6789\\", \\"n\\": \\"a\\\\nb\\"}"}', 'application/json',
    '{"arguments":"{\\"ssn\\": \\"[REDACTED:us_ssn]\\", \\"n\\": \\"a\\\\nb\\"}"}'],
  ['JSON: a match written with escapes is replaced with its escapes',
    '{"m":"ssn 123\\u002d45-6789!"}', 'application/json',
    '{"m":"ssn [REDACTED:us_ssn]!"}'],
  ['JSON: zero-width spaces inside a card are part of the redacted span',
    '{"m":"card 4111\u200B1111\u200B1111\u200B1111 ok"}', 'application/json',
    '{"m":"card ************1111 ok"}'],
  ['JSON: a number becomes a string',
    '{"card": 4111111111111111, "n": 42}', 'application/json',
    '{"card": "************1111", "n": 42}'],
  ['JSON: a number inside nested JSON becomes an escaped string',
    '{"args":"{\\"card\\":4111111111111111}"}', 'application/json',
    '{"args":"{\\"card\\":\\"************1111\\"}"}'],
  ['JSON: an object key',
    '{"123-45-6789":"x"}', 'application/json',
    '{"[REDACTED:us_ssn]":"x"}'],
  ['JSON: percent-encoded text re-encoded',
    '{"u":"https://x.test/?e=bob%40example.com&z=1"}', 'application/json',
    '{"u":"https://x.test/?e=%5BREDACTED%3Aemail%5D&z=1"}'],
  ['JSON: the same value in a view and its percent-decoded child is replaced once',
    '{"u":"ssn 123-45-6789 at /a%20b"}', 'application/json',
    '{"u":"ssn [REDACTED:us_ssn] at /a%20b"}'],
  ['form: only the field value is re-encoded',
    'a=1&note=ssn+123-45-6789&email=bob%40example.com&z=%E2%9C%93', 'application/x-www-form-urlencoded',
    'a=1&note=ssn+%5BREDACTED%3Aus_ssn%5D&email=%5BREDACTED%3Aemail%5D&z=%E2%9C%93'],
  ['text: replaced in place',
    'Dear team,\nmy ssn is 123-45-6789 — thanks\n', 'text/plain; charset=utf-8',
    `Dear team,\nmy ssn is ${R_SSN} — thanks\n`],
];

for (const [name, body, contentType, expected] of exactCases) {
  test(`redact ${name}`, () => {
    const r = inspect(request(body, { 'content-type': contentType }));
    assert.equal(r.decision, 'redact');
    assert.ok(r.body !== null);
    assert.equal(r.body.toString('utf8'), expected);
    assert.equal(r.headers?.['content-length'], String(r.body.length));
    if (contentType === 'application/json') JSON.parse(r.body.toString('utf8'));
  });
}

const codings: Array<[name: string, encode: (b: Buffer) => Buffer, decode: (b: Buffer) => Buffer]> = [
  ['gzip', (b) => zlib.gzipSync(b), (b) => zlib.gunzipSync(b)],
  ['deflate', (b) => zlib.deflateSync(b), (b) => zlib.inflateSync(b)],
  ['br', (b) => zlib.brotliCompressSync(b), (b) => zlib.brotliDecompressSync(b)],
  ['gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b)), (b) => zlib.gunzipSync(zlib.brotliDecompressSync(b))],
];
for (const [name, encode, decode] of codings) {
  test(`redact re-applies Content-Encoding ${name} and sets Content-Length`, () => {
    const plain = JSON.stringify({ messages: [{ content: `ssn ${SSN}` }] });
    const r = inspect(request(encode(Buffer.from(plain)), { 'content-encoding': name }));
    assert.equal(r.decision, 'redact');
    assert.ok(r.body !== null);
    assert.equal(r.headers?.['content-length'], String(r.body.length));
    assert.equal(r.headers?.['content-encoding'], undefined); // unchanged: the same coding is re-applied
    assert.equal(decode(r.body).toString('utf8'), plain.replace(SSN, R_SSN));
  });
}

test('redact in the query and path rewrites the URL only', () => {
  const r = inspect(request('', {}, `/v1/users/${SSN}/x?email=bob%40example.com&q=a+b#frag`));
  assert.equal(r.decision, 'redact');
  assert.equal(r.url, '/v1/users/%5BREDACTED%3Aus_ssn%5D/x?email=%5BREDACTED%3Aemail%5D&q=a+b#frag');
  assert.equal(r.body, null);
  assert.equal(r.headers, null);
});

test('redact in a percent-encoded path segment', () => {
  const r = inspect(request('', {}, '/v1/mail/bob%40example.com'));
  assert.equal(r.url, '/v1/mail/%5BREDACTED%3Aemail%5D');
});

test('multipart: same boundary, other bytes kept, base64 part re-encoded as base64', () => {
  const boundary = '----X7';
  const b64 = Buffer.from(`mail bob@example.com and ssn ${SSN} here, padding text to wrap the lines of base64`).toString('base64');
  const wrapped = b64.match(/.{1,40}/g)?.join('\r\n') ?? '';
  const parts = [
    `Content-Disposition: form-data; name="keep"\r\n\r\nnothing to see`,
    `Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nssn ${SSN}`,
    `Content-Disposition: form-data; name="enc"\r\nContent-Transfer-Encoding: base64\r\n\r\n${wrapped}`,
  ];
  const body = `preamble\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\nepilogue`;
  const r = inspect(request(body, { 'content-type': `multipart/form-data; boundary=${boundary}` }));
  // The base64 part is a first-level part body (Content-Transfer-Encoding), so it is rewritable.
  assert.equal(r.decision, 'redact');
  assert.ok(r.body !== null);
  const out = r.body.toString('utf8');
  assert.equal(r.headers?.['content-length'], String(r.body.length));
  assert.ok(out.startsWith(`preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="keep"\r\n\r\nnothing to see\r\n`));
  assert.ok(out.endsWith(`--${boundary}--\r\nepilogue`));
  assert.ok(out.includes(`filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nssn ${R_SSN}\r\n--${boundary}`));
  const encPart = out.slice(out.indexOf('Content-Transfer-Encoding: base64\r\n\r\n') + 37, out.lastIndexOf(`\r\n--${boundary}--`));
  assert.ok(encPart.split('\r\n').every((line) => line.length <= 40), 'line length kept');
  assert.equal(Buffer.from(encPart.replace(/\s/g, ''), 'base64').toString('utf8'),
    `mail ${R_EMAIL} and ssn ${R_SSN} here, padding text to wrap the lines of base64`);
});

test('redact-level findings that cannot be rewritten escalate to block', () => {
  const cases: InspectRequest[] = [
    request(JSON.stringify({ blob: Buffer.from(`note: ssn ${SSN} in a base64 field`).toString('base64') })),
    request('{}', { 'x-user': `ssn ${SSN}` }),
    request(Buffer.concat([Buffer.from([0xff, 0, 0xfe]), Buffer.from(` ssn ${SSN} `)]), { 'content-type': 'application/octet-stream' }),
  ];
  for (const req of cases) {
    const r = inspect(req);
    assert.deepEqual([r.decision, r.reason, r.body], ['block', 'dlp', null]);
    assert.deepEqual(r.findings.map((f) => f.action), ['block']);
  }
});

test('applyEdits merges overlapping edits', () => {
  assert.equal(applyEdits('abcdef', [{ start: 1, end: 3, text: 'X' }, { start: 2, end: 4, text: 'X' }]), 'aXef');
  assert.equal(applyEdits('abcdef', [{ start: 4, end: 5, text: '2' }, { start: 0, end: 1, text: '1' }]), '1bcd2f');
});
