/**
 * HTTP Content-Encoding (RFC 9110 §8.4): transport compression that the pipeline removes before
 * scanning and re-applies after redaction. A compressed body is not an archive upload.
 *
 * Every decompression is capped with zlib's `maxOutputLength`, so a decompression bomb stops
 * at the cap instead of being expanded (the output buffer is never allowed to grow past it).
 */
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';

/** A coding Warden can remove and re-apply. */
export type Coding = 'gzip' | 'deflate' | 'deflate-raw' | 'br';

/** More stacked codings than this is not a real client: refuse rather than loop. */
const MAX_CODINGS = 4;

export type DecodeBodyResult =
  | {
    readonly ok: true;
    readonly bytes: Buffer;
    readonly codings: readonly Coding[];
    /**
     * Text a gzip member's header carries beside the data (FNAME, FCOMMENT, FEXTRA): not in the
     * decompressed body, but sent upstream, and kept wherever the body is stored as sent.
     */
    readonly metadata: readonly string[];
  }
  | { readonly ok: false; readonly detail: string };

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * The FEXTRA, FNAME and FCOMMENT fields of every member of a gzip body (RFC 1952 §2.3), walking
 * member by member (each member's deflate data is inflated to find where it ends); null when
 * the framing does not hold, which decompression reports on its own.
 */
function gzipMetadata(bytes: Buffer, cap: number): string[] | null | typeof TOO_MANY_MEMBERS {
  const out: string[] = [];
  let o = 0;
  let members = 0;
  while (o < bytes.length && bytes[o] === 0x1f) {
    if (++members > MAX_GZIP_MEMBERS) return TOO_MANY_MEMBERS;
    if (bytes[o + 1] !== 0x8b || bytes[o + 2] !== 0x08) return null;
    const flags = bytes[o + 3] ?? 0;
    let p = o + 10;
    if ((flags & FEXTRA) !== 0) {
      const xlen = bytes.readUInt16LE(p);
      out.push(bytes.toString('latin1', p + 2, p + 2 + xlen));
      p += 2 + xlen;
    }
    for (const field of [FNAME, FCOMMENT]) {
      if ((flags & field) === 0) continue;
      const nul = bytes.indexOf(0, p);
      if (nul === -1) return null;
      out.push(bytes.toString('latin1', p, nul));
      p = nul + 1;
    }
    if ((flags & FHCRC) !== 0) p += 2;
    if ((flags & (FEXTRA | FNAME | FCOMMENT)) === 0 && o === 0 && !moreMembers(bytes, p)) return out;
    try {
      p += decompress(zlib.inflateRawSync, bytes.subarray(p), cap).readBytes;
    } catch {
      return null;
    }
    o = p + 8; // CRC32, ISIZE
  }
  return out;
}

/**
 * Most gzip members a body may have (RFC 1952 allows any number; `cat a.gz b.gz` makes two).
 * Each is inflated once more to find its header fields: 200,000 one-byte members in 4 MiB cost
 * 1.3 s (red team, session 15). Past it the body is uninspectable.
 */
const MAX_GZIP_MEMBERS = 1024;
const TOO_MANY_MEMBERS = Symbol('too many gzip members');

/**
 * Whether another gzip member may follow the one whose deflate data starts at `p`: its magic
 * shows up later in the bytes. A single member without header fields, the rule, is not inflated
 * a second time.
 */
function moreMembers(bytes: Buffer, p: number): boolean {
  return bytes.indexOf(GZIP_MAGIC, p) !== -1;
}
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** Lower-case codings in the order they were applied, `identity` dropped. */
export function parseContentEncoding(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = typeof header === 'string' ? header : header.join(',');
  return joined
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/** Codings in the IANA HTTP Content Coding Registry that Warden does not decode. */
const REGISTERED_CODINGS: ReadonlySet<string> = new Set(['aes128gcm', 'compress', 'dcb', 'dcz', 'exi', 'pack200-gzip', 'x-compress', 'zstd']);

function isTooLarge(err: unknown): boolean {
  return err instanceof RangeError || (err as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/** One decompression step: its output and how many input bytes the engine read. */
interface Decompressed { readonly bytes: Buffer; readonly readBytes: number }

/**
 * Run a sync zlib or brotli decompressor with `info: true`, which returns the engine beside the
 * output (@types/node types only the Buffer). The sync path sets the engine's `bytesWritten` to
 * the input it consumed, not the input it was given: each engine stops at the end of its stream.
 */
function decompress(fn: (buf: Buffer, options: zlib.ZlibOptions) => Buffer, input: Buffer, cap: number): Decompressed {
  const r = fn(input, { maxOutputLength: cap, info: true }) as unknown as { buffer: Buffer; engine: zlib.Zlib };
  return { bytes: r.buffer, readBytes: r.engine.bytesWritten };
}

/**
 * Undo the Content-Encoding of an untrusted body. Codings are removed last-applied first; each
 * step's output is capped at `capBytes`. Failures come back as a detail string without data:
 * `decompressed body exceeds N bytes`, `unknown content-encoding: zstd`, `corrupt gzip body`,
 * `data after the end of the deflate stream`.
 */
export function decodeContentEncoding(
  body: Buffer,
  header: string | readonly string[] | undefined,
  capBytes: number,
): DecodeBodyResult {
  const names = parseContentEncoding(header);
  if (names.length === 0) return { ok: true, bytes: body, codings: [], metadata: [] };
  if (names.length > MAX_CODINGS) return { ok: false, detail: `more than ${MAX_CODINGS} stacked content-encodings` };
  const cap = Math.max(1, Math.min(capBytes, bufferConstants.MAX_LENGTH));
  const codings: Coding[] = [];
  for (const name of names) {
    if (name === 'gzip' || name === 'x-gzip') codings.push('gzip');
    else if (name === 'deflate') codings.push('deflate');
    else if (name === 'br') codings.push('br');
    // The detail goes into the audit record: an agent-chosen name (`Content-Encoding:
    // 536-22-8143`) would be recorded as sent, so only a registered coding is named.
    else return { ok: false, detail: REGISTERED_CODINGS.has(name) ? `unknown content-encoding: ${name}` : 'unknown content-encoding (not a registered coding)' };
  }
  let bytes = body;
  const metadata: string[] = [];
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i] as Coding;
    let step: Decompressed;
    try {
      if (coding === 'gzip') {
        step = decompress(zlib.gunzipSync, bytes, cap);
        const fields = gzipMetadata(bytes, cap);
        if (fields === TOO_MANY_MEMBERS) return { ok: false, detail: `more than ${MAX_GZIP_MEMBERS} gzip members` };
        for (const field of fields ?? []) metadata.push(field);
      } else if (coding === 'br') {
        step = decompress(zlib.brotliDecompressSync, bytes, cap);
      } else {
        try {
          step = decompress(zlib.inflateSync, bytes, cap);
        } catch (err) {
          if (isTooLarge(err)) throw err;
          // Some clients send raw DEFLATE (no zlib header) under `deflate`; browsers accept both.
          step = decompress(zlib.inflateRawSync, bytes, cap);
          codings[i] = 'deflate-raw';
        }
      }
    } catch (err) {
      if (isTooLarge(err)) return { ok: false, detail: `decompressed body exceeds ${cap} bytes` };
      return { ok: false, detail: `corrupt ${coding === 'deflate-raw' ? 'deflate' : coding} body` };
    }
    // Invariant: every input byte is part of the stream that was decoded and scanned. zlib and
    // brotli return what they decoded up to the end of the stream and ignore the rest (gunzip reads
    // member after member, but stops at a NUL byte as padding), while the raw body is what goes
    // upstream: `deflate(b'{}') + b' ssn …'` would be scanned as `{}` and forwarded whole.
    if (step.readBytes < bytes.length) return { ok: false, detail: `data after the end of the ${coding} stream` };
    bytes = step.bytes;
  }
  return { ok: true, bytes, codings, metadata };
}

/** Re-apply `codings` (as returned by decodeContentEncoding) to a rewritten body. */
export function encodeContentEncoding(bytes: Buffer, codings: readonly Coding[]): Buffer {
  let out = bytes;
  for (const coding of codings) {
    if (coding === 'gzip') out = zlib.gzipSync(out);
    else if (coding === 'deflate') out = zlib.deflateSync(out);
    else if (coding === 'deflate-raw') out = zlib.deflateRawSync(out);
    // Quality 11 (the default) costs seconds on MiB bodies; 5 is close in size and fast.
    else out = zlib.brotliCompressSync(out, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } });
  }
  return out;
}
