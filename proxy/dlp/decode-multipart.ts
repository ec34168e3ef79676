/**
 * multipart/* bodies (RFC 2046 §5.1, RFC 7578 for form-data): split into parts, keeping the
 * byte span of every part body so redaction can splice new bytes in and keep everything else
 * (boundary, part headers, preamble, epilogue) byte for byte.
 *
 * Input is untrusted; a body that does not follow the framing (no opening delimiter, a part
 * without its blank line, no closing delimiter, a first delimiter that does not start a line) is
 * malformed and the caller refuses it as uninspectable rather than guessing where data is.
 */
import { hexVal } from './decode-percent.js';

/** One part: its headers (lower-case names) and the span of its body in the multipart bytes. */
export interface MultipartPart {
  readonly headers: ReadonlyMap<string, string>;
  /** The span of its header lines. */
  readonly headersStart: number;
  readonly headersEnd: number;
  readonly bodyStart: number;
  readonly bodyEnd: number;
  /** `name` and `filename` from Content-Disposition, when present. */
  readonly name: string | null;
  readonly filename: string | null;
}

export type MultipartResult =
  | {
    readonly ok: true;
    readonly parts: readonly MultipartPart[];
    /** Where the first delimiter starts (bytes before it are the preamble) and the close delimiter ends (the epilogue after it). */
    readonly preambleEnd: number;
    readonly epilogueStart: number;
  }
  | { readonly ok: false; readonly detail: string };

/** More parts than any real form; a body with more is refused, not scanned partially. */
export const MAX_PARTS = 1000;

