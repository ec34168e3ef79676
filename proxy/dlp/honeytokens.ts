/**
 * Honeytokens (planted canaries): exact, case-sensitive literals compiled into one RE2, and
 * SHA-256 digests matched against every token of the text and the runs of pieces inside it
 * (digestSpans). A hit always blocks.
 */
import { hash } from 'node:crypto';
import { RE2 } from './re2.js';
import type { Honeytoken } from '../config/types.js';
import type { Candidate, PreparedView } from './matcher.js';

export interface CompiledHoneytokens {
  /** RE2 source of the literal alternation (for the prefilter set), or null. */
  readonly source: string | null;
  /** Scan a view; `literals: false` skips the literal pass (the prefilter set saw none). */
  scan(view: PreparedView, out: Candidate[], literals: boolean): void;
  /** Raw-bytes check for mightMatch (literals are also in the set; this covers digests). */
  mightMatchDigest(raw: Buffer): boolean;
  readonly hasDigests: boolean;
}

/**
 * Byte classes for digest matching, on the UTF-8 bytes, by scan() and mightMatchDigest() alike,
 * so the fast path hashes exactly the spans the full scan hashes. A token (DESIGN.md: text split
 * at whitespace and punctuation other than `-_.+/=`) is a run of ASCII letters and digits, those
 * six, and bytes of non-ASCII characters; a piece, a run of ASCII letters and digits.
 */
const TOKEN = 1;
const PIECE = 2;
const BYTE_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) BYTE_CLASS[c] = TOKEN | PIECE;
  else if (c >= 0x80 || '-_.+/='.includes(ch)) BYTE_CLASS[c] = TOKEN;
}

function isPieceByte(c: number): boolean {
  return ((BYTE_CLASS[c] ?? 0) & PIECE) !== 0;
}

/**
 * Bounds on the runs of pieces tried besides whole tokens. Each run is a SHA-256 of its own
 * (~0.3 µs), and the agent chooses the text, so the work per token is capped, not quadratic in
 * its pieces:
 * - a run shorter than 8 bytes is not tried: a canary that short would collide with ordinary
 *   words (the floor config/compile.ts puts on a `value`, MIN_HONEYTOKEN_CHARS); it still
 *   matches as a whole token, as the contract says;
 * - a token longer than 256 bytes is only hashed whole: a canary with the context glued to it
 *   (`OPENAI_API_KEY=` and a 164-character project key, `/v1/files/` and an id) fits, and a
 *   longer run of token characters is a blob (base64, a minified line) whose decoded reading,
 *   where it has one, is scanned as a view of its own;
 * - the context after a canary is at most one piece (`.json`, `/content`; separators alone, as
 *   in `c.` or `c==`, are trimmed or kept as padding); the context before it, any number
 *   (`/v1/projects/p/files/c`, `OPENAI_API_KEY=c`);
 * - at most 16 runs per token (a UUID standing alone gives 7, `request_id=<uuid>` 11, a path of
 *   12 pieces 16), taken from both ends (digestSpans), so that only a canary of many pieces
 *   behind a context of many pieces is out of reach.
 */
const MIN_RUN_BYTES = 8;
const MAX_SPLIT_TOKEN_BYTES = 256;
const MAX_RUNS_PER_TOKEN = 16;
const MAX_PIECES_AFTER = 1;

/** Scratch for digestSpans (not re-entered): pieces of a token of at most 256 bytes, 128 at most. */
const pieceFrom = new Int32Array(MAX_SPLIT_TOKEN_BYTES / 2 + 1);
const pieceTo = new Int32Array(MAX_SPLIT_TOKEN_BYTES / 2 + 1);
const piecePadded = new Int32Array(MAX_SPLIT_TOKEN_BYTES / 2 + 1);

/**
 * The spans of the token `buf[start, end)` whose SHA-256 is compared with the configured
 * digests, as absolute byte offsets: the whole token (the contract), then runs of its pieces
 * (README, Honeytokens: the contract extended). A run ends with the token's last piece or the
 * one before, may start at any piece, and is tried as it is (trimmed of the separators around
 * it) and once more with the `=` padding that follows it, when some does.
 * So with a canary `c`, `sid=c`, `/v1/files/c`, `/v1/files/c/content`, `c.`, `éc` and `k=c==`
 * (a base64 canary ending in `==`) are tried. A run never starts or ends on a separator or
 * inside a non-ASCII character, so its offsets are code point boundaries.
 */
