/**
 * Text normalisation applied to every view before the detectors see it (DLP.md §2.0 rule 2):
 * NFKC, invisible characters stripped, Unicode dashes → `-`, Unicode spaces → ` `.
 *
 * Redaction must edit the text as the client wrote it, so the normalised text comes with a
 * lazily built map from normalised offsets back to original offsets.
 *
 * Normalisation is done cluster by cluster (a base character and the combining marks after it),
 * not over the whole string at once. That makes the result local: the normalised form of a
 * substring that starts and ends on cluster boundaries is the corresponding substring of the
 * normalised whole. The fast path in inspect.ts relies on that property to normalise a whole
 * JSON body once instead of each leaf. It differs from `String.prototype.normalize` over the
 * whole string only in exotic cases (composition across a lone mark), which do not create ASCII.
 */

/** Characters removed outright: zero-width and other invisible format characters, soft hyphen. */
const STRIP = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFE00-\uFE0F\uFEFF]/;
/** Dashes that NFKC leaves alone but that people (and attackers) use in SSNs, cards, phones. */
const DASH = /[\u2010-\u2015\u2212\u2E3A\u2E3B\uFE58\uFE63\uFF0D]/;
/** Spaces that NFKC leaves alone (NBSP and the U+2000 block are compatibility-mapped anyway). */
const SPACE = /[\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/;
/** Any character one of the three rules above changes. */
const SPECIAL = /[\u0085\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u2015\u2028-\u202F\u205F-\u206F\u2212\u2E3A\u2E3B\u3000\uFE00-\uFE0F\uFE58\uFE63\uFEFF\uFF0D]/;
const NON_ASCII = /[^\x00-\x7F]/g;

/** The result of normalising one view's text. */
export interface NormalizedText {
  /** The text the detectors scan. */
  readonly text: string;
  /** False when `text === original` (the common case: then offsets are shared). */
  readonly changed: boolean;
  /**
   * Maps a span `[start, end)` of `text` to the smallest span of the original text that
   * produced it. A span starting or ending inside an expanded cluster (`ﬁ` → `fi`) widens to
   * the whole cluster, which is what redaction wants.
   */
  toOriginal(start: number, end: number): [number, number];
}

/** True for code points that must stay with the character before them while normalising. */
function isClusterContinuation(cp: number): boolean {
  // Fast reject: all combining marks and conjoining jamo are at or above U+0300.
  if (cp < 0x300) return false;
  // Hangul conjoining vowels and trailing consonants compose with the syllable before them.
  if ((cp >= 0x1160 && cp <= 0x11FF) || (cp >= 0xD7B0 && cp <= 0xD7FF)) return true;
  return MARK.test(String.fromCodePoint(cp));
}
const MARK = /^\p{M}$/u;

/** Normalised form of one cluster, with the three Warden rules applied after NFKC. */
function normalizeCluster(cluster: string): string {
  const nfkc = cluster.normalize('NFKC');
  if (!SPECIAL.test(nfkc)) return nfkc;
  let out = '';
  for (const ch of nfkc) {
    if (STRIP.test(ch)) continue;
    if (DASH.test(ch)) out += '-';
    else if (SPACE.test(ch)) out += ' ';
    else out += ch;
  }
  return out;
}

interface Core {
  text: string;
  starts: Int32Array | null;
  ends: Int32Array | null;
}

/**
 * One pass over `s`. ASCII is copied as is; each run of non-ASCII characters is normalised as a
 * whole when that changes nothing (CJK text, emoji), else cluster by cluster.
 */
function normalizeCore(s: string, wantMap: boolean): Core {
  const parts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const pushIdentity = (from: number, to: number): void => {
    if (to <= from) return;
    parts.push(s.slice(from, to));
    if (wantMap) for (let k = from; k < to; k++) { starts.push(k); ends.push(k + 1); }
  };
  const pushMapped = (piece: string, from: number, to: number): void => {
    parts.push(piece);
    if (wantMap) for (let k = 0; k < piece.length; k++) { starts.push(from); ends.push(to); }
  };

  let copied = 0;
  // Shared global regex: normalizeCore is not re-entrant, so resetting lastIndex is enough.
  const re = NON_ASCII;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    let runStart = m.index;
    let runEnd = runStart;
    while (runEnd < s.length && s.charCodeAt(runEnd) > 0x7F) runEnd++;
    re.lastIndex = runEnd;
    // A combining mark at the start of the run belongs to the ASCII base before it (e + U+0301).
    const first = s.codePointAt(runStart) ?? 0;
    if (runStart > copied && isClusterContinuation(first)) runStart--;
    const run = s.slice(runStart, runEnd);
    if (run.normalize('NFKC') === run && !SPECIAL.test(run)) continue; // unchanged: copied later as identity
    pushIdentity(copied, runStart);
    // Cluster by cluster so that each output character maps back to its source cluster.
    let i = runStart;
    while (i < runEnd) {
      const cp = s.codePointAt(i) ?? 0;
      let j = i + (cp > 0xFFFF ? 2 : 1);
      while (j < runEnd) {
        const next = s.codePointAt(j) ?? 0;
        if (!isClusterContinuation(next)) break;
        j += next > 0xFFFF ? 2 : 1;
      }
      const cluster = s.slice(i, j);
      const normalized = normalizeCluster(cluster);
      if (normalized === cluster) pushIdentity(i, j);
      else pushMapped(normalized, i, j);
      i = j;
    }
    copied = runEnd;
  }
  if (copied === 0) return { text: s, starts: null, ends: null };
  pushIdentity(copied, s.length);
  const text = parts.join('');
  return {
    text,
    starts: wantMap ? Int32Array.from(starts) : null,
    ends: wantMap ? Int32Array.from(ends) : null,
  };
}

/**
 * Normalise untrusted text for scanning. Pure; O(n). ASCII-only input is returned unchanged
 * without allocation.
 */
export function normalizeText(original: string): NormalizedText {
  const core = normalizeCore(original, false);
  if (core.text === original) {
    return { text: original, changed: false, toOriginal: (start, end) => [start, end] };
  }
  let starts: Int32Array | null = null;
  let ends: Int32Array | null = null;
  return {
    text: core.text,
    changed: true,
    toOriginal(start: number, end: number): [number, number] {
      if (starts === null || ends === null) {
        // Built on first use only: most normalised views never need redaction.
        const mapped = normalizeCore(original, true);
        starts = mapped.starts ?? new Int32Array(0);
        ends = mapped.ends ?? new Int32Array(0);
      }
      const n = starts.length;
      if (n === 0) return [0, 0];
      const s = Math.min(Math.max(start, 0), n - 1);
      const e = Math.min(Math.max(end - 1, s), n - 1);
      return [starts[s] ?? 0, ends[e] ?? original.length];
    },
  };
}

/** True when normalisation would change `s` (used by the fast path on whole bodies). */
export function needsNormalization(s: string): boolean {
  return normalizeCore(s, false).text !== s;
}
