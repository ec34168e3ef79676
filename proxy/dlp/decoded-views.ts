/**
 * A small, bounded decoder for free text: percent-decoding, JSON string unescaping and
 * base64 segments that decode to printable UTF-8. The inspection pipeline builds real decoded
 * views from the request structure; this helper serves tools that only have a string (the
 * quality script, `warden scan` on a file) and keeps their notion of "decoded" consistent.
 */

/** Upper bounds: at most this many base64 segments per text, each at most this long. */
const MAX_B64_SEGMENTS = 64;
const MAX_B64_CHARS = 1 << 20;

function percentDecode(text: string): string | null {
  if (!/%[0-9A-Fa-f]{2}/.test(text)) return null;
  // Decode byte runs independently so one malformed escape does not void the whole text.
  const out = text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
  return out === text ? null : out;
}

function jsonUnescape(text: string): string | null {
  if (!/\\(?:u[0-9A-Fa-f]{4}|["\\/bfnrt])/.test(text)) return null;
  const out = text.replace(/\\(?:u([0-9A-Fa-f]{4})|(["\\/bfnrt]))/g, (_m, hex: string | undefined, ch: string | undefined) => {
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    switch (ch) {
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      default: return ch ?? '';
    }
  });
  return out === text ? null : out;
}

function isMostlyPrintable(s: string): boolean {
  if (s.length === 0 || s.includes('\uFFFD')) return false;
  let printable = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127)) printable++;
  }
  return printable / s.length >= 0.95;
}

/**
 * Decoded variants of `text` (not including `text` itself): percent-decoded, JSON-unescaped,
 * and each base64 / base64url segment of ≥ 24 characters that decodes to printable UTF-8.
 */
export function decodedViews(text: string): string[] {
  const views: string[] = [];
  const pct = percentDecode(text);
  if (pct !== null) views.push(pct);
  const json = jsonUnescape(text);
  if (json !== null) views.push(json);
  let n = 0;
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{24,}={0,2}/g)) {
    if (++n > MAX_B64_SEGMENTS) break;
    const seg = m[0];
    if (seg.length > MAX_B64_CHARS) continue;
    const decoded = Buffer.from(seg.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    if (decoded.length >= 8 && isMostlyPrintable(decoded)) views.push(decoded);
  }
  return views;
}
