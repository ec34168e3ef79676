/**
 * Percent-decoding (RFC 3986 §2.1) for URL queries, paths, form bodies and any view that
 * carries `%XX` sequences (`%40` hides the `@` of an email; `%3D` glues a key to its `=`).
 *
 * Tolerant by design: a malformed `%` stays literal and invalid UTF-8 becomes U+FFFD, as
 * browsers and servers do, so a client cannot make a view disappear by adding one bad escape.
 * With `wantMap` each decoded UTF-16 unit carries the span of source text that produced it,
 * which redaction uses to rewrite the encoded source.
 */

export interface PercentDecoded {
  readonly text: string;
  /** starts[k], ends[k]: the source span of decoded unit k (null unless requested). */
  readonly starts: Int32Array | null;
  readonly ends: Int32Array | null;
}

/** Value of one ASCII hex digit (`0-9a-fA-F`), -1 for anything else. */
export function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** True when `s` holds at least one well-formed `%XX` escape. */
export function hasPercentEscape(s: string): boolean {
  let p = s.indexOf('%');
  while (p !== -1) {
    if (hexVal(s.charCodeAt(p + 1)) >= 0 && hexVal(s.charCodeAt(p + 2)) >= 0) return true;
    p = s.indexOf('%', p + 1);
  }
  return false;
}

/** Length of the UTF-8 sequence a lead byte announces, or 0 when it cannot start one. */
function seqLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

/**
 * Decode `%XX` escapes (and `+` → space when `plus`, for form encoding). Escaped bytes are
 * decoded as UTF-8; characters that were not escaped pass through unchanged.
 */
export function percentDecode(s: string, plus: boolean, wantMap: boolean): PercentDecoded {
  const out: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const emit = (text: string, from: number, to: number): void => {
    out.push(text);
    if (wantMap) for (let k = 0; k < text.length; k++) { starts.push(from); ends.push(to); }
  };
  let i = 0;
  const n = s.length;
  let plain = 0; // start of the pending run of characters copied as they are
  const flushPlain = (to: number): void => {
    if (to <= plain) return;
    out.push(s.slice(plain, to));
    if (wantMap) for (let k = plain; k < to; k++) { starts.push(k); ends.push(k + 1); }
  };
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x2B && plus) {
      flushPlain(i);
      emit(' ', i, i + 1);
      i++;
      plain = i;
      continue;
    }
    if (c !== 0x25) { i++; continue; }
    const h = hexVal(s.charCodeAt(i + 1));
    const l = hexVal(s.charCodeAt(i + 2));
    if (h < 0 || l < 0) { i++; continue; }
    flushPlain(i);
    // Collect a run of escaped bytes with the source offset of each.
    const bytes: number[] = [];
    const offs: number[] = [];
    let j = i;
    while (j < n && s.charCodeAt(j) === 0x25) {
      const hh = hexVal(s.charCodeAt(j + 1));
      const ll = hexVal(s.charCodeAt(j + 2));
      if (hh < 0 || ll < 0) break;
      bytes.push(hh * 16 + ll);
      offs.push(j);
      j += 3;
    }
    offs.push(j);
    // Decode UTF-8 by hand so every code point knows its source span.
    let k = 0;
    while (k < bytes.length) {
      const b0 = bytes[k] ?? 0;
      const len = seqLength(b0);
      let cp = -1;
      if (len === 1) cp = b0;
      else if (len > 1 && k + len <= bytes.length) {
        cp = b0 & (len === 2 ? 0x1F : len === 3 ? 0x0F : 0x07);
        for (let m = 1; m < len; m++) {
          const bm = bytes[k + m] ?? 0;
          if ((bm & 0xC0) !== 0x80) { cp = -1; break; }
          cp = (cp << 6) | (bm & 0x3F);
        }
        // Overlong forms, surrogates and out-of-range values are invalid.
        if (cp !== -1 && ((len === 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len === 4 && (cp < 0x10000 || cp > 0x10FFFF)))) cp = -1;
      }
      const used = cp === -1 ? 1 : len;
      emit(cp === -1 ? '\uFFFD' : String.fromCodePoint(cp), offs[k] ?? i, offs[k + used] ?? j);
      k += used;
    }
    i = j;
    plain = i;
  }
  flushPlain(n);
  return {
    text: out.join(''),
    starts: wantMap ? Int32Array.from(starts) : null,
    ends: wantMap ? Int32Array.from(ends) : null,
  };
}

/** Percent-encode a replacement for insertion into encoded text (form style when `plus`). */
export function percentEncode(s: string, plus: boolean): string {
  const enc = encodeURIComponent(s);
  return plus ? enc.replace(/%20/g, '+') : enc;
}

/** One `name=value` pair of a query string or form body, as spans of the source. */
export interface EncodedPair {
  readonly nameStart: number;
  readonly nameEnd: number;
  /** -1 when the pair has no `=`. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** Split `a=1&b=2` into pairs (empty pairs skipped; `;` is not a separator, per WHATWG). */
export function splitPairs(s: string): EncodedPair[] {
  const pairs: EncodedPair[] = [];
  let start = 0;
  while (start <= s.length) {
    let amp = s.indexOf('&', start);
    if (amp === -1) amp = s.length;
    if (amp > start) {
      const eq = s.indexOf('=', start);
      if (eq !== -1 && eq < amp) pairs.push({ nameStart: start, nameEnd: eq, valueStart: eq + 1, valueEnd: amp });
      else pairs.push({ nameStart: start, nameEnd: amp, valueStart: -1, valueEnd: -1 });
    }
    start = amp + 1;
  }
  return pairs;
}
