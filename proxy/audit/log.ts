/**
 * The audit log: seals records into the hash chain, signs checkpoints and hands each line to
 * every enabled sink (file, stdout, SIEM, plus any given by the caller).
 *
 *   write(input) ─► seal: time, seq, prev, hash ─► line ─► file ─► stdout ─► SIEM spool ─► extra
 *                     │ every checkpointEvery records or checkpointIntervalMs
 *                     └► checkpoint record {first_seq, last_seq, last_hash, signature, key_id}
 *
 * The file sink comes first: once a record is in the audit file, anything later (a crash before
 * the spool write, a full spool) can be repaired from it. `write` is synchronous and never
 * throws into the request path; failures go to the operational log.
 *
 * One writer: the audit file and the spool folder are locked before the head is read (lock.ts);
 * a second process waits for the first to close. If the lock is taken over anyway, this log
 * writes nothing more (`orphan`).
 *
 * Restart: the chain head (last seq and hash) is recovered from the tail of the active audit
 * file, or of the newest rotated file when the active one is missing or empty, or (without a
 * file sink) from the SIEM spool. Without either, a new chain starts at seq 1. A torn last line
 * (crash mid-write) is logged as a warning; the file holding it is rotated aside so new records
 * start on a clean line, and the chain continues from the last whole record.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditConfig } from '../config/types.js';
import type { AuditRecord, AuditRecordInput, AuditWriter } from './events.js';
import { FileBackfill } from './backfill.js';
import { GENESIS_HASH, sealRecord } from './chain.js';
import type { ChainHead } from './chain.js';
import { listRotated } from './files.js';
import { acquireLock } from './lock.js';
import type { HeldLock, LockTuning } from './lock.js';
import { checkpointMessage, loadOrCreateSignKey, signCheckpoint } from './keys.js';
import type { SignKey } from './keys.js';
import { Spool } from './spool.js';
import { readTail } from './tail.js';
import type { FileTail } from './tail.js';
import { FileSink, rotateAside } from './sinks/file.js';
import type { ActiveFileState } from './sinks/file.js';
import { HttpSink } from './sinks/http.js';
import type { HttpSinkHealth, HttpSinkTuning } from './sinks/http.js';
import type { AuditSink } from './sinks/sink.js';
import { StdoutSink } from './sinks/stdout.js';
import type { LineWriter } from './sinks/stdout.js';

export type { AuditSink } from './sinks/sink.js';
export { MemorySink } from './sinks/memory.js';

/** Options of {@link openAuditLog}. */
export interface OpenAuditLogOptions {
  /** Operational logger (never the audit stream itself). */
  readonly log: Logger;
  /** Extra sinks, after the configured ones (e.g. a MemorySink in tests). */
  readonly sinks?: readonly AuditSink[];
  /** Clock for record times and rotation (default: the system clock). */
  readonly now?: () => Date;
  /** Where `audit.stdout` writes (default: fd 1, synchronously). */
  readonly stdout?: LineWriter;
  /** SIEM sender tuning (retry delays, close timeout). */
  readonly http?: HttpSinkTuning;
  /** Environment holding the SIEM token (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Called once if another process takes over the lock on the audit file or the spool while
   * this log holds it (lock.ts). Default: logged only; `warden start` stops the proxy.
   */
  readonly onLockLost?: (why: string) => void;
  /** Lock timing (tests). */
  readonly lockTuning?: Partial<LockTuning>;
}

/** Counters for /readyz and metrics. */
export interface AuditHealth {
  readonly last_seq: number;
  readonly records_since_checkpoint: number;
  /** Sink name → writes that threw. */
  readonly sink_errors: Readonly<Record<string, number>>;
  readonly http: HttpSinkHealth | null;
}

/** How the chain head was found at open. */
interface Recovery {
  readonly head: ChainHead;
  readonly active: ActiveFileState;
}

function describe(err: unknown): { code?: string; message: string } {
  const e = err as { code?: string; message?: string };
  return { code: e.code, message: e.message ?? String(err) };
}

