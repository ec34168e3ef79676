/**
 * looksRandom, and the detectors' partitioned RE2.Set pass it selects: random-looking input (a
 * base64 image) is matched by three sets instead of one, and must yield exactly what the one set
 * would. Every example of every pack is planted in random base64 (which takes the partition) and
 * must still be found; the same in prose (which takes the one set) as a control.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../../proxy/paths.js';
import { compileDetectors, loadPacks, readPackSources } from '../../../proxy/dlp/detectors.js';
import { looksRandom, RANDOM_MIN_BYTES } from '../../../proxy/dlp/random-text.js';
import { cleanChatBody, prng } from './inspect-helpers.js';

const KiB = 1024;

function randomBytes(n: number, seed: number): Buffer {
  const rand = prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
function fromAlphabet(n: number, alphabet: string, seed: number): Buffer {
  const rand = prng(seed);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return Buffer.from(s);
}
/** Words of `min`–`max` characters from `alphabet`, each followed by a separator from `seps`. */
function words(n: number, alphabet: string, min: number, max: number, seps: string, seed: number): Buffer {
  const rand = prng(seed);
  let s = '';
  while (s.length < n) {
    const len = min + Math.floor(rand() * (max - min + 1));
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    s += seps[Math.floor(rand() * seps.length)];
  }
  return Buffer.from(s.slice(0, n));
}
/** This project's own text, repeated to `n` bytes: TypeScript and Markdown prose. */
function ownText(n: number, dir: string, ext: string): Buffer {
  let t = '';
  for (const f of readdirSync(join(ROOT, dir)).sort()) if (f.endsWith(ext)) t += readFileSync(join(ROOT, dir, f), 'latin1');
  while (t.length < n) t += t;
  return Buffer.from(t.slice(0, n), 'latin1');
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE36 = 'abcdefghijklmnopqrstuvwxyz0123456789';
let printable = '';
for (let c = 0x21; c < 0x7f; c++) printable += String.fromCharCode(c);
const prose = Buffer.from('The build failed because the cache key changed; rerun it with the old lockfile and compare. '.repeat(2000));
const image = randomBytes(300 * KiB, 1);
const visionBody = Buffer.from(JSON.stringify({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: [
    { type: 'text', text: 'What is in this picture?' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${image.toString('base64')}` } },
  ] }],
}));
const CJK = Buffer.from('数据防泄漏代理检查每个出站请求并记录每个决定到审计流中'.repeat(2000));

const cases: Array<[string, Buffer, boolean]> = [
  ['random base64', Buffer.from(randomBytes(200 * KiB, 2).toString('base64')), true],
  ['random base64url', Buffer.from(randomBytes(200 * KiB, 3).toString('base64url')), true],
  ['random printable ASCII', fromAlphabet(200 * KiB, printable, 4), true],
  ['random printable ASCII with a space in 20', fromAlphabet(200 * KiB, printable + ' '.repeat(5), 5), true],
  ['a chat request holding a base64 image', visionBody, true],
  // Red team 4: one set ran ~120–150 ms per MiB over these, three ~15–20.
  ['random alphanumeric words between spaces', words(200 * KiB, ALNUM, 3, 16, ' ', 11), true],
  ['random alphanumeric lines', words(200 * KiB, ALNUM, 8, 40, '\n', 12), true],
  ['lower-case base36 words (Math.random().toString(36))', words(200 * KiB, BASE36, 10, 11, ' ', 13), true],
  ['upper-case base36 words between spaces and tabs', words(200 * KiB, BASE36.toUpperCase(), 10, 11, ' \t', 14), true],
  ['hex words (digests, ids)', words(200 * KiB, '0123456789abcdef', 8, 40, ' \n', 15), false],
  ['English words', words(200 * KiB, 'etaoinshrdlu', 2, 9, ' ', 16), false],
  ["Warden's TypeScript source", ownText(400 * KiB, 'proxy/dlp', '.ts'), false],
  ["Warden's Markdown", ownText(400 * KiB, '.', '.md'), false],
  ['prose', prose, false],
  ['clean chat JSON (code, UUIDs, digests)', cleanChatBody(400 * KiB), false],
  ['clean chat JSON with git SHAs', cleanChatBody(400 * KiB, 2, true), false],
  ['random hex', Buffer.from(randomBytes(100 * KiB, 6).toString('hex')), false],
  ['digits', fromAlphabet(200 * KiB, '0123456789', 7), false],
  ['random binary', randomBytes(200 * KiB, 8), false],
  ['CJK prose', CJK, false],
  // JSON.stringify's output, no whitespace: 17+ distinct bytes a window, but structure. Taken
  // for random it ran three sets (~3× the one's cost here) and lost the fast path.
  ['JSON records with no whitespace', Buffer.from(JSON.stringify(Array.from({ length: 6000 }, (_, i) => ({ id: `r${i}`, n: i, ok: i % 2 === 0 })))), false],
  ['a JSON array of random ids', Buffer.from(JSON.stringify(Array.from({ length: 12000 }, (_, i) => randomBytes(9, 100 + i).toString('base64url')))), false],
  ['JSON with no whitespace holding a base64 image', Buffer.from(JSON.stringify({ model: 'm', image: image.toString('base64'), meta: { id: 'x1', n: 2 } })), true],
  ['random base64 under the minimum length', Buffer.from(randomBytes(RANDOM_MIN_BYTES / 2, 9).toString('base64')).subarray(0, RANDOM_MIN_BYTES - 1), false],
];
for (const [name, buf, expected] of cases) {
  test(`looksRandom: ${name}`, () => assert.equal(looksRandom(buf), expected));
}

// Every pattern's examples, planted in random base64 (partitioned sets) and in prose (one set).
const d = compileDetectors({
  honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }],
  fingerprintKey: Buffer.from('unit-test-key'),
});
const patterns = loadPacks(readPackSources()).packs.flatMap((p) => p.patterns);
const noise = randomBytes(96 * KiB, 10).toString('base64');
const contexts: Array<[string, string, boolean]> = [
  ['random base64', noise, true],
  ['prose', prose.toString('latin1').slice(0, noise.length), false],
];
for (const [ctxName, ctx, partitioned] of contexts) {
  test(`every example of every pack is found in ${ctxName} (${partitioned ? 'partitioned sets' : 'one set'})`, () => {
    const missed: string[] = [];
    let n = 0;
    for (const p of patterns) {
      p.examples.match.forEach((e, i) => {
        if (typeof e !== 'string' && e.key !== undefined) return; // a key view: no context to plant it in
        const text = typeof e === 'string' ? e : e.text;
        const half = ctx.length >> 1;
        const planted = `${ctx.slice(0, half)}\n${text}\n${ctx.slice(half)}`;
        assert.equal(looksRandom(Buffer.from(planted)), partitioned);
        if (!d.mightMatch(Buffer.from(planted), null)) missed.push(`${p.id}[${i}] (mightMatch)`);
        if (!d.scan({ text: planted, where: 'body', key: null }, null).some((m) => m.type === p.type)) missed.push(`${p.id}[${i}]`);
        n++;
      });
    }
    assert.ok(n > 100, `only ${n} examples planted`);
    assert.deepEqual(missed, []);
  });
}

test('a honeytoken literal in random base64 is found', () => {
  const planted = `${noise.slice(0, 5000)} WARDEN-CANARY-5e1d0b77 ${noise.slice(5000)}`;
  assert.ok(looksRandom(Buffer.from(planted)));
  assert.ok(d.scan({ text: planted, where: 'body', key: null }, null).some((m) => m.type === 'honeytoken'));
});