function digestSpans(buf: Uint8Array, start: number, end: number, visit: (a: number, b: number) => void): void {
  visit(start, end);
  if (end - start > MAX_SPLIT_TOKEN_BYTES) return;
  let pieces = 0;
  for (let i = start; i < end;) {
    if (!isPieceByte(buf[i] ?? 0)) {
      i++;
      continue;
    }
    pieceFrom[pieces] = i;
    while (i < end && isPieceByte(buf[i] ?? 0)) i++;
    pieceTo[pieces] = i;
    let q = i;
    while (q < end && buf[q] === 0x3d) q++;
    piecePadded[pieces++] = q;
  }
  let tried = 0;
  // Runs starting at the first piece, the last, the second, the one before the last, and so
  // on: the long runs a canary of many pieces with little context before it needs
  // (`request_id=<uuid>`), and the short ones a canary deep in a path needs, both within the cap.
  for (let k = 0; k < pieces; k++) {
    const first = k % 2 === 0 ? k / 2 : pieces - 1 - (k - 1) / 2;
    const a = pieceFrom[first] ?? 0;
    for (let last = pieces - 1; last >= first && last >= pieces - 1 - MAX_PIECES_AFTER; last--) {
      const b = pieceTo[last] ?? 0;
      const padded = piecePadded[last] ?? 0;
      for (const e of padded > b ? [b, padded] : [b]) {
        if (e - a < MIN_RUN_BYTES || (a === start && e === end)) continue;
        if (++tried > MAX_RUNS_PER_TOKEN) return;
        visit(a, e);
      }
    }
  }
}

/**
 * Calls `visit(start, end, ascii)` for each token of `buf`, `ascii` false when it holds a
 * non-ASCII character; stops when `visit` returns true.
 */
function forEachToken(buf: Uint8Array, visit: (start: number, end: number, ascii: boolean) => boolean): void {
  const n = buf.length;
  let i = 0;
  for (;;) {
    while (i < n && BYTE_CLASS[buf[i] ?? 0] === 0) i++;
    if (i >= n) return;
    const start = i;
    let high = 0;
    for (; i < n; i++) {
      const c = buf[i] ?? 0;
      if (BYTE_CLASS[c] === 0) break;
      high |= c;
    }
    if (visit(start, i, high < 0x80)) return;
  }
}

/** A digest hit inside a token: offsets relative to the token's start, and the honeytoken id. */
type TokenHit = readonly [from: number, to: number, id: string];
const NO_HITS: readonly TokenHit[] = [];

function escapeRe2(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The shortest encoded form matched: shorter ones could turn up by chance in a long base64 body. */
const MIN_ENCODED_CHARS = 10;

/**
 * What a canary looks like encoded, as literals matched like the value itself: its hex (lower and
 * upper case), and its base64 (standard and URL-safe) at each of the three offsets it can have in
 * the encoded stream, keeping only the characters that hold its bits alone (so the text around it
 * does not matter). Decoded views cover long runs; these also catch a canary whose encoded run is
 * too short to be decoded (a 17-byte `user:canary` in `Authorization: Basic`, which is
 * honeytokens-only) or that sits in a run which does not decode as a whole (misaligned by a prefix).
 * A base64 form holds the first and last bytes of the value only in part, so a text differing from
 * the canary in a few bits of those also matches: canaries are random, ordinary text is not.
 */
export function encodedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Set<string>([bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let offset = 0; offset < 3; offset++) {
    // Character k holds bits [6k, 6k + 6) of the stream; the value's are [8·offset, 8·(offset + n)).
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes, Buffer.alloc(2)]).toString('base64');
    const core = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    forms.add(core);
    forms.add(core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...forms].filter((f) => f.length >= MIN_ENCODED_CHARS && f !== value);
}

