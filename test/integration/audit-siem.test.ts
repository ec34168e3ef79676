/**
 * SIEM delivery through the spool: outages, restarts, a full spool, and the three formats.
 * Every test asserts exactly-once, in-order delivery by comparing the receiver's seqs with
 * 1..lastSeq.
 */
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { openAuditLog, MemorySink } from '../../proxy/audit/log.js';
import type { OpenAuditLogOptions } from '../../proxy/audit/log.js';
import { verifyAuditFiles } from '../../proxy/audit/verify.js';
import { listStreamFiles } from '../../proxy/audit/files.js';
import { auditConfig, memoryLogger, requestRecord, tempDir } from '../unit/audit/audit-fixtures.js';
import { SiemReceiver, range, until } from './audit-receiver.js';

const fastRetry: OpenAuditLogOptions['http'] = { retryInitialMs: 20, retryMaxMs: 200, closeTimeoutMs: 3000, requestTimeoutMs: 2000 };

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('5,000 records through a SIEM outage (503, then down): all arrive exactly once, in order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  await siem.start();
  t.after(() => siem.stop());
  const { log, entries } = memoryLogger();
  const audit = await openAuditLog(auditConfig(dir, { http: { url: siem.url, batchSize: 200 } }), { log, http: fastRetry });
  const started = Date.now();
  for (let chunk = 0; chunk < 10; chunk++) {
    if (chunk === 2) siem.mode = '503';
    if (chunk === 4) await siem.stop();
    if (chunk === 7) {
      siem.mode = 'ok';
      await siem.start();
    }
    for (let i = 0; i < 500; i++) audit.write(requestRecord(chunk * 500 + i));
    // The 503 phase lasts until the sender has met it: a fixed pause could pass, on a loaded
    // host, without one POST (the sender still busy with an earlier batch), and the
    // assertions below that the outage really happened would fail.
    if (chunk === 3) await until(() => siem.rejected > 0, 20_000, 'a POST answered 503');
    await new Promise((r) => setTimeout(r, 30)); // let the sender run (and fail) between chunks
  }
  assert.equal(await audit.waitDelivered(20_000), true);
  // The outage really happened during the burst: 503s were answered, refused connections
  // retried, and the recovery logged.
  assert.ok(siem.rejected > 0, 'some POSTs were answered 503');
  const msgs = entries().map((e) => String(e['msg']));
  assert.ok(msgs.includes('audit SIEM delivery failed; retrying with backoff'));
  assert.ok(entries().some((e) => e['problem'] === 'ECONNREFUSED' || e['problem'] === 'HTTP 503'));
  assert.ok(msgs.includes('audit SIEM delivery recovered'));
  const lastSeq = audit.lastSeq;
  assert.deepEqual(siem.seqs(), range(lastSeq));
  await audit.close();
  assert.deepEqual(siem.seqs(), range(audit.lastSeq), 'the final checkpoint is delivered on close');
  t.diagnostic(`${audit.lastSeq} records delivered through the outage in ${Date.now() - started} ms, ${siem.requests} POSTs (${siem.rejected} answered 503)`);
});

test('outage across a close and reopen of the audit log: no loss, no duplicate, in order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  siem.acceptLimit = 3; // the SIEM fails in the middle of a spool segment
  await siem.start();
  t.after(() => siem.stop());
  const cfg = auditConfig(dir, { http: { url: siem.url, batchSize: 250 } });
  const a1 = await openAuditLog(cfg, { log: memoryLogger().log, http: { ...fastRetry, closeTimeoutMs: 300 } });
  for (let i = 0; i < 2500; i++) {
    a1.write(requestRecord(i));
    if (i % 250 === 0) await tick();
  }
  await until(() => siem.accepted.length === 3, 10_000, 'three accepted batches');
  await siem.stop();
  await a1.close(); // the SIEM is down: the rest stays in the spool, the cursor says where
  assert.deepEqual(siem.seqs(), range(750));
  assert.ok(a1.lastSeq > 750);

  siem.acceptLimit = Infinity;
  await siem.start();
  const a2 = await openAuditLog(cfg, { log: memoryLogger().log, http: fastRetry });
  for (let i = 2500; i < 5000; i++) {
    a2.write(requestRecord(i));
    if (i % 250 === 0) await tick();
  }
  assert.equal(await a2.waitDelivered(20_000), true);
  await a2.close();
  assert.deepEqual(siem.seqs(), range(a2.lastSeq));
  assert.ok(verifyAuditFiles(listStreamFiles(cfg.file!.path), { publicKeyPem: a2.publicKeyPem }).ok);
});

