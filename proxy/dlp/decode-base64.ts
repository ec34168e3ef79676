/**
 * Base64 candidates (DLP.md §2.0): runs of `[A-Za-z0-9+/_-]{24,}={0,2}` in any view. A run that
 * decodes to mostly printable UTF-8 becomes an extra view; one that decodes to archive magic is
 * an archive. Everything else (UUIDs, hex digests, paths, identifiers, images) decodes to binary
 * noise and is dropped: a body holds thousands of such runs, so classification decodes by hand
 * into a scratch buffer and stops at the first sign of binary, without allocating.
 */
import { decodeBase32, isPrintableBase32 } from './decode-base32.js';
import { codeAt, isPrintableHex, MIN_HEX_RUN } from './decode-hex.js';
import { someBase64RunSimd } from './wasm/base64-runs.js';

/** Shortest run considered (18 decoded bytes): shorter runs are ordinary identifiers. */
export const MIN_BASE64_RUN = 24;

/** 6-bit value of each base64 character (standard and URL-safe alphabets), -1 otherwise. */
const VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, i) => { VALUE[ch.charCodeAt(0)] = i; });
VALUE[0x2D] = 62; // '-' (URL-safe)
VALUE[0x5F] = 63; // '_' (URL-safe)

/** 6-bit value of a base64 character code (either alphabet), or -1. */
export function base64Sextet(c: number): number {
  return c < 128 ? (VALUE[c] ?? -1) : -1;
}

/** The first character outside both alphabets. */
const NOT_ALPHABET = /[^A-Za-z0-9+/_-]/g;

/** A run of base64 alphabet characters: `[start, end)` including any `=` padding. */
export interface Base64Run {
  readonly start: number;
  readonly end: number;
}

/**
 * Find candidate runs in a string. Skips ahead by the minimum run length when the character
 * at the far end of the window is outside the alphabet (Boyer–Moore style), so prose is
 * examined at about one character in twenty.
 */
export function findBase64Runs(s: string): Base64Run[] {
  const runs: Base64Run[] = [];
  const n = s.length;
  const W = MIN_BASE64_RUN;
  let i = 0;
  while (i + W <= n) {
    const far = s.charCodeAt(i + W - 1);
    if (far >= 128 || VALUE[far] === -1) { i += W; continue; }
    let j = i + W - 2;
    for (; j >= i; j--) {
      const c = s.charCodeAt(j);
      if (c >= 128 || VALUE[c] === -1) break;
    }
    if (j >= i) { i = j + 1; continue; }
    let start = i;
    while (start > 0) {
      const c = s.charCodeAt(start - 1);
      if (c >= 128 || VALUE[c] === -1) break;
      start--;
    }
    // The end of the run: a regex scan (irregexp) is ~5× a charCodeAt loop on a long run (a
    // 4 MiB base64 image: ~3.5 ms instead of ~10).
    NOT_ALPHABET.lastIndex = i + W;
    const stop = NOT_ALPHABET.exec(s);
    let end = stop === null ? n : stop.index;
    let pad = 0;
    while (pad < 2 && end < n && s.charCodeAt(end) === 0x3D) { end++; pad++; }
    runs.push({ start, end });
    i = end + 1;
  }
  return runs;
}

const SLASH = 0x2F;
const DASH = 0x2D;
const UNDERSCORE = 0x5F;

