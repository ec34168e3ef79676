/**
 * Honeytokens configured by `sha256`: the contract's whole tokens, and the runs of pieces inside
 * a token (README, Honeytokens), through scan(), mightMatch() and the whole inspection (header,
 * path, body; fast path and full path alike). Canaries are made up; test names never contain
 * them, and assertions on a finding's value do not print it.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../../proxy/dlp/inspect.js';
import type { InspectRequest } from '../../../proxy/dlp/types.js';
import { cleanChatBody, policy, request } from './inspect-helpers.js';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** A canary of letters and digits, one with the six token punctuation marks in it, a UUID, and one ending in base64 padding. */
const CANARY = 'cnryZq8RvT3mWx9Lp2Ks';
const PUNCT = 'cnry=Zq8R/vT3+mWx.9L_p-2Ks';
const UUID = '8c1f2a7e-41b0-4c9d-9e3a-5f6b7c8d9e0f';
const PADDED = 'Y2FuYXJ5LXBhZGRlZC12YWx1ZQ==';
/** Another canary: texts holding its first characters must not match it. */
const OTHER = 'cnryZq8RvT3mQQ7YtUe1';

const d = compileDetectors({
  honeytokens: [
    { id: 'plain', value: null, sha256: sha256(CANARY) },
    { id: 'punct', value: null, sha256: sha256(PUNCT) },
    { id: 'uuid', value: null, sha256: sha256(UUID) },
    { id: 'padded', value: null, sha256: sha256(PADDED) },
    { id: 'other', value: null, sha256: sha256(OTHER) },
  ],
  fingerprintKey: Buffer.from('unit-test-key'),
});

/** [name, text, the canary the finding must cover exactly (null: no honeytoken finding)]. */
const cases: Array<[string, string, string | null]> = [
  // The contract: whole tokens, split at whitespace and punctuation other than -_.+/=.
  ['a whole token', `token ${CANARY} end`, CANARY],
  ['a whole token holding - _ . + / = itself', `note: ${PUNCT}; end`, PUNCT],
  ['a UUID canary as a whole token', `"request_id": "${UUID}"`, UUID],
  // Extended: runs of pieces inside a token.
  ['after = (a cookie)', `sid=${CANARY}`, CANARY],
  ['after / (a path)', `/v1/files/${CANARY}`, CANARY],
  ['after a deeper path', `/v1/projects/p-1/files/${CANARY}`, CANARY],
  ['before a final period', `token ${CANARY}.`, CANARY],
  ['between a path and one piece after it', `/v1/files/${CANARY}/content`, CANARY],
  ['deep in a path, one piece after it', `/a1/b2/c3/d4/e5/f6/g7/h8/i9/j0/k1/${CANARY}/content`, CANARY],
  ['after a non-ASCII character', `é${CANARY}`, CANARY],
  ['between non-ASCII characters', `«${CANARY}»`, CANARY],
  ['after - (an id prefix)', `file-${CANARY}`, CANARY],
  ['after _', `x_${CANARY}`, CANARY],
  ['after +', `a+${CANARY}`, CANARY],
  ['after = with = padding kept', `k=${PADDED}`, PADDED],
  ['with = padding, before a period', `k=${PADDED}.`, PADDED],
  ['a canary holding punctuation, after =', `x=${PUNCT}`, PUNCT],
  ['a UUID canary after a key', `request_id=${UUID}`, UUID],
  ['a UUID canary after a key and before a period', `request_id=${UUID}.`, UUID],
  // Not canaries.
  ['glued to letters: another token', `x${CANARY}`, null],
  ['with a suffix: another token', `${CANARY}x`, null],
  ['with a suffix after =', `sid=${CANARY}2`, null],
  ['one character short after =', `sid=${CANARY.slice(0, -1)}`, null],
  ['another canary\'s prefix and more pieces', `sid=${OTHER.slice(0, 12)}-${CANARY.slice(12)}`, null],
  ['another canary\'s prefix cut by a separator', `/v1/files/${OTHER.slice(0, 12)}.x`, null],
  ['a canary cut in two by a separator', `${CANARY.slice(0, 10)}-${CANARY.slice(10)}`, null],
  ['part of a canary that holds punctuation', `x=${PUNCT.slice(5)}`, null],
  ['a UUID canary missing its first group', `request_id=${UUID.slice(9)}`, null],
  // Bounds (honeytokens.ts): whole tokens only past 256 bytes; one piece of context after.
  ['glued to a token longer than 256 bytes', `${'ab/'.repeat(90)}${CANARY}`, null],
  ['two pieces after it', `/v1/files/${CANARY}/content/raw`, null],
];

