/**
 * Canonical JSON: the exact byte string every audit record hash is computed over.
 *
 * Verifiers in other languages must reproduce it, so here is the whole definition:
 *
 * - Objects: members sorted by key, comparing keys as sequences of UTF-16 code units (what
 *   JavaScript's default `Array.prototype.sort` does; for ASCII keys this is byte order).
 *   Members whose value is `undefined` are omitted.
 * - No whitespace anywhere: `{"a":1,"b":[true,null]}`.
 * - Strings and numbers are serialised exactly as ECMAScript `JSON.stringify` does (numbers
 *   in shortest round-trip form, `1e21` style exponents, `-0` as `0`; strings with `"`, `\\`
 *   and U+0000..U+001F escaped, `\b \f \n \r \t` in short form, the rest as `\u00XX`
 *   lower-case hex, lone surrogates as `\uDXXX`, everything else literal UTF-8).
 * - Arrays keep their order; an `undefined` element becomes `null` (as in JSON.stringify).
 * - Non-finite numbers, bigints, functions and symbols are refused (they have no JSON form).
 *
 * This is the same as RFC 8785 (JSON Canonicalization Scheme) for every value Warden emits
 * (integers, short decimals, strings, booleans, null), so an off-the-shelf JCS library
 * verifies our hashes. The digest is then `sha256(utf8(canonical))`, lower-case hex.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, 0);
}

/** Nesting bound: records are shallow; a deep object is a bug or an attack, not an audit record. */
const MAX_DEPTH = 64;

// Speed (this runs for every record on the request path): strings that need no escaping skip
// JSON.stringify, quoted keys and sorted key orders are cached (records share a few shapes).
// The output is identical to the plain definition above; test/unit/audit/canonical.test.ts
// checks it against a naive implementation.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const CACHE_LIMIT = 4096;
const quotedKeys = new Map<string, string>();
const sortedShapes = new Map<string, readonly string[]>();

function quoteKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotedKeys.size < CACHE_LIMIT) quotedKeys.set(key, q);
  }
  return q;
}

function sortedKeys(obj: object): readonly string[] {
  const keys = Object.keys(obj);
  // Quoted keys joined by commas name a shape unambiguously (a raw separator could occur in a key).
  let shape = '';
  for (const k of keys) shape += quoteKey(k) + ',';
  let sorted = sortedShapes.get(shape);
  if (sorted === undefined) {
    sorted = keys.sort();
    if (sortedShapes.size < CACHE_LIMIT) sortedShapes.set(shape, sorted);
  }
  return sorted;
}

function serialise(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot represent ${value}`);
      return String(value); // Number::toString, as JSON.stringify (and -0 → "0")
    case 'object':
      break;
    default:
      throw new TypeError(`canonical JSON cannot represent a ${typeof value}`);
  }
  if (depth >= MAX_DEPTH) throw new TypeError('canonical JSON: nesting too deep');
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : serialise(item, depth + 1);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const key of sortedKeys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += quoteKey(key) + ':' + serialise(v, depth + 1);
  }
  return out + '}';
}
