/**
 * Audit stream throughput: records per second the file sink sustains on one core, with
 * canonical JSON, SHA-256 chaining and an Ed25519 checkpoint every 1,000 records, for a
 * typical request record with 2 findings. Not part of `npm test`.
 *
 *   npx tsc -p tsconfig.audit.json && node .build/audit/test/bench/audit-bench.js [records]
 */
import { cpus, loadavg } from 'node:os';
import { statSync } from 'node:fs';
import pino from 'pino';
import { openAuditLog } from '../../proxy/audit/log.js';
import { sealRecord, GENESIS_HASH } from '../../proxy/audit/chain.js';
import type { ChainHead } from '../../proxy/audit/chain.js';
import type { AuditConfig } from '../../proxy/config/types.js';
import { auditConfig, requestRecord, tempDir } from '../unit/audit/audit-fixtures.js';
import { SiemReceiver } from '../integration/audit-receiver.js';

const N = Number(process.argv[2] ?? 200_000);
const log = pino({ level: 'silent' });

interface Row {
  readonly name: string;
  readonly records: number;
  readonly perSecond: number;
  readonly cpuUsPerRecord: number;
  readonly bytesPerRecord: number;
}

async function run(name: string, n: number, make: (dir: string) => AuditConfig | Promise<AuditConfig>): Promise<Row> {
  const { dir, cleanup } = tempDir('warden-audit-bench-');
  try {
    const cfg = await make(dir);
    const audit = await openAuditLog(cfg, { log, http: { closeTimeoutMs: 60_000 } });
    const records = Array.from({ length: 1000 }, (_, i) => requestRecord(i));
    // Warm-up (JIT), then measure writes plus close (final checkpoint, fsync).
    for (let i = 0; i < 2000; i++) audit.write(records[i % 1000]!);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) audit.write(records[i % 1000]!);
    await audit.close();
    const ns = Number(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    const size = cfg.file ? statSync(cfg.file.path).size : 0;
    return { name, records: n, perSecond: Math.round(n / (ns / 1e9)), cpuUsPerRecord: (cpu.user + cpu.system) / n, bytesPerRecord: Math.round(size / (n + 2000)) };
  } finally {
    cleanup();
  }
}

function sealOnly(n: number): Row {
  const rec = requestRecord(1);
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const s = sealRecord(rec, head, '2026-11-22T05:30:00.000Z', 'warden');
    head = { seq: s.record.seq, hash: s.record.hash };
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { name: 'seal only (canonical JSON + SHA-256, no I/O)', records: n, perSecond: Math.round(n / (ns / 1e9)), cpuUsPerRecord: (cpu.user + cpu.system) / n, bytesPerRecord: 0 };
}

const rows: Row[] = [];
rows.push(sealOnly(N));
rows.push(await run('file, fsync=checkpoint (default), checkpoint every 1000', N, (d) => auditConfig(d, { checkpointEvery: 1000 })));
rows.push(await run('file, fsync=never, checkpoint every 1000', N, (d) => auditConfig(d, { checkpointEvery: 1000, file: { fsync: 'never' } })));
rows.push(await run('file, ocsf format, fsync=checkpoint', N, (d) => auditConfig(d, { checkpointEvery: 1000, format: 'ocsf' })));
rows.push(await run('file, fsync=always', Math.min(N, 5000), (d) => auditConfig(d, { checkpointEvery: 1000, file: { fsync: 'always' } })));
const siem = new SiemReceiver();
await siem.start();
rows.push(await run('file + SIEM spool and delivery (json, 127.0.0.1)', N, (d) => auditConfig(d, { checkpointEvery: 1000, http: { url: siem.url, batchSize: 500, flushIntervalMs: 50, spoolMaxBytes: 1024 ** 3 } })));
await siem.stop();

console.log(`audit bench: Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load average ${loadavg()[0]!.toFixed(2)}, ${N} records (request record with 2 findings)`);
for (const r of rows) {
  console.log(`${r.name.padEnd(62)} ${String(r.perSecond).padStart(9)} records/s  ${r.cpuUsPerRecord.toFixed(2).padStart(6)} µs CPU/record${r.bytesPerRecord ? `  ${r.bytesPerRecord} B/record` : ''}  (n=${r.records})`);
}
