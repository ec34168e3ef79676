/**
 * The on-disk spool between the audit log and the SIEM: every record bound for the SIEM is
 * appended here first (synchronously, like the audit file), and the HTTP sender reads it back.
 *
 * Layout of `spool_dir` (created 0700; files 0600):
 *
 *     seg-<first seq, 16 digits>.log   records, one per line: `<seq>\t<epoch ms>\t<audit line>`
 *     cursor.json                      {"delivered_seq": N, "delivered_hash": "…"}
 *
 * A segment holds up to `segmentMaxRecords` records or `segmentMaxBytes` bytes; the sender
 * deletes it once every record in it has been acknowledged (2xx). The cursor is replaced
 * atomically (write + rename) after each acknowledged batch and before the next is sent, so a
 * restart resumes after the last acknowledged record instead of resending the spool.
 *
 * Exactly-once window (documented, not closed): a crash after the SIEM acknowledged a batch
 * but before the cursor rename, or a request that times out or is aborted at close after the
 * SIEM processed it, resends that one batch. Every record carries `seq`, so a receiver can drop
 * the duplicate. The cursor is not fsynced: after a power loss it may also step back.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ChainHead } from './chain.js';
import { parseLine } from './chain.js';

/** One spooled record. */
export interface SpoolEntry {
  readonly seq: number;
  readonly timeMs: number;
  /** The audit line, without its newline. */
  readonly line: string;
}

/** Records read for one delivery attempt, and where the reader stands after them. */
export interface SpoolBatch {
  readonly entries: readonly SpoolEntry[];
  readonly segment: string;
  readonly endOffset: number;
}

/** Options of {@link Spool.open}. */
export interface SpoolOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentMaxRecords: number;
  readonly segmentMaxBytes: number;
  /** Where the stream stands now: a fresh spool starts after it (no history is sent). */
  readonly head: ChainHead;
  readonly log: Logger;
}

interface Segment {
  readonly name: string;
  readonly path: string;
  size: number;
}

const SEGMENT = /^seg-(\d{16})\.log$/;
const CURSOR = 'cursor.json';
const READ_CHUNK = 1024 * 1024;

function segmentName(seq: number): string {
  return `seg-${String(seq).padStart(16, '0')}.log`;
}

/** Parse `<seq>\t<ms>\t<line>`; null if the line is not one. */
function parseSpoolLine(text: string): SpoolEntry | null {
  const t1 = text.indexOf('\t');
  const t2 = t1 === -1 ? -1 : text.indexOf('\t', t1 + 1);
  if (t2 === -1) return null;
  const seq = Number(text.slice(0, t1));
  const timeMs = Number(text.slice(t1 + 1, t2));
  if (!Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(timeMs)) return null;
  return { seq, timeMs, line: text.slice(t2 + 1) };
}

/** Byte offset just past the last newline of a file (0 if none); counted in bytes, not chars. */
function endOfLastLine(fd: number, size: number): number {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - buf.length);
    const n = readSync(fd, buf, 0, end - start, start);
    const nl = buf.subarray(0, n).lastIndexOf(0x0a);
    if (nl !== -1) return start + nl + 1;
    end = start;
  }
  return 0;
}

