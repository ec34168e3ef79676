/**
 * SIEM delivery over HTTP(S) through undici, behind the on-disk spool (spool.ts).
 *
 *   AuditLog.write ──► spool.append (sync, on disk) ──► sender: read batch ──► POST
 *                           │ full                         ▲        2xx ──► cursor, delete
 *                           ▼                              │        else ─► backoff, retry
 *                      gap mode: records stay only in the audit file;
 *                      backfill reads them back by seq once the spool has room
 *
 * Ordering and exactly-once: one sender, one request in flight, batches in seq order; a
 * batch's records are acknowledged (cursor persisted, segment deleted when complete) before the
 * next batch is read. See spool.ts for the one-batch window where a resend can still happen.
 *
 * Spool full: records are not dropped silently. The sink stops spooling, logs an error and
 * raises one `alert` record (reason `audit_spool_full`, severity critical) per episode through
 * the audit log itself. When the SIEM has drained the spool to half, the missing records are
 * read back from the audit file, in order, before any newer record is spooled. Without a file
 * sink they cannot be recovered: a second alert (`audit_spool_records_lost`) names the lost
 * seq range, and delivery resumes with the next record.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import type { AuditHttpConfig } from '../../config/types.js';
import type { AuditRecord, AuditRecordInput } from '../events.js';
import { maskUrl } from '../mask-url.js';
import type { BackfillSource } from '../backfill.js';
import { authorizationHeader, formatBatch } from '../siem-format.js';
import type { Spool, SpoolBatch } from '../spool.js';
import type { AuditSink } from './sink.js';

/** Tuning of the sender; the defaults suit production, tests shorten them. */
export interface HttpSinkTuning {
  /** First retry delay (default 500 ms); doubles per failure, with jitter. */
  readonly retryInitialMs?: number;
  /** Retry delay cap (default 30 s). */
  readonly retryMaxMs?: number;
  /** Headers and body timeout of one POST (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** How long close() keeps delivering before leaving the rest in the spool (default 5 s). */
  readonly closeTimeoutMs?: number;
}

/** Options of {@link HttpSink}. */
export interface HttpSinkOptions extends HttpSinkTuning {
  readonly cfg: AuditHttpConfig;
  readonly spool: Spool;
  readonly log: Logger;
  /** Where records missing from the spool are read back from (the audit file), or null. */
  readonly source: BackfillSource | null;
  /** seq of the newest record written by the log. */
  readonly headSeq: () => number;
  /** Write a record through the audit log (called outside of `write`). */
  readonly raise: (rec: AuditRecordInput) => void;
  /** Environment to read the token from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

/** Delivery state for health checks and metrics. */
export interface HttpSinkHealth {
  readonly delivered_seq: number;
  readonly spooled_seq: number;
  readonly pending: number;
  readonly spool_bytes: number;
  /** True while records are kept out of the spool (full, or backfilling). */
  readonly gap: boolean;
  /** True while the SIEM is failing requests. */
  readonly failing: boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The SIEM sink. */
export class HttpSink implements AuditSink {
  readonly name = 'http';
  private readonly opts: HttpSinkOptions;
  private readonly spool: Spool;
  private readonly log: Logger;
  private readonly url: URL;
  private readonly safeUrl: string;
  private readonly pool: Pool;
  private readonly authorization: string | null;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly requestTimeoutMs: number;
  private readonly closeTimeoutMs: number;

  private batchLimit: number;
  private gap = false;
  private gapEpisodeAlerted = false;
  private failing = false;
  private urgent = false;
  /** The sender is waiting for the first record after an idle period. */
  private idle = false;
  /** Highest seq given up as lost for the SIEM (in memory; see reportLost). */
  private lostThrough = 0;
  private closing = false;
  private abandoned = false;
  /** Aborted at the end of close(): stops retries, sleeps and the request in flight. */
  private readonly stop = new AbortController();
  private wake: (() => void) | null = null;
  private readonly deliveredWaiters = new Set<{ seq: number; resolve: () => void }>();
  private roomWaiter: (() => void) | null = null;
  private sender: Promise<void> | null = null;
  private backfill: Promise<void> | null = null;

