/**
 * Shannon entropy and placeholder filters for secret candidates (DLP.md §2.0 rule 6).
 * Agent traffic is full of high-entropy non-secrets, so entropy is only ever a filter on a
 * candidate that a key name or a vendor format already produced, never a detector by itself.
 */

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const TEMPLATE_SHAPES: readonly RegExp[] = [
  /^\$\{?[\w.:-]*\}?$/,        // $VAR, ${VAR}, ${VAR:-x}
  /^\$\(.*\)?$/,               // $(command …)
  /^<[^>]*>?$/,                // <token>
  /^\{\{.*\}\}$/,              // {{ template }}
  /^%\w+%$/,                   // %VAR%
  /^\[[^\]]*\]$/,              // [PASSWORD]
  /^\$\d$/,                    // shell positional $1
];

const PLACEHOLDER_WORDS = /your[-_ ]?(?:api[-_ ]?)?(?:key|token|secret|password)|replace[-_ ]?me|change[-_ ]?me|placeholder|dummy|sample|put[-_]your|_here\b|here_|redacted/i;

/** Runs of six or more of the characters that documentation uses to blank a value out. */
const BLANK_RUN = /(?:x{6,}|X{6,}|\*{6,}|#{6,}|0{6,}|\.{3,}|\.\.$|•{3,})/;

/**
 * True when an extracted secret is a documentation placeholder rather than a credential:
 * `${VAR}`, `<token>`, `{{ x }}`, `[PASSWORD]`, `…EXAMPLE`, `xxxxxx`, `your-api-key`, `changeme`.
 */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  if (v.length === 0) return true;
  for (const re of TEMPLATE_SHAPES) if (re.test(v)) return true;
  if (v.includes('${') || v.includes('{{') || v.startsWith('$(')) return true;
  if (/EXAMPLE(?:KEY)?$/.test(v)) return true;
  if (BLANK_RUN.test(v)) return true;
  if (PLACEHOLDER_WORDS.test(v)) return true;
  return false;
}

/** True when all characters are one repeated character (`000000`, `aaaa`). */
export function isRepeatedChar(s: string): boolean {
  return s.length > 0 && s.split('').every((c) => c === s[0]);
}
