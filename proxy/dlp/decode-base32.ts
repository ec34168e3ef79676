/**
 * Base32 (RFC 4648: `A–Z2–7`, `=` padding to a multiple of 8) of text (red team, session 14, F8:
 * a honeytoken or an AWS key base32-encoded passed every view), in either case (`base32 | tr A-Z
 * a-z`; Python's `b32decode(s, casefold=True)`). Read only where it cannot be a name: a whole
 * base64 run (views.ts, inspect.ts: findBase64Runs, someBase64Run) of at least MIN_BASE32_RUN
 * characters, all of them in the alphabet and of one case (`camelCase` is not base32), padded
 * to a multiple of 8 or not padded, that decodes to printable UTF-8 (at most 10% control
 * characters). `ENUM_NAMES_LIKE_THIS` and `snake_case` are cut by their underscores; what is left
 * (the alphabet itself, `ABCDEFGHIJKLMNOPQRSTUVWXYZ234567`, long words, ids such as ULIDs,
 * onion names) decodes to binary, which the decoding gives up on at its first byte that cannot be
 * text: over 188 MB of code and documentation (node_modules, Python's library, /usr/share/doc),
 * no run of either case reads as base32, and about 3 random runs of 32 characters in 10^6 do.
 *
 * Not read: base32hex (RFC 4648 §7, `0–9A–V`, `basenc --base32hex`). Every hex digest is in its
 * alphabet, and trying each one cost the fast path ~0.3–0.5 ms per 4 MiB of chat (2,700 SHA-256
 * digests there); the tool is rare.
 */
import { codeAt } from './decode-hex.js';

/** Shortest run read as base32 (20 decoded bytes: an AWS key id is 32 characters). */
export const MIN_BASE32_RUN = 32;

/** 5-bit value of each base32 character code (either case), -1 otherwise. */
const VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('').forEach((ch, i) => {
  VALUE[ch.charCodeAt(0)] = i;
  VALUE[ch.toLowerCase().charCodeAt(0)] = i;
});

const EQUALS = 0x3D;

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5A;
}

/**
 * The end of the base32 characters of `[start, end)` when the span is a base32 run as read here
 * and decodes to text, else -1. A run: every character before its `=` padding in the alphabet,
 * all letters of one case, at least MIN_BASE32_RUN of them, and padding, if any, to a multiple
 * of 8 after them (`src` may hold more `=` after `end`: a base64 run keeps
 * at most two). Text: valid UTF-8 (a sequence cut by the run's end is tolerated) with at most
 * one control character (other than tab, CR, LF) in ten bytes, the rule isPrintableBase64
 * applies. One pass that decodes as it goes and stops at the first character outside the
 * alphabet or byte that cannot be text, with no allocation.
 */
function textBody(src: string | Uint8Array, start: number, end: number): number {
  const maxBad = Math.floor(Math.floor(((end - start) * 5) / 8) / 10);
  let bad = 0;
  let acc = 0;
  let bits = 0;
  let need = 0; // continuation bytes still expected
  let lead = 0;
  let upper = false;
  let lower = false;
  let k = start;
  for (; k < end; k++) {
    const c = codeAt(src, k);
    if (c === EQUALS) break;
    const v = c < 128 ? (VALUE[c] as number) : -1;
    if (v < 0) return -1;
    if (isUpper(c)) upper = true;
    else if (c > 0x39) lower = true;
    if (upper && lower) return -1; // camelCase: a word, not base32
    acc = ((acc << 5) | v) & 0xFFF;
    bits += 5;
    if (bits < 8) continue;
    bits -= 8;
    const byte = (acc >> bits) & 0xFF;
    if (need > 0) {
      if ((byte & 0xC0) !== 0x80) return -1;
      // Overlong and surrogate second bytes (E0 80-9F, ED A0-BF, F0 80-8F, F4 90-BF).
      if (lead !== 0) {
        if ((lead === 0xE0 && byte < 0xA0) || (lead === 0xED && byte > 0x9F) || (lead === 0xF0 && byte < 0x90) || (lead === 0xF4 && byte > 0x8F)) return -1;
        lead = 0;
      }
      need--;
    } else if (byte < 0x80) {
      if (((byte < 0x20 && byte !== 0x09 && byte !== 0x0A && byte !== 0x0D) || byte === 0x7F) && ++bad > maxBad) return -1;
    } else if (byte >= 0xC2 && byte <= 0xDF) { need = 1; lead = 0; }
    else if (byte >= 0xE0 && byte <= 0xEF) { need = 2; lead = byte; }
    else if (byte >= 0xF0 && byte <= 0xF4) { need = 3; lead = byte; }
    else return -1;
  }
  if (k - start < MIN_BASE32_RUN) return -1;
  // Padding, when there is some, makes a multiple of 8 (a base32 encoder's).
  let pad = k;
  while (pad < src.length && codeAt(src, pad) === EQUALS) pad++;
  if (pad > k && (pad - start) % 8 !== 0) return -1;
  return k;
}

/** Whether `[start, end)` is a base32 run (see above) that decodes to printable UTF-8. */
export function isPrintableBase32(src: string | Uint8Array, start: number, end: number): boolean {
  return end - start >= MIN_BASE32_RUN && textBody(src, start, end) >= 0;
}

/** Decode base32 characters `[start, end)` (no padding), dropping a partial last byte. */
function decodeSpan(src: string, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(((end - start) * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let k = start; k < end; k++) {
    acc = ((acc << 5) | (VALUE[src.charCodeAt(k)] as number)) & 0xFFF;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xFF;
    }
  }
  return out.subarray(0, o);
}

/** The bytes of a base32 run in either case (its padding ignored). */
export function decodeBase32(encoded: string): Buffer {
  const body = encoded.indexOf('=');
  return decodeSpan(encoded, 0, body < 0 ? encoded.length : body);
}
