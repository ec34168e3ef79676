import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { decodeContentEncoding, encodeContentEncoding, parseContentEncoding, type Coding } from '../../../proxy/dlp/decode-content-encoding.js';

const PLAIN = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'hello world '.repeat(200) }] }));
const MiB = 1024 * 1024;

const roundTrips: Array<[name: string, header: string | string[], encode: (b: Buffer) => Buffer]> = [
  ['gzip', 'gzip', (b) => zlib.gzipSync(b)],
  ['x-gzip alias', 'x-gzip', (b) => zlib.gzipSync(b)],
  ['deflate (zlib wrapper)', 'deflate', (b) => zlib.deflateSync(b)],
  ['deflate sent raw', 'deflate', (b) => zlib.deflateRawSync(b)],
  ['br', 'br', (b) => zlib.brotliCompressSync(b)],
  ['identity', 'identity', (b) => b],
  ['upper case and spaces', ' GZIP ', (b) => zlib.gzipSync(b)],
  ['stacked gzip then br', 'gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b))],
  ['stacked as two header lines', ['deflate', 'gzip'], (b) => zlib.gzipSync(zlib.deflateSync(b))],
  ['identity inside a stack', 'gzip, identity', (b) => zlib.gzipSync(b)],
];

for (const [name, header, encode] of roundTrips) {
  test(`decodes ${name} and re-encodes to the same plaintext`, () => {
    const r = decodeContentEncoding(encode(PLAIN), header, 10 * MiB);
    assert.ok(r.ok);
    assert.deepEqual(r.bytes, PLAIN);
    const again = decodeContentEncoding(encodeContentEncoding(r.bytes, r.codings), header, 10 * MiB);
    assert.ok(again.ok);
    assert.deepEqual(again.bytes, PLAIN);
  });
}

const failures: Array<[name: string, header: string, body: Buffer, detail: RegExp]> = [
  ['unknown coding', 'zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), /^unknown content-encoding: zstd$/],
  ['unknown coding in a stack', 'gzip, compress', zlib.gzipSync(PLAIN), /^unknown content-encoding: compress$/],
  ['corrupt gzip', 'gzip', Buffer.from('this is not gzip at all'), /^corrupt gzip body$/],
  ['truncated gzip', 'gzip', zlib.gzipSync(PLAIN).subarray(0, 40), /^corrupt gzip body$/],
  ['corrupt br', 'br', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), /^corrupt br body$/],
  ['corrupt deflate', 'deflate', Buffer.from('garbage garbage'), /^corrupt deflate body$/],
  ['too many stacked codings', 'gzip, gzip, gzip, gzip, gzip', PLAIN, /stacked/],
  ['over the cap', 'gzip', zlib.gzipSync(Buffer.alloc(100_000)), /^decompressed body exceeds 50000 bytes$/],
];

for (const [name, header, body, detail] of failures) {
  test(`refuses ${name}`, () => {
    const r = decodeContentEncoding(body, header, 50_000);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.detail, detail);
  });
}

// zlib and brotli stop at the end of their stream and ignore what follows, but the raw body is
// what goes upstream: bytes after the stream would be forwarded unscanned. Each row decodes clean
// and is refused with the tail appended (gunzip takes text after a member as a corrupt next member,
// so its tail starts with a NUL, which it takes as padding and stops at).
const TAIL = Buffer.from(' ssn 536-22-8143 card 4556 7375 8689 9855');
const NUL_TAIL = Buffer.concat([Buffer.from([0]), TAIL]);
const trailing: Array<[name: string, header: string, encode: (b: Buffer) => Buffer, tail: Buffer, detail: string]> = [
  ['deflate (zlib wrapper)', 'deflate', (b) => zlib.deflateSync(b), TAIL, 'data after the end of the deflate stream'],
  ['deflate sent raw', 'deflate', (b) => zlib.deflateRawSync(b), TAIL, 'data after the end of the deflate stream'],
  ['br', 'br', (b) => zlib.brotliCompressSync(b), TAIL, 'data after the end of the br stream'],
  ['gzip', 'gzip', (b) => zlib.gzipSync(b), NUL_TAIL, 'data after the end of the gzip stream'],
  ['gzip, NUL padding only', 'gzip', (b) => zlib.gzipSync(b), Buffer.alloc(4), 'data after the end of the gzip stream'],
  ['multi-member gzip', 'gzip', (b) => Buffer.concat([zlib.gzipSync(b.subarray(0, 100)), zlib.gzipSync(b.subarray(100))]), NUL_TAIL, 'data after the end of the gzip stream'],
  ['stacked gzip, deflate (after the outer deflate)', 'gzip, deflate', (b) => zlib.deflateSync(zlib.gzipSync(b)), TAIL, 'data after the end of the deflate stream'],
  ['stacked gzip, br (after the outer br)', 'gzip, br', (b) => zlib.brotliCompressSync(zlib.gzipSync(b)), TAIL, 'data after the end of the br stream'],
  ['stacked deflate, gzip (after the outer gzip)', 'deflate, gzip', (b) => zlib.gzipSync(zlib.deflateSync(b)), NUL_TAIL, 'data after the end of the gzip stream'],
];

