/**
 * Base32 (RFC 4648: `A–Z2–7`, `=` padding to a multiple of 8) of text (red team, session 14, F8:
 * a honeytoken or an AWS key base32-encoded passed every view). Read only where it cannot be an
 * upper-case name: a whole base64 run (views.ts, inspect.ts: findBase64Runs, someBase64Run) of at
 * least MIN_BASE32_RUN characters, all of them in the base32 alphabet, with a digit 2–7 among
 * them or padded to a multiple of 8, that decodes to printable UTF-8 (at most 10% control
 * characters). `ENUM_NAMES_LIKE_THIS` is cut by its underscores, and upper-case words hold no
 * digit; what is left (the alphabet itself, `ABCDEFGHIJKLMNOPQRSTUVWXYZ234567`, ids such as
 * ULIDs) decodes to binary. Lower-case base32 (onion names, some TOTP secrets) is not read.
 */
import { isUtf8 } from 'node:buffer';
import { codeAt } from './decode-hex.js';

/** Shortest run read as base32 (20 decoded bytes: an AWS key id is 32 characters). */
export const MIN_BASE32_RUN = 32;

/** 5-bit value of each base32 character code, -1 otherwise. */
const VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('').forEach((ch, i) => { VALUE[ch.charCodeAt(0)] = i; });

const EQUALS = 0x3D;

/**
 * The end of the base32 characters of `[start, end)` when the span is a base32 run as read here
 * (every character before its `=` padding in the alphabet, at least MIN_BASE32_RUN of them, a
 * digit among them or padding to a multiple of 8 after them), else -1. `src` may hold more `=`
 * after `end` (a base64 run keeps at most two).
 */
function base32Body(src: string | Uint8Array, start: number, end: number): number {
  let k = start;
  for (; k < end; k++) {
    const c = codeAt(src, k);
    if (c === EQUALS) break;
    if (c >= 128 || VALUE[c] === -1) return -1;
  }
  if (k - start < MIN_BASE32_RUN) return -1;
  // Padding, when there is some, makes a multiple of 8 (a base32 encoder's).
  let pad = k;
  while (pad < src.length && codeAt(src, pad) === EQUALS) pad++;
  if (pad > k && (pad - start) % 8 !== 0) return -1;
  return k;
}

/** Decode base32 characters `[start, end)` (no padding), dropping a partial last byte. */
function decodeSpan(src: string | Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(((end - start) * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let k = start; k < end; k++) {
    acc = ((acc << 5) | (VALUE[codeAt(src, k)] as number)) & 0xFFF;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xFF;
    }
  }
  return out.subarray(0, o);
}

/** Whether `[start, end)` is a base32 run (see above) that decodes to printable UTF-8. */
export function isPrintableBase32(src: string | Uint8Array, start: number, end: number): boolean {
  const body = base32Body(src, start, end);
  if (body < 0) return false;
  const bytes = decodeSpan(src, start, body);
  if (!isUtf8(bytes)) return false;
  let bad = 0;
  for (const b of bytes) if ((b < 0x20 && b !== 0x09 && b !== 0x0A && b !== 0x0D) || b === 0x7F) bad++;
  return bad <= Math.floor(bytes.length / 10);
}

/** The bytes of a base32 run (its padding ignored). */
export function decodeBase32(encoded: string): Buffer {
  const body = encoded.indexOf('=');
  return decodeSpan(encoded, 0, body < 0 ? encoded.length : body);
}
