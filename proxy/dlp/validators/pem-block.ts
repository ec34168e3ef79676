/**
 * Reads a PEM private-key block from its BEGIN line on, for the `private_key` validator
 * (secrets.ts privateKey): where it ends, whether it holds documentation placeholders, and where
 * its real key material is, if any. The text is untrusted view text; everything here is bounded
 * by MAX_BLOCK_CHARS from the BEGIN line.
 *
 *   -----BEGIN … PRIVATE KEY-----      (BEGIN_LINE)
 *   Proc-Type: 4,ENCRYPTED             header lines: skipped (DEK-Info marks a legacy encrypted key)
 *   MIIEvQIBADANBgkqhkiG9w0BAQEFAASC…  base64 lines: key material, from the first that starts a key on
 *   ...                                anything else: a placeholder mark, or prose
 *   -----END … PRIVATE KEY-----        the END line; another BEGIN or END line ends a block without one
 *
 * Lines end at a line break or at a JSON-escaped `\n` / `\r` (a key pasted into a string).
 */

/** The BEGIN line (as the pattern in dlp-patterns/secrets.yaml matches it). */
const BEGIN_LINE = /-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/iy;
/** The END line of a private key block. */
const END_LINE = /-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/iy;
/** Any other armour line: a block without an END line stops there. */
const ARMOUR = /-----(?:BEGIN|END)[ A-Za-z0-9_-]{0,100}-----/y;
/** An RFC 1421 header line (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: …`, PGP's `Version: …`). */
const HEADER = /[A-Za-z][A-Za-z0-9-]*:/y;
/** What documentation writes where a key would be (`...`, `<your key here>`, `[redacted]`, `xxxxxxxx`). */
const PLACEHOLDER = /redacted|\.\.\.|<|x{8,}/i;
const BASE64_CHUNK = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The largest block read, from the BEGIN line: an RSA 16384-bit PKCS#8 key is ~12.7 KiB of
 * base64 with its line breaks. A block without an END line ends at its key material, so a
 * truncated key does not take the rest of the text with it.
 */
const MAX_BLOCK_CHARS = 16_384;
/**
 * A base64 chunk (a PEM line, or a space-separated piece of a key whose line breaks became
 * spaces) of at least this many characters can start or continue key material; a shorter one
 * only ends it, when it is the last of its line or ends in `=` (the last line of a block). Prose
 * words are shorter, so a paragraph after a truncated key is not counted as key material.
 */
const MIN_LINE_CHARS = 16;
/** Key material ends when this many characters pass without a base64 chunk (a placeholder line fits). */
const MAX_GAP_CHARS = 256;

export interface PemBlock {
  /** Index just past the END line, or -1 when the block has none within MAX_BLOCK_CHARS. */
  readonly endLineEnd: number;
  /** Base64-alphabet characters of the body outside header lines (gitleaks' ≥ 64 rule counts these). */
  readonly base64Chars: number;
  /** The body holds a placeholder mark (`...`, `<`, `redacted`, `xxxxxxxx`). */
  readonly placeholder: boolean;
  /** Real key material: base64 chunks from the first one that decodes to a key header, or null. */
  readonly material: KeyMaterial | null;
}

export interface KeyMaterial {
  /** Base64 characters from the chunk that starts the key on (those after a placeholder included). */
  readonly chars: number;
  /** Index just past the last of them. */
  readonly end: number;
  /** Total DER length the key's outer SEQUENCE declares, or null (OpenSSH, OpenPGP, legacy encrypted). */
  readonly derLength: number | null;
}

/**
 * Read the block whose BEGIN line starts at `start` in `text`; null when no BEGIN line starts
 * there.
 */
