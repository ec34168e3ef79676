/**
 * Base64 runs shorter than MIN_BASE64_RUN (red team, session 14, F9): read where they are
 * plausibly base64 (padded, the whole of a value, or in running text shaped like base64 of
 * digits: SHORT_BARE_PREFILTER), never from ordinary words and identifiers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWholeShortRun, shortBareRuns, shortPaddedRuns } from '../../../proxy/dlp/decode-base64.js';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import { policy, prng, request } from './inspect-helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unpadded = (s: string): string => b64(s).replace(/=+$/, '');

const runs: Array<[string, string, string[]]> = [
  // name, text, runs read
  ['a padded run in YAML', `ssn: ${b64('536-22-8143')}\n`, [b64('536-22-8143')]],
  ['`==` padding', `v=${b64('hello')} `, [b64('hello')]],
  ['URL-safe alphabet', `"${Buffer.from('a?>b').toString('base64url')}=="`, ['YT8-Yg==']],
  ['a word before `==` (unused bits set)', 'if (userName== null)', []],
  // `binding=` decodes to `n)݊x`, valid UTF-8: read, and nothing is found in it (the FP table below).
  ['words before `=`: read when they decode to UTF-8', 'x.binding= 1; x.enabled= 0', ['binding=']],
  ['padding that makes no multiple of 4', 'abcdefg= ', []],
  ['three `=`', `${b64('hello')}= `, []],
  ['glued to more alphabet after the padding', `${b64('hello')}x`, []],
  ['a run of 24 or more (findBase64Runs reads it)', `${b64('a longer text than that')}`, []],
  ['shorter than 8 with its padding', `${b64('abc')} ${b64('ab')}`, []],
];
for (const [name, text, want] of runs) {
  test(`shortPaddedRuns: ${name}`, () => {
    assert.deepEqual(shortPaddedRuns(text).map((r) => text.slice(r.start, r.end)), want);
  });
}

const wholes: Array<[string, boolean]> = [
  [unpadded('536-22-8143'), true],
  [unpadded('hello world'), true],
  ['Password1', false], // 9 characters: no base64 text has that length
  ['userName', false], // decodes to bytes over 0x7E
  ['camelCaseNameX', false],
  ['deadbeefcafe0123', false],
  ['0123456789abcdef', false],
  ['ABCDEFGHIJKL', false],
  ['f47ac10b', false],
];
test('isWholeShortRun: short values that are base64 of text, and words that are not', () => {
  for (const [text, want] of wholes) assert.equal(isWholeShortRun(text, 0, text.length), want, text);
  // The same value with its last character's unused bits set is not what an encoder writes.
  const v = unpadded('536-22-8143');
  const off = v.slice(0, -1) + String.fromCharCode(v.charCodeAt(v.length - 1) + 1);
  assert.equal(isWholeShortRun(off, 0, off.length), false);
});

const bare: Array<[string, string, string[]]> = [
  // name, text, runs read
  ['an SSN in prose', `the ssn is ${unpadded('536-22-8143')} ok`, [unpadded('536-22-8143')]],
  ['a card number after a colon', `card:${unpadded('4556737586899855')}.`, [unpadded('4556737586899855')]],
  ['a phone number in quotes', `"${unpadded('(415) 555-0100')}"`, [unpadded('(415) 555-0100')]],
  ['letters (not the shape: not read)', `mail ${unpadded('jo@example.com')} ok`, []],
  ['glued to more alphabet before', `x${unpadded('536-22-8143')} ok`, []],
  ['followed by `=` (the padded rule reads those)', `${unpadded('536-22-8143')}=`, []],
  ['words of the shape', 'MS-DOS IS_POSSIBLE JSONLDecoder NSString ISNONTERMINAL MSGFMT_EXE', []],
  ['a length no base64 text has (9)', `${unpadded('536-22-8143').slice(0, 9)} x`, []],
  ['unused bits set', `${unpadded('536-22-8143').slice(0, -1)}N x`, []],
  ['a run of 24 or more (findBase64Runs reads it)', `${unpadded('536-22-8143 and 4556')} x`, []],
];
for (const [name, text, want] of bare) {
  test(`shortBareRuns: ${name}`, () => {
    assert.deepEqual(shortBareRuns(text).map((r) => text.slice(r.start, r.end)), want);
  });
}

const detectors = compileDetectors({ honeytokens: [{ id: 'ht', value: 'WARDEN-CANARY-5e1d0b77', sha256: null }], fingerprintKey: Buffer.from('unit-test-key') });
const pol = policy({ packs: detectors.packNames });
const engines = [['default engine', createDlpEngine(detectors)], ['full path', createDlpEngine(detectors, { fastPath: false })]] as const;

const misses: Array<[string, string, string, string, string[]]> = [
  // name, body, content type, decision, findings (type:action)
  ['a Kubernetes Secret with a base64 SSN', `apiVersion: v1\nkind: Secret\ndata:\n  ssn: ${b64('536-22-8143')}\n  user: ${b64('admin')}\n`, 'application/yaml', 'block', ['us_ssn:block']],
  ['a card number base64d in a chat message', JSON.stringify({ messages: [{ role: 'user', content: `card ${b64('4556737586899855')} thanks` }] }), 'application/json', 'block', ['credit_card:block']],
  ['an SSN base64d without padding, a whole JSON value', JSON.stringify({ ssn: unpadded('536-22-8143') }), 'application/json', 'block', ['us_ssn:block']],
  ['an SSN base64d without padding in tool-call arguments', JSON.stringify({ messages: [{ role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: JSON.stringify({ v: unpadded('536-22-8143') }) } }] }] }), 'application/json', 'block', ['us_ssn:block']],
  ['an SSN base64d without padding in prose', JSON.stringify({ messages: [{ role: 'user', content: `the ssn is ${unpadded('536-22-8143')} ok` }] }), 'application/json', 'block', ['us_ssn:block']],
  ['a card number base64d without padding in prose', JSON.stringify({ messages: [{ role: 'user', content: `pay with ${unpadded('4556737586899855')}, thanks` }] }), 'application/json', 'block', ['credit_card:block']],
  ['an ITIN base64d without padding in a text body', `itin ${unpadded('912-70-1234')}\n`, 'text/plain', 'block', ['us_itin:block']],
  ['an email base64d in a form value', `note=${encodeURIComponent(b64('jo@example.com'))}`, 'application/x-www-form-urlencoded', 'block', ['email:block']],
];
for (const [name, body, ct, decision, findings] of misses) {
  for (const [ename, engine] of engines) {
    test(`short base64 (${ename}): ${name}`, () => {
      const r = engine.inspect(request(body, { 'content-type': ct }), pol);
      // A value decoded from base64 cannot be rewritten in place: redact becomes block.
      assert.equal(r.decision, decision);
      assert.deepEqual(r.findings.map((f) => `${f.type}:${f.action}`), findings);
    });
  }
}

test('mightMatch (the fast path\'s pass) is true wherever shortBareRuns reads a run, also inside a JSON string', () => {
  const noPacks = ['no-such-pack'];
  const rand = prng(5);
  const printable = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(0x20 + Math.floor(rand() * 95))).join('');
  let read = 0;
  for (let n = 0; n < 3000; n++) {
    const run = unpadded(printable(6 + Math.floor(rand() * 12)));
    const text = `${printable(Math.floor(rand() * 4))} ${run}${printable(Math.floor(rand() * 4))}`;
    if (shortBareRuns(text).length === 0) continue;
    read++;
    assert.equal(detectors.mightMatch(Buffer.from(JSON.stringify({ content: text })), noPacks), true, text);
  }
  assert.ok(read > 20, `${read} read`);
});

test('shortBareRuns is one pass: 4 MiB of runs of the shape in well under a second', () => {
  const text = `${unpadded('1234567890')} `.repeat(1 << 18);
  const t0 = performance.now();
  assert.equal(shortBareRuns(text).length, 1 << 18);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
  // Through the engine: one prefilter pass per distinct run, not per run.
  const t1 = performance.now();
  assert.equal(createDlpEngine(detectors, { fastPath: false }).inspect(request(text, { 'content-type': 'text/plain' }), pol).decision, 'allow');
  assert.ok(performance.now() - t1 < 3000, `${(performance.now() - t1).toFixed(0)} ms`);
});
