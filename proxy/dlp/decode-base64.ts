/**
 * Base64 candidates (DLP.md §2.0): runs of `[A-Za-z0-9+/_-]{24,}={0,2}` in any view. A run that
 * decodes to mostly printable UTF-8 becomes an extra view; one that decodes to archive magic is
 * an archive. Everything else (UUIDs, hex digests, paths, images) decodes to binary noise and is
 * dropped after one native decode, so it costs no budget.
 */

/** Shortest run considered (18 decoded bytes): shorter runs are ordinary identifiers. */
export const MIN_BASE64_RUN = 24;

const ALPHABET = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') ALPHABET[ch.charCodeAt(0)] = 1;

function inAlphabet(c: number): boolean {
  return c < 128 && ALPHABET[c] === 1;
}

/** A run of base64 alphabet characters: `[start, end)` including any `=` padding. */
export interface Base64Run {
  readonly start: number;
  readonly end: number;
}

/**
 * Find candidate runs in a string or a byte buffer. Skips ahead by the minimum run length when
 * the character at the far end of the window is outside the alphabet (Boyer–Moore style), so
 * prose is examined at about one character in twenty.
 */
export function findBase64Runs(s: string | Uint8Array): Base64Run[] {
  const runs: Base64Run[] = [];
  const isStr = typeof s === 'string';
  const n = s.length;
  const at = isStr ? (k: number): number => (s as string).charCodeAt(k) : (k: number): number => (s as Uint8Array)[k] ?? 0;
  let i = 0;
  while (i + MIN_BASE64_RUN <= n) {
    if (!inAlphabet(at(i + MIN_BASE64_RUN - 1))) { i += MIN_BASE64_RUN; continue; }
    let j = i + MIN_BASE64_RUN - 2;
    while (j >= i && inAlphabet(at(j))) j--;
    if (j >= i) { i = j + 1; continue; }
    // i is not necessarily the start of the run: walk back (only possible at the first window).
    let start = i;
    while (start > 0 && inAlphabet(at(start - 1))) start--;
    let end = i + MIN_BASE64_RUN;
    while (end < n && inAlphabet(at(end))) end++;
    let pad = 0;
    while (pad < 2 && end < n && at(end) === 0x3D /* = */) { end++; pad++; }
    runs.push({ start, end });
    i = end + 1;
  }
  return runs;
}

/** What a candidate decodes to. */
export type Base64Decoded =
  | { readonly kind: 'text'; readonly text: string; readonly bytes: Buffer }
  | { readonly kind: 'binary'; readonly bytes: Buffer };

/**
 * Decode one run (standard or URL-safe alphabet; Node accepts both) and classify it.
 * "Mostly printable": valid UTF-8 apart from a possibly cut final character, and at most 10%
 * control characters (tab, CR and LF are printable here).
 */
export function decodeBase64Run(run: string): Base64Decoded {
  const bytes = Buffer.from(run, 'base64');
  if (bytes.length === 0) return { kind: 'binary', bytes };
  const text = bytes.toString('utf8');
  let bad = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 0xFFFD || (c < 0x20 && c !== 0x09 && c !== 0x0A && c !== 0x0D) || c === 0x7F) bad++;
  }
  // A misaligned run can end in half a character: one replacement at the end is tolerated.
  if (bad * 10 > text.length) return { kind: 'binary', bytes };
  return { kind: 'text', text, bytes };
}