/** Compile the registry. Literals longest-first so the leftmost-first alternation prefers them. */
export function compileHoneytokens(list: readonly Honeytoken[]): CompiledHoneytokens {
  const literals = new Map<string, string>();
  const digests = new Map<string, string>();
  for (const h of list) {
    if (h.value !== null && h.value.length > 0) {
      literals.set(h.value, h.id);
      for (const form of encodedForms(h.value)) if (!literals.has(form)) literals.set(form, h.id);
    }
    if (h.sha256 !== null && h.sha256.length > 0) digests.set(h.sha256.toLowerCase(), h.id);
  }
  const sorted = [...literals.keys()].sort((a, b) => b.length - a.length);
  const source = sorted.length > 0 ? sorted.map(escapeRe2).join('|') : null;
  const re = source === null ? null : new RE2(source, 'gd');

  /**
   * Every digest hit among the spans of the token `buf[start, end)`. `asciiText`: the token as a
   * latin1 string when its bytes are all ASCII (a span is then hashed as a slice of it, UTF-8 and
   * latin1 being the same bytes there, which saves a Buffer view per span), else null.
   */
  const tokenHits = (buf: Buffer, start: number, end: number, asciiText: string | null): readonly TokenHit[] => {
    let hits: TokenHit[] | null = null;
    digestSpans(buf, start, end, (a, b) => {
      // crypto.hash (one shot): ~3× cheaper per token than createHash().update().digest().
      const bytes = asciiText === null ? buf.subarray(a, b) : asciiText.slice(a - start, b - start);
      const id = digests.get(hash('sha256', bytes, 'hex'));
      if (id !== undefined) (hits ??= []).push([a - start, b - start, id]);
    });
    return hits ?? NO_HITS;
  };

  /**
   * Calls `visit(tokenStart, hits)` for each token of `buf` in which a configured digest matches;
   * stops when `visit` returns true. A token of at most 256 bytes is hashed once per call
   * however often it occurs (prose and JSON repeat most of theirs); a longer one, hashed whole
   * only, is not kept.
   */
  const forEachDigestHit = (buf: Buffer, visit: (start: number, hits: readonly TokenHit[]) => boolean): void => {
    const memo = new Map<string, readonly TokenHit[]>();
    forEachToken(buf, (s, e, ascii) => {
      let hits: readonly TokenHit[] | undefined;
      if (e - s > MAX_SPLIT_TOKEN_BYTES) {
        hits = tokenHits(buf, s, e, null);
      } else {
        const text = buf.toString('latin1', s, e);
        hits = memo.get(text);
        if (hits === undefined) memo.set(text, (hits = tokenHits(buf, s, e, ascii ? text : null)));
      }
      return hits.length > 0 && visit(s, hits);
    });
  };

  return {
    source,
    hasDigests: digests.size > 0,
    scan(view, out, literalsPossible) {
      if (re !== null && literalsPossible) {
        re.lastIndex = 0;
        for (;;) {
          const m = re.exec(view.buf);
          if (m === null) break;
          const span = m.indices?.[0];
          if (span === undefined) break;
          const start = view.offsets.toUtf16(span[0]);
          const end = view.offsets.toUtf16(span[1]);
          const value = view.text.slice(start, end);
          const id = literals.get(value);
          if (id !== undefined) out.push(hit(start, end, value, id));
        }
      }
      if (digests.size > 0) {
        forEachDigestHit(view.buf, (s, hits) => {
          for (const [a, b, id] of hits) {
            const start = view.offsets.toUtf16(s + a);
            const end = view.offsets.toUtf16(s + b);
            out.push(hit(start, end, view.text.slice(start, end), id));
          }
          return false;
        });
      }
    },
    mightMatchDigest(raw) {
      let found = false;
      if (digests.size > 0) forEachDigestHit(raw, () => (found = true));
      return found;
    },
  };
}

function hit(start: number, end: number, value: string, id: string): Candidate {
  return {
    type: 'honeytoken', patternId: `honeytokens.${id}`, pack: 'honeytokens', start, end, value,
    confidence: 'high', defaultAction: 'block', priority: 0, honeytokenId: id,
  };
}
