/**
 * The audit file: append-only, mode 0600, rotated by size and/or at UTC midnight.
 *
 * Writes go through pino.destination (SonicBoom) in **sync** mode: each record is one
 * write(2) of one whole line on an O_APPEND descriptor, finished before `write` returns.
 * Asynchronous mode would batch lines in user space, and pino's docs/asynchronous.md is
 * explicit that those are lost on a crash; an audit trail must not lose the record of a
 * request that was already forwarded. A `kill -9` can therefore cut at most the one line being
 * written (a torn tail, which the next start rotates aside and verify reports).
 *
 * fsync policy (AuditFileConfig.fsync; the config's default is `checkpoint`):
 * - `always`: fsync after every record. Survives power loss record by record, but each fsync
 *   costs 0.1 to several ms and blocks the event loop: throughput drops to a few thousand
 *   records per second.
 * - `checkpoint`: fsync (off the event loop) after each signed checkpoint, at rotation and on
 *   close. A power loss can lose at most the records since the last checkpoint, and what is
 *   kept always ends on a durable, signed checkpoint. The default: bounded loss, no stalls.
 * - `never`: leave it to the kernel's writeback (about 30 s on Linux). Process crashes lose
 *   nothing in any mode: the data is in the page cache once write(2) returns.
 */
import { chmodSync, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import type { AuditFileConfig } from '../../config/types.js';
import type { AuditRecord } from '../events.js';
import { rotatedPath } from '../files.js';
import type { AuditSink } from './sink.js';

type Destination = ReturnType<typeof pino.destination>;

/** SonicBoom's descriptor (public at run time, missing from its type declarations). */
function fdOf(dest: Destination): number {
  return (dest as unknown as { fd: number }).fd;
}

/** Where the active file stood when the log was opened (from readTail). */
export interface ActiveFileState {
  readonly size: number;
  /** seq of the first record in the active file, or null when it holds none. */
  readonly firstSeq: number | null;
  /** ISO time of the first record in the active file, or null. */
  readonly firstTime: string | null;
}

/** Options of {@link FileSink}. */
export interface FileSinkOptions {
  readonly cfg: AuditFileConfig;
  readonly log: Logger;
  readonly now: () => Date;
  readonly state: ActiveFileState;
}

/** Bound on bytes SonicBoom may hold while the disk refuses writes (ENOSPC, EIO). */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** fsync a directory so a rename or a new file survives power loss. Best effort. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some filesystems refuse fsync on directories; nothing better to do */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Rename the active file out of the way (used at startup when its last line is torn, so new
 * records never get glued to a partial one). Returns the new name.
 */
export function rotateAside(activePath: string, firstSeq: number, at: Date): string {
  let target = rotatedPath(activePath, firstSeq, at);
  for (let ms = at.getTime() + 1; existsSync(target); ms++) target = rotatedPath(activePath, firstSeq, new Date(ms));
  renameSync(activePath, target);
  fsyncDir(dirname(activePath));
  return target;
}

/** The audit file sink. See the module comment for the write and fsync policy. */
export class FileSink implements AuditSink {
  readonly name = 'file';
  /** Failed writes (each logged once per failure episode). */
  errors = 0;
  /** Bytes SonicBoom had to drop while the disk kept failing. */
  droppedBytes = 0;

  private readonly cfg: AuditFileConfig;
  private readonly log: Logger;
  private readonly now: () => Date;
  private dest: Destination;
  private size: number;
  private firstSeq: number | null;
  private day: string | null;
  private failing = false;
  private fsyncInFlight = false;
  private closed = false;

  constructor(opts: FileSinkOptions) {
    this.cfg = opts.cfg;
    this.log = opts.log;
    this.now = opts.now;
    const dir = dirname(this.cfg.path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.size = opts.state.size;
    this.firstSeq = opts.state.firstSeq;
    this.day = opts.state.firstTime?.slice(0, 10) ?? null;
    this.dest = this.open();
  }

  private open(): Destination {
    const path = this.cfg.path;
    const dest = pino.destination({
      dest: path,
      sync: true,
      append: true,
      mode: 0o600,
      fsync: this.cfg.fsync === 'always',
      maxLength: MAX_PENDING_BYTES,
    });
    dest.on('error', (err: NodeJS.ErrnoException) => {
      this.errors++;
      if (!this.failing) {
        this.failing = true;
        // SonicBoom keeps the unwritten rest of the line and retries it first on the next
        // write, so a transient ENOSPC completes the line instead of leaving it torn.
        this.log.error({ code: err.code, path }, 'audit file write failed; records are held in memory and retried');
      }
    });
    dest.on('drop', (data: string | Buffer) => {
      this.droppedBytes += Buffer.byteLength(data);
      this.log.error({ path, dropped_bytes: this.droppedBytes }, 'audit file writes failing for too long: records dropped from the file');
    });
    dest.on('write', () => {
      if (this.failing) {
        this.failing = false;
        this.log.warn({ path }, 'audit file writes succeed again');
      }
    });
    const mode = statSync(path).mode & 0o777;
    if (mode !== 0o600) {
      chmodSync(path, 0o600);
      this.log.warn({ path, mode: mode.toString(8) }, 'audit file had loose permissions; set to 0600');
    }
    return dest;
  }

  /** Rotation is checked before a write so a file never ends up empty after rotating. */
  private mustRotate(lineBytes: number, time: string): boolean {
    if (this.size === 0) return false;
    if (this.cfg.rotateBytes !== null && this.size + lineBytes > this.cfg.rotateBytes) return true;
    return this.cfg.rotateDaily && this.day !== null && time.slice(0, 10) !== this.day;
  }

  /** Append one line (rotating first if it would not fit or the UTC day changed). */
  write(line: string, record: AuditRecord): void {
    if (this.closed) throw new Error('audit file sink is closed');
    const bytes = Buffer.byteLength(line);
    if (this.mustRotate(bytes, record.time)) this.rotate();
    this.dest.write(line);
    this.size += bytes;
    if (this.firstSeq === null) {
      this.firstSeq = record.seq;
      this.day = record.time.slice(0, 10);
    }
  }

  /** Close the active file under its rotated name and start a new one. */
  rotate(): void {
    const old = this.dest;
    if (this.cfg.fsync !== 'never') this.fsyncNow(old);
    const target = rotateAside(this.cfg.path, this.firstSeq ?? 0, this.now());
    old.destroy(); // fsyncs and closes asynchronously; the descriptor still points at `target`
    this.dest = this.open();
    this.size = 0;
    this.firstSeq = null;
    this.day = null;
    this.log.info({ rotated_to: target }, 'audit file rotated');
  }

  private fsyncNow(dest: Destination): void {
    try {
      fsyncSync(fdOf(dest));
    } catch (err) {
      this.log.warn({ code: (err as NodeJS.ErrnoException).code }, 'audit file fsync failed');
    }
  }

  /** With fsync=checkpoint: make everything up to the checkpoint just written durable. */
  checkpointed(): void {
    if (this.cfg.fsync !== 'checkpoint' || this.fsyncInFlight) return;
    // Off the event loop: the request path must not wait for the disk. One fsync at a time;
    // a checkpoint arriving meanwhile is covered by the next one (or by close).
    this.fsyncInFlight = true;
    fsync(fdOf(this.dest), (err) => {
      this.fsyncInFlight = false;
      if (err && err.code !== 'EBADF') this.log.warn({ code: err.code }, 'audit file fsync failed');
    });
  }

  async flush(): Promise<void> {
    /* sync mode: every line is in the kernel when write() returns */
  }

  /** fsync (whatever the policy) and close the active file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const dest = this.dest;
    this.fsyncNow(dest);
    await new Promise<void>((resolve) => {
      dest.once('close', () => resolve());
      dest.once('error', () => resolve());
      dest.end();
    });
  }
}
