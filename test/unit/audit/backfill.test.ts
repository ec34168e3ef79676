import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { FileBackfill } from '../../../proxy/audit/backfill.js';
import { openAuditLog } from '../../../proxy/audit/log.js';
import { listStreamFiles } from '../../../proxy/audit/files.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from './audit-fixtures.js';

test('FileBackfill reads records by seq across rotated files, in order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { file: { rotateBytes: 20 * 1024 }, checkpointEvery: 1000 });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log });
  for (let i = 0; i < 200; i++) audit.write(requestRecord(i));
  await audit.close();
  assert.ok(listStreamFiles(cfg.file!.path).length > 5);
  const b = new FileBackfill(cfg.file!.path);
  const got = await b.read(37, 50);
  assert.deepEqual(got.map((e) => e.seq), Array.from({ length: 50 }, (_, i) => 37 + i));
  const next = await b.read(87, 1000);
  assert.equal(next[0]!.seq, 87);
  assert.equal(next.at(-1)!.seq, 201);
  assert.equal(JSON.parse(next[0]!.line).seq, 87, 'the line is the audit line, without its newline');
  assert.deepEqual(await b.read(202, 10), []);
});

test('FileBackfill never skips records when the file rotates during a read', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = auditConfig(dir, { file: { rotateBytes: 24 * 1024 }, checkpointEvery: 1000 });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log });
  t.after(() => audit.close());
  for (let i = 0; i < 40; i++) audit.write(requestRecord(i));
  let b = new FileBackfill(cfg.file!.path);
  let next = 1;
  for (let round = 0; round < 80; round++) {
    // Odd rounds start from scratch (the file is located by seq), even ones continue.
    if (round % 2 === 1) b = new FileBackfill(cfg.file!.path);
    // The reader keeps up, so `next` is usually in the active file: the one being renamed.
    const pending = b.read(next, 1000);
    // Rotations happen synchronously in write(), i.e. while the read above awaits its I/O.
    for (let i = 0; i < 10; i++) audit.write(requestRecord(i));
    const got = await pending;
    if (got.length > 0) assert.equal(got[0]!.seq, next, `round ${round}: no record may be skipped`);
    got.forEach((e, i) => assert.equal(e.seq, next + i));
    next += got.length;
  }
  while (next <= audit.lastSeq) {
    const got = await b.read(next, 1000);
    assert.equal(got[0]?.seq, next);
    next += got.length;
  }
  assert.equal(next, audit.lastSeq + 1);
});
