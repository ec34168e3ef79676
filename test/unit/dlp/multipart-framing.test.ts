/**
 * Multipart framing (red team, session 14, finding 1): bytes a server reads outside the part
 * bodies Warden scanned. One byte before the first delimiter (`x--AAA`) made Warden see no part at
 * all while undici's formData() and Werkzeug read a field; a repeated or RFC 5987 `boundary*`
 * parameter made Warden split the body at another boundary than Werkzeug or undici; the preamble,
 * the epilogue and part headers were never scanned.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { test } from 'node:test';
import { repeatedParams } from '../../../proxy/dlp/decode-multipart.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, request } from './inspect-helpers.js';

const CANARY = 'WARDEN-CANARY-5e1d0b77';
const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: CANARY, sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames, uninspectable: 'block' });
const engine = createDlpEngine(detectors);

const form = (boundary: string, name: string, value: string): string =>
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n--${boundary}--\r\n`;
const mp = (boundaryParam: string, body: string | Buffer) =>
  engine.inspect(request(body, { 'content-type': `multipart/form-data; ${boundaryParam}` }), pol);

/** A zip holding one stored file (the archive detector reads its magic). */
function zip(): Buffer {
  const data = deflateRawSync(Buffer.from('secret'));
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(8, 8);
  header.writeUInt32LE(data.length, 18);
  header.writeUInt16LE(1, 26);
  return Buffer.concat([header, Buffer.from('a'), data]);
}

const cases: Array<[name: string, boundaryParam: string, body: string | Buffer, decision: string, reason: string | null, types: string[]]> = [
  ['a clean form', 'boundary=AAA', form('AAA', 'note', 'hello'), 'allow', null, []],
  ['a clean form with the usual preamble and headers', 'boundary=AAA',
    `This is a multi-part message in MIME format.\r\n--AAA\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--AAA--\r\n`, 'allow', null, []],
  ['a byte before the first delimiter', 'boundary=AAA', `x${form('AAA', 'secret', CANARY)}`, 'block', 'uninspectable', []],
  ['a honeytoken in the epilogue', 'boundary=AAA', `${form('AAA', 'note', 'hello')}${CANARY}\r\n`, 'block', 'honeytoken', ['honeytoken']],
  ['an AWS key in the preamble', 'boundary=AAA', `aws_access_key_id=AKIA7ZNGSOKPXYIZFMSR\r\n${form('AAA', 'note', 'hello')}`, 'block', 'dlp', ['aws_access_key_id']],
  ['a honeytoken in a part header', 'boundary=AAA',
    `--AAA\r\nContent-Disposition: form-data; name="note"\r\nX-Note: ${CANARY}\r\n\r\nhello\r\n--AAA--\r\n`, 'block', 'honeytoken', ['honeytoken']],
  ['a honeytoken in another Content-Disposition parameter', 'boundary=AAA',
    `--AAA\r\nContent-Disposition: form-data; name="note"; x-tag="${CANARY}"\r\n\r\nhello\r\n--AAA--\r\n`, 'block', 'honeytoken', ['honeytoken']],
  ['boundary given twice', 'boundary=BBB; boundary=AAA', `${form('BBB', 'note', 'hello')}${form('AAA', 'secret', CANARY)}`, 'block', 'uninspectable', []],
  ['boundary and boundary*', "boundary*=utf-8''BBB; boundary=AAA", `${form('BBB', 'note', 'hello')}${form('AAA', 'secret', CANARY)}`, 'block', 'uninspectable', []],
  ['a zip in the epilogue', 'boundary=AAA', Buffer.concat([Buffer.from(form('AAA', 'note', 'hello')), zip()]), 'block', 'dlp', ['archive']],
];
for (const [name, boundaryParam, body, decision, reason, types] of cases) {
  test(`multipart framing: ${name}`, () => {
    const r = mp(boundaryParam, body);
    assert.equal(r.decision, decision);
    assert.equal(r.decision === 'allow' ? null : r.reason, reason);
    assert.deepEqual([...new Set(r.findings.map((f) => f.type))], types);
  });
}

test('repeatedParams: a name given twice, or with and without `*`, in any case', () => {
  assert.deepEqual(repeatedParams('; boundary=a; charset=utf-8'), []);
  assert.deepEqual(repeatedParams('; boundary=a; Boundary="b"'), ['boundary']);
  assert.deepEqual(repeatedParams("; boundary*=utf-8''a; boundary=b"), ['boundary']);
  assert.deepEqual(repeatedParams('; charset=utf-8; CHARSET=utf-16; x=1'), ['charset']);
});

test('a charset given twice makes a text body uninspectable, whichever path would read it', () => {
  // Bodies the fast path would pass as clean (spaced JSON, prose) and one it leaves to the full
  // path (JSON with no whitespace): the check held only on the full path at first.
  const cases: Array<[body: string, type: string]> = [
    ['{"a":"b"}', 'application/json; charset=utf-8; charset=utf-16le'],
    ['{"a": "b c"}', 'application/json; charset=utf-8; charset=utf-16le'],
    ['{"messages": [{"role": "user", "content": "hello there"}]}', 'application/json; CHARSET=utf-16le; charset=utf-8'],
    ['plain prose, nothing in it', 'text/plain; charset=utf-8; charset*=utf-8\'\'x'],
  ];
  for (const [body, type] of cases) {
    const r = engine.inspect(request(body, { 'content-type': type }), pol);
    assert.deepEqual([r.decision, r.reason], ['block', 'uninspectable'], `${type}: ${body}`);
  }
});
