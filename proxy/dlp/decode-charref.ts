/**
 * HTML numeric character references (`&#53;`, `&#x35;`, with or without the `;` as browsers
 * accept them): a page, an e-mail template or an agent hiding a value writes `&#53;36-22-8143`
 * for `536-22-8143`, and anything that renders the text reads the number. The decoded text is
 * one more view (views.ts); only what a reference produced is new in it, so inspect.ts keeps the
 * matches there that cover a decoded character (`spans`) and drops the rest, which the parent
 * view reports already.
 *
 * Named references (`&nbsp;`, `&commat;`) are not decoded.
 */

/** Code points a reference may not produce (HTML's parse errors): NUL, surrogates, past U+10FFFF. */
function allowed(cp: number): boolean {
  return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

/** Whether `s` holds a numeric character reference (`&#` then a digit, or `x` and a hex digit). */
export function hasCharRef(s: string): boolean {
  let p = s.indexOf('&#');
  while (p !== -1) {
    const c = s.charCodeAt(p + 2);
    if ((c >= 0x30 && c <= 0x39) || ((c === 0x78 || c === 0x58) && isHex(s.charCodeAt(p + 3)))) return true;
    p = s.indexOf('&#', p + 2);
  }
  return false;
}

/** Same as hasCharRef, over bytes (the fast path's raw body). */
export function hasCharRefBytes(buf: Buffer): boolean {
  let p = buf.indexOf('&#');
  while (p !== -1) {
    const c = buf[p + 2] ?? -1;
    if ((c >= 0x30 && c <= 0x39) || ((c === 0x78 || c === 0x58) && isHex(buf[p + 3] ?? -1))) return true;
    p = buf.indexOf('&#', p + 2);
  }
  return false;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Longest run of digits read in one reference (`&#0000000053;` is still `5`). */
const MAX_DIGITS = 16;

/**
 * `s` with every numeric character reference replaced by what it stands for, and `spans`: pairs
 * of [start, end) offsets in the result of the text each reference produced (a code point past
 * U+FFFF is two UTF-16 units).
 */
export function decodeCharRefs(s: string): { readonly text: string; readonly spans: readonly number[] } {
  let out = '';
  const spans: number[] = [];
  let from = 0;
  let p = s.indexOf('&#');
  while (p !== -1) {
    let i = p + 2;
    let hex = false;
    if (s.charCodeAt(i) === 0x78 || s.charCodeAt(i) === 0x58) {
      hex = true;
      i++;
    }
    const digitsStart = i;
    let cp = 0;
    while (i < s.length && i - digitsStart < MAX_DIGITS && (hex ? isHex(s.charCodeAt(i)) : (s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39))) {
      cp = cp * (hex ? 16 : 10) + parseInt(s[i] as string, 16);
      i++;
    }
    if (i > digitsStart && allowed(cp)) {
      if (s.charCodeAt(i) === 0x3b) i++; // `;`
      out += s.slice(from, p);
      const ch = String.fromCodePoint(cp);
      spans.push(out.length, out.length + ch.length);
      out += ch;
      from = i;
      p = s.indexOf('&#', i);
    } else {
      p = s.indexOf('&#', p + 2);
    }
  }
  if (from === 0) return { text: s, spans };
  return { text: out + s.slice(from), spans };
}

/** Whether [start, end) of a decoded text covers a character a reference produced. */
export function coversDecoded(spans: readonly number[], start: number, end: number): boolean {
  for (let k = 0; k < spans.length; k += 2) {
    if ((spans[k] as number) < end && (spans[k + 1] as number) > start) return true;
  }
  return false;
}