  constructor(opts: HttpSinkOptions) {
    this.opts = opts;
    this.spool = opts.spool;
    this.log = opts.log;
    this.url = new URL(opts.cfg.url);
    this.safeUrl = maskUrl(opts.cfg.url);
    this.retryInitialMs = opts.retryInitialMs ?? 500;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 5_000;
    this.batchLimit = Math.max(1, opts.cfg.batchSize);
    const env = opts.env ?? process.env;
    let authorization: string | null = null;
    if (opts.cfg.tokenEnv !== null) {
      const token = env[opts.cfg.tokenEnv];
      // Invariant: the token value is never logged; only the variable's name is.
      if (token) authorization = authorizationHeader(opts.cfg.format, token);
      else this.log.error({ token_env: opts.cfg.tokenEnv }, 'audit SIEM token variable is not set; sending without credentials');
    }
    this.authorization = authorization;
    this.pool = new Pool(this.url.origin, {
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
      connect: opts.cfg.caFile ? { ca: readFileSync(opts.cfg.caFile) } : undefined,
    });
  }

  /**
   * Start delivering. Records the log wrote before this start that never reached the spool
   * (a crash between the file write and the spool write) are backfilled first.
   */
  start(): void {
    const head = this.opts.headSeq();
    if (this.spool.lastSeq < head) {
      this.log.info({ from_seq: this.spool.lastSeq + 1, to_seq: head }, 'audit SIEM spool is behind the audit file; backfilling');
      this.gap = true;
      this.gapEpisodeAlerted = true; // not a spool-full episode: no alert
      this.startBackfill();
    } else if (this.spool.lastSeq > head) {
      this.log.warn({ spooled_seq: this.spool.lastSeq, head_seq: head }, 'audit SIEM spool is ahead of the audit stream (audit file replaced?); the SIEM will see repeated seqs');
    }
    this.sender = this.runSender().catch((err: unknown) => {
      this.log.error({ err }, 'audit SIEM sender stopped');
    });
  }

  /** Spool one record (synchronous, on disk); in gap mode it stays in the audit file only. */
  write(line: string, record: AuditRecord): void {
    if (this.stop.signal.aborted) return;
    if (this.gap) return; // kept in the audit file; backfill brings it over in order
    let spooled: boolean;
    try {
      spooled = this.spool.append(record.seq, Date.parse(record.time), line);
    } catch (err) {
      this.log.error({ code: (err as NodeJS.ErrnoException).code }, 'audit SIEM spool write failed');
      spooled = false;
    }
    if (!spooled) {
      this.enterGap(record.seq);
      return;
    }
    if (this.idle || this.spool.pending >= this.batchLimit) this.signal();
  }

  /** Last seq the spool holds or has given up on: backfill resumes after it. */
  private get covered(): number {
    return Math.max(this.spool.lastSeq, this.lostThrough);
  }

  private enterGap(seq: number): void {
    this.gap = true;
    this.log.error(
      { spool_dir: this.opts.cfg.spoolDir, spool_bytes: this.spool.bytes, spool_max_bytes: this.opts.cfg.spoolMaxBytes, first_unspooled_seq: seq },
      this.opts.source ? 'audit SIEM spool full: records stay in the audit file and are backfilled when the SIEM catches up' : 'audit SIEM spool full and no audit file to backfill from: records will be lost for the SIEM',
    );
    if (!this.gapEpisodeAlerted) {
      this.gapEpisodeAlerted = true;
      this.opts.raise({
        event: 'alert',
        id: `audit-spool-full-${seq}`,
        agent: null,
        profile: null,
        decision: 'alert',
        severity: 'critical',
        reason: 'audit_spool_full',
        detail: {
          first_unspooled_seq: seq,
          spool_bytes: this.spool.bytes,
          spool_max_bytes: this.opts.cfg.spoolMaxBytes,
          backfill: this.opts.source ? 'audit_file' : 'none',
        },
      });
    }
    this.startBackfill();
  }

  private startBackfill(): void {
    if (this.backfill) return;
    this.backfill = this.runBackfill()
      .catch((err: unknown) => this.log.error({ err }, 'audit SIEM backfill failed'))
      .finally(() => {
        this.backfill = null;
      });
  }

