/**
 * Text normalisation applied to every view before the detectors see it (DLP.md §2.0 rule 2):
 * NFKC, invisible characters stripped, Unicode dashes → `-`, Unicode spaces → ` `, decimal digits
 * of every script → ASCII digits, combining marks on an ASCII character dropped.
 *
 * Redaction must edit the text as the client wrote it, so the normalised text comes with a
 * lazily built map from normalised offsets back to original offsets.
 *
 * Normalisation is done cluster by cluster (a base character and the combining marks after it),
 * not over the whole string at once. That makes the result local: the normalised form of a
 * substring that starts and ends on cluster boundaries is the corresponding substring of the
 * normalised whole. The fast path in inspect.ts relies on that property to normalise a whole
 * JSON body once instead of each leaf. It differs from `String.prototype.normalize` over the
 * whole string only in exotic cases (composition across a lone mark), which do not create ASCII.
 */
import { isAscii } from 'node:buffer';

/**
 * Characters removed outright: every default-ignorable code point and format character
 * (zero-width spaces and joiners, soft hyphen, bidi controls, variation selectors including
 * U+E0100…, tag characters U+E0000…, musical and shorthand format controls, interlinear
 * annotations), and the control characters but tab, LF, CR and NEL (a space, below) (C0, DEL, C1: `536-22\u0000-8143`,
 * `AKIA\u001b…` in JSON; red team, session 14): nothing a reader sees, so nothing that may split
 * a value.
 */
