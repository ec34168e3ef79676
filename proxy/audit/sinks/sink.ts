import type { AuditRecord } from '../events.js';

/**
 * A destination of the audit stream. The log seals each record once and hands the same line
 * to every sink, in order, synchronously: a sink must take the line before `write` returns
 * (write it, or copy it somewhere durable) because the caller is on the request path.
 * The log catches what a sink throws, but a sink should report its own failures instead.
 */
export interface AuditSink {
  /** Short name for operational logs and health (`file`, `stdout`, `http`, `memory`). */
  readonly name: string;
  /** One whole record: `line` ends with `\n`; `record` is the sealed Warden record. */
  write(line: string, record: AuditRecord): void;
  /** Called right after a checkpoint record was written (durability point). */
  checkpointed?(): void;
  /** Resolve once what was written so far is as durable as this sink makes it. */
  flush?(): Promise<void>;
  /** Flush and release resources; no write follows. */
  close?(): Promise<void>;
}
