/**
 * kill -9 in the middle of writing: the audit files still verify (at most a torn last line,
 * reported), the chain continues after the restart, and the SIEM still gets every record
 * exactly once (records written to the file but not to the spool are backfilled).
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openAuditLog } from '../../proxy/audit/log.js';
import { listStreamFiles } from '../../proxy/audit/files.js';
import { verifyAuditFiles } from '../../proxy/audit/verify.js';
import { readSignKey } from '../../proxy/audit/keys.js';
import type { AuditConfig } from '../../proxy/config/types.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from '../unit/audit/audit-fixtures.js';
import { SiemReceiver, range } from './audit-receiver.js';

const CHILD = fileURLToPath(new URL('./audit-crash-child.js', import.meta.url));

/** Run the writer child until it reports `atLeast` records, then SIGKILL it. */
function runAndKill(cfg: AuditConfig, atLeast: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let reported = 0;
    let killing = false;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      const last = d.toString().trim().split('\n').at(-1);
      reported = Number(last);
      // Kill a little later, at a random point, so the signal lands in the middle of writing.
      if (reported >= atLeast && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), Math.random() * 15);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(reported);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

test('SIGKILL while writing, three times: files verify, the chain continues, the SIEM gets everything once', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  await siem.start();
  siem.mode = '503'; // nothing is acknowledged while the child runs: no resend window to muddy the count
  t.after(() => siem.stop());
  const cfg = auditConfig(dir, { file: { rotateBytes: 512 * 1024 }, checkpointEvery: 500, http: { url: siem.url, batchSize: 200 } });

  let lastSeq = 0;
  let torn = 0;
  for (const target of [1500, 3000, 4500]) {
    const reported = await runAndKill(cfg, target);
    assert.ok(reported >= target);
    const files = listStreamFiles(cfg.file!.path);
    const key = readSignKey(cfg.signKeyPath)!;
    const r = verifyAuditFiles(files, { publicKeyPem: key.publicKeyPem });
    assert.ok(r.ok, JSON.stringify(r));
    assert.ok(r.lastSeq! >= reported, `file holds at least the ${reported} records reported before the kill`);
    assert.ok(r.lastSeq! > lastSeq);
    torn = r.truncated.length;
    t.diagnostic(`killed after seq ${reported}: ${r.records} records in ${files.length} files verify; torn lines so far: ${torn}; unsigned tail ${r.unsignedTail}`);
    lastSeq = r.lastSeq!;
  }

  // Reopen in this process: the chain continues from the last whole record.
  siem.mode = 'ok';
  const { log } = memoryLogger();
  const audit = await openAuditLog(cfg, { log, http: { retryInitialMs: 20, retryMaxMs: 200 } });
  assert.equal(audit.lastSeq, lastSeq);
  for (let i = 0; i < 10; i++) audit.write(requestRecord(i));
  assert.equal(await audit.waitDelivered(20_000), true);
  await audit.close();
  const r = verifyAuditFiles(listStreamFiles(cfg.file!.path), { publicKeyPem: audit.publicKeyPem });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.lastSeq, audit.lastSeq);
  assert.equal(r.unsignedTail, 0, 'close signs everything');
  assert.deepEqual(siem.seqs(), range(audit.lastSeq), 'every record reached the SIEM exactly once, in order');
});