/**
 * Find where the chain stands from the audit files. Handles the torn last line: the active
 * file is rotated aside (keeping the evidence where verify will report it).
 */
function recoverFromFile(path: string, log: Logger, now: () => Date): Recovery {
  let tail: FileTail | null = readTail(path);
  let head: ChainHead | null = tail?.last ? { seq: tail.last.seq, hash: tail.last.hash } : null;
  if (!head) {
    // Active file missing, empty, or without a whole record: continue from the newest rotated file.
    const rotated = listRotated(path);
    for (let i = rotated.length - 1; i >= 0 && !head; i--) {
      const t = readTail(rotated[i]!);
      if (t?.last) head = { seq: t.last.seq, hash: t.last.hash };
    }
  }
  if (tail && tail.badTailLines > 0) {
    log.error({ path, lines: tail.badTailLines }, 'audit file ends with lines that are not records (corruption); continuing the chain from the last whole record; `warden audit verify` will name them');
  }
  if (tail && (tail.torn || tail.badTailLines > 0)) {
    const firstSeq = tail.first?.seq ?? (head ? head.seq + 1 : 1);
    const aside = rotateAside(path, firstSeq, now());
    if (tail.torn) {
      log.warn({ path, rotated_to: aside, continues_after_seq: head?.seq ?? 0 }, 'audit file ends with a torn record (crash during a write); file rotated aside, chain continues from the last whole record');
    }
    tail = null;
  }
  return {
    head: head ?? { seq: 0, hash: GENESIS_HASH },
    active: { size: tail?.size ?? 0, firstSeq: tail?.first?.seq ?? null, firstTime: tail?.first?.time ?? null },
  };
}

/** The audit stream. Create with {@link openAuditLog}. */
export class AuditLog implements AuditWriter {
  private readonly cfg: AuditConfig;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly key: SignKey;
  private readonly sinks: readonly AuditSink[];
  private readonly http: HttpSink | null;
  private readonly locks: readonly HeldLock[];
  private head: ChainHead;
  private sinceCheckpoint = 0;
  private checkpointFirstSeq: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Why another process now writes this stream (a lock was lost): nothing more is written. */
  private orphaned: string | null = null;
  private dropped = 0;
  private readonly sinkErrors: Record<string, number> = {};
  private readonly lastSinkErrorLog = new Map<string, number>();

