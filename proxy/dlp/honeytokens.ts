/**
 * Honeytokens (planted canaries): exact, case-sensitive literals compiled into one RE2, and
 * SHA-256 digests matched against every token of the text. A hit always blocks.
 */
import { createHash } from 'node:crypto';
import { RE2 } from './re2.js';
import type { Honeytoken } from '../config/types.js';
import type { Candidate, PreparedView } from './matcher.js';

/** Characters that split text into tokens for digest matching: whitespace and punctuation except `-_.+/=`. */
const SPLIT = /[^A-Za-z0-9\-_.+/=\u0080-\uffff]+/;

export interface CompiledHoneytokens {
  /** RE2 source of the literal alternation (for the prefilter set), or null. */
  readonly source: string | null;
  /** Scan a view; `literals: false` skips the literal pass (the prefilter set saw none). */
  scan(view: PreparedView, out: Candidate[], literals: boolean): void;
  /** Raw-bytes check for mightMatch (literals are also in the set; this covers digests). */
  mightMatchDigest(raw: Buffer): boolean;
  readonly hasDigests: boolean;
}

function escapeRe2(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compile the registry. Literals longest-first so the leftmost-first alternation prefers them. */
export function compileHoneytokens(list: readonly Honeytoken[]): CompiledHoneytokens {
  const literals = new Map<string, string>();
  const digests = new Map<string, string>();
  for (const h of list) {
    if (h.value !== null && h.value.length > 0) literals.set(h.value, h.id);
    if (h.sha256 !== null && h.sha256.length > 0) digests.set(h.sha256.toLowerCase(), h.id);
  }
  const sorted = [...literals.keys()].sort((a, b) => b.length - a.length);
  const source = sorted.length > 0 ? sorted.map(escapeRe2).join('|') : null;
  const re = source === null ? null : new RE2(source, 'gd');

  const digestHit = (bytes: Buffer, seen: Set<string>): string | null => {
    const h = createHash('sha256').update(bytes).digest('hex');
    return digests.get(h) ?? (seen.add(h), null);
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
        // Equal tokens hash once per view (JSON repeats keys and values).
        const tried = new Set<string>();
        let pos = 0;
        for (const tok of view.text.split(SPLIT)) {
          const start = view.text.indexOf(tok, pos);
          pos = start + tok.length;
          if (tok.length === 0 || tried.has(tok)) continue;
          tried.add(tok);
          const id = digests.get(createHash('sha256').update(tok, 'utf8').digest('hex'));
          if (id === undefined) continue;
          // Report every occurrence of the token, not only the first.
          for (let at = view.text.indexOf(tok); at >= 0; at = view.text.indexOf(tok, at + tok.length)) {
            const before = view.text[at - 1];
            const after = view.text[at + tok.length];
            if ((before === undefined || SPLIT.test(before)) && (after === undefined || SPLIT.test(after))) {
              out.push(hit(at, at + tok.length, tok, id));
            }
          }
        }
      }
    },
    mightMatchDigest(raw) {
      if (digests.size === 0) return false;
      const seen = new Set<string>();
      let startTok = -1;
      for (let i = 0; i <= raw.length; i++) {
        const c = i < raw.length ? raw[i] ?? 0 : 32;
        const tokenChar = c >= 0x80 || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
          || c === 45 || c === 95 || c === 46 || c === 43 || c === 47 || c === 61;
        if (tokenChar) {
          if (startTok < 0) startTok = i;
        } else if (startTok >= 0) {
          if (digestHit(raw.subarray(startTok, i), seen) !== null) return true;
          startTok = -1;
        }
      }
      return false;
    },
  };
}

function hit(start: number, end: number, value: string, id: string): Candidate {
  return {
    type: 'honeytoken', patternId: `honeytokens.${id}`, pack: 'honeytokens', start, end, value,
    confidence: 'high', defaultAction: 'block', priority: 0, honeytokenId: id,
  };
}
