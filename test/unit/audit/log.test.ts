import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { appendFileSync, existsSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MemorySink, openAuditLog } from '../../../proxy/audit/log.js';
import type { AuditSink } from '../../../proxy/audit/log.js';
import { listStreamFiles, rotatedPath } from '../../../proxy/audit/files.js';
import { GENESIS_HASH } from '../../../proxy/audit/chain.js';
import { verifyAuditFiles } from '../../../proxy/audit/verify.js';
import type { AuditRecord } from '../../../proxy/audit/events.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

function fileRecords(path: string): AuditRecord[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
}

test('records get time, seq, prev, hash; file and memory sinks get the same lines', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { log } = memoryLogger();
  const mem = new MemorySink();
  const times = ['2026-11-22T05:30:00.000Z', '2026-11-22T05:30:01.000Z'];
  let i = 0;
  const cfg = auditConfig(dir);
  const audit = await openAuditLog(cfg, { log, sinks: [mem], now: () => new Date(times[Math.min(i++, 1)]!) });
  audit.write(requestRecord(1));
  audit.write(requestRecord(2));
  assert.equal(audit.lastSeq, 2);
  await audit.close();
  const recs = mem.records();
  assert.equal(recs[0]!.seq, 1);
  assert.equal(recs[0]!.prev, GENESIS_HASH);
  assert.equal(recs[0]!.time, times[0]);
  assert.equal(recs[1]!.prev, recs[0]!.hash);
  assert.equal(recs[2]!.event, 'checkpoint', 'close writes a final checkpoint');
  assert.deepEqual(readFileSync(cfg.file!.path, 'utf8').split('\n').filter(Boolean), mem.lines);
  assert.equal(statSync(cfg.file!.path).mode & 0o777, 0o600);
  assert.match(audit.publicKeyPem, /BEGIN PUBLIC KEY/);
});

test('a checkpoint every checkpointEvery records, signed over the records before it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mem = new MemorySink();
  const audit = await openAuditLog(auditConfig(dir, { checkpointEvery: 10 }), { log: memoryLogger().log, sinks: [mem] });
  for (let i = 0; i < 25; i++) audit.write(requestRecord(i));
  const cps = mem.ofEvent('checkpoint');
  assert.deepEqual(cps.map((c) => c.seq), [11, 22]);
  assert.deepEqual(cps[0]!.detail, { ...cps[0]!.detail, first_seq: 1, last_seq: 10, last_hash: mem.records()[9]!.hash });
  assert.equal(cps[1]!.detail!['first_seq'], 12);
  assert.equal(cps[1]!.detail!['key_id'], audit.keyId);
  await audit.close();
  const r = verifyAuditFiles([join(dir, 'audit.jsonl')], { publicKeyPem: audit.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.checkpoints, 3);
  assert.equal(r.unsignedTail, 0);
});

test('interval checkpoints only when records were written since the last one', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mem = new MemorySink();
  const audit = await openAuditLog(auditConfig(dir, { checkpointEvery: 1000, checkpointIntervalMs: 25 }), { log: memoryLogger().log, sinks: [mem] });
  t.after(() => audit.close());
  audit.write(requestRecord(1));
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(mem.ofEvent('checkpoint').length, 1);
  audit.write(requestRecord(2));
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(mem.ofEvent('checkpoint').length, 2);
});

test('close and reopen: the chain continues (seq, prev) and verifies across the restart', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir);
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 5; i++) a1.write(requestRecord(i));
  await a1.close();
  const last = fileRecords(cfg.file!.path).at(-1)!;
  const { log, entries } = memoryLogger();
  const a2 = await openAuditLog(cfg, { log });
  assert.equal(a2.lastSeq, last.seq);
  assert.equal(a2.lastHash, last.hash);
  assert.equal(a2.publicKeyPem, a1.publicKeyPem, 'same key after restart');
  a2.write(requestRecord(99));
  await a2.close();
  const recs = fileRecords(cfg.file!.path);
  const first2 = recs.find((r) => r.id === 'req-99')!;
  assert.equal(first2.seq, last.seq + 1);
  assert.equal(first2.prev, last.hash);
  assert.ok(entries().some((e) => e['msg'] === 'audit chain continues'));
  const r = verifyAuditFiles([cfg.file!.path], { publicKeyPem: a2.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.records, 8);
});

test('rotation by size: files sort in rotation order and the chain spans them', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { file: { rotateBytes: 8 * 1024 }, checkpointEvery: 40 });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 200; i++) audit.write(requestRecord(i));
  await audit.close();
  const files = listStreamFiles(cfg.file!.path);
  assert.ok(files.length >= 5, `${files.length} files`);
  for (const f of files) assert.ok(statSync(f).size <= 8 * 1024, `${f} within rotateBytes`);
  for (const f of files) assert.equal(statSync(f).mode & 0o777, 0o600);
  // The first record of each file links to the last record of the file before.
  for (let i = 1; i < files.length; i++) {
    assert.equal(fileRecords(files[i]!)[0]!.prev, fileRecords(files[i - 1]!).at(-1)!.hash);
  }
  const r = verifyAuditFiles(files, { publicKeyPem: audit.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.records, 200 + 5); // 5 checkpoints; close adds none (nothing since the last)
});