  /** @internal use openAuditLog */
  constructor(cfg: AuditConfig, log: Logger, now: () => Date, key: SignKey, head: ChainHead, sinks: readonly AuditSink[], http: HttpSink | null, locks: readonly HeldLock[] = []) {
    this.cfg = cfg;
    this.locks = locks;
    this.log = log;
    this.now = now;
    this.key = key;
    this.head = head;
    this.sinks = sinks;
    this.http = http;
    this.checkpointFirstSeq = head.seq + 1;
    if (cfg.checkpointIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.sinceCheckpoint > 0) this.writeCheckpoint();
      }, cfg.checkpointIntervalMs);
      this.timer.unref();
    }
  }

  /** seq of the newest record (0 before the first). */
  get lastSeq(): number {
    return this.head.seq;
  }

  /** Hash of the newest record (64 zeros before the first). */
  get lastHash(): string {
    return this.head.hash;
  }

  /** SPKI PEM of the checkpoint signing key (what verify needs). */
  get publicKeyPem(): string {
    return this.key.publicKeyPem;
  }

  /** key_id written in checkpoints. */
  get keyId(): string {
    return this.key.keyId;
  }

  /**
   * Append one record. Synchronous: when it returns, the line has been handed to every sink
   * (and, with a file sink, is in the kernel). Never throws: a record that cannot be serialised
   * (NaN, bigint…) is replaced by an `alert` naming it, and sink failures are logged.
   */
  write(input: AuditRecordInput): void {
    if (this.closed) {
      this.log.error({ event: input.event, id: input.id }, 'audit record written after close; dropped');
      return;
    }
    if (this.orphaned !== null) {
      // Appending now would fork the other process's chain (same seq, other prev).
      if (this.dropped++ % 1000 === 0) this.log.error({ why: this.orphaned, event: input.event, id: input.id, dropped: this.dropped }, 'audit record dropped: another process now writes this audit stream');
      return;
    }
    try {
      this.append(input);
    } catch (err) {
      this.log.error({ err: describe(err), event: input.event, id: input.id }, 'audit record could not be serialised; writing an alert instead');
      try {
        this.append({
          event: 'alert',
          id: typeof input.id === 'string' ? input.id : randomUUID(),
          agent: null,
          profile: null,
          decision: 'alert',
          severity: 'warning',
          reason: 'audit_record_invalid',
          detail: { event: String(input.event) },
        });
      } catch {
        /* cannot happen: the substitute is plain data */
      }
    }
    if (input.event !== 'checkpoint' && this.sinceCheckpoint >= this.cfg.checkpointEvery && this.cfg.checkpointEvery > 0) this.writeCheckpoint();
  }

  private append(input: AuditRecordInput): AuditRecord {
    const sealed = sealRecord(input, this.head, this.now().toISOString(), this.cfg.format);
    this.head = { seq: sealed.record.seq, hash: sealed.record.hash };
    this.sinceCheckpoint++;
    for (const sink of this.sinks) {
      try {
        sink.write(sealed.line, sealed.record);
      } catch (err) {
        this.sinkFailed(sink, err);
      }
    }
    return sealed.record;
  }

  private sinkFailed(sink: AuditSink, err: unknown): void {
    this.sinkErrors[sink.name] = (this.sinkErrors[sink.name] ?? 0) + 1;
    const now = Date.now();
    if (now - (this.lastSinkErrorLog.get(sink.name) ?? 0) >= 10_000) {
      this.lastSinkErrorLog.set(sink.name, now);
      this.log.error({ sink: sink.name, err: describe(err), failures: this.sinkErrors[sink.name] }, 'audit sink write failed');
    }
  }

  /**
   * Write a signed checkpoint now (if any record was written since the last one). Its
   * signature covers {first_seq, last_seq, last_hash}; see keys.ts checkpointMessage.
   */
  checkpoint(): void {
    if (!this.closed && this.sinceCheckpoint > 0) this.writeCheckpoint();
  }

  /**
   * @internal A lock on the audit file or the spool was taken over (lock.ts): stop writing
   * anything, checkpoints included. The proxy stops when this happens (cli.ts).
   */
  orphan(why: string): void {
    this.orphaned = why;
    if (this.timer) clearInterval(this.timer);
    this.http?.abandon();
  }

  private writeCheckpoint(): void {
    if (this.orphaned !== null) return;
    const first = this.checkpointFirstSeq;
    const last = this.head.seq;
    const signature = signCheckpoint(this.key.privateKey, checkpointMessage(first, last, this.head.hash));
    try {
      const rec = this.append({
        event: 'checkpoint',
        id: `checkpoint-${last + 1}`,
        agent: null,
        profile: null,
        detail: { first_seq: first, last_seq: last, last_hash: this.head.hash, signature, key_id: this.key.keyId },
      });
      this.sinceCheckpoint = 0;
      this.checkpointFirstSeq = rec.seq + 1;
      for (const sink of this.sinks) {
        try {
          sink.checkpointed?.();
        } catch (err) {
          this.sinkFailed(sink, err);
        }
      }
    } catch (err) {
      this.log.error({ err: describe(err) }, 'audit checkpoint could not be written');
    }
  }

  /** Resolve when every sink has made what was written so far as durable as it does. */
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush?.().catch((err: unknown) => this.sinkFailed(s, err))));
  }

  /**
   * Resolve once the SIEM acknowledged every record written so far (true), or after
   * `timeoutMs` (false). True at once when no SIEM sink is configured.
   */
  async waitDelivered(timeoutMs: number): Promise<boolean> {
    if (!this.http) return true;
    await this.http.flush();
    return this.http.waitDelivered(this.head.seq, timeoutMs);
  }

  /** Counters for health checks and metrics: last seq, sink failures, SIEM delivery state. */
  health(): AuditHealth {
    return {
      last_seq: this.head.seq,
      records_since_checkpoint: this.sinceCheckpoint,
      sink_errors: { ...this.sinkErrors },
      http: this.http?.health() ?? null,
    };
  }

  /** Final checkpoint, flush and close every sink (the file is fsynced), then release the locks. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.checkpoint();
      this.closed = true;
      await this.flush();
      for (const sink of this.sinks) {
        try {
          await sink.close?.();
        } catch (err) {
          this.sinkFailed(sink, err);
        }
      }
      for (const lock of this.locks) lock.release();
    })();
    return this.closing;
  }
}

/**
 * Open the audit stream described by `cfg`: load or create the signing key, recover the chain
 * head, open the sinks (file first), and start SIEM delivery. Throws (at startup, never later)
 * if the key or the audit file cannot be opened.
 */
