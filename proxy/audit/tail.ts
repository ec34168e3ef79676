/**
 * Read the ends of an audit file without reading all of it: the last whole record (to continue
 * the chain after a restart), whether the last line is torn (a crash in the middle of a write),
 * and the first record (its seq names the file when it is rotated; its time starts the day for
 * daily rotation).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseLine } from './chain.js';
import type { ChainView } from './chain.js';

/** What the ends of an audit file say. */
export interface FileTail {
  /** Bytes on disk. */
  readonly size: number;
  /** Offset just past the last newline: everything after it is a torn line. */
  readonly wholeBytes: number;
  /** True when the file does not end with a newline (bytes of a partial record follow). */
  readonly torn: boolean;
  /** The last whole line that is a record, or null. */
  readonly last: ChainView | null;
  /** Whole lines after `last` that are not records (corruption, not a crash). */
  readonly badTailLines: number;
  /** The first line, if it is a whole record. */
  readonly first: ChainView | null;
}

const WINDOW = 64 * 1024;
const NL = 0x0a;

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Inspect the file at `path`; null when it does not exist. Synchronous: startup only. */
export function readTail(path: string): FileTail | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { size, wholeBytes: 0, torn: false, last: null, badTailLines: 0, first: null };

    // The end: widen the window until it holds the last newline and one parseable record
    // before it (or the whole file).
    let window = Math.min(WINDOW, size);
    let wholeBytes = 0;
    let last: ChainView | null = null;
    let badTailLines = 0;
    for (;;) {
      const start = size - window;
      const buf = readAt(fd, start, window);
      const lastNl = buf.lastIndexOf(NL);
      if (lastNl === -1 && start > 0) {
        window = Math.min(window * 2, size);
        continue;
      }
      wholeBytes = lastNl === -1 ? 0 : start + lastNl + 1;
      last = null;
      badTailLines = 0;
      let end = lastNl;
      let exhausted = false;
      while (end > 0 || (end === 0 && start === 0)) {
        const prevNl = end === 0 ? -1 : buf.lastIndexOf(NL, end - 1);
        if (prevNl === -1 && start > 0) {
          exhausted = true; // this line may begin before the window
          break;
        }
        const view = parseLine(buf.toString('utf8', prevNl + 1, end));
        if (typeof view !== 'string') {
          last = view;
          break;
        }
        badTailLines++;
        if (prevNl === -1) break;
        end = prevNl;
      }
      if (last || !exhausted || window >= size) break;
      window = Math.min(window * 2, size);
    }

    // The beginning: the first line (bounded: a first line over 1 MiB is not a record of ours).
    let first: ChainView | null = null;
    const head = readAt(fd, 0, Math.min(size, 1024 * 1024));
    const firstNl = head.indexOf(NL);
    if (firstNl !== -1) {
      const view = parseLine(head.toString('utf8', 0, firstNl));
      if (typeof view !== 'string') first = view;
    }
    return { size, wholeBytes, torn: wholeBytes < size, last, badTailLines, first };
  } finally {
    closeSync(fd);
  }
}
