/**
 * base64ArchiveProbe (the fast path's archive check on base64 runs) rejects most runs from their
 * first character and length. It must give exactly the answer of decoding the run's head and
 * matching every magic: a run it wrongly rejects is an archive the fast path lets through.
 */
import * as assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { base64ArchiveProbe, matchMagic } from '../../../proxy/dlp/archives.js';
import { base64Head } from '../../../proxy/dlp/decode-base64.js';
import { compileDetectors, loadPacks } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { PATTERNS_DIR } from '../../../proxy/paths.js';
import { base64RunsOf, lzwLiterals, policy, request } from './inspect-helpers.js';

const files = readdirSync(PATTERNS_DIR).filter((f) => f.endsWith('.yaml')).map((f) => join(PATTERNS_DIR, f));
const { magics } = loadPacks(files);
const probe = base64ArchiveProbe(magics);
const slow = (b: Uint8Array, start: number, end: number): string | null => matchMagic(magics, base64Head(b, start, end));

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function encodings(raw: Buffer): string[] {
  const std = raw.toString('base64');
  return [std, std.replace(/=+$/, ''), raw.toString('base64url')];
}

function checkText(text: string, expectSome: boolean): number {
  const b = Buffer.from(text, 'latin1');
  let found = 0;
  for (const run of base64RunsOf(b)) {
    const want = slow(b, run.start, run.end);
    assert.equal(probe(b, run.start, run.end), want, `run ${JSON.stringify(text.slice(run.start, Math.min(run.end, run.start + 40)))}…`);
    if (want !== null) found++;
  }
  if (expectSome) assert.ok(found > 0, `the archive was not found at all in ${JSON.stringify(text.slice(0, 60))}`);
  return found;
}

/** Bytes that start with magic `m` at its offset: a real stream for the formats archives.ts checks as one. */
function startingWith(m: (typeof magics)[number], tail: number, next: () => number): Buffer {
  const random = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next() & 0xFF;
    return b;
  };
  if (m.format === 'zlib') return deflateSync(random(tail + 24), { level: m.bytes[1] === 0xDA ? 9 : 6 });
  if (m.format === 'compress') return lzwLiterals(random(tail + 16));
  const raw = random(m.offset + m.bytes.length + tail);
  raw.set(m.bytes, m.offset);
  return raw;
}

test('every magic, at its offset and in each base64 alphabet, is found by the probe', () => {
  const next = rng(7);
  assert.ok(magics.some((m) => m.offset > 0), 'tar (offset 257) is part of the table');
  for (const m of magics) {
    for (const tail of [0, 3, 40, 200]) {
      const raw = startingWith(m, tail, next);
      assert.ok(raw.subarray(m.offset, m.offset + m.bytes.length).equals(m.bytes), `${m.format} stream starts with its magic`);
      for (const enc of encodings(raw)) {
        if (enc.length < 24) continue; // shorter than any run the fast path considers
        checkText(`{"file": "${enc}"}`, true);
        checkText(`x ${enc} y`, true);
      }
    }
  }
});

test('random runs get the same answer from the probe and from decoding', () => {
  const next = rng(99);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_';
  let archives = 0;
  for (let i = 0; i < 4000; i++) {
    const len = 24 + (next() % 420);
    let s = '';
    for (let k = 0; k < len; k++) s += alphabet[next() % alphabet.length];
    // One run in four starts with a magic's first character, one in eight holds tar's magic.
    if (i % 4 === 0) s = 'UEsDB' + s;
    if (i % 8 === 1 && len > 360) {
      const raw = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/').slice(0, len - (len % 4)), 'base64');
      raw.set(Buffer.from('7573746172003030', 'hex'), 257);
      s = raw.toString('base64').replace(/=+$/, '');
    }
    archives += checkText(` ${s}${i % 3 === 0 ? '==' : ''} `, false);
  }
  assert.ok(archives > 100, `only ${archives} archives among the random runs: the comparison proves little`);
});

test('a base64 tar in a JSON field is blocked by the real detectors, fast path on and off', () => {
  const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const tar = Buffer.alloc(1024);
  tar.write('notes.txt', 0, 'latin1');
  tar.write('ustar\x0000', 257, 'latin1'); // POSIX magic and version: bytes 257–264
  for (const enc of encodings(tar)) {
    const req = request(JSON.stringify({ model: 'm', input: 'see attachment', file: enc }));
    for (const fastPath of [true, false]) {
      const r = createDlpEngine(detectors, { fastPath }).inspect(req, policy({ packs: detectors.packNames }));
      assert.equal(r.decision, 'block', `fastPath ${fastPath}`);
      assert.deepEqual(r.archives, ['tar']);
    }
  }
});

