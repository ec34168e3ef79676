import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { GENESIS_HASH, chainViewOf, parseLine, recomputeHash, sealRecord } from '../../../proxy/audit/chain.js';
import type { ChainHead } from '../../../proxy/audit/chain.js';
import { requestRecord } from './audit-fixtures.js';

const T = '2026-11-22T05:30:00.000Z';

test('sealRecord: first record links to genesis, seq 1', () => {
  const { record, line } = sealRecord(requestRecord(1), { seq: 0, hash: GENESIS_HASH }, T, 'warden');
  assert.equal(record.seq, 1);
  assert.equal(record.prev, GENESIS_HASH);
  assert.equal(record.time, T);
  assert.match(record.hash, /^[0-9a-f]{64}$/);
  assert.ok(line.endsWith('\n'));
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  assert.deepEqual(JSON.parse(line), record);
});

test('sealRecord: hash is SHA-256 of the hand-written canonical form', () => {
  const { record } = sealRecord({ event: 'config', id: 'c1', agent: null, profile: null, detail: { outcome: 'ok' } }, { seq: 41, hash: 'a'.repeat(64) }, T, 'warden');
  // Written out by hand, as a verifier in another language would build it.
  const canonical = `{"agent":null,"detail":{"outcome":"ok"},"event":"config","id":"c1","prev":"${'a'.repeat(64)}","profile":null,"seq":42,"time":"${T}"}`;
  assert.equal(record.hash, createHash('sha256').update(canonical).digest('hex'));
});

test('sealRecord: chain fields in the input are overwritten, not trusted', () => {
  const forged = { ...requestRecord(1), seq: 999, prev: 'f'.repeat(64), hash: 'e'.repeat(64), time: 'yesterday' };
  const { record } = sealRecord(forged, { seq: 4, hash: 'b'.repeat(64) }, T, 'warden');
  assert.equal(record.seq, 5);
  assert.equal(record.prev, 'b'.repeat(64));
  assert.equal(record.time, T);
  assert.notEqual(record.hash, 'e'.repeat(64));
});

test('sealRecord: a chain of records links prev to hash', () => {
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  const lines: string[] = [];
  for (let i = 0; i < 5; i++) {
    const s = sealRecord(requestRecord(i), head, T, 'warden');
    head = { seq: s.record.seq, hash: s.record.hash };
    lines.push(s.line.slice(0, -1));
  }
  let prev = GENESIS_HASH;
  lines.forEach((l, i) => {
    const v = parseLine(l);
    assert.ok(typeof v !== 'string');
    assert.equal(v.seq, i + 1);
    assert.equal(v.prev, prev);
    assert.equal(recomputeHash(v), v.hash);
    prev = v.hash;
  });
});

test('sealRecord: changing any field changes the hash', () => {
  const head = { seq: 0, hash: GENESIS_HASH };
  const a = sealRecord(requestRecord(1), head, T, 'warden').record.hash;
  const b = sealRecord({ ...requestRecord(1), status: 201 }, head, T, 'warden').record.hash;
  const c = sealRecord(requestRecord(1), head, '2026-11-22T05:30:00.001Z', 'warden').record.hash;
  assert.notEqual(a, b);
  assert.notEqual(a, c);
});

test('sealRecord ocsf: chain fields live in unmapped and the hash verifies', () => {
  const { line, record } = sealRecord(requestRecord(3), { seq: 9, hash: 'c'.repeat(64) }, T, 'ocsf');
  const obj = JSON.parse(line) as { class_uid: number; unmapped: Record<string, unknown> };
  assert.equal(obj.class_uid, 4002);
  assert.equal(obj.unmapped['seq'], 10);
  assert.equal(obj.unmapped['hash'], record.hash);
  const v = chainViewOf(obj);
  assert.ok(typeof v !== 'string');
  assert.equal(v.format, 'ocsf');
  assert.equal(recomputeHash(v), v.hash);
  // Tampering with the OCSF projection (not only unmapped) breaks the hash.
  (obj as Record<string, unknown>)['status_code'] = '500';
  const v2 = chainViewOf(obj);
  assert.ok(typeof v2 !== 'string');
  assert.notEqual(recomputeHash(v2), v2.hash);
});

const badLines: Array<[name: string, line: string, message: RegExp]> = [
  ['not JSON', '{"seq":1,', /not valid JSON/],
  ['array', '[1,2]', /not a JSON object/],
  ['no seq', `{"prev":"${'0'.repeat(64)}","hash":"${'0'.repeat(64)}"}`, /seq/],
  ['seq 0', `{"seq":0,"prev":"${'0'.repeat(64)}","hash":"${'0'.repeat(64)}"}`, /seq/],
  ['short prev', `{"seq":1,"prev":"00","hash":"${'0'.repeat(64)}"}`, /prev/],
  ['uppercase hash', `{"seq":1,"prev":"${'0'.repeat(64)}","hash":"${'A'.repeat(64)}"}`, /hash/],
  ['ocsf without unmapped', '{"class_uid":4002}', /unmapped/],
];
for (const [name, line, message] of badLines) {
  test(`parseLine rejects ${name}`, () => {
    const v = parseLine(line);
    assert.equal(typeof v, 'string');
    assert.match(v as string, message);
  });
}