test('daily rotation at UTC midnight', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  let now = new Date('2026-11-22T23:59:59.000Z');
  const cfg = auditConfig(dir, { file: { rotateDaily: true } });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log, now: () => now });
  audit.write(requestRecord(1));
  audit.write(requestRecord(2));
  now = new Date('2026-11-23T00:00:00.500Z');
  audit.write(requestRecord(3));
  await audit.close();
  const files = listStreamFiles(cfg.file!.path);
  assert.equal(files.length, 2);
  assert.equal(files[0], rotatedPath(cfg.file!.path, 1, now));
  assert.deepEqual(fileRecords(files[0]!).map((r) => r.id), ['req-1', 'req-2']);
  assert.equal(fileRecords(files[1]!)[0]!.id, 'req-3');
  // A restart on the same day keeps appending to the same file (the day comes from its first record).
  const again = await openAuditLog(cfg, { log: memoryLogger().log, now: () => now });
  again.write(requestRecord(4));
  await again.close();
  assert.equal(listStreamFiles(cfg.file!.path).length, 2);
});

test('torn last line: warned, rotated aside, chain continues; verify reports the truncation', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir);
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 3; i++) a1.write(requestRecord(i));
  await a1.close();
  const last = fileRecords(cfg.file!.path).at(-1)!;
  appendFileSync(cfg.file!.path, '{"agent":"agent-7","bytes_do'); // a crash mid-write
  const { log, entries } = memoryLogger();
  const a2 = await openAuditLog(cfg, { log });
  assert.equal(a2.lastSeq, last.seq);
  const warn = entries().find((e) => String(e['msg']).includes('torn record'));
  assert.ok(warn, 'torn tail is logged');
  assert.equal(warn['level'], 40);
  a2.write(requestRecord(50));
  await a2.close();
  const files = listStreamFiles(cfg.file!.path);
  assert.equal(files.length, 2);
  assert.ok(readFileSync(files[0]!, 'utf8').endsWith('"bytes_do'), 'the torn line is kept as evidence');
  assert.equal(fileRecords(files[1]!)[0]!.seq, last.seq + 1);
  const r = verifyAuditFiles(files, { publicKeyPem: a2.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.truncated, [{ file: files[0], line: 5 }]);
});

test('recovers from the newest rotated file when the active file is missing', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir);
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 3; i++) a1.write(requestRecord(i));
  await a1.close();
  // As if rotation renamed the file and the process died before writing the next record.
  renameSync(cfg.file!.path, rotatedPath(cfg.file!.path, 1, new Date()));
  const a2 = await openAuditLog(cfg, { log: memoryLogger().log });
  assert.equal(a2.lastSeq, 4);
  a2.write(requestRecord(9));
  await a2.close();
  const r = verifyAuditFiles(listStreamFiles(cfg.file!.path), { publicKeyPem: a2.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
});

test('write never throws: unserialisable input becomes an alert; a failing sink does not stop the others', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mem = new MemorySink();
  const broken: AuditSink = { name: 'broken', write: () => { throw new Error('disk on fire'); } };
  const { log, entries } = memoryLogger();
  const audit = await openAuditLog(auditConfig(dir), { log, sinks: [broken, mem] });
  audit.write({ ...requestRecord(1), duration_ms: NaN });
  audit.write(requestRecord(2));
  const recs = mem.records();
  assert.equal(recs[0]!.event, 'alert');
  assert.equal(recs[0]!.reason, 'audit_record_invalid');
  assert.equal(recs[1]!.id, 'req-2');
  assert.equal(audit.health().sink_errors['broken'], 2);
  assert.ok(entries().some((e) => e['msg'] === 'audit sink write failed'));
  await audit.close();
  assert.doesNotThrow(() => audit.write(requestRecord(3)));
  assert.ok(entries().some((e) => String(e['msg']).includes('after close')));
});

test('fsync always and never both produce a valid file; stdout sink gets the same lines', async (t) => {
  for (const fsync of ['always', 'never'] as const) {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const out: string[] = [];
    const cfg = { ...auditConfig(dir, { file: { fsync } }), stdout: true };
    const audit = await openAuditLog(cfg, { log: memoryLogger().log, stdout: { write: (s: string) => out.push(s) } });
    for (let i = 0; i < 20; i++) audit.write(requestRecord(i));
    await audit.close();
    assert.equal(out.join(''), readFileSync(cfg.file!.path, 'utf8'));
    assert.ok(verifyAuditFiles([cfg.file!.path], { publicKeyPem: audit.publicKeyPem }).ok);
  }
});

test('ocsf format: OCSF events on disk, and verify still checks the chain', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { format: 'ocsf', checkpointEvery: 5 });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 12; i++) audit.write(requestRecord(i));
  audit.write({ event: 'alert', id: 'x', agent: 'agent-7', profile: 'default', severity: 'critical', reason: 'honeytoken', decision: 'alert' });
  await audit.close();
  const objs = readFileSync(cfg.file!.path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { class_uid: number });
  assert.deepEqual([...new Set(objs.map((o) => o.class_uid))].sort(), [0, 2004, 4002]);
  const r = verifyAuditFiles([cfg.file!.path], { publicKeyPem: audit.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.checkpoints, 3);
  // Reopen continues the chain from an OCSF tail.
  const again = await openAuditLog(cfg, { log: memoryLogger().log });
  assert.equal(again.lastSeq, objs.length);
  await again.close();
});

test('no file sink: a new stream starts at seq 1 with the genesis hash', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mem = new MemorySink();
  const audit = await openAuditLog(auditConfig(dir, { file: null }), { log: memoryLogger().log, sinks: [mem] });
  audit.write(requestRecord(1));
  await audit.close();
  assert.equal(mem.records()[0]!.seq, 1);
  assert.equal(existsSync(join(dir, 'audit.jsonl')), false);
  assert.deepEqual(readdirSync(dir), ['keys']);
});