test('spool full: one critical alert, nothing lost: the gap is backfilled from the audit file in order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  await siem.start();
  siem.mode = '503';
  t.after(() => siem.stop());
  const { log, entries } = memoryLogger();
  const mem = new MemorySink();
  const cfg = auditConfig(dir, { http: { url: siem.url, spoolMaxBytes: 48 * 1024, batchSize: 20 } });
  const audit = await openAuditLog(cfg, { log, sinks: [mem], http: fastRetry });
  for (let i = 0; i < 600; i++) {
    audit.write(requestRecord(i));
    if (i % 50 === 0) await tick();
  }
  await tick();
  const alerts = mem.records().filter((r) => r.reason === 'audit_spool_full');
  assert.equal(alerts.length, 1, 'one alert per episode');
  assert.equal(alerts[0]!.severity, 'critical');
  assert.equal(alerts[0]!.detail!['backfill'], 'audit_file');
  assert.ok(entries().some((e) => e['level'] === 50 && String(e['msg']).startsWith('audit SIEM spool full')));
  assert.equal(audit.health().http!.gap, true);

  siem.mode = 'ok';
  // Keep writing while the backfill catches up: new records must queue behind it.
  for (let i = 600; i < 900; i++) {
    audit.write(requestRecord(i));
    if (i % 25 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(await audit.waitDelivered(20_000), true);
  assert.equal(audit.health().http!.gap, false);
  await audit.close();
  assert.deepEqual(siem.seqs(), range(audit.lastSeq));
  // The alert itself reaches the SIEM (a second episode is possible while the backfill runs).
  assert.equal(siem.records.filter((r) => r['reason'] === 'audit_spool_full').length, mem.records().filter((r) => r.reason === 'audit_spool_full').length);
});

test('spool full without a file sink: the lost range is alerted and delivery resumes in order', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  await siem.start();
  siem.mode = '503';
  t.after(() => siem.stop());
  const mem = new MemorySink();
  const cfg = auditConfig(dir, { file: null, http: { url: siem.url, spoolMaxBytes: 32 * 1024, batchSize: 20 } });
  const audit = await openAuditLog(cfg, { log: memoryLogger().log, sinks: [mem], http: fastRetry });
  for (let i = 0; i < 300; i++) audit.write(requestRecord(i));
  await tick();
  siem.mode = 'ok';
  await until(() => mem.records().some((r) => r.reason === 'audit_spool_records_lost'), 10_000, 'the loss alert');
  for (let i = 300; i < 320; i++) audit.write(requestRecord(i));
  assert.equal(await audit.waitDelivered(10_000), true);
  await audit.close();
  // A small spool may fill more than once (one alert per episode): every lost range is alerted.
  const lost = mem.records().filter((r) => r.reason === 'audit_spool_records_lost').map((r) => [r.detail!['first_lost_seq'] as number, r.detail!['last_lost_seq'] as number] as const);
  const isLost = (s: number): boolean => lost.some(([from, to]) => s >= from && s <= to);
  const seqs = siem.seqs();
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
  assert.deepEqual(seqs, range(audit.lastSeq).filter((s) => !isLost(s)), 'exactly the alerted ranges are missing');
  assert.equal(mem.records().filter((r) => r.reason === 'audit_spool_full').length, lost.length, 'one full alert and one loss alert per episode');
});

for (const format of ['splunk-hec', 'elastic-bulk'] as const) {
  test(`${format}: body format, content type and token from the environment`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const siem = new SiemReceiver(format);
    await siem.start();
    t.after(() => siem.stop());
    const token = format === 'splunk-hec' ? 'hec-token-0123' : 'ApiKey ZWxhc3RpYzpzZWNyZXQ=';
    const { log, lines } = memoryLogger();
    const cfg = auditConfig(dir, { http: { url: siem.url, format, tokenEnv: 'WARDEN_TEST_SIEM_TOKEN', batchSize: 10 } });
    const audit = await openAuditLog(cfg, { log, http: fastRetry, env: { WARDEN_TEST_SIEM_TOKEN: token } });
    for (let i = 0; i < 25; i++) audit.write(requestRecord(i));
    await audit.close();
    assert.deepEqual(siem.seqs(), range(audit.lastSeq));
    const first = siem.accepted[0]!;
    assert.equal(first.headers['authorization'], format === 'splunk-hec' ? `Splunk ${token}` : token);
    if (format === 'splunk-hec') {
      const ev = JSON.parse(first.body.split('\n')[0]!) as { sourcetype: string; time: number; event: { time: string } };
      assert.equal(ev.sourcetype, 'warden:audit');
      assert.equal(ev.time, Date.parse(ev.event.time) / 1000);
    } else {
      assert.equal(first.headers['content-type'], 'application/x-ndjson');
      assert.ok(first.body.startsWith('{"index":{}}\n{'));
    }
    // The SIEM stores the exact lines that were hashed: they match the audit file.
    const fileLines = readFileSync(cfg.file!.path, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(siem.records.map((r) => JSON.stringify(r)), fileLines.map((l) => JSON.stringify(JSON.parse(l))));
    assert.equal(lines.join('').includes(token), false, 'the token never reaches the operational log');
    assert.equal(lines.join('').includes('hec-token') || lines.join('').includes('ZWxhc3Rp'), false);
  });
}

test('a missing token variable is logged by name, never by value', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const siem = new SiemReceiver();
  await siem.start();
  t.after(() => siem.stop());
  const { log, entries } = memoryLogger();
  const audit = await openAuditLog(auditConfig(dir, { http: { url: siem.url, tokenEnv: 'WARDEN_NOPE' } }), { log, http: fastRetry, env: {} });
  await audit.close();
  assert.ok(entries().some((e) => e['token_env'] === 'WARDEN_NOPE' && e['level'] === 50));
});