function isHexCode(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * The parts of a run `[start, end)` that may decode when the whole does not: the pieces between
 * `/` of at least MIN_BASE64_RUN characters (a URL path is one run: `/v1/files/<base64>/x`),
 * and the stretches of at least MIN_HEX_RUN hex digits after a `-` or `_` (`file-<hex>`,
 * `id_<hex>`). A part may be visited twice (a piece that is all hex). `visit` is called for
 * each until it returns true (then true).
 */
export function someSubRun(src: string | Uint8Array, start: number, end: number, visit: (start: number, end: number) => boolean): boolean {
  let slash = -1;
  let sep = -1;
  for (let k = start; k < end && (slash < 0 || sep < 0); k++) {
    const c = typeof src === 'string' ? src.charCodeAt(k) : (src[k] ?? 0);
    if (c === SLASH) slash = slash < 0 ? k : slash;
    else if (c === DASH || c === UNDERSCORE) sep = sep < 0 ? k : sep;
  }
  // A hex stretch after the separator needs room: none after a UUID's or a `call_<24 hex>` id's.
  if (sep >= 0 && end - sep - 1 < MIN_HEX_RUN) sep = -1;
  if (slash < 0 && sep < 0) return false;
  const at = (k: number): number => (typeof src === 'string' ? src.charCodeAt(k) : (src[k] ?? 0));
  if (slash >= 0) {
    let piece = start;
    for (let k = slash; k <= end; k++) {
      if (k < end && at(k) !== SLASH) continue;
      if (k - piece >= MIN_BASE64_RUN && visit(piece, k)) return true;
      piece = k + 1;
    }
  }
  if (sep < 0) return false;
  let hex = -1;
  for (let k = sep + 1; k <= end; k++) {
    if (k < end && isHexCode(at(k))) {
      if (hex < 0) hex = k;
    } else if (hex >= 0) {
      if (k - hex >= MIN_HEX_RUN && visit(hex, k)) return true;
      hex = -1;
    }
  }
  return false;
}

/**
 * The runs of `s` (`runs`: findBase64Runs(s), or some of them) that `read` gives a reading for, each with it; with `parts`, for a run that has
 * none, its parts that have one (someSubRun). Parts are read in URLs, where a path is one run and
 * its segments are where data goes; in a body they would cost every clean body's fast path a
 * second look at each of its runs.
 */
export function decodableRuns<R>(s: string, read: (start: number, end: number) => R | null, parts: boolean, runs: readonly Base64Run[] = findBase64Runs(s)): (Base64Run & { readonly reading: R })[] {
  const out: (Base64Run & { readonly reading: R })[] = [];
  for (const whole of runs) {
    const reading = read(whole.start, whole.end);
    if (reading !== null) {
      out.push({ ...whole, reading });
      continue;
    }
    if (!parts) continue;
    someSubRun(s, whole.start, whole.end, (start, end) => {
      const r = read(start, end);
      if (r !== null) out.push({ start, end, reading: r });
      return false;
    });
  }
  return out;
}

/**
 * How a run reads as text: hex first (a hex run read as base64 is noise), then base64 of UTF-8,
 * then base64 of UTF-16 (PowerShell's `-EncodedCommand` is base64 of UTF-16LE), then base32
 * (decode-base32.ts: a run of its alphabet in one case, which base64 reads as noise).
 */
export type TextReading = 'hex' | 'base64' | 'base64-utf16le' | 'base64-utf16be' | 'base32';

/** The reading under which `[start, end)` decodes to printable text, or null. */
export function textReading(src: string | Uint8Array, start: number, end: number): TextReading | null {
  if (isPrintableHex(src, start, end)) return 'hex';
  if (isPrintableBase64(src, start, end)) return 'base64';
  return utf16Base64(src, start, end) ?? (isPrintableBase32(src, start, end) ? 'base32' : null);
}

/** UTF-8 bytes of a run under a reading. */
export function decodeRun(encoded: string, reading: TextReading): Buffer {
  if (reading === 'hex') return Buffer.from(encoded, 'hex');
  if (reading === 'base32') return decodeBase32(encoded);
  const bytes = decodeBase64(encoded);
  if (reading === 'base64') return bytes;
  const even = bytes.subarray(0, bytes.length & ~1);
  if (reading === 'base64-utf16be') Buffer.from(even).swap16().copy(even);
  return Buffer.from(even.toString('utf16le').replace(/^\uFEFF/, ''), 'utf8');
}

/**
 * Whether a run is base64 of UTF-16 text: its first 12 bytes hold a byte-order mark, or a NUL at
 * every other byte and none between (ASCII in UTF-16, which isPrintableBase64 rejects for its
 * NULs). Decodes 16 characters only: it runs on every run of the fast path's bodies.
 */
export function utf16Base64(src: string | Uint8Array, start: number, end: number): 'base64-utf16le' | 'base64-utf16be' | null {
  if (end - start < MIN_BASE64_RUN) return null;
  const b = base64Head(src, start, start + 16);
  if (b.length < 12) return null;
  if (b[0] === 0xFF && b[1] === 0xFE) return 'base64-utf16le';
  if (b[0] === 0xFE && b[1] === 0xFF) return 'base64-utf16be';
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < 12; i++) if (b[i] === 0) (i & 1) === 0 ? evenNul++ : oddNul++;
  if (oddNul === 6 && evenNul === 0) return 'base64-utf16le';
  if (evenNul === 6 && oddNul === 0) return 'base64-utf16be';
  return null;
}

