/**
 * Archive recognition by magic bytes (DLP.md §2.3). The table is data in
 * dlp-patterns/archives.yaml (`magics:`); this file only applies it. Magic bytes win over
 * file names and content types; transport compression is the pipeline's business, not ours.
 */
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
