/**
 * JSON for the DLP pipeline: a validating tokenizer that records where every string (keys
 * included) and number sits in the source text, plus string-escape decoding with an offset map.
 *
 * Why not JSON.parse: redaction must change only the matched substrings. Re-serialising a parsed
 * value would reorder integer-like keys, drop duplicate keys, round large numbers and rewrite
 * escapes. Splicing the source text at recorded token spans changes nothing else.
 *
 * Input is untrusted. The tokenizer is iterative (explicit stack): deep nesting cannot overflow
 * the JS stack. Complexity is O(n).
 */
import { hexVal } from './decode-percent.js';

/** One string (value or key) or number in a JSON text. */
export interface JsonToken {
  readonly kind: 'string' | 'key' | 'number';
  /** For strings and keys: the content between the quotes; for numbers: the literal. */
  readonly start: number;
  readonly end: number;
  /** The content contains at least one backslash escape. */
  readonly escaped: boolean;
  /** Location for audit: `body.messages[0].content`; for a key: `<object path>{key}`. */
  readonly where: string;
  /** Lower-case name of the nearest enclosing member (null at the top level or for keys). */
  readonly key: string | null;
}

/** Numbers shorter than this cannot hold any finding type we scan for (the shortest is a 9-digit SSN). */
export const MIN_NUMBER_VIEW = 6;

/**
 * The integer a JSON number literal written with a fraction or an exponent stands for, in
 * decimal digits (`4.556737586899855e15` → `4556737586899855`, `536228143.0` → `536228143`,
 * `1E5` → `100000`, `-0.0` → `0`), when JavaScript holds the value exactly (a safe integer) and
 * it is at least MIN_NUMBER_VIEW characters long; else null (plain integers, which are their own
 * form, fractions, values past 2^53, ±Infinity). Any JSON parser upstream reads such a literal as
 * that integer, so views.ts scans this form as well as the literal.
 */
export function integerForm(literal: string): string | null {
  if (!/[.eE]/.test(literal)) return null;
  const value = Number(literal);
  if (!Number.isSafeInteger(value)) return null;
  const text = String(value);
  return text.length >= MIN_NUMBER_VIEW ? text : null;
}

/**
 * Where a JSON text may hold a number that integerForm reads (RE2 and JS syntax alike): at the
 * start or after `:`, `,` or `[`, an exponent, or a fraction after at least 4 integer digits. A
 * superset: a fraction after 3 digits or fewer cannot stand for an integer of MIN_NUMBER_VIEW
 * characters (`-999.9…` rounds to `-1000` at most), and any fraction after 4 can round up
 * (`-9999.99999999999999` reads `-10000`). The integer form is not in the text as written, so
 * the fast path, which proves a body clean from its text alone, cannot pass such a body:
 * detectors.mightMatch is true wherever this matches (inspect.ts isProvablyClean).
 */
export const INTEGER_FORM_PREFILTER = '(?:^|[:,\\[])[\\t\\n\\r ]*-?(?:[0-9]+(?:\\.[0-9]+)?[eE]|[0-9]{4,}\\.[0-9])';

/** Key names longer than this are cut in `where` paths (audit lines stay bounded). */
const MAX_SEGMENT = 64;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Path segment for a member name: `.name` when it reads as an identifier, else `["…"]`. */
export function memberSegment(name: string): string {
  const cut = name.length > MAX_SEGMENT ? name.slice(0, MAX_SEGMENT) + '…' : name;
  return IDENT.test(cut) ? `.${cut}` : `[${JSON.stringify(cut)}]`;
}

/**
 * Longest `where` path built for a JSON value (the audit record shows 200 characters of it). A
 * segment that does not fit is left out, marked by a `…`: a path per value, each as long as its
 * depth, made a deep document quadratic in memory (red team, session 15: 1 MiB of nested
 * objects with 64-character keys ran the process out of its 4 GiB heap). Segments are added
 * whole or not at all, so no part of a member name, which may be a secret, is left in a path
 * by the cut (findings.ts stars the whole names it finds).
 */
const MAX_WHERE_CHARS = 512;

function childWhere(where: string, segment: string): string {
  if (where.length + segment.length <= MAX_WHERE_CHARS) return where + segment;
  return where.endsWith('…') ? where : `${where}…`;
}

