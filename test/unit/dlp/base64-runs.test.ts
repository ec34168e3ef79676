/**
 * The SIMD base64-run finder (proxy/dlp/wasm/base64-runs.wat) must visit exactly the runs the
 * scalar loop visits: a run it misses is base64 text, or a base64 archive, that the fast path
 * lets through unread. Compared byte class by byte class, at every alignment around its 16- and
 * 64-byte blocks, and on random texts; and the committed module must be what the .wat compiles to.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodableRuns, findBase64Runs, isPrintableBase64, MIN_BASE64_RUN, someBase64Run, someBase64RunScalar, someSubRun } from '../../../proxy/dlp/decode-base64.js';
import { simdBase64Runs, someBase64RunSimd, WASM_SCAN_MAX } from '../../../proxy/dlp/wasm/base64-runs.js';
import { compileWat, WASM_DIR, wasmModuleSource, watNames } from '../../tools/build-wasm.js';
import { cleanChatBody, prng } from './inspect-helpers.js';

type Run = [start: number, end: number];

function runsWith(find: (b: Uint8Array, visit: (s: number, e: number) => boolean) => boolean | null, b: Uint8Array): Run[] {
  const runs: Run[] = [];
  const r = find(b, (s, e) => { runs.push([s, e]); return false; });
  assert.equal(r, false, 'no visit returned true');
  return runs;
}
const simd = (b: Uint8Array): Run[] => runsWith(someBase64RunSimd, b);
const scalar = (b: Uint8Array): Run[] => runsWith(someBase64RunScalar, b);

test('the SIMD finder runs on this machine (x64 and arm64 Node 20 have 128-bit SIMD)', () => {
  assert.equal(simdBase64Runs, true);
});

test('the committed .wasm.ts modules are what their .wat files compile to (run `npm run build:wasm`)', async () => {
  const names = watNames();
  assert.ok(names.includes('base64-runs'));
  for (const name of names) {
    const committed = readFileSync(join(WASM_DIR, `${name}.wasm.ts`), 'utf8');
    assert.equal(committed, wasmModuleSource(name, await compileWat(name)), `${name}.wasm.ts is stale`);
  }
});

test('every byte value: in a run exactly when the scalar table says so', () => {
  for (let c = 0; c < 256; c++) {
    // 30 copies of the byte between spaces, at an offset that crosses a 16-byte boundary.
    const b = Buffer.concat([Buffer.from(' '.repeat(7)), Buffer.alloc(30, c), Buffer.from(' ')]);
    const want = scalar(b);
    assert.deepEqual(simd(b), want, `byte 0x${c.toString(16)}`);
    // '=' is padding, not alphabet: 30 of them are no run.
    if (c === 0x3D) assert.deepEqual(want, []);
  }
});

test('run lengths around the minimum, at every offset across two 64-byte blocks', () => {
  for (const len of [MIN_BASE64_RUN - 1, MIN_BASE64_RUN, MIN_BASE64_RUN + 1, 63, 64, 65, 127, 128, 129, 300]) {
    for (let at = 0; at < 140; at++) {
      for (const after of ['', ' ', '=', '==', '===', '= ', '==A' + 'B'.repeat(30)]) {
        const text = 'x '.repeat(at >> 1) + (at & 1 ? ' ' : '') + 'Q'.repeat(len) + after + ' tail';
        const b = Buffer.from(text, 'latin1');
        const want = scalar(b);
        assert.deepEqual(simd(b), want, `len ${len} at ${at} then ${JSON.stringify(after)}`);
        if (len >= MIN_BASE64_RUN) assert.equal(want[0]?.[0], text.indexOf('Q'));
        else assert.ok(want.every(([s]) => s > text.indexOf('Q')));
      }
    }
  }
});

test('a run that ends the text, and one that fills it', () => {
  for (const text of ['Q'.repeat(24), 'Q'.repeat(23), ' ' + 'Q'.repeat(24), 'Q'.repeat(64), 'Q'.repeat(1000) + '==', 'a'.repeat(24) + '=', '']) {
    const b = Buffer.from(text);
    assert.deepEqual(simd(b), scalar(b), JSON.stringify(text.slice(0, 30)));
  }
});

test('2,000 random texts over alphabets dense in runs, separators and padding', () => {
  const uniform = prng(0x5eed); // deterministic, so a failure reproduces
  const next = (): number => Math.floor(uniform() * 0x100000000);
  const alphabets = [
    'AAAAAAAAQQQQ+/-_09az====  \n"\\.', // mostly alphabet: long runs, cut now and then
    'abcdef0123456789-_ ', // hex and UUID shapes
    'The quick brown fox, jumps: over "the" lazy dog.\n', // prose
    '\x00\x80\xff\xe2\x9c\x93Zz9+/=', // bytes outside ASCII beside alphabet bytes
  ];
  let runs = 0;
  for (let i = 0; i < 2000; i++) {
    const alphabet = alphabets[i % alphabets.length] as string;
    const len = next() % 700;
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = alphabet.charCodeAt(next() % alphabet.length) & 0xFF;
    const want = scalar(b);
    runs += want.length;
    assert.deepEqual(simd(b), want, `text ${i}: ${b.toString('base64')}`);
  }
  assert.ok(runs > 1000, `the texts held runs to compare (${runs})`);
});

test('findBase64Runs over strings finds what the byte scan finds: the same 2,000 random texts, and long runs', () => {
  const uniform = prng(0x5eed);
  const next = (): number => Math.floor(uniform() * 0x100000000);
  const alphabets = ['AAAAAAAAQQQQ+/-_09az====  \n"\\.', 'abcdef0123456789-_ ', '\x00\x80\xff\xe2\x9c\x93Zz9+/='];
  for (let i = 0; i < 2000; i++) {
    const alphabet = alphabets[i % alphabets.length] as string;
    const len = next() % 700;
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = alphabet.charCodeAt(next() % alphabet.length) & 0xFF;
    const text = b.toString('latin1');
    assert.deepEqual(findBase64Runs(text).map((r): Run => [r.start, r.end]), scalar(b), `text ${i}: ${b.toString('base64')}`);
  }
  // A run of 100,000 characters (an image), ending the text or cut by a space, with padding.
  for (const text of ['Q'.repeat(100_000), `x ${'Q'.repeat(100_000)}== y`, `${'Q'.repeat(50_000)} ${'R'.repeat(50_000)}=`]) {
    assert.deepEqual(findBase64Runs(text).map((r): Run => [r.start, r.end]), scalar(Buffer.from(text, 'latin1')));
  }
});

test('a 4 MiB chat body: the same runs, and visiting stops at the first true', () => {
  const body = cleanChatBody(4 << 20);
  const want = scalar(body);
  assert.ok(want.length > 1000);
  assert.deepEqual(simd(body), want);
  let seen = 0;
  assert.equal(someBase64RunSimd(body, () => ++seen === 10), true);
  assert.equal(seen, 10);
});

test('texts over WASM_SCAN_MAX go to the scalar loop, with the same result', () => {
  const b = Buffer.alloc(WASM_SCAN_MAX + 1, 0x20);
  b.write('QUJD'.repeat(10), WASM_SCAN_MAX - 30, 'latin1'); // a 31-byte run that ends the text
  assert.equal(someBase64RunSimd(b, () => true), null);
  const runs: Run[] = [];
  someBase64Run(b, (s, e) => { runs.push([s, e]); return false; });
  assert.deepEqual(runs, [[WASM_SCAN_MAX - 30, WASM_SCAN_MAX + 1]]);
});

test('a search started from inside a visit goes to the scalar loop and leaves the outer search intact', () => {
  const outer = Buffer.from(`${'A'.repeat(30)} x ${'B'.repeat(40)} y ${'C'.repeat(50)}`);
  const inner = Buffer.from(`${'z'.repeat(200)} ${'Q'.repeat(25)}`);
  const seen: Run[] = [];
  const innerRuns: Run[][] = [];
  const r = someBase64RunSimd(outer, (s, e) => {
    seen.push([s, e]);
    assert.equal(someBase64RunSimd(inner, () => false), null, 'nested search refused');
    const runs: Run[] = [];
    someBase64Run(inner, (a, b) => { runs.push([a, b]); return false; });
    innerRuns.push(runs);
    return false;
  });
  assert.equal(r, false);
  assert.deepEqual(seen, scalar(outer));
  assert.deepEqual(innerRuns, [scalar(inner), scalar(inner), scalar(inner)]);
  assert.deepEqual(simd(inner), scalar(inner), 'usable again afterwards');
});

test('someSubRun: pieces between slashes and hex stretches after - or _, never the whole run', () => {
  const parts = (s: string): string[] => {
    const out: string[] = [];
    someSubRun(s, 0, s.length, (a, b) => (out.push(s.slice(a, b)), false));
    return out;
  };
  const b64 = 'bm90ZXMgc3NuIDEyMy00NS02Nzg5IG9r'; // 32 characters
  const hex = '7468652073736e206973203533362d32322d38313433'; // 44 hex digits
  const cases: Array<[name: string, run: string, expected: string[]]> = [
    ['a path with a base64 segment', `/v1/files/${b64}/content`, [b64]],
    ['a path whose segments are short', '/usr/local/lib/node_modules/x', []],
    ['no slash, not hex: nothing', `x${b64}`, []],
    ['a hex stretch after a prefix', `file-${hex}`, [hex]],
    ['a hex stretch that is a path segment', `/a/${hex}`, [hex]],
    ['a hex stretch after a separator, in a path (visited as both)', `/a/id_${hex}`, [`id_${hex}`, hex]],
    ['hex digits with no separator before them: nothing', `zz${hex}`, []],
    ['the whole run is hex: nothing', hex, []],
    ['the whole run has no slash: nothing', b64, []],
  ];
  for (const [name, run, expected] of cases) assert.deepEqual(parts(run), expected, name);
  assert.equal(parts(`x${'g'.repeat(MIN_BASE64_RUN - 2)}/yy`).length, 0, 'pieces shorter than a run are skipped');
});

test('decodableRuns: a run that decodes is kept whole; one that does not gives its parts that do', () => {
  const text = `see /v1/files/${Buffer.from('a note that decodes').toString('base64url')}/content and ${Buffer.from('a whole run of text').toString('base64')}`;
  const runs = (parts: boolean): string[] => decodableRuns(text, (a, b) => (isPrintableBase64(text, a, b) ? 'base64' : null), parts).map((r) => Buffer.from(text.slice(r.start, r.end), 'base64').toString());
  assert.deepEqual(runs(true), ['a note that decodes', 'a whole run of text']);
  assert.deepEqual(runs(false), ['a whole run of text']);
});