/** 1 for each byte in the base64 alphabet (standard and URL-safe), 0 otherwise. */
const IS_BASE64 = new Uint8Array(256);
for (let c = 0; c < 128; c++) if (VALUE[c] !== -1) IS_BASE64[c] = 1;

/**
 * findBase64Runs over bytes (the fast path works on whole-body buffers), calling `visit` for each
 * run until it returns true (then true). A clean chat body holds thousands of runs, so no object
 * is made per run. The SIMD finder (wasm/base64-runs.ts) does the work where it can; this loop
 * takes texts over its size limit, and is the reference its test compares it with.
 */
export function someBase64Run(b: Uint8Array, visit: (start: number, end: number) => boolean): boolean {
  return someBase64RunSimd(b, visit) ?? someBase64RunScalar(b, visit);
}

/**
 * someBase64Run, or, when no `visit` returns true, whether `b` holds a control character other
 * than tab, LF and CR (C0 or DEL): normalize.ts strips them from a view's text, normalizeBytes
 * does not, so the fast path leaves such a body to the full path. One pass over the bytes with
 * the run search where SIMD runs it.
 */
export function someBase64RunOrControl(b: Uint8Array, visit: (start: number, end: number) => boolean): boolean {
  return someBase64RunSimd(b, visit, true) ?? (someBase64RunScalar(b, visit) || hasControlScalar(b));
}

/** Whether `b` holds a C0 control other than tab, LF and CR, or DEL (the reference for the SIMD check). */
export function hasControlScalar(b: Uint8Array): boolean {
  for (let k = 0; k < b.length; k++) {
    const c = b[k] as number;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0A && c !== 0x0D) || c === 0x7F) return true;
  }
  return false;
}

/**
 * someBase64Run in plain TypeScript: the same skip-ahead as findBase64Runs, with a 256-entry
 * table instead of a range check and a lookup.
 */
export function someBase64RunScalar(b: Uint8Array, visit: (start: number, end: number) => boolean): boolean {
  const n = b.length;
  const W = MIN_BASE64_RUN;
  let i = 0;
  while (i + W <= n) {
    if (IS_BASE64[b[i + W - 1] as number] === 0) { i += W; continue; }
    let j = i + W - 2;
    while (j >= i && IS_BASE64[b[j] as number] === 1) j--;
    if (j >= i) { i = j + 1; continue; }
    let start = i;
    while (start > 0 && IS_BASE64[b[start - 1] as number] === 1) start--;
    let end = i + W;
    while (end < n && IS_BASE64[b[end] as number] === 1) end++;
    let pad = 0;
    while (pad < 2 && end < n && b[end] === 0x3D) { end++; pad++; }
    if (visit(start, end)) return true;
    i = end + 1;
  }
  return false;
}

/**
 * Bytes decoded for the archive check: one tar header block, which holds every magic (tar's
 * `ustar` and version take bytes 257–264; this was 264 once, one short, and base64 tar slipped by).
 */
export const ARCHIVE_PROBE_BYTES = 512;
const scratch = Buffer.alloc(ARCHIVE_PROBE_BYTES + 3);

