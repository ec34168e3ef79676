/**
 * HTML character references, numeric (`&#53;`, `&#x35;`) and named (`&hyphen;`, `&commat;`,
 * `&nbsp;`), with or without the `;` where browsers accept that: a page, an e-mail template or an
 * agent hiding a value writes `&#53;36&hyphen;22-8143` for `536-22-8143` or `jane&commat;example.com`,
 * and anything that renders the text reads the value. The decoded text is one more view
 * (views.ts); only what a reference produced is new in it, so inspect.ts keeps the matches there
 * that cover a decoded character (`spans`) and drops the rest, which the parent view reports
 * already.
 *
 * Decoding follows the HTML standard through `entities` (the decoder htmlparser2 and cheerio
 * use; its table is the standard's 2,231 names): a numeric reference to NUL, a surrogate or past
 * U+10FFFF yields U+FFFD; names need their `;`, except the legacy ones (`&amp`, `&nbsp`, `&reg`)
 * when no letter, digit or `=` follows, as in an attribute value. Text outside an attribute
 * would also read `&region=eu` as `®ion=eu`; a URL's query string is far more common in agent
 * traffic than a value hidden behind a legacy name with nothing to end it, and reading every
 * such URL as a reference costs a second scan of the body (and the fast path).
 */
import { DecodingMode, EntityDecoder, htmlDecodeTree } from 'entities/decode';

/** Longest reference looked at from the raw bytes: the longest name is 33 characters with `&` and `;`. */
const MAX_REF = 40;

let produced = '';
const decoder = new EntityDecoder(htmlDecodeTree, (cp) => {
  produced += String.fromCodePoint(cp);
});

/**
 * The reference starting at `s[p]` (an `&`): its length in `s` and what it stands for, or null.
 * `produced` holds the text until the next call.
 */
function readRef(s: string, p: number): number {
  produced = '';
  decoder.startEntity(DecodingMode.Attribute);
  let length = decoder.write(s, p + 1);
  if (length < 0) length = decoder.end(); // the text ends inside a reference
  if (length <= 0 || produced === '') return 0;
  // A legacy name without `;` followed by a letter, a digit or `=` is text (the standard's rule
  // for attributes; `entities` skips it when the letters after the name begin a longer one, as
  // in `&ltlang`).
  if (s.charCodeAt(p + 1) !== 0x23 && s.charCodeAt(p + length - 1) !== 0x3b) {
    const next = s.charCodeAt(p + length);
    if (isAlnum(next) || next === 0x3d) return 0;
  }
  return length;
}

/** Longest legacy name (read without its `;`): `middot`, `frac12`… */
const MAX_LEGACY = 6;

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * Whether the `&` before `at(1)` may start a reference, from the characters after it alone:
 * `#`, or a name (letters and digits, starting with a letter) that ends in `;`, or one short
 * enough to be a legacy name and not followed by `=` (`&lang=en` in a query string is not one).
 * `at(k)` is the code of the k-th character after the `&`, or -1 past the end.
 */
function mayStart(at: (k: number) => number): boolean {
  const c = at(1);
  if (c === 0x23) return true;
  if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) return false;
  let k = 2;
  while (k < MAX_REF && isAlnum(at(k))) k++;
  const end = at(k);
  return end === 0x3b || (k - 1 <= MAX_LEGACY && end !== 0x3d);
}

/** Whether `s` holds a character reference. */
export function hasCharRef(s: string): boolean {
  for (let p = s.indexOf('&'); p !== -1; p = s.indexOf('&', p + 1)) {
    const q = p;
    if (mayStart((k) => (q + k < s.length ? s.charCodeAt(q + k) : -1)) && readRef(s, p) > 0) return true;
  }
  return false;
}

/** Same as hasCharRef, over bytes (the fast path's raw body; a reference is ASCII). */
export function hasCharRefBytes(buf: Buffer): boolean {
  for (let p = buf.indexOf(0x26); p !== -1; p = buf.indexOf(0x26, p + 1)) {
    const q = p;
    if (mayStart((k) => buf[q + k] ?? -1) && readRef(buf.toString('latin1', p, Math.min(buf.length, p + MAX_REF)), 0) > 0) return true;
  }
  return false;
}

/**
 * `s` with every character reference replaced by what it stands for, and `spans`: pairs of
 * [start, end) offsets in the result of the text each reference produced (a code point past
 * U+FFFF is two UTF-16 units; `&NotEqualTilde;` is two code points).
 */
export function decodeCharRefs(s: string): { readonly text: string; readonly spans: readonly number[] } {
  let out = '';
  const spans: number[] = [];
  let from = 0;
  let p = s.indexOf('&');
  while (p !== -1) {
    const q = p;
    const length = mayStart((k) => (q + k < s.length ? s.charCodeAt(q + k) : -1)) ? readRef(s, p) : 0;
    if (length > 0) {
      out += s.slice(from, p);
      spans.push(out.length, out.length + produced.length);
      out += produced;
      from = p + length;
      p = s.indexOf('&', from);
    } else {
      p = s.indexOf('&', p + 1);
    }
  }
  produced = '';
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
