/**
 * Path globs for allow entries (`paths: ["/v1/*"]`), pure.
 *
 * `*` matches any run of characters, `/` included; every other character is literal (no `?`,
 * no classes, no escapes), so a glob means what an admin reads. Matching is case-sensitive,
 * like URL paths.
 */

/** A compiled glob: true when the whole `path` matches. */
export type GlobMatcher = (path: string) => boolean;

/**
 * Compiles a glob. The caller passes the path without its query string.
 *
 * No regular expression: a regex like `^.*a.*a.*a$` backtracks exponentially on hostile
 * paths. Instead the glob is split at `*` into literal pieces; the first must be a prefix, the
 * last a suffix, and the middle ones are found left to right with `indexOf`. Taking the
 * leftmost occurrence of each middle piece is always safe for `*`-only globs (it leaves the
 * most room for the rest), so there is no backtracking: the cost is at most
 * O(path length × glob length), whatever the number of `*`.
 */
export function compileGlob(glob: string): GlobMatcher {
  const pieces = glob.split('*');
  if (pieces.length === 1) return (path) => path === glob;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  // Empty middle pieces come from `**`; they constrain nothing.
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const minLength = first.length + last.length + middle.reduce((n, p) => n + p.length, 0);
  return (path) => {
    if (path.length < minLength || !path.startsWith(first) || !path.endsWith(last)) return false;
    const end = path.length - last.length;
    let pos = first.length;
    for (const piece of middle) {
      const at = path.indexOf(piece, pos);
      if (at === -1 || at + piece.length > end) return false;
      pos = at + piece.length;
    }
    return true;
  };
}