  /** Bring records the spool missed over from the audit file, then leave gap mode. */
  private async runBackfill(): Promise<void> {
    let idleRounds = 0;
    while (this.gap && !this.stop.signal.aborted) {
      if (this.spool.bytes > this.opts.cfg.spoolMaxBytes / 2) {
        await new Promise<void>((resolve) => {
          this.roomWaiter = resolve;
        });
        this.roomWaiter = null;
        continue;
      }
      const from = this.covered + 1;
      const entries = this.opts.source ? await this.opts.source.read(from, 1000) : [];
      if (this.stop.signal.aborted) return;
      // From here to the end of the iteration nothing awaits: no record can be written by the
      // log in between, so "spool caught up with the log" below is exact.
      const first = entries[0];
      const head = this.opts.headSeq();
      if ((first && first.seq > from) || (!this.opts.source && head >= from)) {
        const lastLost = first ? first.seq - 1 : head;
        this.reportLost(from, lastLost);
      }
      let full = false;
      let failed = false;
      for (const e of entries) {
        try {
          if (!this.spool.append(e.seq, e.timeMs, e.line)) {
            full = true;
            break;
          }
        } catch (err) {
          // The disk refuses the spool (ENOSPC…): keep the gap and try again shortly.
          this.log.error({ code: (err as NodeJS.ErrnoException).code }, 'audit SIEM spool write failed during backfill');
          failed = true;
          break;
        }
      }
      if (entries.length > 0) this.signal();
      if (this.covered >= this.opts.headSeq()) {
        this.gap = false;
        this.gapEpisodeAlerted = false;
        this.log.info({ spooled_seq: this.spool.lastSeq }, 'audit SIEM spool has caught up with the audit file');
        return;
      }
      if (failed) {
        await sleep(1000, this.stop.signal);
      } else if (entries.length === 0 && !full) {
        // The file does not have them (yet): a failing file write. Retry, and give up after a
        // minute so the SIEM does not stall behind records that will never appear.
        if (++idleRounds >= 60) {
          this.reportLost(from, this.opts.headSeq());
          continue;
        }
        await sleep(1000, this.stop.signal);
      } else {
        idleRounds = 0;
      }
    }
  }

  /**
   * Give up on records `from..to` for the SIEM (they are not in the audit file either). The
   * mark is in memory: after a restart the range is looked for again, and alerted again.
   */
  private reportLost(from: number, to: number): void {
    if (to < from) return;
    this.lostThrough = Math.max(this.lostThrough, to);
    this.log.error({ first_lost_seq: from, last_lost_seq: to }, 'audit records could not be delivered to the SIEM and are lost for it');
    // Deferred by the log; this alert is spooled normally once gap mode ends.
    this.opts.raise({
      event: 'alert',
      id: `audit-siem-lost-${from}`,
      agent: null,
      profile: null,
      decision: 'alert',
      severity: 'critical',
      reason: 'audit_spool_records_lost',
      detail: { first_lost_seq: from, last_lost_seq: to, count: to - from + 1 },
    });
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private waitSignal(timeoutMs: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = done;
      if (timeoutMs !== null) timer = setTimeout(done, timeoutMs);
    });
  }

  private async runSender(): Promise<void> {
    while (!this.stop.signal.aborted) {
      if (this.spool.pending === 0) {
        this.idle = true;
        await this.waitSignal(null);
        this.idle = false;
        continue;
      }
      // Linger: send a partial batch only after flushIntervalMs, unless flushed or closing.
      if (this.spool.pending < this.batchLimit && !this.urgent && !this.closing) await this.waitSignal(this.opts.cfg.flushIntervalMs);
      this.urgent = false;
      while (!this.stop.signal.aborted && this.spool.pending > 0) {
        const batch = await this.spool.readBatch(this.batchLimit);
        if (!batch) break;
        const result = await this.deliver(batch);
        if (result === 'stopped') return;
        if (result === 'smaller') continue;
        await this.spool.ack(batch);
        this.afterAck();
      }
      if (this.spool.pending > 0 && !this.stop.signal.aborted) await this.waitSignal(this.opts.cfg.flushIntervalMs);
    }
  }

  private afterAck(): void {
    for (const w of this.deliveredWaiters) {
      if (this.spool.deliveredSeq >= w.seq) {
        this.deliveredWaiters.delete(w);
        w.resolve();
      }
    }
    if (this.roomWaiter && this.spool.bytes <= this.opts.cfg.spoolMaxBytes / 2) this.roomWaiter();
  }