/**
 * Decode the first ARCHIVE_PROBE_BYTES bytes of a run into a shared scratch buffer and return
 * a view of it (valid until the next call). For the archive-magic check.
 */
export function base64Head(src: string | Uint8Array, start: number, end: number): Buffer {
  const isStr = typeof src === 'string';
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let k = start; k < end && o < ARCHIVE_PROBE_BYTES; k++) {
    const c = isStr ? (src as string).charCodeAt(k) : ((src as Uint8Array)[k] ?? 0);
    const v = c < 128 ? (VALUE[c] ?? -1) : -1;
    if (v < 0) break;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      scratch[o++] = (acc >> bits) & 0xFF;
      acc &= (1 << bits) - 1;
    }
  }
  return scratch.subarray(0, o);
}

/**
 * "Mostly printable": the decoded bytes are valid UTF-8 (a sequence cut by the end of the run
 * is tolerated) and at most 10% of them are control characters other than tab, CR and LF.
 * Decodes by hand and stops at the first invalid UTF-8 sequence, which random bytes hit within
 * a few bytes.
 */
export function isPrintableBase64(src: string | Uint8Array, start: number, end: number): boolean {
  const isStr = typeof src === 'string';
  const total = Math.floor(((end - start) * 6) / 8);
  const maxBad = Math.floor(total / 10);
  let bad = 0;
  let acc = 0;
  let bits = 0;
  let need = 0; // continuation bytes still expected
  let lead = 0;
  let count = 0;
  for (let k = start; k < end; k++) {
    const c = isStr ? (src as string).charCodeAt(k) : ((src as Uint8Array)[k] ?? 0);
    const v = c < 128 ? (VALUE[c] ?? -1) : -1;
    if (v < 0) break; // padding
    acc = (acc << 6) | v;
    bits += 6;
    if (bits < 8) continue;
    bits -= 8;
    const byte = (acc >> bits) & 0xFF;
    acc &= (1 << bits) - 1;
    count++;
    if (need > 0) {
      if ((byte & 0xC0) !== 0x80) return false;
      // Overlong and surrogate second bytes (E0 80-9F, ED A0-BF, F0 80-8F, F4 90-BF).
      if (lead !== 0) {
        if ((lead === 0xE0 && byte < 0xA0) || (lead === 0xED && byte > 0x9F) || (lead === 0xF0 && byte < 0x90) || (lead === 0xF4 && byte > 0x8F)) return false;
        lead = 0;
      }
      need--;
      continue;
    }
    if (byte < 0x80) {
      if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0A && byte !== 0x0D) || byte === 0x7F) {
        if (++bad > maxBad) return false;
      }
    } else if (byte >= 0xC2 && byte <= 0xDF) { need = 1; lead = 0; }
    else if (byte >= 0xE0 && byte <= 0xEF) { need = 2; lead = byte; }
    else if (byte >= 0xF0 && byte <= 0xF4) { need = 3; lead = byte; }
    else return false;
  }
  return count > 0;
}

/** Full decode of a run (standard or URL-safe alphabet; Node accepts both). */
export function decodeBase64(src: string): Buffer {
  return Buffer.from(src, 'base64');
}

/**
 * Runs shorter than MIN_BASE64_RUN (red team, session 14, F9: a Kubernetes Secret's `ssn:
 * NTM2LTIyLTgxNDM=`, a card number in a short field) are read only where they are plausibly
 * base64, as ordinary words and identifiers are not:
 *
 * - padded (shortPaddedRuns): 6–23 alphabet characters, then `=` or `==` making a multiple of 4,
 *   not glued to more alphabet characters or `=` on either side, and with the unused bits of its
 *   last character zero (an encoder writes them so; a word before `==` has them zero one time in
 *   16, before `=` one time in 4);
 * - or the whole text of a view (a JSON string, a form, query or header value), unpadded
 *   (wholeShortRun): 8–23 characters, a length a base64 text can have, the unused bits zero, and
 *   decoding to printable ASCII only (UTF-8 let one identifier in ten decode to "text").
 *
 * and in both cases only when the bytes decode to text (isPrintableBase64). Over 124 MB of code,
 * documentation and data (node_modules, Python's library, /usr/share/doc) the padded rule reads
 * 76 runs and the unpadded rule 49, nearly all real base64 (`aGVsbG8gd29ybGQ=`), and no detector
 * finds anything in the rest (test/unit/dlp/short-base64-fp.test.ts keeps the words it must not
 * read).
 */