export async function openAuditLog(cfg: AuditConfig, opts: OpenAuditLogOptions): Promise<AuditLog> {
  const log = opts.log;
  const now = opts.now ?? (() => new Date());
  const key = loadOrCreateSignKey(cfg.signKeyPath);
  if (key.created) log.info({ path: cfg.signKeyPath, key_id: key.keyId }, 'created the audit signing key');
  if (key.looseMode) log.warn({ path: cfg.signKeyPath }, 'audit signing key is readable by group or others; chmod 600 it');

  // One writer per chain: the audit file and the spool are locked before their head is read.
  const locks: HeldLock[] = [];
  let auditLog: AuditLog | null = null;
  const onLost = (why: string): void => {
    auditLog?.orphan(why);
    opts.onLockLost?.(why);
  };
  const lockOpts = (what: string) => ({ what, log, onLost, tuning: opts.lockTuning });
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  const sinks: AuditSink[] = [];
  let spool: Spool | null = null;
  try {
    if (cfg.file) {
      locks.push(await acquireLock(cfg.file.path, lockOpts('audit file')));
      const rec = recoverFromFile(cfg.file.path, log, now);
      head = rec.head;
      sinks.push(new FileSink({ cfg: cfg.file, log, now, state: rec.active }));
    }
    if (cfg.http) {
      locks.push(await acquireLock(cfg.http.spoolDir, lockOpts('audit spool')));
      const segmentMaxBytes = Math.max(16 * 1024, Math.min(4 * 1024 * 1024, Math.floor(cfg.http.spoolMaxBytes / 8)));
      spool = Spool.open({
        dir: cfg.http.spoolDir,
        maxBytes: cfg.http.spoolMaxBytes,
        segmentMaxRecords: Math.max(cfg.http.batchSize, 1000),
        segmentMaxBytes,
        head,
        log,
      });
      if (!cfg.file) head = spool.head() ?? head;
    }
  } catch (err) {
    for (const s of sinks) await s.close?.().catch(() => {});
    for (const lock of locks) lock.release();
    throw err;
  }
  if (head.seq > 0) log.info({ seq: head.seq }, 'audit chain continues');
  if (cfg.stdout) sinks.push(new StdoutSink(opts.stdout));

  let http: HttpSink | null = null;
  if (cfg.http && spool) {
    const filePath = cfg.file?.path;
    http = new HttpSink({
      cfg: cfg.http,
      spool,
      log,
      source: filePath ? new FileBackfill(filePath) : null,
      headSeq: () => auditLog?.lastSeq ?? head.seq,
      // Alerts raised by the sink go through the log, but never from inside a write.
      raise: (rec) => queueMicrotask(() => auditLog?.write(rec)),
      env: opts.env,
      ...opts.http,
    });
    sinks.push(http);
  }
  sinks.push(...(opts.sinks ?? []));
  auditLog = new AuditLog(cfg, log, now, key, head, sinks, http, locks);
  http?.start();
  return auditLog;
}
