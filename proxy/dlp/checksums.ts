/**
 * Check-digit and checksum algorithms used by the validators. Pure functions over strings
 * that the caller has already reduced to the relevant characters (digits, base58, …).
 * Input is untrusted text; every function returns false on malformed input, never throws.
 */
import { createHash } from 'node:crypto';

/** Luhn (mod 10) over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** ISO 13616 IBAN check: move the first four characters to the end, letters → 10..35, mod 97 === 1. */
export function ibanMod97Valid(iban: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    // Letters expand to two digits; fold them in one at a time to stay far below 2^53.
    const part = code >= 65 ? String(code - 55) : ch;
    for (const p of part) rem = (rem * 10 + (p.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/** ABA routing transit number: 3-7-1 weights over 9 digits, sum mod 10 === 0. */
export function abaValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const w = [3, 7, 1, 3, 7, 1, 3, 7, 1];
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (w[i] ?? 0);
  return sum % 10 === 0;
}

/** UK NHS number: weights 10..2 over the first 9 digits, check = 11 - sum mod 11 (11 → 0, 10 invalid). */
export function nhsValid(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10) return false;
  return check === digits.charCodeAt(9) - 48;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as zlib) of a byte string. */
export function crc32(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = (crcTable[(crc ^ b) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Decode a base62 string (`0-9A-Za-z`) to a number; -1 on a foreign character. */
export function base62Decode(s: string): number {
  let n = 0;
  for (const ch of s) {
    const v = BASE62.indexOf(ch);
    if (v < 0) return -1;
    n = n * 62 + v;
  }
  return n;
}

/**
 * GitHub-style token checksum (classic `ghp_`… tokens and npm `npm_` tokens): the last six
 * characters are the base62 CRC-32 of the random part between the prefix and the checksum.
 */
export function prefixedCrc32Valid(token: string, prefixLength: number): boolean {
  if (token.length < prefixLength + 7) return false;
  const body = token.slice(prefixLength, -6);
  const check = base62Decode(token.slice(-6));
  if (check < 0) return false;
  return crc32(Buffer.from(body, 'latin1')) === check;
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Base58Check (Bitcoin P2PKH/P2SH): 25 bytes whose last 4 are the double SHA-256 prefix. */
export function base58CheckValid(s: string): boolean {
  let n = 0n;
  for (const ch of s) {
    const v = BASE58.indexOf(ch);
    if (v < 0) return false;
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const ch of s) {
    if (ch !== '1') break;
    bytes.unshift(0);
  }
  if (bytes.length !== 25) return false;
  const buf = Buffer.from(bytes);
  const payload = buf.subarray(0, 21);
  const sum = createHash('sha256').update(createHash('sha256').update(payload).digest()).digest();
  return sum.subarray(0, 4).equals(buf.subarray(21));
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function bech32Polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i] ?? 0;
  }
  return chk >>> 0;
}

/** Segwit address checksum: bech32 (witness v0) or bech32m (v1+), lower case only. */
export function bech32Valid(addr: string): boolean {
  if (addr !== addr.toLowerCase()) return false;
  const pos = addr.lastIndexOf('1');
  if (pos < 1 || pos + 7 > addr.length || addr.length > 90) return false;
  const hrp = addr.slice(0, pos);
  const data: number[] = [];
  for (const ch of addr.slice(pos + 1)) {
    const v = BECH32.indexOf(ch);
    if (v < 0) return false;
    data.push(v);
  }
  const expanded: number[] = [];
  for (const ch of hrp) expanded.push(ch.charCodeAt(0) >> 5);
  expanded.push(0);
  for (const ch of hrp) expanded.push(ch.charCodeAt(0) & 31);
  const pm = bech32Polymod([...expanded, ...data]);
  const version = data[0] ?? -1;
  // bech32 constant 1 for v0, bech32m constant 0x2bc830a3 for v1..16 (BIP-350).
  if (version === 0) return pm === 1;
  return version > 0 && version <= 16 && pm === 0x2bc830a3;
}