  /** POST one batch until a 2xx; 'smaller' asks the caller to re-read a smaller batch. */
  private async deliver(batch: SpoolBatch): Promise<'ok' | 'smaller' | 'stopped'> {
    const { body, contentType } = formatBatch(this.opts.cfg.format, batch.entries);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (this.authorization) headers['authorization'] = this.authorization;
    let attempt = 0;
    let firstFailureAt = 0;
    let lastLogAt = 0;
    for (;;) {
      if (this.stop.signal.aborted) return 'stopped';
      let problem: string;
      try {
        const res = await this.pool.request({
          path: this.url.pathname + this.url.search,
          method: 'POST',
          headers,
          body,
          signal: this.stop.signal,
        });
        const text = this.opts.cfg.format === 'elastic-bulk' ? await res.body.text() : (await res.body.dump(), '');
        if (res.statusCode >= 200 && res.statusCode < 300) {
          if (text !== '') this.checkBulkErrors(text, batch);
          if (this.failing) {
            this.failing = false;
            this.log.info({ url: this.safeUrl, attempts: attempt + 1, outage_ms: Date.now() - firstFailureAt }, 'audit SIEM delivery recovered');
          }
          return 'ok';
        }
        if (res.statusCode === 413 && batch.entries.length > 1) {
          this.batchLimit = Math.max(1, Math.floor(batch.entries.length / 2));
          this.log.warn({ url: this.safeUrl, batch_size: this.batchLimit }, 'audit SIEM refused the batch as too large; halving it');
          return 'smaller';
        }
        problem = `HTTP ${res.statusCode}`;
      } catch (err) {
        if (this.stop.signal.aborted) return 'stopped';
        const e = err as { code?: string; name?: string };
        problem = e.code ?? e.name ?? 'error';
      }
      const now = Date.now();
      if (!this.failing) {
        this.failing = true;
        firstFailureAt = now;
      }
      if (firstFailureAt === 0) firstFailureAt = now;
      // Throttled: the first failure, then at most once a minute. Never the body or the token.
      if (lastLogAt === 0 || now - lastLogAt >= 60_000) {
        lastLogAt = now;
        this.log.warn({ url: this.safeUrl, problem, attempt: attempt + 1, pending: this.spool.pending }, 'audit SIEM delivery failed; retrying with backoff');
      }
      const ceiling = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.min(attempt, 30));
      attempt++;
      // "Equal jitter": half fixed, half random, so many proxies do not retry in lockstep but
      // no retry comes immediately.
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), this.stop.signal);
    }
  }

  /**
   * Elasticsearch answers 200 with `errors: true` when some documents were refused (mapping
   * errors, for instance). Resending would duplicate the accepted ones and the refused ones
   * would fail again, so the batch counts as delivered and the refusal is logged loudly.
   */
  private checkBulkErrors(text: string, batch: SpoolBatch): void {
    try {
      const res = JSON.parse(text) as { errors?: boolean; items?: Array<Record<string, { status?: number; error?: { type?: string } }>> };
      if (!res.errors) return;
      const failed = (res.items ?? []).map((i) => Object.values(i)[0]).filter((r) => r && (r.status ?? 0) >= 300);
      this.log.error(
        { refused: failed.length, first_seq: batch.entries[0]?.seq, last_seq: batch.entries[batch.entries.length - 1]?.seq, error_type: failed[0]?.error?.type },
        'audit SIEM (Elasticsearch) refused some records of a bulk request',
      );
    } catch {
      /* not JSON: nothing to check */
    }
  }

  /** Send what is pending now instead of waiting for a full batch. */
  async flush(): Promise<void> {
    this.urgent = true;
    this.signal();
  }

  /** Resolve true once the SIEM acknowledged `seq`, false after `timeoutMs`. */
  waitDelivered(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.spool.deliveredSeq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        seq,
        resolve: () => {
          clearTimeout(t);
          resolve(true);
        },
      };
      const t = setTimeout(() => {
        this.deliveredWaiters.delete(w);
        resolve(false);
      }, timeoutMs);
      this.deliveredWaiters.add(w);
    });
  }

  /** Delivery counters (for /readyz and metrics). */
  health(): HttpSinkHealth {
    return {
      delivered_seq: this.spool.deliveredSeq,
      spooled_seq: this.spool.lastSeq,
      pending: this.spool.pending,
      spool_bytes: this.spool.bytes,
      gap: this.gap,
      failing: this.failing,
    };
  }

  /**
   * Stop sending at once (another process took over the spool: lock.ts); close() then only
   * releases what the sink holds.
   */
  abandon(): void {
    this.abandoned = true;
    this.stop.abort();
    this.signal();
    this.roomWaiter?.();
  }

  /**
   * Deliver what is pending for up to closeTimeoutMs, then stop (aborting a request still in
   * flight). Undelivered records stay in the spool and go out after the next start.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.urgent = true;
    this.signal();
    const head = this.opts.headSeq();
    if (!this.abandoned && !this.gap && this.spool.deliveredSeq < head) {
      const ok = await this.waitDelivered(this.spool.lastSeq, this.closeTimeoutMs);
      if (!ok) this.log.warn({ pending: this.spool.pending, spool_dir: this.opts.cfg.spoolDir }, 'audit SIEM not fully delivered at close; the rest stays spooled for the next start');
    }
    this.stop.abort();
    this.signal();
    this.roomWaiter?.();
    await this.sender;
    await this.backfill;
    await this.pool.close().catch(() => this.pool.destroy());
    await this.spool.close();
  }
}
