/**
 * Archive recognition by magic bytes (DLP.md §2.3). The table is data in
 * dlp-patterns/archives.yaml (`magics:`); this file only applies it. Magic bytes win over
 * file names and content types; transport compression is the pipeline's business, not ours.
 */
import { base64Head, base64Sextet } from './decode-base64.js';
import { codeAt } from './decode-hex.js';
import type { Magic } from './packs.js';
import { ACCEPT, type Validator } from './validators/types.js';

/** Format name of the first magic that matches `bytes` at its offset, or null. */
export function matchMagic(magics: readonly Magic[], bytes: Uint8Array): string | null {
  for (const m of magics) {
    if (bytes.length < m.offset + m.bytes.length) continue;
    let ok = true;
    for (let i = 0; i < m.bytes.length; i++) {
      if (bytes[m.offset + i] !== m.bytes[i]) { ok = false; break; }
    }
    if (ok) return m.format;
  }
  return null;
}

/**
 * Validator for base64 archive leads in text (`UEsDB…`, `H4sI…`): the segment must decode to
 * a magic at offset 0. Only a short prefix is decoded: enough for every offset-0 magic.
 */
export function archiveBase64Validator(magics: readonly Magic[]): Validator {
  const atZero = magics.filter((m) => m.offset === 0);
  return (c) => {
    const head = c.value.slice(0, 24).replace(/[-_]/g, (ch) => (ch === '-' ? '+' : '/'));
    const bytes = Buffer.from(head.slice(0, head.length - (head.length % 4)), 'base64');
    return matchMagic(atZero, bytes) !== null ? ACCEPT : null;
  };
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
