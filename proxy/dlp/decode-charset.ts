/**
 * Reading bodies that are not plain UTF-8 as the server would: a declared `charset=`, and
 * UTF-16 that is not declared (a byte-order mark, or NULs on one parity: ASCII in UTF-16LE is
 * `31 00 32 00 …`, valid UTF-8 that no pattern matches). Pure; views.ts builds views from these.
 */

/** Charsets read as UTF-8 (a body declaring one of these takes the normal path). */
const UTF8_LABELS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii', 'unicode-1-1-utf-8']);

/** The declared charset when it is not a UTF-8 one (lower case), else null. */
export function nonUtf8Charset(params: ReadonlyMap<string, string> | undefined): string | null {
  const charset = params?.get('charset')?.trim().toLowerCase();
  return charset === undefined || charset === '' || UTF8_LABELS.has(charset) ? null : charset;
}

/**
 * `bytes` decoded with the WHATWG decoder for `charset` (replacement characters stand for
 * invalid sequences), or null when no decoder knows the label: the caller fails closed, or any
 * made-up charset would carry text past the scanner.
 */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    return null;
  }
  return decoder.decode(bytes);
}

/** The UTF-16 encoding undeclared UTF-16 text in `bytes` has the shape of, or null. */
export function utf16Shape(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | null {
  if (bytes.length < 2) return null;
  if (bytes[0] === 0xFF && bytes[1] === 0xFE) return 'utf-16le';
  if (bytes[0] === 0xFE && bytes[1] === 0xFF) return 'utf-16be';
  let even = 0;
  let odd = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    if ((i & 1) === 0) even++;
    else odd++;
  }
  const half = bytes.length / 2;
  if (odd >= half * 0.25 && odd > 4 * even) return 'utf-16le';
  if (even >= half * 0.25 && even > 4 * odd) return 'utf-16be';
  return null;
}

/** The bytes without NULs: UTF-16 (either byte order) ASCII text read as ASCII, wherever it sits. */
export function withoutNuls(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c !== 0) out[o++] = c;
  }
  return out.subarray(0, o);
}