/** One `; name=value` parameter of a header value (the value quoted or not). */
const PARAM = /;\s*([A-Za-z0-9!#$&+.^_`|~*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;

/** Parameters of a header value such as `form-data; name="a"; filename="b.txt"` (lower-case names). */
export function parseHeaderParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const m of value.matchAll(PARAM)) {
    const name = (m[1] ?? '').toLowerCase();
    let v = (m[2] ?? '').trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    if (name.endsWith('*')) {
      // RFC 5987 ext-value: charset'lang'percent-encoded; it wins over the plain form.
      const ext = /^[^']*'[^']*'(.*)$/.exec(v);
      try {
        params.set(name.slice(0, -1), decodeURIComponent(ext?.[1] ?? v));
      } catch {
        params.set(name.slice(0, -1), ext?.[1] ?? v);
      }
      continue;
    }
    if (!params.has(name)) params.set(name, v);
  }
  return params;
}

/**
 * Names (lower case, `*` dropped) of the parameters `value` gives more than once, `name` and
 * RFC 5987's `name*` counting as one: parsers disagree on which wins (the first, the last, the
 * `*` form), so a body read by one of them is not the body another reads.
 */
export function repeatedParams(value: string): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const m of value.matchAll(PARAM)) {
    const name = (m[1] ?? '').toLowerCase().replace(/\*$/, '');
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  let last: string | null = null;
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== null) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`); // obsolete folding
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    headers.set(last, line.slice(colon + 1).trim());
  }
  return headers;
}

/** Split `bytes` with `boundary` (the Content-Type parameter, unquoted). */
/**
 * The first `\r\n\r\n` or `\n\n` at or after `from`, whichever comes first: [where it
 * starts, where the line after it starts]. Line by line: two searches for each to the end of the
 * body cost a pass over the rest of it per part, and an agent sets the number of parts (1,000
 * parts of CRLF headers in 1.2 MiB took ~700 ms).
 */
function emptyLine(bytes: Buffer, from: number): [number, number] | null {
  for (let i = bytes.indexOf(0x0A, from); i !== -1; i = bytes.indexOf(0x0A, i + 1)) {
    if (bytes[i + 1] === 0x0A) return [i, i + 2];
    if (i - 1 >= from && bytes[i - 1] === 0x0D && bytes[i + 1] === 0x0D && bytes[i + 2] === 0x0A) return [i - 1, i + 3];
  }
  return null;
}

export function parseMultipart(bytes: Buffer, boundary: string): MultipartResult {
  if (boundary.length === 0 || boundary.length > 200) return { ok: false, detail: 'malformed multipart body: bad boundary' };
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const bad = (why: string): MultipartResult => ({ ok: false, detail: `malformed multipart body: ${why}` });
  const lfDelim = Buffer.concat([Buffer.from('\n', 'latin1'), delim]);
  const pos0 = bytes.indexOf(delim);
  if (pos0 === -1) return bad('no opening boundary');
  // The first delimiter starts the body or a line. One that does not (`x--AAA`) is where some
  // parsers (undici, Werkzeug) start the first part and where others see a preamble: refused.
  if (pos0 > 0 && bytes[pos0 - 1] !== 0x0A) return bad('a boundary that does not start a line');
  let pos = pos0;
  const parts: MultipartPart[] = [];
  for (;;) {
    let p = pos + delim.length;
    if (bytes[p] === 0x2D && bytes[p + 1] === 0x2D) return { ok: true, parts, preambleEnd: pos0, epilogueStart: p + 2 }; // close delimiter; rest is epilogue
    while (bytes[p] === 0x20 || bytes[p] === 0x09) p++; // transport padding
    if (bytes[p] === 0x0D && bytes[p + 1] === 0x0A) p += 2;
    else if (bytes[p] === 0x0A) p += 1;
    else return bad('boundary not followed by a line break');
    if (parts.length >= MAX_PARTS) return bad(`more than ${MAX_PARTS} parts`);
    // Headers end at the first empty line; a part may have no headers at all.
    let headerEnd: number;
    let bodyStart: number;
    if (bytes[p] === 0x0D && bytes[p + 1] === 0x0A) { headerEnd = p; bodyStart = p + 2; }
    else if (bytes[p] === 0x0A) { headerEnd = p; bodyStart = p + 1; }
    else {
      const end = emptyLine(bytes, p);
      if (end === null) return bad('part headers not terminated');
      [headerEnd, bodyStart] = end;
    }
    // The line break before the next delimiter belongs to the delimiter.
    let next = bytes.indexOf(lfDelim, bodyStart - 1);
    if (next === -1) return bad('no closing boundary');
    let bodyEnd = next;
    if (bodyEnd > bodyStart && bytes[bodyEnd - 1] === 0x0D) bodyEnd--;
    if (bodyEnd < bodyStart) bodyEnd = bodyStart;
    next += 1;
    // Browsers send non-ASCII file names as raw UTF-8 (RFC 7578 §4.2).
    const headers = parseHeaders(bytes.toString('utf8', p, headerEnd));
    const disposition = headers.get('content-disposition');
    const params = disposition === undefined ? new Map<string, string>() : parseHeaderParams(disposition);
    parts.push({ headers, headersStart: p, headersEnd: headerEnd, bodyStart, bodyEnd, name: params.get('name') ?? null, filename: params.get('filename') ?? null });
    pos = next;
  }
}

/** Re-encode bytes as base64 wrapped at `lineLength` characters (0: one line), CRLF-separated. */
export function encodeBase64Lines(bytes: Buffer, lineLength: number): string {
  const b64 = bytes.toString('base64');
  if (lineLength <= 0) return b64;
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += lineLength) lines.push(b64.slice(i, i + lineLength));
  return lines.join('\r\n');
}

/**
 * True when the body of a `Content-Transfer-Encoding: base64` part (already checked to hold only
 * the alphabet, `=` and whitespace) decodes whole to the bytes its whitespace-separated pieces
 * decode to one by one: every piece but the last is a whole number of 4-character groups, and
 * only the last ends in `=` (Node stops decoding at the first `=`). What any encoder writes. Then
 * a base64 run of the part as sent decodes to bytes the part decoded whole already holds.
 */
export function isWholeBase64(encoded: string): boolean {
  const pieces = encoded.split(/\s+/).filter((p) => p.length > 0);
  return pieces.every((p, i) => (i === pieces.length - 1 ? /^[^=]*={0,2}$/.test(p) : p.length % 4 === 0 && !p.includes('=')));
}

/**
 * A quoted-printable part (RFC 2045 §6.7) decoded: `=XX` escapes and soft line breaks (`=` at the
 * end of a line). A malformed escape is kept as written, as decoders do.
 */
export function decodeQuotedPrintable(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    if (c !== 0x3D) { out[o++] = c; continue; }
    // soft line break: "=" then optional trailing whitespace then CRLF or LF
    let j = i + 1;
    while (j < bytes.length && (bytes[j] === 0x20 || bytes[j] === 0x09)) j++;
    if (bytes[j] === 0x0D && bytes[j + 1] === 0x0A) { i = j + 1; continue; }
    if (bytes[j] === 0x0A) { i = j; continue; }
    const a = hexVal(bytes[i + 1] ?? -1);
    const b = hexVal(bytes[i + 2] ?? -1);
    if (a >= 0 && b >= 0) { out[o++] = (a << 4) | b; i += 2; continue; }
    out[o++] = c;
  }
  return out.subarray(0, o);
}
