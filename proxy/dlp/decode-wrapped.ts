/**
 * Encoded data broken into lines, read whole. `base64 file` wraps at 76 columns, `openssl
 * base64` and PEM bodies at 64, `xxd -p` at 60 hex digits, and `xxd` and `hexdump -C` lay bytes
 * out 16 to a line between an offset and an ASCII column: agents run these to look at a file and
 * send the output to a model as a tool result. Read line by line, a value that straddles a line
 * break (most values longer than a few characters) is in no view at all, so a block of such lines
 * is read as one run.
 */
import { isUtf8 } from 'node:buffer';
import { base64Sextet, type Base64Run } from './decode-base64.js';
import { hexVal } from './decode-percent.js';

/** Lines of one block, joined: where the block sits in the text and its encoded characters. */
export interface WrappedBlock {
  readonly start: number;
  readonly end: number;
  /** The encoded characters of every line, without the line breaks and indentation. */
  readonly joined: string;
  /**
   * Where in `joined` a short last line starts, or -1. Such a line may be the next line of text
   * instead (`OK` after output whose lines are all full): read the block without it too.
   */
  readonly tail: number;
  /** Indices into the runs given to wrappedBlocks: [first, last] of the lines that were runs. */
  readonly firstRun: number;
  readonly lastRun: number;
}