test('zlib streams (zlib.compress, pako) are archives as a base64 field, a raw body and a multipart file; text starting with `x^` is not', async () => {
  // Red team, session 14 (F7): only gzip, bzip2, xz… were known; one zlib.decompress() recovers a .env.
  const { deflateSync } = await import('node:zlib');
  const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const pol = policy({ packs: detectors.packNames });
  const zlibDefault = deflateSync('GITHUB_TOKEN=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\n');
  const zlibBest = deflateSync('password=Qw7rT2xk9Lm4vB8n\n', { level: 9 });
  for (const engine of [createDlpEngine(detectors), createDlpEngine(detectors, { fastPath: false })]) {
    for (const z of [zlibDefault, zlibBest]) {
      const inJson = engine.inspect(request(JSON.stringify({ file: z.toString('base64') })), pol);
      assert.deepEqual([inJson.decision, inJson.findings.map((f) => f.type)], ['block', ['archive']]);
      const raw = engine.inspect(request(z, { 'content-type': 'application/octet-stream' }), pol);
      assert.deepEqual([raw.decision, raw.findings.map((f) => f.type)], ['block', ['archive']]);
      const part = Buffer.concat([Buffer.from('--AAA\r\nContent-Disposition: form-data; name="f"; filename="x.z"\r\n\r\n'), z, Buffer.from('\r\n--AAA--\r\n')]);
      const mp = engine.inspect(request(part, { 'content-type': 'multipart/form-data; boundary=AAA' }), pol);
      assert.deepEqual([mp.decision, mp.findings.map((f) => f.type)], ['block', ['archive']]);
    }
    const text = engine.inspect(request('x^2 + y^2 = r^2', { 'content-type': 'text/plain' }), pol);
    assert.deepEqual([text.decision, text.findings], ['allow', []]);
  }
});

test('random ids that start like a zlib or compress header are not archives; real short and wrapped streams are', () => {
  // Red team 4: `eJ…`/`eN…` (zlib's 2-byte header) and `H5…`/`H6…` (compress) start ~1 random
  // base64 id in 1,000; such an id (a ticket, an API key, a request id) blocked the whole request.
  const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('k') });
  const pol = policy({ packs: detectors.packNames });
  const next = rng(4242);
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const ids: string[] = [];
  for (const lead of ['eJ', 'eN', 'H5', 'H6']) {
    for (let i = 0; i < 60; i++) {
      let id = lead;
      const len = 8 + (next() % 40);
      for (let k = 0; k < len; k++) id += ALNUM[next() % ALNUM.length];
      ids.push(id);
    }
  }
  // Each id alone, so one verdict per id; both engines.
  for (const engine of [createDlpEngine(detectors), createDlpEngine(detectors, { fastPath: false })]) {
    const flagged = ids.filter((id) => {
      const r = engine.inspect(request(JSON.stringify({ model: 'm', input: `ticket ${id} is open`, request_id: id })), pol);
      return r.decision !== 'allow';
    });
    assert.deepEqual(flagged.map((id) => id.slice(0, 2)), [], `${flagged.length} of ${ids.length} random ids were taken for archives`);
  }
  // Real streams with those leads are still found: a short zlib stream whole, a long one
  // wrapped at 76 characters (MIME), and a compress stream.
  const short = deflateSync('id=42\n');
  const long = deflateSync(Buffer.from(Array.from({ length: 600 }, () => next() & 0xFF)));
  const wrapped = long.toString('base64').replace(/.{76}/g, '$&\n');
  const lzw = lzwLiterals(Buffer.from('PGPASSWORD=Qw7rT2xk9Lm4vB8n psql -h db.internal'));
  for (const [name, text, format] of [
    ['short zlib', `blob ${short.toString('base64')} end`, 'zlib'],
    ['wrapped zlib', wrapped, 'zlib'],
    ['compress', `{"f": "${lzw.toString('base64')}"}`, 'compress'],
  ] as const) {
    for (const fastPath of [true, false]) {
      const r = createDlpEngine(detectors, { fastPath }).inspect(request(text, { 'content-type': 'text/plain' }), pol);
      assert.deepEqual([r.decision, r.archives], ['block', [format]], `${name}, fastPath ${fastPath}`);
    }
  }
});
