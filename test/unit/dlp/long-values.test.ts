/**
 * Values that run on past the 512 characters a pattern reads (session 16): the validators follow
 * them to their end (secrets.ts wholeValue) and the matcher's filters judge their first 512
 * characters. Before, each candidate in a long run re-read the rest of the run twice, in
 * wholeValue and in the placeholder/entropy filters (256 KiB of `password=…password=…`: 2.6 s on
 * the event loop; 1 MiB: 41 s), and a placeholder-shaped tail (`xxxxxx`) 512 characters in
 * hid the whole value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { ASSIGNED_VALUE_CHAR, MAX_VALUE_CHARS, wholeValue } from '../../../proxy/dlp/validators/secrets.js';
import type { ValidatorInput } from '../../../proxy/dlp/validators/types.js';
import { policy, prng, request } from './inspect-helpers.js';

const real = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: real.packNames });
const engine = createDlpEngine(real);

function randomToken(seed: number, n: number): string {
  const r = prng(seed);
  const cs = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let s = '';
  for (let i = 0; i < n; i++) s += cs[Math.floor(r() * cs.length)];
  return s;
}

test('a long secret with a placeholder-shaped tail past 512 characters is still found, and redacted whole', () => {
  const secret = randomToken(7, 600) + 'xxxxxx';
  const text = `export DB_PASSWORD=${secret}\necho done\n`;
  const res = engine.inspect(request(text, { 'content-type': 'text/plain' }), pol);
  assert.equal(res.decision, 'redact');
  const out = res.body?.toString('utf8') ?? '';
  assert.ok(!out.includes(secret.slice(0, 40)) && !out.includes(secret.slice(-40)), 'no part of the value is left');
  assert.ok(out.endsWith('\necho done\n'));
});

/** A RegExp that counts its `test` calls. */
class CountingRegExp extends RegExp {
  calls = 0;
  override test(s: string): boolean {
    this.calls++;
    return super.test(s);
  }
}

function input(text: string, start: number, end: number): ValidatorInput {
  return { text, start, end, value: text.slice(start, end), groups: [], matchStart: start, key: null, hasContext: false };
}

test('wholeValue reads each character of a long run about once, however many candidates start in it', () => {
  const unit = 'password=Xk9mP2vLq7';
  const text = unit.repeat(Math.ceil((64 * 1024) / unit.length)) + ' tail';
  const runEnd = text.length - ' tail'.length;
  const re = new CountingRegExp(ASSIGNED_VALUE_CHAR.source);
  // Candidates as the pattern yields them: 512 characters each, one after another.
  for (let s = 9; s + 512 < runEnd; s += 521) {
    const v = wholeValue(input(text, s, s + 512), re, {});
    assert.equal(v?.end, runEnd, `candidate at ${s} ends where the run does`);
  }
  assert.ok(re.calls < 2 * text.length, `${re.calls} character tests for ${text.length} characters`);
});

test('wholeValue: the same ends as following each value alone (other texts, runs and the 1 MiB cap in between)', () => {
  const naive = (c: ValidatorInput, valueChar: RegExp): number => {
    let end = c.end;
    while (end < c.text.length && end - c.start < MAX_VALUE_CHARS && valueChar.test(c.text[end] as string)) end++;
    return end;
  };
  const r = prng(3);
  const texts = [0, 1, 2].map((i) => {
    let t = '';
    while (t.length < 4000) t += r() < 0.03 ? ' ' : randomToken(i * 1000 + t.length, 1 + Math.floor(r() * 40));
    return t;
  });
  const other = /[A-Za-z]/;
  for (let i = 0; i < 3000; i++) {
    const text = texts[Math.floor(r() * texts.length)]!;
    const start = Math.floor(r() * (text.length - 20));
    const end = start + 1 + Math.floor(r() * 15);
    const re = r() < 0.8 ? ASSIGNED_VALUE_CHAR : other;
    const c = input(text, start, end);
    const got = wholeValue(c, re, {});
    const expected = re.test(text[end] ?? ' ') ? naive(c, re) : undefined;
    assert.equal(got?.end, expected, `text ${texts.indexOf(text)}, [${start}, ${end})`);
  }
  // Past the cap: blocked, at the cap.
  const long = 'k=' + 'a'.repeat(MAX_VALUE_CHARS + 10);
  assert.deepEqual(wholeValue(input(long, 2, 20), ASSIGNED_VALUE_CHAR, {}), { end: 2 + MAX_VALUE_CHARS, action: 'block' });
});