/** Whether `s[a, b)` is one line break (`\n` or `\r\n`) and then only spaces or tabs. */
function lineBreakOnly(s: string, a: number, b: number): boolean {
  let k = a;
  if (s.charCodeAt(k) === 0x0d) k++;
  if (s.charCodeAt(k) !== 0x0a) return false;
  for (k++; k < b; k++) {
    const c = s.charCodeAt(k);
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

/**
 * Blocks of two or more lines that are each one run of the base64 alphabet (hex digits are a
 * subset), all of one width but the last, which may be shorter (and shorter than a run: it is
 * looked for after the last full line). `runs` are findBase64Runs(s), in order.
 */
export function wrappedBlocks(s: string, runs: readonly Base64Run[]): WrappedBlock[] {
  const blocks: WrappedBlock[] = [];
  for (let k = 0; k < runs.length; k++) {
    const first = runs[k] as Base64Run;
    const width = first.end - first.start;
    if (s.charCodeAt(first.end - 1) === 0x3d) continue; // padded: the last line of something
    let m = k;
    while (m + 1 < runs.length) {
      const cur = runs[m] as Base64Run;
      const next = runs[m + 1] as Base64Run;
      if (cur.end - cur.start !== width || s.charCodeAt(cur.end - 1) === 0x3d) break;
      if (next.end - next.start > width || !lineBreakOnly(s, cur.end, next.start)) break;
      m++;
    }
    const fullEnd = (runs[m] as Base64Run).end;
    let end = fullEnd;
    let lines = m - k + 1;
    // A last line shorter than a run: after a full line, a line break, then alphabet characters
    // (and padding) up to the end of the line.
    if (end - (runs[m] as Base64Run).start === width && s.charCodeAt(end - 1) !== 0x3d) {
      let p = end;
      if (s.charCodeAt(p) === 0x0d) p++;
      if (s.charCodeAt(p) === 0x0a) {
        p++;
        while (s.charCodeAt(p) === 0x20 || s.charCodeAt(p) === 0x09) p++;
        let q = p;
        while (q < s.length && q - p < width && base64Sextet(s.charCodeAt(q)) >= 0) q++;
        let pad = 0;
        while (pad < 2 && s.charCodeAt(q) === 0x3d) { q++; pad++; }
        const c = s.charCodeAt(q);
        const lineEnds = q >= s.length || c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09 || c === 0x22 || c === 0x27;
        if (q > p && lineEnds && (m + 1 >= runs.length || (runs[m + 1] as Base64Run).start >= q)) {
          end = q;
          lines++;
        }
      }
    }
    if (lines >= 2) {
      const full = s.slice(first.start, fullEnd).replace(/\s+/g, '');
      const joined = end === fullEnd ? full : full + s.slice(fullEnd, end).replace(/\s+/g, '');
      blocks.push({ start: first.start, end, joined, tail: end === fullEnd ? -1 : full.length, firstRun: k, lastRun: m });
    }
    k = m;
  }
  return blocks;
}

/** Bytes laid out by a hex dump (`xxd`, `hexdump -C`), and where the dump sits in the text. */
export interface HexDump {
  readonly start: number;
  readonly end: number;
  /** The dump's bytes, as hex digits. */
  readonly hex: string;
}

/**
 * One line of a dump: its offset and its bytes as hex digits, or null when it is not one. Reads
 * at most 17 digits of offset, 9 of a group and `maxBytes` bytes, whatever the line holds after.
 */
function dumpLine(s: string, from: number, to: number, maxBytes: number): { offset: number; hex: string } | null {
  let p = from;
  while (p < to && s.charCodeAt(p) === 0x20) p++;
  const o = p;
  while (p < to && p - o <= 16 && hexVal(s.charCodeAt(p)) >= 0) p++;
  if (p - o < 6 || p - o > 16) return null;
  const offset = parseInt(s.slice(o, p), 16);
  if (s.charCodeAt(p) === 0x3a) p++; // xxd's `00000010:`
  let hex = '';
  while (p < to && hex.length < maxBytes * 2) {
    let gap = 0;
    while (p < to && gap <= 2 && s.charCodeAt(p) === 0x20) { p++; gap++; }
    if (gap === 0 || gap > 2) break;
    const g = p;
    while (p < to && p - g <= 8 && hexVal(s.charCodeAt(p)) >= 0) p++;
    const len = p - g;
    // A group is 2, 4 or 8 digits (xxd -g1/-g2/-g4; hexdump -C: 2) ending at a space or the line end.
    if ((len !== 2 && len !== 4 && len !== 8) || (p < to && s.charCodeAt(p) !== 0x20)) {
      p = g;
      break;
    }
    hex += s.slice(g, p);
  }
  return hex.length > 0 ? { offset, hex: hex.slice(0, maxBytes * 2) } : null;
}

/**
 * Hex dumps of two or more lines whose offsets follow from the bytes before them (what tells a
 * dump from a table of numbers), from offset 0 (`00000000`, where every dump of a whole file
 * starts: the cheap test for whether a text holds one). The second line's offset gives the
 * bytes per line: a line's ASCII column may begin with what reads as more hex groups.
 *
 * Each `00000000` is tried as a dump's start, and costs a bounded amount however the text goes
 * on (red team, session 15: a run of zeros, each position of which is a start, took 21 s per
 * 64 KiB): a line's offset and groups are read to their longest (dumpLine), and line ends come
 * from one pass over the text's newlines, not a search to the end of a line per start.
 */
export function hexDumps(s: string): HexDump[] {
  const dumps: HexDump[] = [];
  const lineEnd = lineEnds(s);
  for (let at = s.indexOf('00000000'); at !== -1; at = s.indexOf('00000000', at + 1)) {
    // An offset is at most 16 digits: in a longer run of hex digits, the first start whose
    // offset can be read is 16 digits before the run's end.
    let runEnd = at + 8;
    while (runEnd < s.length && runEnd - at <= 16 && hexVal(s.charCodeAt(runEnd)) >= 0) runEnd++;
    if (runEnd - at > 16) {
      while (runEnd < s.length && hexVal(s.charCodeAt(runEnd)) >= 0) runEnd++;
      at = runEnd - 17;
      continue;
    }
    // The first line from its offset: whatever comes before it on its line (a prompt, the `"`
    // that opens a JSON string in the fast path's buffers) is not part of the dump.
    const blockStart = at;
    let lineStart = blockStart;
    let hex = '';
    let width = 0;
    let lines = 0;
    let end = blockStart;
    let pending: { offset: number; hex: string } | null = null;
    let pendingEnd = blockStart;
    while (lineStart < s.length) {
      const lEnd = lineEnd(lineStart);
      if (pending === null && lEnd >= s.length) break; // one line, the text's last: not a dump
      const line = dumpLine(s, lineStart, lEnd, 64);
      if (line === null) break;
      if (pending === null) {
        if (line.offset !== 0) break;
      } else {
        if (width === 0) width = line.offset - pending.offset;
        // The line before was a whole line of `width` bytes, and this one starts after it.
        if (width <= 0 || pending.hex.length < width * 2 || line.offset !== pending.offset + width) break;
        hex += pending.hex.slice(0, width * 2);
        lines++;
      }
      pending = line;
      pendingEnd = lEnd;
      lineStart = lEnd + 1;
    }
    if (pending !== null && width > 0 && lines > 0) {
      // The last line: up to `width` bytes (a short last line is padded to the ASCII column).
      hex += pending.hex.slice(0, width * 2);
      lines++;
      end = pendingEnd;
    }
    if (lines >= 2) dumps.push({ start: blockStart, end, hex });
    at = Math.max(at, end - 8);
  }
  return dumps;
}

/**
 * The end of the line holding a position (the next `\n`, or the text's end). Newlines are found
 * once, as far as asked, and looked up by binary search.
 */
function lineEnds(s: string): (pos: number) => number {
  const nls: number[] = [];
  let scanned = 0;
  return (pos: number): number => {
    while ((nls.length === 0 || (nls[nls.length - 1] as number) < pos) && scanned < s.length) {
      const nl = s.indexOf('\n', scanned);
      if (nl === -1) {
        scanned = s.length;
        break;
      }
      nls.push(nl);
      scanned = nl + 1;
    }
    let lo = 0;
    let hi = nls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((nls[mid] as number) < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo < nls.length ? (nls[lo] as number) : s.length;
  };
}

/**
 * The start of what hexDumps reads (offset 0, then a group), as one more source of the RE2 set
 * that decides the fast path (detectors.ts): in that pass it costs nothing, where a search for
 * `00000000` of its own cost ~1.9 ms per 4 MiB of chat. mightMatch is true wherever a dump may
 * start, so the fast path leaves such bodies to the full path, which reads the dump.
 */
export const HEX_DUMP_PREFILTER = '00000000:? {1,2}[0-9A-Fa-f]{2}';

/** `od -c`'s escapes (`\0`, `\a`, `\b`, `\f`, `\n`, `\r`, `\t`, `\v`) and the bytes they stand for. */
const OD_ESCAPES: Readonly<Record<string, number>> = { 0: 0, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** Most fields a line of `od -c` is read with (`-w32`; the default is 16). */
const OD_MAX_FIELDS = 32;

/**
 * The byte of one 4-character field of `od -c` at `s[p]`: `   c` (a printable character), four
 * spaces (a space), `  \n` (an escape), ` 303` (any other byte, in octal); -1 when it is not one.
 */
function odField(s: string, p: number): number {
  if (s.charCodeAt(p) !== 0x20) return -1;
  const a = s.charCodeAt(p + 1);
  const b = s.charCodeAt(p + 2);
  const c = s.charCodeAt(p + 3);
  if (a === 0x20 && b === 0x20) return c >= 0x20 && c < 0x7F ? c : -1;
  if (a === 0x20 && b === 0x5C) return OD_ESCAPES[String.fromCharCode(c)] ?? -1;
  if (a >= 0x30 && a <= 0x33 && b >= 0x30 && b <= 0x37 && c >= 0x30 && c <= 0x37) return (a - 0x30) * 64 + (b - 0x30) * 8 + (c - 0x30);
  return -1;
}

/** Whether `b`, a field's byte, is one OD_DUMP_PREFILTER counts (not a space). */
function odMark(b: number): boolean {
  return b !== 0x20;
}

/**
 * `od -c` and `od -An -c` dumps (red team, session 14, F8): lines of 4-character fields, after
 * an octal offset or none, each field a byte (odField). A value in one is split by spaces, and
 * across lines. Consecutive such lines are read as one run of bytes, as hex digits (the views
 * read them as they read hexDumps'). A block is read when it holds three non-space fields in a
 * row (what OD_DUMP_PREFILTER looks for, so the fast path steps aside on every block read here);
 * `*` (a repeated line) ends it.
 */
export function charDumps(s: string): HexDump[] {
  const dumps: HexDump[] = [];
  if (!OD_DUMP_TEST.test(s)) return dumps;
  let blockStart = -1;
  let blockEnd = -1;
  let lines: string[] = [];
  let marked = false;
  const close = (): void => {
    if (blockStart >= 0 && marked) {
      // A line that ended in spaces may have lost them (an editor, a chat client): every line
      // but the last holds as many bytes as the offsets say (`od -c`), or as the longest
      // (`od -An -c`).
      const width = firstOffset >= 0 && secondOffset > firstOffset ? (secondOffset - firstOffset) * 2 : lines.slice(0, -1).reduce((m, l) => Math.max(m, l.length), 0);
      const hex = lines.map((l, k) => (k < lines.length - 1 ? l.padEnd(width, '20') : l)).join('');
      dumps.push({ start: blockStart, end: blockEnd, hex });
    }
    blockStart = -1;
    lines = [];
    marked = false;
    firstOffset = -1;
    secondOffset = -1;
  };
  let firstOffset = -1;
  let secondOffset = -1;
  let lineStart = 0;
  while (lineStart <= s.length) {
    let lineEnd = s.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = s.length;
    // An offset (`0000020`), or none (`od -An`); then whole fields to the line's end.
    let p = lineStart;
    while (p < lineEnd && s.charCodeAt(p) >= 0x30 && s.charCodeAt(p) <= 0x37) p++;
    if (p - lineStart > 0 && p - lineStart < 7) p = lineEnd + 1; // not an offset: not a line of a dump
    const offset = p > lineStart && p <= lineEnd ? parseInt(s.slice(lineStart, p), 8) : -1;
    let line = '';
    let fields = 0;
    let run = 0;
    let lineMarked = false;
    while (p + 4 <= lineEnd && fields < OD_MAX_FIELDS) {
      const b = odField(s, p);
      if (b < 0) break;
      line += (b < 16 ? '0' : '') + b.toString(16);
      run = odMark(b) ? run + 1 : 0;
      if (run >= 3) lineMarked = true;
      fields++;
      p += 4;
    }
    // Trailing spaces may have been trimmed from a last space field: what is left is spaces.
    const rest = s.slice(p, lineEnd);
    const whole = fields > 0 && p <= lineEnd && /^ {0,3}\r?$/.test(rest);
    if (whole) {
      if (blockStart < 0) blockStart = lineStart;
      if (lines.length === 0) firstOffset = offset;
      if (lines.length === 1) secondOffset = offset;
      lines.push(line);
      blockEnd = lineEnd;
      marked ||= lineMarked;
    } else {
      close();
    }
    lineStart = lineEnd + 1;
  }
  close();
  return dumps;
}

/**
 * Three fields of `od -c` in a row that are not spaces: what charDumps needs in a block, as one
 * more source of the RE2 set that decides the fast path (detectors.ts), as HEX_DUMP_PREFILTER.
 */
export const OD_DUMP_PREFILTER = '(?: {3}[!-~]| {2}\\\\[0abfnrtv]| [0-3][0-7]{2}){3}';
const OD_DUMP_TEST = new RegExp(OD_DUMP_PREFILTER);

/**
 * Whether the bytes of a charDumps block (hex digits) are text worth a view: 8 bytes or more
 * (`od -c` of an SSN and its newline is 12), UTF-8, at most 10% control characters other than
 * tab, LF and CR.
 */
export function readableCharDump(hex: string): boolean {
  if (hex.length < 16) return false;
  const bytes = Buffer.from(hex, 'hex');
  if (!isUtf8(bytes)) return false;
  let bad = 0;
  for (const b of bytes) if ((b < 0x20 && b !== 0x09 && b !== 0x0A && b !== 0x0D) || b === 0x7F) bad++;
  return bad <= Math.floor(bytes.length / 10);
}

/**
 * Fewest fields in a row, each after one space, on a line of a numberDumps block without offsets
 * (`od -An -tx1`): 8 bytes, what NUMBER_DUMP_PREFILTER looks for.
 */
const MIN_BARE_FIELDS = 8;
/** Most bytes a line of numberDumps holds (`od -w64`; the default is 16). */
const MAX_LINE_BYTES = 64;

/** One line of a numberDumps block: its offset as written (or null), field width, bytes. */
interface NumberLine {
  readonly offset: string | null;
  readonly width: number;
  readonly hex: string;
  readonly bytes: number;
  /** The most fields in a row that each follow exactly one space. */
  readonly single: number;
}

/** Value of a lower-case hex digit (od and hexdump write no other), -1 otherwise. */
function lowerHex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function isOctalCode(c: number): boolean {
  return c >= 0x30 && c <= 0x37;
}

/**
 * A line of `od -t x1`, `od -x`, `od -t x4`, `od -b`, `od -An -tx1`, `od -t x1z`, `hexdump`,
 * `hexdump -x`, `hexdump -b`: an optional offset of 6–16 digits, then fields of one width (2 hex
 * digits, 3 octal digits of at most 377, 4 or 8 hex digits: little-endian words, as od and
 * hexdump print them on the x86 and ARM hosts agents run on) after 1–4 spaces each (none before
 * the first, when a line without an offset lost its leading space), then nothing but spaces, or
 * an ASCII column after two spaces (`  >key A<`, `  |key A|`). Null when it is not one. Reads
 * at most MAX_LINE_BYTES fields and the spaces after them.
 */
function numberLine(s: string, from: number, to: number): NumberLine | null {
  let p = from;
  let offset: string | null = null;
  while (p < to && p - from <= 16 && lowerHex(s.charCodeAt(p)) >= 0) p++;
  if (p - from >= 6 && p - from <= 16 && s.charCodeAt(p) === 0x20) offset = s.slice(from, p);
  else p = from; // a field, or not a line of a dump
  let width = 0;
  let hex = '';
  let fields = 0;
  let single = 0;
  let run = 0;
  while (p < to && hex.length < MAX_LINE_BYTES * 2) {
    const g0 = p;
    while (p < to && p - g0 < 4 && s.charCodeAt(p) === 0x20) p++;
    if ((p === g0 && (fields > 0 || offset !== null)) || s.charCodeAt(p) === 0x20) { p = g0; break; }
    const g = p;
    while (p < to && p - g <= 8 && lowerHex(s.charCodeAt(p)) >= 0) p++;
    const len = p - g;
    if (len === 0 || (width !== 0 && len !== width) || (width === 0 && len !== 2 && len !== 3 && len !== 4 && len !== 8)) { p = g0; break; }
    if (p < to && s.charCodeAt(p) !== 0x20 && s.charCodeAt(p) !== 0x0D) { p = g0; break; }
    if (len === 3) {
      const a = s.charCodeAt(g);
      if (a > 0x33 || !isOctalCode(a) || !isOctalCode(s.charCodeAt(g + 1)) || !isOctalCode(s.charCodeAt(g + 2))) { p = g0; break; }
      const v = parseInt(s.slice(g, p), 8);
      hex += (v < 16 ? '0' : '') + v.toString(16);
    } else if (len === 2) {
      hex += s.slice(g, p);
    } else {
      // A little-endian word: its bytes from the last pair to the first.
      for (let k = p - 2; k >= g; k -= 2) hex += s.slice(k, k + 2);
    }
    width = len;
    fields++;
    run = g - g0 === 1 ? run + 1 : 0;
    if (run > single) single = run;
  }
  if (fields === 0) return null;
  // The rest of the line: spaces, or an ASCII column after two spaces or more.
  let q = p;
  while (q < to && s.charCodeAt(q) === 0x20) q++;
  const c = s.charCodeAt(q);
  const rest = q >= to || (c === 0x0D && q + 1 >= to) || (q - p >= 2 && (c === 0x3E || c === 0x7C));
  if (!rest) return null;
  return { offset, width, hex, bytes: hex.length / 2, single };
}

/** Whether a block's offsets start at 0 and step by the bytes of each line, read in some radix od or hexdump writes. */
function offsetsAgree(lines: readonly NumberLine[]): boolean {
  if (parseInt(lines[0]?.offset as string, 16) !== 0) return false;
  return [8, 16, 10].some((radix) => lines.every((l, k) => {
    if (k === 0) return true;
    const prev = lines[k - 1] as NumberLine;
    return parseInt(l.offset as string, radix) - parseInt(prev.offset as string, radix) === prev.bytes;
  }));
}

/**
 * Dumps of bytes as numbers (numberLine): `od -t x1`, `od -x`, `od -t x4`, `od -b`, `hexdump`,
 * `hexdump -x`, `hexdump -b`, from offset 0 (where every dump of a whole file starts), and
 * `od -An -tx1` (no offsets, 2-digit fields, MIN_BARE_FIELDS of them in a row on a line); `od
 * -c` is charDumps', `xxd` and `hexdump -C` hexDumps'. A block is consecutive lines of one field
 * width, offsets on all of them or none, every line but the last as long as the first, offsets
 * that step by a line's bytes. `*` (a repeated line), a line with an offset only (the total od and
 * hexdump end with) or another offset 0 ends a block. What starts a block read here is what
 * NUMBER_DUMP_PREFILTER looks for, so the fast path steps aside on every block read here; its
 * bytes come out as hex digits, as hexDumps' do. One pass over the lines, each given up on at its
 * first character that is not a dump's (prose: the first; no regular expression, which cost ~50
 * ms per 4 MiB of chat and ~700 ms per 4 MiB of spaces).
 *
 * Not read: `od -An` in other formats than `-tx1`, and dumps that start past offset 0 (`od -j`):
 * a prefilter for their lines cost the fast path ~1 ms per 4 MiB of chat.
 */
export function numberDumps(s: string): HexDump[] {
  const dumps: HexDump[] = [];
  let lines: NumberLine[] = [];
  let blockStart = -1;
  let blockEnd = -1;
  const close = (): void => {
    const first = lines[0];
    const read = first !== undefined && (first.offset === null
      ? first.width === 2 && lines.some((l) => l.single >= MIN_BARE_FIELDS)
      : offsetsAgree(lines));
    if (read) {
      let hex = lines.map((l) => l.hex).join('');
      // A last word is padded with NULs (`od -x` of an odd number of bytes): up to a word less a byte.
      const size = first.width === 3 ? 1 : first.width / 2;
      for (let pad = 0; pad < size - 1 && hex.endsWith('00'); pad++) hex = hex.slice(0, -2);
      dumps.push({ start: blockStart, end: blockEnd, hex });
    }
    lines = [];
    blockStart = -1;
  };
  for (let lineStart = 0; lineStart <= s.length;) {
    let lineEnd = s.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = s.length;
    const line = numberLine(s, lineStart, lineEnd);
    const first = lines[0];
    const last = lines[lines.length - 1];
    const fits = line !== null && first !== undefined && last !== undefined && line.width === first.width
      && (line.offset === null) === (first.offset === null) && last.bytes === first.bytes && line.bytes <= first.bytes
      && (line.offset === null || parseInt(line.offset, 16) !== 0);
    if (!fits) close();
    if (line !== null) {
      if (lines.length === 0) blockStart = lineStart;
      lines.push(line);
      blockEnd = lineEnd;
    }
    lineStart = lineEnd + 1;
  }
  close();
  return dumps;
}

/**
 * Where a block numberDumps reads starts: offset 0 (at least 6 zeros), spaces and a field, or 8
 * fields of 2 digits each after one space. One more source of the RE2 set that decides the fast
 * path (detectors.ts), as HEX_DUMP_PREFILTER. Lower case, single spaces and the offset keep it
 * cheap there: fields of every width after 1–4 spaces anywhere cost ~1 ms per 4 MiB of chat.
 */
export const NUMBER_DUMP_PREFILTER = '0{6} {1,4}[0-9a-f]{2}|(?: [0-9a-f]{2}){8}';