/** Read the last whole line of a file (sync, startup only). */
function lastLineOf(path: string, size: number): string | null {
  if (size === 0) return null;
  const fd = openSync(path, 'r');
  try {
    for (let window = Math.min(size, 64 * 1024); ; window = Math.min(size, window * 2)) {
      const buf = Buffer.allocUnsafe(window);
      const n = readSync(fd, buf, 0, window, size - window);
      const text = buf.toString('utf8', 0, n);
      const end = text.endsWith('\n') ? text.length - 1 : text.length;
      const start = text.lastIndexOf('\n', end - 1);
      if (start !== -1 || window === size) return text.slice(start + 1, end);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The spool. Appends are synchronous (they run inside AuditLog.write); reads, acknowledgements
 * and deletions are asynchronous and only done by the one sender.
 */
export class Spool {
  /** Bytes of all segment files (including delivered records of the head segment). */
  bytes = 0;
  /** Highest seq in the spool (or the cursor's, when the spool is empty). */
  lastSeq: number;
  /** Last seq the SIEM acknowledged. */
  deliveredSeq: number;
  /** True when this open created the spool (no cursor existed). */
  readonly fresh: boolean;

  private readonly opts: SpoolOptions;
  private readonly segs: Segment[];
  private lastHash: string | null;
  private active: { seg: Segment; fd: number; records: number } | null = null;
  private readOffset = 0;
  private reader: { name: string; fh: FileHandle } | null = null;
  private closed = false;

  private constructor(opts: SpoolOptions, segs: Segment[], delivered: ChainHead | null) {
    this.opts = opts;
    this.segs = segs;
    this.fresh = delivered === null;
    const start = delivered ?? opts.head;
    this.deliveredSeq = start.seq;
    this.lastSeq = start.seq;
    this.lastHash = start.hash;
    for (const s of segs) this.bytes += s.size;
  }

  /**
   * Open (or create) the spool in `opts.dir`. Truncates a torn last line left by a crash (the
   * spool is a delivery buffer, not evidence: the audit file keeps the torn line).
   */
  static open(opts: SpoolOptions): Spool {
    if (!existsSync(opts.dir)) mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    let delivered: ChainHead | null = null;
    const cursorPath = join(opts.dir, CURSOR);
    if (existsSync(cursorPath)) {
      try {
        const c = JSON.parse(readFileSync(cursorPath, 'utf8')) as { delivered_seq?: unknown; delivered_hash?: unknown };
        if (typeof c.delivered_seq === 'number' && Number.isSafeInteger(c.delivered_seq) && c.delivered_seq >= 0) {
          delivered = { seq: c.delivered_seq, hash: typeof c.delivered_hash === 'string' ? c.delivered_hash : '' };
        }
      } catch {
        /* handled below */
      }
      if (!delivered) {
        // Resending the spool is better than skipping it: duplicates can be dropped by seq.
        opts.log.warn({ spool_dir: opts.dir }, 'audit spool cursor unreadable; resending every spooled record');
        delivered = { seq: 0, hash: '' };
      }
    }
    const segs: Segment[] = readdirSync(opts.dir)
      .filter((n) => SEGMENT.test(n))
      .sort()
      .map((name) => {
        const path = join(opts.dir, name);
        return { name, path, size: statSync(path).size };
      });
    const spool = new Spool(opts, segs, delivered);
    const last = segs[segs.length - 1];
    if (last) {
      const fd = openSync(last.path, 'r+');
      try {
        const size = fstatSync(fd).size;
        const tail = Buffer.alloc(1);
        if (size > 0 && (readSync(fd, tail, 0, 1, size - 1), tail[0] !== 0x0a)) {
          const keep = endOfLastLine(fd, size);
          ftruncateSync(fd, keep);
          spool.bytes -= size - keep;
          last.size = keep;
          opts.log.warn({ spool_dir: opts.dir, segment: last.name }, 'audit spool: dropped a torn last line left by a crash');
        }
      } finally {
        closeSync(fd);
      }
    }
    for (let i = segs.length - 1; i >= 0; i--) {
      const seg = segs[i]!;
      const text = lastLineOf(seg.path, seg.size);
      const entry = text === null ? null : parseSpoolLine(text);
      if (!entry) continue;
      if (entry.seq > spool.lastSeq) {
        spool.lastSeq = entry.seq;
        const view = parseLine(entry.line);
        spool.lastHash = typeof view === 'string' ? null : view.hash;
      }
      break;
    }
    if (spool.fresh) spool.writeCursorSync();
    return spool;
  }

  /** The newest record the spool knows of, for chain recovery when there is no audit file. */
  head(): ChainHead | null {
    return this.lastHash ? { seq: this.lastSeq, hash: this.lastHash } : null;
  }

  /** Records spooled and not yet acknowledged (an upper bound if seqs were skipped). */
  get pending(): number {
    return Math.max(0, this.lastSeq - this.deliveredSeq);
  }

  /**
   * Append one record. Returns false, writing nothing, when it would take the spool past
   * `maxBytes`. A failed write is rolled back (ftruncate) so no torn line stays behind, and
   * the error is thrown to the caller.
   */
  append(seq: number, timeMs: number, line: string): boolean {
    if (this.closed) throw new Error('audit spool is closed');
    const data = Buffer.from(`${seq}\t${timeMs}\t${line.endsWith('\n') ? line : line + '\n'}`);
    if (this.bytes + data.length > this.opts.maxBytes) return false;
    let a = this.active;
    if (!a || a.records >= this.opts.segmentMaxRecords || a.seg.size >= this.opts.segmentMaxBytes) {
      this.sealActive();
      const name = segmentName(seq);
      // A name can come back after a crash emptied a segment: keep appending to that one.
      let seg = this.segs.find((s) => s.name === name);
      if (!seg) {
        seg = { name, path: join(this.opts.dir, name), size: 0 };
        this.segs.push(seg);
      }
      const fd = openSync(seg.path, 'a', 0o600);
      a = this.active = { seg, fd, records: 0 };
    }
    let written = 0;
    try {
      while (written < data.length) written += writeSync(a.fd, data, written, data.length - written);
    } catch (err) {
      try {
        ftruncateSync(a.fd, a.seg.size);
      } catch {
        /* the next open truncates the torn line */
      }
      throw err;
    }
    a.seg.size += data.length;
    a.records++;
    this.bytes += data.length;
    this.lastSeq = seq;
    this.lastHash = null; // computed lazily only at startup; not needed while running
    return true;
  }

  private sealActive(): void {
    if (!this.active) return;
    closeSync(this.active.fd);
    this.active = null;
  }

  /**
   * Up to `max` unacknowledged records from the oldest segment, in seq order; null when the
   * reader has caught up with the writer. A batch never spans two segments.
   */
  async readBatch(max: number): Promise<SpoolBatch | null> {
    for (;;) {
      if (this.closed) return null;
      const seg = this.segs[0];
      if (!seg) return null;
      if (this.readOffset >= seg.size) {
        if (this.active?.seg === seg) return null;
        await this.dropHead();
        continue;
      }
      if (!this.reader || this.reader.name !== seg.name) {
        await this.closeReader();
        this.reader = { name: seg.name, fh: await open(seg.path, 'r') };
      }
      let chunk = Math.min(seg.size - this.readOffset, READ_CHUNK);
      for (;;) {
        const buf = Buffer.allocUnsafe(chunk);
        const { bytesRead } = await this.reader.fh.read(buf, 0, chunk, this.readOffset);
        const entries: SpoolEntry[] = [];
        let consumed = 0; // bytes of whole lines taken or skipped
        while (entries.length < max) {
          const nl = buf.indexOf(0x0a, consumed);
          if (nl === -1 || nl >= bytesRead) break;
          const entry = parseSpoolLine(buf.toString('utf8', consumed, nl));
          consumed = nl + 1;
          if (!entry) {
            this.opts.log.warn({ segment: seg.name }, 'audit spool: skipped an unreadable line');
            continue;
          }
          if (entry.seq <= this.deliveredSeq) continue; // acknowledged before a restart
          entries.push(entry);
        }
        if (consumed === 0 && chunk < seg.size - this.readOffset) {
          chunk = Math.min(chunk * 2, seg.size - this.readOffset); // a line longer than the chunk
          continue;
        }
        if (entries.length === 0) {
          if (consumed === 0) return null; // only a line being written
          this.readOffset += consumed;
          break; // all skipped: look again
        }
        return { entries, segment: seg.name, endOffset: this.readOffset + consumed };
      }
    }
  }

  /**
   * Record that the SIEM acknowledged `batch`: persist the cursor first, then advance the
   * reader and delete segments that are fully delivered.
   */
  async ack(batch: SpoolBatch): Promise<void> {
    const last = batch.entries[batch.entries.length - 1];
    if (!last) return;
    const view = parseLine(last.line);
    await this.writeCursor(last.seq, typeof view === 'string' ? '' : view.hash);
    this.deliveredSeq = Math.max(this.deliveredSeq, last.seq);
    const seg = this.segs[0];
    if (!seg || seg.name !== batch.segment) return;
    this.readOffset = batch.endOffset;
    if (this.readOffset >= seg.size) {
      // Fully delivered. If it is the segment being written, seal it so it can go now and the
      // spool drains to zero bytes (this is what frees room after the spool filled up).
      if (this.active?.seg === seg) this.sealActive();
      await this.dropHead();
    }
  }

  private async dropHead(): Promise<void> {
    const seg = this.segs.shift();
    if (!seg) return;
    if (this.reader?.name === seg.name) await this.closeReader();
    try {
      unlinkSync(seg.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.bytes -= seg.size;
    this.readOffset = 0;
  }

  private async closeReader(): Promise<void> {
    const r = this.reader;
    this.reader = null;
    if (r) await r.fh.close().catch(() => undefined);
  }

  private cursorJson(seq: number, hash: string): string {
    return JSON.stringify({ delivered_seq: seq, delivered_hash: hash }) + '\n';
  }

  private writeCursorSync(): void {
    const fd = openSync(join(this.opts.dir, CURSOR), 'w', 0o600);
    try {
      writeSync(fd, this.cursorJson(this.deliveredSeq, this.lastHash ?? ''));
    } finally {
      closeSync(fd);
    }
  }

  private async writeCursor(seq: number, hash: string): Promise<void> {
    const path = join(this.opts.dir, CURSOR);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, this.cursorJson(seq, hash), { mode: 0o600 });
    await rename(tmp, path); // atomic replace: a crash leaves the old or the new cursor
  }

  /** Close descriptors; spooled records stay on disk for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.sealActive();
    await this.closeReader();
  }
}