const STRIP = /[\p{Default_Ignorable_Code_Point}\p{Cf}\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F]/u;
/** Dashes that NFKC leaves alone but that people (and attackers) use in SSNs, cards, phones. */
const DASH = /[\u2010-\u2015\u2212\u2E3A\u2E3B\uFE58\uFE63\uFF0D]/;
/** Spaces that NFKC leaves alone (NBSP and the U+2000 block are compatibility-mapped anyway). */
const SPACE = /[\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/;
/** Any character one of the three rules above changes (FOREIGN_DIGIT, below, is the fourth; ASCII_WITH_MARK the fifth). */
const SPECIAL = /[\p{Default_Ignorable_Code_Point}\p{Cf}\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u0085\u00A0\u1680\u2000-\u2015\u2028-\u202F\u205F-\u206F\u2212\u2E3A\u2E3B\u3000\uFE58\uFE63\uFF0D]/u;
/**
 * Combining marks left on an ASCII character after NFKC (which composes `e` + U+0301 into `é`):
 * strikethrough and underline (`5̶3̶6̶`), keycaps (`5️⃣`), dots above a digit. They decorate the
 * character a reader still reads, so they are dropped (the fifth rule).
 */
const ASCII_WITH_MARK = /^[\x20-\x7E]\p{M}/u;
const MARKS = /\p{M}/gu;
/**
 * A cluster is cut after this many UTF-16 units when its run holds more than 30 marks in a row
 * (LONG_MARKS; UAX #15's stream-safe format allows 30). Each cut is normalised on its own.
 */
const MAX_CLUSTER_UNITS = 62;
const LONG_MARKS = /\p{M}{31}/u;
const ASCII_ONLY = /^[\x00-\x7F]*$/;
/** What normalisation may change: non-ASCII, and the control characters STRIP removes. */
const NON_ASCII = /[^\t\n\r\x20-\x7E]/g;

/** Whether a UTF-16 code unit is one NON_ASCII matches. */
function special(c: number): boolean {
  return c > 0x7E || (c < 0x20 && c !== 0x09 && c !== 0x0A && c !== 0x0D);
}
/**
 * Decimal digits of other scripts (Arabic-Indic ٥٣٦, Devanagari ५३६, Bengali…), which NFKC leaves
 * alone and RE2's `\d` does not match: an SSN written in them was read as no number at all.
 */
const FOREIGN_DIGIT = /(?![0-9])\p{Nd}/u;
const DIGIT = /^\p{Nd}$/u;
const digitValues = new Map<number, number>();

/** Value of a decimal digit: Unicode puts each script's 0–9 in a contiguous run, in order. */
function digitValue(cp: number): number {
  let v = digitValues.get(cp);
  if (v === undefined) {
    let zero = cp;
    while (zero > 0 && DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
    v = (cp - zero) % 10;
    digitValues.set(cp, v);
  }
  return v;
}

/** The result of normalising one view's text. */
export interface NormalizedText {
  /** The text the detectors scan. */
  readonly text: string;
  /** False when `text === original` (the common case: then offsets are shared). */
  readonly changed: boolean;
  /**
   * Maps a span `[start, end)` of `text` to the smallest span of the original text that
   * produced it. A span starting or ending inside an expanded cluster (`ﬁ` → `fi`) widens to
   * the whole cluster, which is what redaction wants.
   */
  toOriginal(start: number, end: number): [number, number];
}

/** True for code points that must stay with the character before them while normalising. */
function isClusterContinuation(cp: number): boolean {
  // Fast reject: all combining marks and conjoining jamo are at or above U+0300.
  if (cp < 0x300) return false;
  // Hangul conjoining vowels and trailing consonants compose with the syllable before them.
  if ((cp >= 0x1160 && cp <= 0x11FF) || (cp >= 0xD7B0 && cp <= 0xD7FF)) return true;
  return MARK.test(String.fromCodePoint(cp));
}
const MARK = /^\p{M}$/u;

/**
 * Whether normalising changes `run` (a run of non-ASCII characters, with the ASCII character
 * before it when it starts with a combining mark).
 */
function changedBy(run: string): boolean {
  return run.normalize('NFKC') !== run || SPECIAL.test(run) || FOREIGN_DIGIT.test(run) || ASCII_WITH_MARK.test(run);
}

/** Normalised form of one cluster, with the five Warden rules applied after NFKC. */
function normalizeCluster(cluster: string): string {
  let nfkc = cluster.normalize('NFKC');
  if (ASCII_WITH_MARK.test(nfkc)) nfkc = nfkc.replace(MARKS, '');
  if (!SPECIAL.test(nfkc) && !FOREIGN_DIGIT.test(nfkc)) return nfkc;
  let out = '';
  for (const ch of nfkc) {
    if (STRIP.test(ch)) continue;
    if (DASH.test(ch)) out += '-';
    else if (SPACE.test(ch)) out += ' ';
    else if (FOREIGN_DIGIT.test(ch)) out += String(digitValue(ch.codePointAt(0) ?? 0));
    else out += ch;
  }
  return out;
}

/**
 * The normalised form of a cluster of one code point, by code point: runs of changed characters
 * (fullwidth text, ligatures, tag characters) cost an NFKC call and four regexes a character
 * (~1 s per MiB of U+FDFA, red team, session 15). Bounded: a text can name every code point.
 */
const SINGLE = new Map<number, string>();
const SINGLE_MAX = 16_384;

interface Core {
  text: string;
  starts: Int32Array | null;
  ends: Int32Array | null;
}

/**
 * One pass over `s`. ASCII is copied as is; each run of non-ASCII characters is normalised as a
 * whole when that changes nothing (CJK text, emoji), else cluster by cluster.
 */
function normalizeCore(s: string, wantMap: boolean): Core {
  const parts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const pushIdentity = (from: number, to: number): void => {
    if (to <= from) return;
    parts.push(s.slice(from, to));
    if (wantMap) for (let k = from; k < to; k++) { starts.push(k); ends.push(k + 1); }
  };
  const pushMapped = (piece: string, from: number, to: number): void => {
    parts.push(piece);
    if (wantMap) for (let k = 0; k < piece.length; k++) { starts.push(from); ends.push(to); }
  };

  let copied = 0;
  // Shared global regex: normalizeCore is not re-entrant, so resetting lastIndex is enough.
  const re = NON_ASCII;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    let runStart = m.index;
    let runEnd = runStart;
    while (runEnd < s.length && special(s.charCodeAt(runEnd))) runEnd++;
    re.lastIndex = runEnd;
    // A combining mark at the start of the run belongs to the ASCII base before it (e + U+0301).
    const first = s.codePointAt(runStart) ?? 0;
    if (runStart > copied && isClusterContinuation(first)) runStart--;
    const run = s.slice(runStart, runEnd);
    // More marks in a row than a stream-safe text holds (zalgo): ICU reorders them in quadratic
    // time, so such a run is not normalised whole and its clusters are cut (below).
    const longMarks = LONG_MARKS.test(run);
    if (!longMarks && !changedBy(run)) continue; // unchanged: copied later as identity
    pushIdentity(copied, runStart);
    // Cluster by cluster so that each output character maps back to its source cluster.
    let i = runStart;
    while (i < runEnd) {
      const cp = s.codePointAt(i) ?? 0;
      let j = i + (cp > 0xFFFF ? 2 : 1);
      while (j < runEnd) {
        const next = s.codePointAt(j) ?? 0;
        if (!isClusterContinuation(next)) break;
        j += next > 0xFFFF ? 2 : 1;
        if (longMarks && j - i >= MAX_CLUSTER_UNITS) break;
      }
      const cluster = s.slice(i, j);
      let normalized: string | undefined;
      if (j - i === (cp > 0xFFFF ? 2 : 1)) {
        normalized = SINGLE.get(cp);
        if (normalized === undefined) {
          normalized = normalizeCluster(cluster);
          if (SINGLE.size < SINGLE_MAX) SINGLE.set(cp, normalized);
        }
      } else {
        normalized = normalizeCluster(cluster);
      }
      let end = j;
      if (longMarks && cp < 0x80 && j - i >= MAX_CLUSTER_UNITS && ASCII_ONLY.test(normalized)) {
        // The marks past the cut sit on an ASCII character: dropped with the rest (the fifth
        // rule, as for the whole cluster). Past a cut of any other cluster, each next cut is
        // normalised on its own.
        while (end < runEnd && isClusterContinuation(s.codePointAt(end) ?? 0)) end += (s.codePointAt(end) ?? 0) > 0xFFFF ? 2 : 1;
      }
      if (normalized === s.slice(i, end)) pushIdentity(i, end);
      else pushMapped(normalized, i, end);
      i = end;
    }
    copied = runEnd;
  }
  if (copied === 0) return { text: s, starts: null, ends: null };
  pushIdentity(copied, s.length);
  const text = parts.join('');
  return {
    text,
    starts: wantMap ? Int32Array.from(starts) : null,
    ends: wantMap ? Int32Array.from(ends) : null,
  };
}

/**
 * Normalise untrusted text for scanning. Pure; O(n). ASCII-only input is returned unchanged
 * without allocation.
 */
export function normalizeText(original: string): NormalizedText {
  const core = normalizeCore(original, false);
  if (core.text === original) {
    return { text: original, changed: false, toOriginal: (start, end) => [start, end] };
  }
  let starts: Int32Array | null = null;
  let ends: Int32Array | null = null;
  return {
    text: core.text,
    changed: true,
    toOriginal(start: number, end: number): [number, number] {
      if (starts === null || ends === null) {
        // Built on first use only: most normalised views never need redaction.
        const mapped = normalizeCore(original, true);
        starts = mapped.starts ?? new Int32Array(0);
        ends = mapped.ends ?? new Int32Array(0);
      }
      const n = starts.length;
      if (n === 0) return [0, 0];
      const s = Math.min(Math.max(start, 0), n - 1);
      const e = Math.min(Math.max(end - 1, s), n - 1);
      return [starts[s] ?? 0, ends[e] ?? original.length];
    },
  };
}

/**
 * What normalisation does to a BMP character standing alone between ASCII, per code point
 * (filled on first sight): 0 not known yet; stable (NFKC-stable and none of the five rules);
 * replaced, by BMP_REPLACEMENT's text (an em dash by `-`); or a mark that joins the character
 * before it, which only the general path can handle.
 */
const BMP_KIND = new Uint8Array(0x10000);
const KIND_STABLE = 1;
const KIND_REPLACED = 2;
const KIND_JOINS = 3;
/** The UTF-8 bytes that replace a KIND_REPLACED code point. */
const BMP_REPLACEMENT = new Map<number, Buffer>();

function classifyBmp(cp: number): number {
  if (isClusterContinuation(cp)) return KIND_JOINS;
  const ch = String.fromCharCode(cp);
  const out = normalizeCluster(ch);
  if (out === ch) return KIND_STABLE;
  BMP_REPLACEMENT.set(cp, Buffer.from(out, 'utf8'));
  return KIND_REPLACED;
}

/** The code point when `buf[start, end)` is exactly one 2- or 3-byte UTF-8 sequence, else -1. */
function singleBmpChar(buf: Uint8Array, start: number, end: number): number {
  const b0 = buf[start] as number;
  if (end - start === 2 && b0 >= 0xC2 && b0 <= 0xDF) {
    const b1 = buf[start + 1] as number;
    return (b1 & 0xC0) === 0x80 ? ((b0 & 0x1F) << 6) | (b1 & 0x3F) : -1;
  }
  if (end - start === 3 && b0 >= 0xE0 && b0 <= 0xEF) {
    const b1 = buf[start + 1] as number;
    const b2 = buf[start + 2] as number;
    if ((b1 & 0xC0) !== 0x80 || (b2 & 0xC0) !== 0x80) return -1;
    const cp = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F);
    return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? cp : -1;
  }
  return -1;
}