export const MIN_SHORT_BASE64_RUN = 8;

const EQUALS = 0x3D;

/** Whether the unused low bits of the last character of a run of `len` alphabet characters are zero. */
function canonicalTail(last: number, len: number): boolean {
  const rest = len % 4;
  if (rest === 2) return (last & 0x0F) === 0;
  if (rest === 3) return (last & 0x03) === 0;
  return rest === 0;
}

/**
 * The short padded runs of `src` that decode to text: `visit(start, end)` for each, `end`
 * including the padding, until it returns true (then true). One look at each `=` (memchr).
 */
export function someShortPaddedRun(src: string | Uint8Array, visit: (start: number, end: number) => boolean): boolean {
  const n = src.length;
  const next = (from: number): number => (typeof src === 'string' ? src.indexOf('=', from) : src.indexOf(EQUALS, from));
  for (let p = next(0); p !== -1; p = next(p + 1)) {
    let pad = 1;
    while (pad < 3 && p + pad < n && codeAt(src, p + pad) === EQUALS) pad++;
    const after = p + pad < n ? codeAt(src, p + pad) : -1;
    const first = p;
    p += pad - 1;
    if (pad > 2 || (after >= 0 && base64Sextet(after) >= 0) || after === EQUALS) continue;
    let start = first;
    while (start > 0 && first - start < MIN_BASE64_RUN && base64Sextet(codeAt(src, start - 1)) >= 0) start--;
    const len = first - start;
    // A longer run is findBase64Runs' (24 and more), or glued to one (23 after a 24th).
    if (len >= MIN_BASE64_RUN || len + pad < MIN_SHORT_BASE64_RUN || (len + pad) % 4 !== 0) continue;
    if (!canonicalTail(base64Sextet(codeAt(src, first - 1)), len)) continue;
    if (isPrintableBase64(src, start, first) && visit(start, first + pad)) return true;
  }
  return false;
}

/** Every short padded run of `s` that decodes to text (someShortPaddedRun). */
export function shortPaddedRuns(s: string): Base64Run[] {
  const runs: Base64Run[] = [];
  someShortPaddedRun(s, (start, end) => { runs.push({ start, end }); return false; });
  return runs;
}

/**
 * Short unpadded runs in running text (`the ssn is NTM2LTIyLTgxNDM`): every word and identifier
 * of 8–23 characters is such a run, and reading each cost ~8 ms per 4 MiB of chat in a pass of its
 * own, so only runs shaped like base64 of digits and punctuation are read, the text the short
 * detectors find (SSNs, card, phone, account and routing numbers, IP addresses): each group of
 * four characters encodes three bytes, and two bytes of 0x20–0x3F (digits, space, `-`, `.`,
 * `+`, `(`, `:`) in a group's first two give its first character `I`–`O` and its second one of
 * `CDSTijyz`. A run is read when its first two groups start so, it is 8–23 characters long, not
 * glued to more alphabet characters or `=`, a length a base64 text can have, its unused bits zero,
 * and it decodes to printable ASCII (decodesToAscii). Over 96 MB of code and documentation
 * (node_modules, Python's library, /usr/share/doc) the shape starts a run in 49 files (`MS-DOS`,
 * `IS_POSSIBLE`, `JSONLDecoder`), and 2 runs are read, both base64 of digits or punctuation in
 * zod's tests. views.ts reads a run's text only when the detectors' prefilter takes it.
 *
 * SHORT_BARE_PREFILTER is the same shape, as one more source of the RE2 set that decides the fast
 * path (detectors.ts): in that pass it costs nothing measurable, where a pass of its own would
 * cost milliseconds; mightMatch is true wherever such a run is, so the fast path steps aside.
 */