interface Frame {
  readonly isObject: boolean;
  readonly where: string;
  /** Key context inherited by values inside (for arrays: the member the array sits in). */
  key: string | null;
  /** Current member name (objects) as a segment, or current index (arrays). */
  index: number;
}

const enum State { Value, Key, After }

const ESCAPE_CHARS = new Set([0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74]); // " \ / b f n r t

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0A || c === 0x0D || c === 0x09;
}
function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * Tokenize `text` as one JSON value (RFC 8259). Returns null when it is not valid JSON.
 * `root` prefixes every `where` (`body`, `part:meta`, or a parent leaf's path).
 */
export function tokenizeJson(text: string, root: string): JsonToken[] | null {
  const tokens: JsonToken[] = [];
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  let state: State = State.Value;
  let valueWhere = root;
  let valueKey: string | null = null;
  // Next backslash and next quote at or after the scan position; recomputed lazily so each is
  // found once (a long string with many escapes would otherwise be searched to its end per escape).
  let nextBackslash = -2;
  let nextQuote = -2;

  const skipWs = (): void => {
    while (i < n && isWs(text.charCodeAt(i))) i++;
  };
  /** Scan a string starting at the opening quote at `i`; returns [contentEnd, escaped] or null. */
  const scanString = (): [number, boolean] | null => {
    let j = i + 1;
    let escaped = false;
    for (;;) {
      if (nextQuote !== -1 && nextQuote < j) nextQuote = text.indexOf('"', j);
      const q = nextQuote;
      if (q === -1) return null;
      if (nextBackslash !== -1 && nextBackslash < j) nextBackslash = text.indexOf('\\', j);
      if (nextBackslash === -1 || nextBackslash > q) return [q, escaped];
      escaped = true;
      const b = nextBackslash;
      const e = text.charCodeAt(b + 1);
      if (e === 0x75) { // \uXXXX
        if (!(isHex(text.charCodeAt(b + 2)) && isHex(text.charCodeAt(b + 3)) && isHex(text.charCodeAt(b + 4)) && isHex(text.charCodeAt(b + 5)))) return null;
        j = b + 6;
      } else if (ESCAPE_CHARS.has(e)) {
        j = b + 2;
      } else {
        return null;
      }
      nextBackslash = text.indexOf('\\', j);
    }
  };
  const decodeName = (start: number, end: number, escaped: boolean): string | null => {
    if (!escaped) return text.slice(start, end);
    try {
      return JSON.parse(text.slice(start - 1, end + 1)) as string;
    } catch {
      return null;
    }
  };

  skipWs();
  while (true) {
    if (state === State.Value) {
      if (i >= n) return null;
      const c = text.charCodeAt(i);
      if (c === 0x7B /* { */ || c === 0x5B /* [ */) {
        const isObject = c === 0x7B;
        stack.push({ isObject, where: valueWhere, key: valueKey, index: 0 });
        i++;
        skipWs();
        if (text.charCodeAt(i) === (isObject ? 0x7D : 0x5D)) {
          stack.pop();
          i++;
          state = State.After;
        } else if (isObject) {
          state = State.Key;
        } else {
          valueWhere = childWhere(stack[stack.length - 1]?.where ?? root, '[0]');
          state = State.Value;
        }
        continue;
      }
      if (c === 0x22 /* " */) {
        const r = scanString();
        if (r === null) return null;
        tokens.push({ kind: 'string', start: i + 1, end: r[0], escaped: r[1], where: valueWhere, key: valueKey });
        i = r[0] + 1;
        state = State.After;
        continue;
      }
      if (c === 0x2D || (c >= 0x30 && c <= 0x39)) {
        const start = i;
        i++;
        let exponent = false;
        while (i < n) {
          const d = text.charCodeAt(i);
          if ((d >= 0x30 && d <= 0x39) || d === 0x2E || d === 0x2B || d === 0x2D) i++;
          else if (d === 0x65 || d === 0x45) { exponent = true; i++; }
          else break;
        }
        const lit = text.slice(start, i);
        if (!/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(lit)) return null;
        // A short literal can still stand for a long integer (`1E5`): views.ts reads it as one.
        if (i - start >= MIN_NUMBER_VIEW || (exponent && integerForm(lit) !== null)) {
          tokens.push({ kind: 'number', start, end: i, escaped: false, where: valueWhere, key: valueKey });
        }
        state = State.After;
        continue;
      }
      if (text.startsWith('true', i)) i += 4;
      else if (text.startsWith('false', i)) i += 5;
      else if (text.startsWith('null', i)) i += 4;
      else return null;
      state = State.After;
      continue;
    }
    if (state === State.Key) {
      skipWs();
      if (text.charCodeAt(i) !== 0x22) return null;
      const r = scanString();
      if (r === null) return null;
      const frame = stack[stack.length - 1];
      if (frame === undefined) return null;
      const start = i + 1;
      const end = r[0];
      tokens.push({ kind: 'key', start, end, escaped: r[1], where: childWhere(frame.where, '{key}'), key: null });
      const name = decodeName(start, end, r[1]);
      if (name === null) return null;
      i = end + 1;
      skipWs();
      if (text.charCodeAt(i) !== 0x3A /* : */) return null;
      i++;
      skipWs();
      valueWhere = childWhere(frame.where, memberSegment(name));
      valueKey = name.toLowerCase();
      frame.key = valueKey;
      state = State.Value;
      continue;
    }
    // State.After: a value just ended.
    skipWs();
    const frame = stack[stack.length - 1];
    if (frame === undefined) return i === n ? tokens : null;
    const c = text.charCodeAt(i);
    if (c === 0x2C /* , */) {
      i++;
      skipWs();
      if (frame.isObject) {
        state = State.Key;
      } else {
        frame.index++;
        valueWhere = childWhere(frame.where, `[${frame.index}]`);
        valueKey = frame.key;
        state = State.Value;
      }
      continue;
    }
    if (c === (frame.isObject ? 0x7D : 0x5D)) {
      stack.pop();
      i++;
      state = State.After;
      continue;
    }
    return null;
  }
}

/** True when `text` (trimmed) starts like a JSON object or array: worth a tokenize attempt. */
export function looksLikeJson(text: string): boolean {
  let i = 0;
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  const c = text.charCodeAt(i);
  return c === 0x7B || c === 0x5B;
}

/** Offsets of each decoded UTF-16 unit in the escaped source (`starts[k]`, `ends[k]`). */
export interface EscapeMap {
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

const SIMPLE: Record<number, string> = { 0x22: '"', 0x5C: '\\', 0x2F: '/', 0x62: '\b', 0x66: '\f', 0x6E: '\n', 0x72: '\r', 0x74: '\t' };

/**
 * Decode the content of a JSON string (without quotes). Invalid escapes are kept literally,
 * which makes this usable as a best-effort unescape of arbitrary text (the fast path and the
 * malformed-JSON fallback). With `wantMap`, also returns where each decoded unit came from.
 */
export function unescapeJson(content: string, wantMap: boolean): { text: string; map: EscapeMap | null } {
  if (content.indexOf('\\') === -1) return { text: content, map: null };
  const out: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let copied = 0;
  let b = content.indexOf('\\');
  const copyTo = (to: number): void => {
    if (to <= copied) return;
    out.push(content.slice(copied, to));
    if (wantMap) for (let k = copied; k < to; k++) { starts.push(k); ends.push(k + 1); }
  };
  while (b !== -1) {
    const e = content.charCodeAt(b + 1);
    let decoded: string | null = null;
    let len = 2;
    if (e === 0x75 && isHex(content.charCodeAt(b + 2)) && isHex(content.charCodeAt(b + 3)) && isHex(content.charCodeAt(b + 4)) && isHex(content.charCodeAt(b + 5))) {
      decoded = String.fromCharCode(parseInt(content.slice(b + 2, b + 6), 16));
      len = 6;
    } else {
      decoded = SIMPLE[e] ?? null;
    }
    if (decoded === null) {
      // Not an escape: keep the backslash and move on.
      b = content.indexOf('\\', b + 1);
      continue;
    }
    copyTo(b);
    out.push(decoded);
    if (wantMap) { starts.push(b); ends.push(b + len); }
    copied = b + len;
    b = content.indexOf('\\', copied);
  }
  copyTo(content.length);
  return {
    text: out.join(''),
    map: wantMap ? { starts: Int32Array.from(starts), ends: Int32Array.from(ends) } : null,
  };
}

/** Escape `s` for use inside a JSON string (no surrounding quotes). */
export function escapeJsonContent(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

const SIMPLE_BYTES = new Int16Array(128).fill(-1);
for (const [k, v] of Object.entries(SIMPLE)) SIMPLE_BYTES[Number(k)] = v.charCodeAt(0);

function hex4(buf: Uint8Array, at: number): number {
  const a = hexVal(buf[at] ?? -1);
  const b = hexVal(buf[at + 1] ?? -1);
  const c = hexVal(buf[at + 2] ?? -1);
  const d = hexVal(buf[at + 3] ?? -1);
  return a < 0 || b < 0 || c < 0 || d < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/**
 * Byte-level counterpart of `unescapeJson` over a whole UTF-8 buffer: decodes every valid JSON
 * escape (`\n`, `\"`, `\u0040`, surrogate pairs), keeps invalid ones literally. Returns the same
 * buffer object when nothing was decoded. The output is never longer than the input, because
 * every escape is at least as long as its UTF-8 encoding. Used by the fast path, which needs the
 * text of all string leaves without tokenizing.
 *
 * `into`, when given and at least as long as `buf`, receives the output instead of a new buffer
 * (the result is then a view of it, valid until `into` is written again): the fast path decodes
 * every JSON body this way, and a fresh 4 MiB buffer per call cost ~2 ms of page faults in about
 * half the calls, the kernel zeroing pages that the allocator had just returned to it.
 */
export function unescapeJsonBytes(buf: Buffer, into?: Buffer): Buffer {
  let b = buf.indexOf(0x5C);
  if (b === -1) return buf;
  const n = buf.length;
  const outBuf = into !== undefined && into.length >= n ? into : Buffer.allocUnsafe(n);
  // The output starts as a copy of the input and is compacted in place: the text between two
  // escapes moves down with copyWithin, which allocates nothing. (A subarray per escape for
  // TypedArray#set made 1.6 MB of garbage per 4 MiB chat body, and the scavenges that go with it.)
  // Escapes are read from `buf`, and the write position never passes the next unread byte,
  // because no escape is shorter than its UTF-8 encoding.
  const out = new Uint8Array(outBuf.buffer, outBuf.byteOffset, n);
  out.set(buf);
  let o = 0;
  let from = 0; // first byte not yet moved into place
  let changed = false;
  // Jump from backslash to backslash (memchr): chat bodies hold an escape every few dozen
  // bytes, and a JS loop over every byte was 4x slower. Short gaps are moved in JS, where a
  // native call would cost more than the copy.
  while (b !== -1) {
    const gap = b - from;
    if (o !== from) {
      if (gap > 16) out.copyWithin(o, from, b);
      else for (let k = 0; k < gap; k++) out[o + k] = out[from + k] as number;
    }
    o += gap;
    const e = buf[b + 1] ?? 0;
    let cp = -1;
    let len = 2;
    if (e === 0x75) {
      cp = hex4(buf, b + 2);
      len = 6;
      if (cp >= 0xD800 && cp <= 0xDBFF && buf[b + 6] === 0x5C && buf[b + 7] === 0x75) {
        const lo = hex4(buf, b + 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          len = 12;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; // lone surrogate
    } else if (e < 128) {
      cp = SIMPLE_BYTES[e] ?? -1;
    }
    if (cp < 0) {
      // Not an escape: keep the backslash and go on from the next byte.
      out[o++] = 0x5C;
      from = b + 1;
    } else {
      changed = true;
      if (cp < 0x80) out[o++] = cp;
      else if (cp < 0x800) { out[o++] = 0xC0 | (cp >> 6); out[o++] = 0x80 | (cp & 0x3F); }
      else if (cp < 0x10000) { out[o++] = 0xE0 | (cp >> 12); out[o++] = 0x80 | ((cp >> 6) & 0x3F); out[o++] = 0x80 | (cp & 0x3F); }
      else { out[o++] = 0xF0 | (cp >> 18); out[o++] = 0x80 | ((cp >> 12) & 0x3F); out[o++] = 0x80 | ((cp >> 6) & 0x3F); out[o++] = 0x80 | (cp & 0x3F); }
      from = b + len;
    }
    b = from < n ? buf.indexOf(0x5C, from) : -1;
  }
  if (from < n) {
    if (o !== from) out.copyWithin(o, from, n);
    o += n - from;
  }
  return changed ? outBuf.subarray(0, o) : buf;
}

const ESCAPED_BACKSLASH = Buffer.from('\\\\', 'latin1'); // the two bytes \\
const ESCAPED_U005 = Buffer.from('\\u005', 'latin1'); // \u005c / \u005C spell a backslash too

/** True when the byte at `i` is preceded by an odd number of backslashes (escaped). */
function escapedAt(b: Uint8Array, i: number): boolean {
  let n = 0;
  for (let k = i - 1; k >= 0 && b[k] === 0x5C; k--) n++;
  return (n & 1) === 1;
}

/**
 * The string tokens of a JSON text whose decoded value holds a backslash (an escaped `\\` or a
 * `\u005c` inside), as `[start, end)` of their raw content between the quotes. Only these can
 * hold JSON that decodes differently one level deeper (tool-call `arguments` with escapes of
 * their own); every other token's nested text is already a substring of this level's decoding.
 * Found from the escapes outwards, so a body without them costs two substring searches. On
 * text that is not valid JSON the spans may be wrong; callers only use them to look at more
 * text, never less.
 */
export function backslashStringTokens(json: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const candidates: number[] = [];
  for (let p = json.indexOf(ESCAPED_BACKSLASH); p !== -1; p = json.indexOf(ESCAPED_BACKSLASH, p + 2)) candidates.push(p);
  for (let p = json.indexOf(ESCAPED_U005); p !== -1; p = json.indexOf(ESCAPED_U005, p + 5)) {
    const c = json[p + 5];
    if ((c === 0x63 || c === 0x43) && !escapedAt(json, p)) candidates.push(p);
  }
  if (candidates.length === 0) return out;
  candidates.sort((a, b) => a - b);
  let covered = -1; // end of the last token found
  // The unescaped quotes around each candidate, read once in order: searches back and forth from
  // each one cost a pass over the body per candidate where no quote closes (red team, session 15:
  // `["` and 1 MiB of `\\\\`, 14.7 s).
  let q = -1; // the last unescaped quote before the candidate
  let r = unescapedQuote(json, 0); // the first one after it
  for (const p of candidates) {
    if (p < covered) continue;
    while (r !== -1 && r < p) {
      q = r;
      r = unescapedQuote(json, r + 1);
    }
    if (r === -1) break; // no string closes after this: nor after any later candidate
    if (q < 0) continue; // not inside a string: not valid JSON there
    out.push([q + 1, r]);
    covered = r;
  }
  return out;
}

/** The first `"` at or after `from` that no backslash escapes, or -1. */
function unescapedQuote(json: Buffer, from: number): number {
  let i = json.indexOf(0x22, from);
  while (i !== -1 && escapedAt(json, i)) i = json.indexOf(0x22, i + 1);
  return i;
}

/**
 * False only when the JSON string token `json[start, end)` (escapes not decoded) cannot decode to
 * text that bytesLookLikeJson accepts: whitespace and the escapes `\n`, `\r`, `\t` are skipped,
 * and the first other byte must be `{`, `[` or a backslash (any other escape could be one). Lets
 * the fast path skip decoding the string leaves that hold code or prose.
 */
export function tokenMayBeJson(json: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = json[i];
    if (c === 0x20 || c === 0x0A || c === 0x0D || c === 0x09) { i++; continue; }
    if (c !== 0x5C) return c === 0x7B || c === 0x5B;
    const e = json[i + 1];
    if (e !== 0x6E && e !== 0x72 && e !== 0x74) return true;
    i += 2;
  }
  return false;
}

/** True when the first non-whitespace byte is `{` or `[`. */
export function bytesLookLikeJson(buf: Uint8Array): boolean {
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0A || buf[i] === 0x0D || buf[i] === 0x09)) i++;
  return buf[i] === 0x7B || buf[i] === 0x5B;
}
