import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listStreamFiles, parseRotatedName, rotatedPath } from '../../../proxy/audit/files.js';
import { readTail } from '../../../proxy/audit/tail.js';
import { GENESIS_HASH, sealRecord } from '../../../proxy/audit/chain.js';
import type { ChainHead } from '../../../proxy/audit/chain.js';
import { requestRecord, tempDir } from './audit-fixtures.js';

test('rotatedPath: first seq zero-padded, then the UTC time to the millisecond', () => {
  const p = rotatedPath('/var/log/warden/audit.jsonl', 5001, new Date('2026-11-22T05:30:00.123Z'));
  assert.equal(p, '/var/log/warden/audit.jsonl.000000005001.20261122T053000123Z');
  assert.deepEqual(parseRotatedName('audit.jsonl.000000005001.20261122T053000123Z'), { base: 'audit.jsonl', firstSeq: 5001, stamp: '20261122T053000123Z' });
  assert.equal(parseRotatedName('audit.jsonl'), null);
  assert.equal(parseRotatedName('audit.jsonl.5001.20261122T053000123Z'), null, 'seq must be padded');
});

test('rotation order follows seq even when the clock went backwards; the active file is last', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const active = join(dir, 'audit.jsonl');
  const names = [
    rotatedPath(active, 2001, new Date('2026-01-01T00:00:00Z')), // clock stepped back
    rotatedPath(active, 1, new Date('2026-06-01T00:00:00Z')),
    rotatedPath(active, 1000000000000, new Date('2026-06-03T00:00:00Z')), // wider than 12 digits
    rotatedPath(active, 1001, new Date('2026-06-02T00:00:00Z')),
  ];
  for (const n of names) writeFileSync(n, '');
  writeFileSync(active, '');
  writeFileSync(join(dir, 'other.jsonl.000000000001.20260101T000000000Z'), '');
  assert.deepEqual(listStreamFiles(active), [names[1], names[3], names[0], names[2], active]);
});

function records(n: number): string {
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let out = '';
  for (let i = 0; i < n; i++) {
    const s = sealRecord(requestRecord(i), head, '2026-11-22T05:30:00.000Z', 'warden');
    head = { seq: s.record.seq, hash: s.record.hash };
    out += s.line;
  }
  return out;
}

test('readTail: last whole record, first record, torn tail, bad tail lines', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const f = join(dir, 'a.jsonl');
  assert.equal(readTail(f), null);
  writeFileSync(f, '');
  assert.deepEqual(readTail(f), { size: 0, wholeBytes: 0, torn: false, last: null, badTailLines: 0, first: null });
  const body = records(200); // ~190 KB: more than the 64 KiB window
  writeFileSync(f, body);
  let tail = readTail(f)!;
  assert.equal(tail.last!.seq, 200);
  assert.equal(tail.first!.seq, 1);
  assert.equal(tail.torn, false);
  writeFileSync(f, body + '{"agent":"x","by');
  tail = readTail(f)!;
  assert.equal(tail.torn, true);
  assert.equal(tail.wholeBytes, Buffer.byteLength(body));
  assert.equal(tail.last!.seq, 200);
  writeFileSync(f, body + 'garbage\nmore garbage\n');
  tail = readTail(f)!;
  assert.equal(tail.last!.seq, 200);
  assert.equal(tail.badTailLines, 2);
  writeFileSync(f, 'x'.repeat(200_000)); // one torn line longer than the window, no record
  tail = readTail(f)!;
  assert.equal(tail.last, null);
  assert.equal(tail.torn, true);
});