export const SHORT_BARE_PREFILTER = '(?:^|[^A-Za-z0-9+/_-])[I-O][CDSTijyz][A-Za-z0-9+/_-]{2}[I-O][CDSTijyz][A-Za-z0-9+/_-]{2,17}(?:[^A-Za-z0-9+/_=-]|$)';
const SHORT_BARE = /[I-O][CDSTijyz][A-Za-z0-9+/_-]{2}[I-O][CDSTijyz][A-Za-z0-9+/_-]{2,17}(?![A-Za-z0-9+/_=-])/g;

/** The short unpadded runs of `s` read in running text (see SHORT_BARE_PREFILTER). */
export function shortBareRuns(s: string): Base64Run[] {
  const runs: Base64Run[] = [];
  SHORT_BARE.lastIndex = 0;
  // The run's start is checked here, not by a lookbehind (which cost ~6 ms more per 4 MiB of chat).
  for (let m = SHORT_BARE.exec(s); m !== null; m = SHORT_BARE.exec(s)) {
    const start = m.index;
    const end = start + m[0].length;
    if (start > 0 && base64Sextet(s.charCodeAt(start - 1)) >= 0) continue;
    if ((end - start) % 4 !== 1 && decodesToAscii(s, start, end)) runs.push({ start, end });
  }
  return runs;
}

/**
 * Whether `src[start, end)`, the whole text of a view, is a short unpadded base64 run that
 * decodes to printable ASCII (see MIN_SHORT_BASE64_RUN).
 */
export function isWholeShortRun(src: string | Uint8Array, start: number, end: number): boolean {
  const len = end - start;
  if (len < MIN_SHORT_BASE64_RUN || len >= MIN_BASE64_RUN || len % 4 === 1) return false;
  for (let k = start; k < end; k++) if (base64Sextet(codeAt(src, k)) < 0) return false;
  return decodesToAscii(src, start, end);
}

/**
 * Whether base64 characters `[start, end)` (a length a base64 text can have) end with their
 * unused bits zero and decode to printable ASCII; stops at the first byte that is not.
 */
function decodesToAscii(src: string | Uint8Array, start: number, end: number): boolean {
  if (!canonicalTail(base64Sextet(codeAt(src, end - 1)), end - start)) return false;
  let acc = 0;
  let bits = 0;
  for (let k = start; k < end; k++) {
    acc = ((acc << 6) | base64Sextet(codeAt(src, k))) & 0xFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const b = (acc >> bits) & 0xFF;
      if (b < 0x20 || b > 0x7E) return false;
    }
  }
  return true;
}

/**
 * Whether a JSON text (the fast path's buffers) holds a string, `"` to `"`, that isWholeShortRun
 * reads: every JSON string leaf is one, with the quotes around it. Each quote looks at most 24
 * bytes ahead, and prose stops at its first space (~0.5 ms per 4 MiB of chat).
 */
export function someQuotedShortRun(b: Uint8Array): boolean {
  const QUOTE = 0x22;
  for (let q = b.indexOf(QUOTE); q !== -1; q = b.indexOf(QUOTE, q + 1)) {
    let k = q + 1;
    const stop = Math.min(b.length, k + MIN_BASE64_RUN);
    while (k < stop && IS_BASE64[b[k] as number] === 1) k++;
    const len = k - q - 1;
    if (b[k] === QUOTE && len >= MIN_SHORT_BASE64_RUN && len < MIN_BASE64_RUN && len % 4 !== 1 && decodesToAscii(b, q + 1, k)) return true;
    // The bytes between are not quotes; the closing quote may open the next string.
    if (k > q + 1) q = k - 1;
  }
  return false;
}
