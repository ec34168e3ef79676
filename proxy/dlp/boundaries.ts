/**
 * Left/right boundary post-checks. RE2 has no lookaround, so a pattern states the boundary it
 * needs by name (`boundary:` in a pack) and the engine checks the characters around the value.
 */

/** Boundary kinds a pack may name. */
export type BoundaryKind = 'none' | 'alnum' | 'token' | 'digits' | 'base64';

export const BOUNDARY_KINDS: readonly BoundaryKind[] = ['none', 'alnum', 'token', 'digits', 'base64'];

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isTokenChar(c: number): boolean {
  return isAlnum(c) || c === 95 /* _ */ || c === 45 /* - */;
}

function isBase64Char(c: number): boolean {
  return isAlnum(c) || c === 43 /* + */ || c === 47 /* / */ || c === 61 /* = */;
}

/** Code unit at i, or -1 outside the text. */
function at(text: string, i: number): number {
  return i >= 0 && i < text.length ? text.charCodeAt(i) : -1;
}

/**
 * True when the character(s) before `start` do not glue the value to a longer run.
 * `digits` is DLP.md §2.0 rule 5: not after `[0-9A-Za-z]`, nor after `\d.` / `\d-`.
 */
export function leftBoundaryOk(text: string, start: number, kind: BoundaryKind): boolean {
  const p = at(text, start - 1);
  if (p < 0 || kind === 'none') return true;
  switch (kind) {
    case 'alnum': return !isAlnum(p);
    case 'token': return !isTokenChar(p);
    case 'base64': return !isBase64Char(p);
    case 'digits':
      if (isAlnum(p)) return false;
      if ((p === 46 || p === 45) && isDigit(at(text, start - 2))) return false;
      return true;
  }
}

/**
 * True when the character(s) after `end` do not continue the value. `digits`: not before
 * `[0-9A-Za-z]` nor `.\d` / `-\d`; a sentence-final `.` is fine.
 */
export function rightBoundaryOk(text: string, end: number, kind: BoundaryKind): boolean {
  const n = at(text, end);
  if (n < 0 || kind === 'none') return true;
  switch (kind) {
    case 'alnum': return !isAlnum(n);
    case 'token': return !isTokenChar(n);
    case 'base64': return !isBase64Char(n);
    case 'digits':
      if (isAlnum(n)) return false;
      if ((n === 46 || n === 45) && isDigit(at(text, end + 1))) return false;
      return true;
  }
}
