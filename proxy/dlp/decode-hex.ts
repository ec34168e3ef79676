/**
 * Hex-encoded text (`xxd -p`, `Buffer#toString('hex')`): a run of hex digits that decodes to
 * mostly printable UTF-8 becomes an extra view, as a base64 run does (decode-base64.ts). Hex
 * runs are found among the base64 candidates (the hex digits are a subset of that alphabet),
 * and must be at least MIN_HEX_RUN digits long. Digests, ids and other hex data decode to binary
 * noise and are dropped.
 */
import { isUtf8 } from 'node:buffer';

/** Value of each hex digit, -1 otherwise. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/**
 * Shortest hex run read as text: 16 bytes. Random bytes pass the printable test often enough at
 * 12 (one `call_<24 hex digits>` id in a 4 MiB chat body did), which costs a clean body its fast
 * path; at 16 they pass about once in a million.
 */
export const MIN_HEX_RUN = 32;

/** Decoded runs up to this size reuse one buffer; longer ones get their own. */
const SCRATCH_MAX = 64 * 1024;
let scratch = new Uint8Array(1024);

/** The code unit (string) or byte at `k`; 0 past a byte array's end. */
export function codeAt(src: string | Uint8Array, k: number): number {
  return typeof src === 'string' ? src.charCodeAt(k) : (src[k] ?? 0);
}

/**
 * Whether `[start, end)` of `src` is an even run of hex digits that decodes to valid UTF-8 with
 * at most one control character (other than tab, CR, LF) in ten bytes: the rule
 * isPrintableBase64 applies.
 */
export function isPrintableHex(src: string | Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n < MIN_HEX_RUN || (n & 1) !== 0) return false;
  const m = n >> 1;
  let out = scratch;
  if (m > out.length) out = m > SCRATCH_MAX ? new Uint8Array(m) : (scratch = new Uint8Array(SCRATCH_MAX));
  const maxBad = Math.floor(m / 10);
  let bad = 0;
  let need = 0; // continuation bytes still expected
  let multibyte = false;
  for (let i = 0; i < m; i++) {
    const a = codeAt(src, start + 2 * i);
    const b = codeAt(src, start + 2 * i + 1);
    const hi = a < 128 ? (HEX[a] ?? -1) : -1;
    const lo = b < 128 ? (HEX[b] ?? -1) : -1;
    if (hi < 0 || lo < 0) return false;
    const byte = (hi << 4) | lo;
    out[i] = byte;
    // UTF-8 shape checked as it goes, so a digest (random bytes) is dropped within a few bytes;
    // isUtf8 settles the rest (overlong forms, surrogates) when there is a multi-byte sequence.
    if (need > 0) {
      if ((byte & 0xC0) !== 0x80) return false;
      need--;
    } else if (byte >= 0x80) {
      if (byte >= 0xC2 && byte <= 0xDF) need = 1;
      else if (byte >= 0xE0 && byte <= 0xEF) need = 2;
      else if (byte >= 0xF0 && byte <= 0xF4) need = 3;
      else return false;
      multibyte = true;
    } else if (((byte < 0x20 && byte !== 0x09 && byte !== 0x0A && byte !== 0x0D) || byte === 0x7F) && ++bad > maxBad) {
      return false;
    }
  }
  return need === 0 && (!multibyte || isUtf8(out.subarray(0, m)));
}