for (const [name, header, encode, tail, detail] of trailing) {
  test(`decodes ${name} that ends where its stream ends`, () => {
    const r = decodeContentEncoding(encode(PLAIN), header, MiB);
    assert.ok(r.ok);
    assert.deepEqual(r.bytes, PLAIN);
  });
  test(`refuses ${name} followed by data after the stream`, () => {
    const r = decodeContentEncoding(Buffer.concat([encode(PLAIN), tail]), header, MiB);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.detail, detail);
  });
}

const innerTrailing: Array<[name: string, header: string, body: Buffer, detail: string]> = [
  ['inside the inner gzip of gzip, deflate', 'gzip, deflate', zlib.deflateSync(Buffer.concat([zlib.gzipSync(PLAIN), NUL_TAIL])), 'data after the end of the gzip stream'],
  ['inside the inner deflate of deflate, br', 'deflate, br', zlib.brotliCompressSync(Buffer.concat([zlib.deflateSync(PLAIN), TAIL])), 'data after the end of the deflate stream'],
  ['inside the inner br of br, gzip', 'br, gzip', zlib.gzipSync(Buffer.concat([zlib.brotliCompressSync(PLAIN), TAIL])), 'data after the end of the br stream'],
];

for (const [name, header, body, detail] of innerTrailing) {
  test(`refuses data after the stream ${name}`, () => {
    const r = decodeContentEncoding(body, header, MiB);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.detail, detail);
  });
}

test('an unknown coding is named in the detail only when it is a registered one (the detail is recorded)', () => {
  for (const name of ['evil<script>', '536-22-8143', 'akiaqwertyuiopasdfgh']) {
    const r = decodeContentEncoding(PLAIN, name, 1000);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.detail, 'unknown content-encoding (not a registered coding)', name);
  }
});

test('parseContentEncoding lists codings in application order without identity', () => {
  assert.deepEqual(parseContentEncoding('gzip, identity, br'), ['gzip', 'br']);
  assert.deepEqual(parseContentEncoding(undefined), []);
  assert.deepEqual(parseContentEncoding(['gzip', 'br']), ['gzip', 'br']);
});

test('a 1 GiB gzip bomb stops at the cap quickly and without expanding it', () => {
  // 1024 gzip members of 1 MiB of zeros each: one valid gzip stream of 1 GiB, ~1 MiB on the wire.
  const member = zlib.gzipSync(Buffer.alloc(MiB), { level: 9 });
  const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member));
  assert.ok(bomb.length < 2 * MiB, `bomb is ${bomb.length} bytes`);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = decodeContentEncoding(bomb, 'gzip', 8 * MiB);
  const ms = performance.now() - t0;
  const grown = process.memoryUsage().rss - rssBefore;
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.detail, `decompressed body exceeds ${8 * MiB} bytes`);
  assert.ok(ms < 2000, `took ${ms} ms`);
  assert.ok(grown < 256 * MiB, `rss grew by ${grown} bytes`);
});

test('a brotli bomb stops at the cap', () => {
  const bomb = zlib.brotliCompressSync(Buffer.alloc(64 * MiB));
  const r = decodeContentEncoding(bomb, 'br', MiB);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.detail, /^decompressed body exceeds/);
});

