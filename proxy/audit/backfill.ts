/**
 * Reads records back from the audit files by seq, for the SIEM spool: after the spool was full
 * (records were written to the audit file but not spooled) and after a crash between the file
 * write and the spool write. The audit file is the complete record; the spool is only a queue.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseLine } from './chain.js';
import { listRotated, listStreamFiles, parseRotatedName } from './files.js';
import type { SpoolEntry } from './spool.js';

/** Something that can replay records from a seq onwards. */
export interface BackfillSource {
  /**
   * Up to `max` records with seq >= `fromSeq`, in order (the first may be > fromSeq if records
   * are missing from the source). An empty array means nothing more is available yet.
   */
  read(fromSeq: number, max: number): Promise<SpoolEntry[]>;
}

const CHUNK = 1024 * 1024;

/** Reads the stream whose active file is `activePath` (rotated files included). */
export class FileBackfill implements BackfillSource {
  private readonly activePath: string;
  /** Where the last read stopped: the file, the byte offset, and the seq expected there. */
  private pos: { file: string; offset: number; nextSeq: number } | null = null;

  constructor(activePath: string) {
    this.activePath = activePath;
  }

  /** The file that should hold `seq`: the last one whose first record is <= seq. */
  private async locate(seq: number): Promise<string[]> {
    const files = listStreamFiles(this.activePath);
    let startIdx = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const rotated = parseRotatedName(basename(f));
      const first = rotated ? rotated.firstSeq : await this.firstSeqOf(f);
      if (first !== null && first <= seq) startIdx = i;
    }
    return files.slice(startIdx);
  }

  private async firstSeqOf(file: string): Promise<number | null> {
    const fh = await open(file, 'r').catch(() => null);
    if (!fh) return null;
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const nl = buf.indexOf(0x0a);
      if (nl === -1 || nl >= bytesRead) return null;
      const view = parseLine(buf.toString('utf8', 0, nl));
      return typeof view === 'string' ? null : view.seq;
    } finally {
      await fh.close();
    }
  }

  async read(fromSeq: number, max: number): Promise<SpoolEntry[]> {
    // The log may rotate the active file while we await a read (rotation is synchronous, in
    // write). A read that spans a rotation can miss the records of the renamed file, which the
    // caller would take for lost records; so a read only counts if no rotation happened during
    // it, and is otherwise done again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = this.rotationState();
      const got = await this.readOnce(fromSeq, max);
      if (this.rotationState() === before) return got;
      this.pos = null;
    }
    return []; // rotating faster than we can read: the caller waits and asks again
  }

  private rotationState(): string {
    return listRotated(this.activePath).join('\n');
  }

  private async readOnce(fromSeq: number, max: number): Promise<SpoolEntry[]> {
    // Continue where the last call stopped if it asked for this seq. If the first record found
    // there is not `fromSeq` (a rotation renamed the file since), find the file again by seq.
    const pos = this.pos;
    if (pos && pos.nextSeq === fromSeq) {
      const later = listStreamFiles(this.activePath).filter((f) => f !== pos.file && this.isAfter(f, pos.file));
      const got = await this.readFrom([pos.file, ...later], pos.offset, fromSeq, max, true);
      if (got) return got;
    }
    this.pos = null;
    return (await this.readFrom(await this.locate(fromSeq), 0, fromSeq, max, false)) ?? [];
  }

  /** Read records >= fromSeq; with `strict`, null unless the first one is exactly fromSeq. */
  private async readFrom(files: string[], offset: number, fromSeq: number, max: number, strict: boolean): Promise<SpoolEntry[] | null> {
    const out: SpoolEntry[] = [];
    let expect = fromSeq;
    for (let i = 0; i < files.length && out.length < max; i++) {
      const file = files[i]!;
      const fh = await open(file, 'r').catch(() => null);
      if (!fh) return strict && out.length === 0 ? null : out; // renamed meanwhile: next call locates
      try {
        let at = i === 0 ? offset : 0;
        let chunk = CHUNK;
        for (;;) {
          const buf = Buffer.allocUnsafe(chunk);
          const { bytesRead } = await fh.read(buf, 0, chunk, at);
          if (bytesRead === 0) break;
          let p = 0;
          let sawLine = false;
          while (out.length < max) {
            const nl = buf.indexOf(0x0a, p);
            if (nl === -1 || nl >= bytesRead) break;
            sawLine = true;
            const text = buf.toString('utf8', p, nl);
            p = nl + 1;
            const view = parseLine(text);
            if (typeof view === 'string' || view.seq < expect) continue;
            if (strict && out.length === 0 && view.seq !== expect) return null;
            out.push({ seq: view.seq, timeMs: view.time ? Date.parse(view.time) : 0, line: text });
            expect = view.seq + 1;
          }
          at += p;
          if (out.length >= max) break;
          if (!sawLine) {
            if (bytesRead < chunk) break; // only a partial (torn or in-progress) line is left
            chunk *= 2;
          }
        }
        this.pos = { file, offset: at, nextSeq: expect };
      } finally {
        await fh.close();
      }
    }
    // Nothing where we left off: either nothing new yet, or the file was rotated under us and
    // we read its successor at a stale offset. Locating again tells the two apart.
    if (strict && out.length === 0) return null;
    return out;
  }

  /** Is `f` later than `than` in rotation order (the active file is last)? */
  private isAfter(f: string, than: string): boolean {
    if (than === this.activePath) return false;
    if (f === this.activePath) return true;
    const a = parseRotatedName(basename(f));
    const b = parseRotatedName(basename(than));
    if (!a || !b) return false;
    return a.firstSeq > b.firstSeq || (a.firstSeq === b.firstSeq && a.stamp > b.stamp);
  }
}