for (const [name, text, canary] of cases) {
  test(`sha256 honeytoken: ${name}`, () => {
    const hits = d.scan({ text, where: 'body', key: null }, null).filter((m) => m.type === 'honeytoken');
    if (canary === null) {
      assert.equal(hits.length, 0, 'no honeytoken finding');
    } else {
      assert.equal(hits.length, 1, 'one honeytoken finding');
      assert.ok(hits[0]?.value === canary, 'the finding covers exactly the canary');
      assert.equal(text.slice(hits[0]?.start, hits[0]?.end).length, canary.length);
    }
    // The fast path's check sees what scan sees (no pack: digests only).
    assert.equal(d.mightMatch(Buffer.from(text, 'utf8'), []), canary !== null, 'mightMatch agrees with scan');
  });
}

test('sha256 honeytoken: every occurrence of a glued canary is reported, once each', () => {
  const text = `sid=${CANARY} and again sid=${CANARY}; /f/${CANARY}`;
  const hits = d.scan({ text, where: 'body', key: null }, null).filter((m) => m.type === 'honeytoken');
  assert.deepEqual(hits.map((m) => m.honeytokenId), ['plain', 'plain', 'plain']);
  const at = (from: number): number => text.indexOf(CANARY, from);
  assert.deepEqual(hits.map((m) => m.start), [at(0), at(at(0) + 1), at(at(at(0) + 1) + 1)]);
});

// Through the whole inspection: a credential header (checked for honeytokens only), the path,
// the body; fast path (default) and full path must both block.
const engines = [createDlpEngine(d), createDlpEngine(d, { fastPath: false, groupPrefilter: false })];
const inspected: Array<[string, InspectRequest]> = [
  ['a cookie', { ...request('{}', { cookie: `sid=${CANARY}` }), skipHeaders: ['cookie'] }],
  ['a path segment', request('{}', {}, `/v1/files/${CANARY}`)],
  ['a chat body, before a period', request(JSON.stringify({ messages: [{ role: 'user', content: `token ${CANARY}.` }] }))],
  ['a chat body, after a non-ASCII letter', request(JSON.stringify({ messages: [{ role: 'user', content: `voilà: é${CANARY}` }] }))],
  ['a large clean chat body with one glued canary', request(cleanChatBody(64 * 1024).toString('utf8').replace('touched src/', `touched sid=${CANARY} src/`))],
];
for (const [name, req] of inspected) {
  test(`sha256 honeytoken in ${name} blocks (fast and full path)`, () => {
    for (const engine of engines) {
      const r = engine.inspect(req, policy({ packs: d.packNames }));
      assert.equal(r.decision, 'block');
      assert.equal(r.reason, 'honeytoken');
      assert.deepEqual(r.honeytokenIds, ['plain']);
    }
  });
}

test('sha256 honeytokens configured: a clean chat body is still allowed', () => {
  for (const engine of engines) {
    const r = engine.inspect(request(cleanChatBody(64 * 1024)), policy({ packs: d.packNames }));
    assert.equal(r.decision, 'allow');
    assert.deepEqual(r.findings, []);
  }
});

test('a literal honeytoken is found encoded, whatever the text around it: base64 at each offset (standard, URL-safe, too short to be decoded), hex', () => {
  // A 17-byte canary base64-encoded is a 24-character run (23 with padding off), under the
  // 18-byte minimum of a decoded run: `Authorization: Basic <base64 of it>` went through.
  const SHORT = 'canaryDocXyz-2024';
  const det = compileDetectors({ honeytokens: [{ id: 'short', value: SHORT, sha256: null }, { id: 'other', value: OTHER, sha256: null }], fingerprintKey: Buffer.from('k') });
  const engine = createDlpEngine(det);
  const b64 = (s: string, url = false): string => Buffer.from(s).toString(url ? 'base64url' : 'base64');
  const hex = (s: string): string => Buffer.from(s).toString('hex');
  const cases: Array<[name: string, req: InspectRequest, found: boolean]> = [
    ['Basic credential, the canary alone', { ...request('{}'), headers: { authorization: `Basic ${b64(SHORT)}` }, skipHeaders: ['authorization'] }, true],
    ['Basic credential, user:canary', { ...request('{}'), headers: { authorization: `Basic ${b64(`u:${SHORT}`)}` }, skipHeaders: ['authorization'] }, true],
    ['base64 after one byte, in a body', request(JSON.stringify({ a: `see ${b64(`x${SHORT}`)} ok` })), true],
    ['base64 after two bytes, URL-safe, in a path', request('{}', {}, `/v1/files/${b64(`xy${SHORT}?>`, true)}`), true],
    ['base64 glued to a prefix that misaligns the run', request('{}', { 'x-note': `x-${b64(SHORT)}` }), true],
    ['hex, upper case, in a query value', request('{}', {}, `/v1/x?q=${hex(SHORT).toUpperCase()}`), true],
    ['another value encoded is not this one', request(JSON.stringify({ a: b64('canaryDocXyZ-2024') })), false],
  ];
  for (const [name, req, found] of cases) {
    const r = engine.inspect(req, policy({ packs: [] }));
    assert.equal(r.findings.some((f) => f.type === 'honeytoken'), found, name);
    if (found) assert.equal(r.decision, 'block', name);
  }
});