export function readPemBlock(text: string, start: number): PemBlock | null {
  BEGIN_LINE.lastIndex = start;
  if (!BEGIN_LINE.test(text)) return null;
  const limit = Math.min(text.length, start + MAX_BLOCK_CHARS);
  let endLineEnd = -1;
  let base64Chars = 0;
  let placeholder = false;
  let encrypted = false;
  let lineStart = false;
  let lastLong = false; // the previous chunk was a base64 chunk of MIN_LINE_CHARS or more
  let material: { chars: number; end: number; derLength: number | null } | null = null;
  let i = BEGIN_LINE.lastIndex;
  while (i < limit) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) {
      lineStart = true;
      i++;
      continue;
    }
    if (c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x5c && /[nrt]/.test(text[i + 1] ?? '')) {
      // A JSON-escaped line break (or tab) in text that was not decoded.
      if (text[i + 1] !== 't') lineStart = true;
      i += 2;
      continue;
    }
    if (text.startsWith('-----', i)) {
      END_LINE.lastIndex = i;
      if (END_LINE.test(text)) {
        endLineEnd = END_LINE.lastIndex;
        break;
      }
      ARMOUR.lastIndex = i;
      if (ARMOUR.test(text)) break;
    }
    if (/^DEK-Info:/i.test(text.slice(i, i + 9))) encrypted = true;
    if (lineStart) {
      HEADER.lastIndex = i;
      if (HEADER.test(text)) {
        i = lineEnd(text, i, limit);
        continue;
      }
    }
    lineStart = false;
    const j = chunkEnd(text, i, limit);
    const chunk = text.slice(i, j);
    if (PLACEHOLDER.test(chunk)) placeholder = true;
    base64Chars += chunk.replace(/[^A-Za-z0-9+/=]/g, '').length;
    const isBase64 = BASE64_CHUNK.test(chunk);
    const long = chunk.length >= MIN_LINE_CHARS;
    if (isBase64 && (long || (lastLong && (chunk.endsWith('=') || endsLine(text, j, limit))))) {
      if (material === null && long) {
        // Does the key start here? (A base64-alphabet placeholder line may come first.)
        const derLength = keyHeader(chunk, encrypted);
        if (derLength !== undefined) material = { chars: 0, end: j, derLength };
      }
      if (material !== null) {
        material.chars += chunk.length;
        material.end = j;
      }
      lastLong = long; // a short chunk ends its run
    } else {
      lastLong = false;
      if (material !== null && i - material.end > MAX_GAP_CHARS) break;
    }
    i = j;
  }
  return { endLineEnd, base64Chars, placeholder, material };
}

/** End of the chunk at `i`: the next whitespace, escaped line break or `-----`. */
function chunkEnd(text: string, i: number, limit: number): number {
  let j = i;
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break;
    if (c === 0x5c && /[nrt]/.test(text[j + 1] ?? '')) break;
    if (c === 0x2d && text.startsWith('-----', j) && j > i) break;
    j++;
  }
  return Math.max(j, i + 1);
}

/**
 * Whether the chunk ending at `j` is the last of its line: a line break, an escaped one, an
 * armour line or the end of the block follows (spaces between allowed). The last line of a PEM
 * body is short; a short word followed by more words on its line is prose.
 */
function endsLine(text: string, j: number, limit: number): boolean {
  let k = j;
  while (k < limit && (text[k] === ' ' || text[k] === '\t')) k++;
  if (k >= limit) return true;
  const c = text[k];
  return c === '\n' || c === '\r' || (c === '\\' && /[nr]/.test(text[k + 1] ?? '')) || text.startsWith('-----', k);
}

/** End of the line at `i` (a header line): the next line break or escaped one. */
function lineEnd(text: string, i: number, limit: number): number {
  let j = i;
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === 0x0a || c === 0x0d || (c === 0x5c && /[nr]/.test(text[j + 1] ?? ''))) break;
    j++;
  }
  return j;
}

/**
 * Whether a base64 chunk starts a private key, and the DER length its header declares:
 * - DER (PKCS#1, PKCS#8, SEC1, DSA, encrypted PKCS#8): a SEQUENCE with a definite length whose
 *   first element is an INTEGER (the version) or a SEQUENCE (the encryption algorithm);
 * - OpenSSH: the `openssh-key-v1\0` magic; OpenPGP: a secret-key packet (old or new format tag,
 *   then its version);
 * - after a `DEK-Info:` header (legacy OpenSSL encryption), any chunk: it is ciphertext.
 * Returns undefined when it starts none of them, null when there is no DER length.
 */
