/**
 * Archive recognition by magic bytes (DLP.md §2.3). The table is data in
 * dlp-patterns/archives.yaml (`magics:`); this file only applies it. Magic bytes win over
 * file names and content types; transport compression is the pipeline's business, not ours.
 */
import { constants as zc, inflateSync } from 'node:zlib';
import { base64Head, base64Sextet } from './decode-base64.js';
import { codeAt } from './decode-hex.js';
import type { Magic } from './packs.js';
import { ACCEPT, type Validator } from './validators/types.js';

/**
 * Bytes shorter than this are taken to be a whole object, not the head of a longer one: a base64
 * run under 60 characters cannot be one line of a wrapped blob (PEM wraps at 64, MIME at 76).
 */
export const WHOLE_OBJECT_MAX_BYTES = 44;
/** How much of a stream the checks below read. */
const STREAM_CHECK_BYTES = 1024;

/**
 * zlib's header is its only magic: 2 bytes, which 1 random base64 run in ~1,900 starts with
 * (`eJ…`, `eN…`: an API key, a session id). Random bytes after the header rarely inflate for
 * long (13% of 8 bytes, 2% of 16, 0.05% of 45), and never to a checked end: bytes short enough
 * to be a whole object must inflate to the end of the stream (Adler-32 included), longer ones
 * without error as far as they go. Inflating is bounded on both sides (1 KiB in, 64 KiB out;
 * more output than that is a stream).
 */
function zlibStream(bytes: Uint8Array): boolean {
  const whole = bytes.length <= WHOLE_OBJECT_MAX_BYTES;
  try {
    inflateSync(bytes.subarray(0, STREAM_CHECK_BYTES), { finishFlush: whole ? zc.Z_FINISH : zc.Z_SYNC_FLUSH, maxOutputLength: 64 * 1024 });
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
  }
}

/**
 * `compress` (.Z, LZW) has a 2-byte magic too. Its third byte holds the largest code width
 * (9–16 bits) with two bits that must be clear, and its codes, 9 bits wide at first, each name a
 * byte (the first) or an entry already in the table (at most the next free one). 16 bytes hold
 * 11 codes, which random bytes pass about once in 1,000 (and the flags once in 16). A CLEAR code
 * ends the check: the codes after it are realigned. `compress` writes nothing shorter than a
 * few bytes of input would give, and an archive of 10 bytes holds nothing to stop.
 */
function lzwStream(bytes: Uint8Array): boolean {
  if (bytes.length < 16) return false;
  const flags = bytes[2] as number;
  const maxBits = flags & 0x1F;
  if (maxBits < 9 || maxBits > 16 || (flags & 0x60) !== 0) return false;
  const blockMode = (flags & 0x80) !== 0;
  let free = blockMode ? 257 : 256;
  const end = Math.min(bytes.length, STREAM_CHECK_BYTES) * 8;
  let first = true;
  for (let bit = 24; bit + 9 <= end && free < 512; bit += 9) {
    const at = bit >> 3;
    const code = (((bytes[at] as number) | ((bytes[at + 1] as number) << 8)) >> (bit & 7)) & 0x1FF;
    if (blockMode && code === 256) return true;
    if (first) {
      if (code > 255) return false;
      first = false;
    } else {
      if (code > free) return false;
      free++;
    }
  }
  return true;
}

/**
 * Formats whose magic is too short to tell an archive from chance bytes, with the check their
 * stream must also pass.
 */
const STREAM_CHECKS: Readonly<Record<string, (bytes: Uint8Array) => boolean>> = {
  zlib: zlibStream,
  compress: lzwStream,
};

/**
 * Format name of the first magic that matches `bytes` at its offset (and whose stream, for a
 * format in STREAM_CHECKS, checks out), or null. `bytes` is a whole object or, past
 * WHOLE_OBJECT_MAX_BYTES, possibly the head of one.
 */
export function matchMagic(magics: readonly Magic[], bytes: Uint8Array): string | null {
  for (const m of magics) {
    if (bytes.length < m.offset + m.bytes.length) continue;
    let ok = true;
    for (let i = 0; i < m.bytes.length; i++) {
      if (bytes[m.offset + i] !== m.bytes[i]) { ok = false; break; }
    }
    if (ok && (STREAM_CHECKS[m.format]?.(bytes) ?? true)) return m.format;
  }
  return null;
}

/**
 * Validator for base64 archive leads in text (`UEsDB…`, `H4sI…`): the segment must decode to
 * a magic at offset 0 (and a stream that checks out, where the magic is short). Only the head is
 * decoded (decode-base64.ts ARCHIVE_PROBE_BYTES).
 */
export function archiveBase64Validator(magics: readonly Magic[]): Validator {
  const atZero = magics.filter((m) => m.offset === 0);
  return (c) => (matchMagic(atZero, base64Head(c.value, 0, c.value.length)) !== null ? ACCEPT : null);
}

/**
 * The archive format a base64 run `[start, end)` of `src` decodes to (magic at its offset in the
 * decoded bytes), or null: the same answer as `matchMagic(magics, base64Head(src, start, end))`,
 * made cheap for the fast path, which meets thousands of runs (hashes, UUIDs, paths) in a clean
 * body. A magic at offset 0 fixes the run's first character (the top six bits of its first byte),
 * and a magic further in (tar, at 257) needs a run long enough to reach it; a run that fails both
 * is rejected from its first character and its length, without decoding.
 */
export function base64ArchiveProbe(magics: readonly Magic[]): (src: string | Uint8Array, start: number, end: number) => string | null {
  const firstSextet = new Uint8Array(64);
  let minDeepEnd = Infinity; // shortest decoded length that can hold a magic not at offset 0
  for (const m of magics) {
    const first = m.bytes[0];
    if (m.offset === 0 && first !== undefined) firstSextet[first >> 2] = 1;
    else minDeepEnd = Math.min(minDeepEnd, m.offset + m.bytes.length);
  }
  return (src, start, end) => {
    const v = base64Sextet(codeAt(src, start));
    if (v < 0) return null;
    let chars = end - start;
    while (chars > 0 && codeAt(src, start + chars - 1) === 0x3D) chars--; // padding decodes to nothing
    if (firstSextet[v] === 0 && Math.floor((chars * 6) / 8) < minDeepEnd) return null;
    return matchMagic(magics, base64Head(src, start, end));
  };
}
