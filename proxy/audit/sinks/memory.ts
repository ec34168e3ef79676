import type { AuditRecord } from '../events.js';
import type { AuditSink } from './sink.js';

/**
 * Keeps every line in memory: for tests that assert on the audit records a request produced
 * (STYLE.md §11: assert on the audit event, not only on the response).
 */
export class MemorySink implements AuditSink {
  readonly name = 'memory';
  /** Lines as written, without the trailing newline. */
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line.endsWith('\n') ? line.slice(0, -1) : line);
  }

  /** The lines parsed. In `ocsf` format these are OCSF events, not AuditRecords. */
  records(): AuditRecord[] {
    return this.lines.map((l) => JSON.parse(l) as AuditRecord);
  }

  /** Records of one event type (warden format). */
  ofEvent(event: AuditRecord['event']): AuditRecord[] {
    return this.records().filter((r) => r.event === event);
  }

  clear(): void {
    this.lines.length = 0;
  }
}