function keyHeader(chunk: string, encrypted: boolean): number | null | undefined {
  if (encrypted) return null;
  if (chunk.startsWith('b3BlbnNzaC1rZXktdjE')) return null;
  const b = Buffer.from(chunk.slice(0, 16), 'base64');
  const tag = b[0] ?? 0;
  if ((tag >= 0x94 && tag <= 0x97) || tag === 0xc5) {
    // The packet's version (3 to 6) follows its length: old format 1, 2, 4 or no length
    // octets; new format 1, 2 or 5.
    const lengthOctets = tag === 0xc5 ? ((b[1] ?? 0) < 192 ? 1 : (b[1] ?? 0) < 224 ? 2 : 5) : [1, 2, 4, 0][tag - 0x94] ?? 0;
    const version = b[1 + lengthOctets] ?? 0;
    return version >= 3 && version <= 6 ? null : undefined;
  }
  const seq = derSequence(b);
  if (seq === null) return undefined;
  const inner = b[seq.header];
  return inner === 0x02 || inner === 0x30 ? seq.header + seq.length : undefined;
}

/** The header size and declared length of the DER SEQUENCE `b` starts with, or null. */
function derSequence(b: Buffer): { header: number; length: number } | null {
  if (b[0] !== 0x30) return null;
  const first = b[1] ?? 0;
  if (first < 0x80) return { header: 2, length: first };
  const n = first & 0x7f;
  if (n < 1 || n > 3) return null;
  let length = 0;
  for (let k = 0; k < n; k++) length = length * 256 + (b[2 + k] ?? 0);
  return { header: 2 + n, length };
}

/** OID prefixes of the password-based encryption of an encrypted PKCS#8 key: PKCS#5 (PBES2…), PKCS#12 PBE. */
const PBE_OIDS = [Buffer.from('2a864886f70d0105', 'hex'), Buffer.from('2a864886f70d010c01', 'hex')];

/**
 * Whether a run of base64 is a private key without PEM armour (a key kept as one line of base64
 * in an environment variable, a secret manager or a source file): OpenSSH's `openssh-key-v1`
 * magic, or DER whose first elements are those of a private key and of no certificate or public
 * key: PKCS#8 (version 0 or 1, then the algorithm), PKCS#1 RSA and DSA (version 0, then an
 * INTEGER), SEC1 EC (version 1, then the key's OCTET STRING), encrypted PKCS#8 (a PBES2 or PKCS#12
 * algorithm). Returns the DER length the outer SEQUENCE declares (null for OpenSSH), or undefined.
 */
export function unarmoredPrivateKey(b64: string): number | null | undefined {
  if (b64.startsWith('b3BlbnNzaC1rZXktdjE')) return null;
  const b = Buffer.from(b64.slice(0, 64), 'base64');
  const seq = derSequence(b);
  if (seq === null) return undefined;
  const h = seq.header;
  const at = (k: number): number => b[h + k] ?? -1;
  const version = at(0) === 0x02 && at(1) === 0x01 ? at(2) : -1;
  const next = at(3);
  const isKey =
    (version === 0 && (next === 0x30 || next === 0x02)) || // PKCS#8 v1; PKCS#1 RSA, DSA
    (version === 1 && (next === 0x30 || next === 0x04)) || // PKCS#8 v2 (OneAsymmetricKey); SEC1 EC
    (at(0) === 0x30 && encryptedAlgorithm(b.subarray(h)));
  return isKey ? h + seq.length : undefined;
}

/** Whether `seq` (a SEQUENCE: the EncryptedPrivateKeyInfo's algorithm) names a password-based cipher. */
function encryptedAlgorithm(seq: Buffer): boolean {
  // 30 len 06 len OID…: the lengths here are short-form (an AlgorithmIdentifier of a PBE is < 128 bytes… its OID always is).
  let k = 1;
  if ((seq[k] ?? 0) >= 0x80) k += (seq[k] ?? 0) & 0x7f;
  k++;
  if (seq[k] !== 0x06) return false;
  const oid = seq.subarray(k + 2, k + 2 + (seq[k + 1] ?? 0));
  return PBE_OIDS.some((p) => oid.subarray(0, p.length).equals(p));
}

/**
 * Whether `at` in `text` is inside a PEM private key block (after its BEGIN line, before any END
 * line), which the PEM pattern reports whole: views.ts does not read its lines again as an
 * unarmoured key.
 */
export function insidePrivateKeyArmour(text: string, at: number): boolean {
  const before = text.slice(Math.max(0, at - 512), at);
  const begin = before.lastIndexOf('-----BEGIN');
  if (begin === -1 || before.indexOf('-----END', begin) !== -1) return false;
  BEGIN_LINE.lastIndex = begin;
  return BEGIN_LINE.test(before);
}
