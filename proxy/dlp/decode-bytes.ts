/**
 * Bytes written out as numbers: `JSON.stringify(buffer)` (`{"type":"Buffer","data":[71,73,…]}`),
 * Python's `list(data)`, a `Uint8Array` as Node prints it, `xxd -i` (`0x47, 0x49, …`) and
 * `console.log(buffer)` (`<Buffer 47 49 …>`). A tool that serialises a buffer writes a file's
 * text this way, and one line of code reads it back. A list of at least MIN_BYTES numbers of
 * 0–255 that decodes to mostly printable UTF-8 becomes a view, as a base64 run does.
 */
import { isUtf8 } from 'node:buffer';
import { hexVal } from './decode-percent.js';

/** Shortest list read: 16 bytes, as for hex runs (decode-hex.ts MIN_HEX_RUN). */
export const MIN_BYTES = 16;

/** A list of byte values in a text: where it sits and what it holds. */
export interface ByteList {
  readonly start: number;
  readonly end: number;
  readonly bytes: Buffer;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The values of a list starting at `at(p)` (just after its opening `[`, `{` or `(`): decimal or
 * `0x` hex numbers of 0–255 separated by commas and white space, up to its closing bracket; null
 * when something else comes first. `at(k)` is the character code at k, or -1 past the end.
 */
function readList(at: (k: number) => number, p: number, close: number): { values: number[]; end: number } | null {
  const values: number[] = [];
  let k = p;
  for (;;) {
    while (isSpace(at(k))) k++;
    if (at(k) === close) return { values, end: k + 1 };
    let v = -1;
    if (at(k) === 0x30 && (at(k + 1) === 0x78 || at(k + 1) === 0x58)) {
      const hi = hexVal(at(k + 2));
      const lo = hexVal(at(k + 3));
      if (hi < 0) return null;
      v = lo < 0 ? hi : hi * 16 + lo;
      k += lo < 0 ? 3 : 4;
      if (hexVal(at(k)) >= 0) return null;
    } else if (isDigit(at(k))) {
      v = 0;
      let digits = 0;
      while (isDigit(at(k)) && digits < 4) { v = v * 10 + at(k) - 0x30; k++; digits++; }
      if (isDigit(at(k)) || v > 255) return null;
    } else {
      return null;
    }
    values.push(v);
    while (isSpace(at(k))) k++;
    if (at(k) === 0x2c) k++;
    else if (at(k) !== close) return null;
  }
}

/** Whether `bytes` are mostly printable UTF-8: at most one control character (other than tab, CR, LF) in ten. */
export function printableBytes(bytes: Uint8Array): boolean {
  if (!isUtf8(bytes)) return false;
  let bad = 0;
  for (const b of bytes) if (((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) && ++bad > bytes.length / 10) return false;
  return true;
}

const OPEN_TO_CLOSE: Readonly<Record<number, number>> = { 0x5b: 0x5d, 0x7b: 0x7d, 0x28: 0x29 };

/** Where a list may start: a bracket before a digit, or Node's inspection of a Buffer. */
const LIST_START = /[[{(](?=\s*[0-9])|<Buffer /g;

/** The byte lists of `s` that decode to mostly printable text (`<Buffer 47 49 …>` too). */
export function byteLists(s: string): ByteList[] {
  const at = (k: number): number => (k < s.length ? s.charCodeAt(k) : -1);
  const out: ByteList[] = [];
  LIST_START.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LIST_START.exec(s)) !== null) {
    const p = m.index;
    const close = OPEN_TO_CLOSE[s.charCodeAt(p)];
    const list = close !== undefined ? readList(at, p + 1, close) : bufferInspect(s, p + 8);
    if (list === null || list.values.length < MIN_BYTES) continue;
    const bytes = Buffer.from(list.values);
    if (printableBytes(bytes)) out.push({ start: p, end: list.end, bytes });
    LIST_START.lastIndex = list.end;
  }
  return out;
}

/** `47 49 54 …>` (console.log of a Buffer: hex pairs, maybe `... N more bytes`) from `p`. */
function bufferInspect(s: string, p: number): { values: number[]; end: number } | null {
  const values: number[] = [];
  let k = p;
  while (k + 1 < s.length) {
    const hi = hexVal(s.charCodeAt(k));
    const lo = hexVal(s.charCodeAt(k + 1));
    if (hi < 0 || lo < 0) break;
    values.push(hi * 16 + lo);
    k += 2;
    if (s.charCodeAt(k) === 0x20) k++;
    else break;
  }
  // `... N more bytes>` at most: a search for `>` to the text's end, from every `<Buffer `, cost
  // a pass over the rest of the text each (red team, session 15: 2.6 s per MiB of them).
  for (let close = k; close < s.length && close - k <= 40; close++) {
    if (s.charCodeAt(close) === 0x3e) return { values, end: close + 1 };
  }
  return null;
}

/**
 * Where a list byteLists reads may start (an opening bracket and 8 byte values, or Node's
 * inspection of a Buffer), as one more source of the RE2 set that decides the fast path
 * (detectors.ts): a scan of its own cost ~10 ms per 4 MiB of chat. mightMatch is true wherever
 * such a list may be, so the fast path leaves such bodies to the full path.
 */
export const BYTE_LIST_PREFILTER = '[\\[{(]\\s*(?:(?:0[xX][0-9a-fA-F]{1,2}|[0-9]{1,3})\\s*,\\s*){8}|<Buffer [0-9a-f]{2} [0-9a-f]{2} ';