test('the cap applies to each stage of a stack', () => {
  const inner = zlib.gzipSync(Buffer.alloc(2 * MiB));
  const r = decodeContentEncoding(zlib.gzipSync(inner), 'gzip, gzip', MiB);
  assert.equal(r.ok, false);
});

test('raw deflate is re-encoded raw', () => {
  const r = decodeContentEncoding(zlib.deflateRawSync(PLAIN), 'deflate', MiB);
  assert.ok(r.ok);
  assert.deepEqual(r.codings, ['deflate-raw'] satisfies Coding[]);
  assert.deepEqual(zlib.inflateRawSync(encodeContentEncoding(PLAIN, r.codings)), PLAIN);
});

test('gzip member header fields (FNAME, FCOMMENT, FEXTRA) are scanned, in every member', async () => {
  // Red team, session 14 (1b): only the decompressed data was scanned; the header fields went
  // upstream as sent (and stay wherever a body is stored as sent).
  const { gzipSync } = await import('node:zlib');
  const { compileDetectors } = await import('../../../proxy/dlp/detectors.js');
  const { createDlpEngine } = await import('../../../proxy/dlp/inspect.js');
  const { policy, request } = await import('./inspect-helpers.js');
  const canary = 'WARDEN-CANARY-5e1d0b77';
  const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: canary, sha256: null }], fingerprintKey: Buffer.from('k') });
  const pol = policy({ packs: detectors.packNames });
  /** A gzip member of `data` whose header carries `fields` (FEXTRA, FNAME, FCOMMENT). */
  const member = (data: string, fields: { extra?: string; name?: string; comment?: string }): Buffer => {
    const plain = gzipSync(data);
    let flags = 0;
    const parts: Buffer[] = [];
    if (fields.extra !== undefined) {
      flags |= 0x04;
      const len = Buffer.alloc(2);
      len.writeUInt16LE(fields.extra.length);
      parts.push(len, Buffer.from(fields.extra, 'latin1'));
    }
    if (fields.name !== undefined) { flags |= 0x08; parts.push(Buffer.from(`${fields.name}\0`, 'latin1')); }
    if (fields.comment !== undefined) { flags |= 0x10; parts.push(Buffer.from(`${fields.comment}\0`, 'latin1')); }
    const header = Buffer.from(plain.subarray(0, 10));
    header[3] = flags;
    return Buffer.concat([header, ...parts, plain.subarray(10)]);
  };
  const json = '{"messages":[{"role":"user","content":"hello"}]}';
  const cases: Array<[string, Buffer, string]> = [
    ['no fields', member(json, {}), 'allow'],
    ['a file name, as gzip(1) writes it', member(json, { name: 'notes.json' }), 'allow'],
    ['a honeytoken as the file name', member(json, { name: `${canary}.txt` }), 'block'],
    ['a honeytoken as the comment', member(json, { comment: canary }), 'block'],
    ['a honeytoken in the extra field', member(json, { extra: `ab\u0010\u0000${canary}` }), 'block'],
    ['in the second member', Buffer.concat([member('{"a":', {}), member('"b"}', { comment: canary })]), 'block'],
  ];
  for (const engine of [createDlpEngine(detectors), createDlpEngine(detectors, { fastPath: false })]) {
    for (const [name, body, decision] of cases) {
      const r = engine.inspect(request(body, { 'content-encoding': 'gzip' }), pol);
      assert.equal(r.decision, decision, name);
      if (decision === 'block') assert.equal(r.reason, 'honeytoken', name);
    }
  }
});

test('a gzip body of more than 1,024 members is uninspectable (each member is inflated again for its header fields)', () => {
  const member = zlib.gzipSync(Buffer.from('a'));
  const many = decodeContentEncoding(Buffer.concat(Array.from({ length: 1025 }, () => member)), 'gzip', MiB);
  assert.deepEqual(many, { ok: false, detail: 'more than 1024 gzip members' });
  const enough = decodeContentEncoding(Buffer.concat(Array.from({ length: 1024 }, () => member)), 'gzip', MiB);
  assert.ok(enough.ok && enough.bytes.toString() === 'a'.repeat(1024));
});
