/**
 * Child process for audit-crash.test.ts: opens the audit log from the config in argv[2] and
 * writes records until it is killed, printing the count written so far now and then.
 */
import pino from 'pino';
import { openAuditLog } from '../../proxy/audit/log.js';
import type { AuditConfig } from '../../proxy/config/types.js';
import { requestRecord } from '../unit/audit/audit-fixtures.js';

const cfg = JSON.parse(process.argv[2]!) as AuditConfig;
const audit = await openAuditLog(cfg, {
  log: pino({ level: 'warn' }, process.stderr),
  http: { retryInitialMs: 20, retryMaxMs: 100 },
});
let i = 0;
function burst(): void {
  for (let k = 0; k < 50; k++) audit.write(requestRecord(i++));
  if (i % 250 === 0) process.stdout.write(`${audit.lastSeq}\n`);
  setImmediate(burst);
}
burst();
