import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { appendFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Spool } from '../../../proxy/audit/spool.js';
import type { SpoolOptions } from '../../../proxy/audit/spool.js';
import { GENESIS_HASH, sealRecord } from '../../../proxy/audit/chain.js';
import type { ChainHead } from '../../../proxy/audit/chain.js';
import { memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

function lines(n: number, from = 1): Array<{ seq: number; line: string; hash: string }> {
  let head: ChainHead = { seq: from - 1, hash: GENESIS_HASH };
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = sealRecord(requestRecord(i), head, '2026-11-22T05:30:00.000Z', 'warden');
    head = { seq: s.record.seq, hash: s.record.hash };
    out.push({ seq: s.record.seq, line: s.line, hash: s.record.hash });
  }
  return out;
}

function options(dir: string, over: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir: join(dir, 'spool'), maxBytes: 1024 * 1024, segmentMaxRecords: 4, segmentMaxBytes: 1024 * 1024, head: { seq: 0, hash: GENESIS_HASH }, log: memoryLogger().log, ...over };
}

test('append, read in order, ack persists the cursor and deletes delivered segments', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const spool = Spool.open(options(dir));
  t.after(() => spool.close());
  assert.equal(spool.fresh, true);
  assert.equal(statSync(join(dir, 'spool')).mode & 0o777, 0o700);
  for (const l of lines(10)) assert.equal(spool.append(l.seq, 1000, l.line), true);
  assert.equal(spool.pending, 10);
  assert.deepEqual(readdirSync(join(dir, 'spool')).filter((n) => n.startsWith('seg-')), ['seg-0000000000000001.log', 'seg-0000000000000005.log', 'seg-0000000000000009.log']);
  const b1 = await spool.readBatch(3);
  assert.deepEqual(b1!.entries.map((e) => e.seq), [1, 2, 3]);
  await spool.ack(b1!);
  assert.equal(JSON.parse(readFileSync(join(dir, 'spool', 'cursor.json'), 'utf8')).delivered_seq, 3);
  const b2 = await spool.readBatch(3);
  assert.deepEqual(b2!.entries.map((e) => e.seq), [4], 'a batch does not span segments');
  await spool.ack(b2!);
  assert.equal(readdirSync(join(dir, 'spool')).includes('seg-0000000000000001.log'), false, 'delivered segment deleted');
  for (;;) {
    const b = await spool.readBatch(100);
    if (!b) break;
    await spool.ack(b);
  }
  assert.equal(spool.pending, 0);
  assert.equal(spool.bytes, 0, 'the active segment is sealed and deleted once delivered');
  assert.deepEqual(readdirSync(join(dir, 'spool')), ['cursor.json']);
});

test('full spool refuses appends without writing', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const ls = lines(5);
  const spool = Spool.open(options(dir, { maxBytes: Buffer.byteLength(ls[0]!.line) * 3 }));
  t.after(() => spool.close());
  assert.equal(spool.append(1, 0, ls[0]!.line), true);
  assert.equal(spool.append(2, 0, ls[1]!.line), true);
  const before = spool.bytes;
  assert.equal(spool.append(3, 0, ls[2]!.line), false);
  assert.equal(spool.bytes, before);
  assert.equal(spool.lastSeq, 2);
});

test('restart resumes after the cursor; a torn spool line is dropped', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const ls = lines(6);
  const s1 = Spool.open(options(dir));
  for (const l of ls) s1.append(l.seq, 0, l.line);
  const b = await s1.readBatch(2);
  await s1.ack(b!);
  await s1.close();
  const lastSeg = readdirSync(join(dir, 'spool')).filter((n) => n.startsWith('seg-')).sort().at(-1)!;
  appendFileSync(join(dir, 'spool', lastSeg), '7\t0\t{"half');
  const { log, entries } = memoryLogger();
  const s2 = Spool.open(options(dir, { log }));
  t.after(() => s2.close());
  assert.equal(s2.fresh, false);
  assert.equal(s2.deliveredSeq, 2);
  assert.equal(s2.lastSeq, 6);
  assert.deepEqual(s2.head(), { seq: 6, hash: ls[5]!.hash });
  assert.ok(entries().some((e) => String(e['msg']).includes('torn last line')));
  const next = await s2.readBatch(10);
  assert.deepEqual(next!.entries.map((e) => e.seq), [3, 4]);
});

test('a fresh spool starts after the current head: history is not sent', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const spool = Spool.open(options(dir, { head: { seq: 500, hash: 'a'.repeat(64) } }));
  t.after(() => spool.close());
  assert.equal(spool.deliveredSeq, 500);
  assert.equal(spool.pending, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, 'spool', 'cursor.json'), 'utf8')).delivered_seq, 500);
});