/** ASCII stretches shorter than this are not worth a native isAscii call. */
const ASCII_CHUNK = 1024;

/**
 * `Buffer.from(normalizeText(buf.toString('utf8')).text)` for a valid UTF-8 buffer, without
 * decoding the whole buffer to a string: the fast path normalises whole bodies, and one curly
 * quote in 4 MiB of chat used to double its cost (UTF-16 copy of the body plus a regex pass
 * over it). ASCII is skipped in 1 KiB chunks with the native `isAscii`; each run of non-ASCII
 * bytes (a UTF-8 sequence is all bytes >= 0x80, so these are exactly normalizeCore's runs of
 * non-ASCII characters), with the ASCII base before a leading combining mark, is decoded and
 * normalised on its own, which locality makes equal to the same stretch of the whole. C0 controls
 * and DEL are left as they are (a byte check on every ASCII byte would cost the fast path ~3 ms
 * per 4 MiB): the fast path hands a buffer holding one to the full path (inspect.ts). Returns
 * `buf` itself when nothing changes. `into`, when given and long enough for the result, receives
 * it (as in unescapeJsonBytes: the fast path keeps one buffer for this instead of faulting in a
 * new one per body).
 */
export function normalizeBytes(buf: Buffer, into?: Buffer): Buffer {
  if (isAscii(buf)) return buf;
  const n = buf.length;
  let edits: Array<[start: number, end: number, bytes: Buffer]> | null = null;
  // A 32-bit view of the same memory: word w covers bytes [4w + wordPhase, 4w + wordPhase + 4).
  const wordPhase = (4 - (buf.byteOffset & 3)) & 3;
  const words = n - wordPhase >= 4 ? new Uint32Array(buf.buffer, buf.byteOffset + wordPhase, (n - wordPhase) >> 2) : null;
  let chunk = 0;
  while (chunk < n) {
    const chunkEnd = Math.min(n, chunk + ASCII_CHUNK);
    if (isAscii(buf.subarray(chunk, chunkEnd))) {
      chunk = chunkEnd;
      continue;
    }
    let p = chunk;
    let next = chunkEnd; // where the chunk scan resumes: past the last run this chunk starts
    while (p < chunkEnd) {
      if ((buf[p] as number) < 0x80) {
        // Four bytes at a time where the buffer is aligned for it (a UTF-8 lead is >= 0x80).
        if (words !== null && (p & 3) === wordPhase) {
          let w = (p - wordPhase) >> 2;
          const wEnd = (chunkEnd - wordPhase) >> 2;
          while (w < wEnd && ((words[w] as number) & 0x80808080) === 0) w++;
          p = Math.max(p + 1, (w << 2) + wordPhase);
        } else p++;
        continue;
      }
      let start = p;
      let end = p + 1;
      while (end < n && (buf[end] as number) >= 0x80) end++;
      p = end;
      next = Math.max(next, end);
      // Prose holds typographic quotes and dashes every few hundred bytes: a run that is one
      // character of the Basic Multilingual Plane is looked up in a table instead of decoded.
      const bmp = singleBmpChar(buf, start, end);
      if (bmp >= 0) {
        let known = BMP_KIND[bmp] as number;
        if (known === 0) known = BMP_KIND[bmp] = classifyBmp(bmp);
        if (known === KIND_STABLE) continue;
        if (known === KIND_REPLACED) {
          (edits ??= []).push([start, end, BMP_REPLACEMENT.get(bmp) as Buffer]);
          continue;
        }
      }
      const lead = buf.toString('utf8', start, Math.min(end, start + 4));
      if (start > 0 && isClusterContinuation(lead.codePointAt(0) ?? 0)) start--;
      const run = buf.toString('utf8', start, end);
      if (LONG_MARKS.test(run) || changedBy(run)) (edits ??= []).push([start, end, Buffer.from(normalizeCore(run, false).text, 'utf8')]);
    }
    chunk = next;
  }
  if (edits === null) return buf;
  // Written in place: a Buffer per edit and a concat cost ~4 ms per 4 MiB of prose with a dash
  // every few hundred bytes. (NFKC can lengthen a character, so the size is summed first.)
  let size = n;
  for (const [start, end, bytes] of edits) size += bytes.length - (end - start);
  const out = into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let at = 0;
  let o = 0;
  for (const [start, end, bytes] of edits) {
    o += buf.copy(out, o, at, start);
    for (let k = 0; k < bytes.length; k++) out[o++] = bytes[k] as number;
    at = end;
  }
  buf.copy(out, o, at, n);
  return out;
}
