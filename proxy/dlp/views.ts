/**
 * Views: the decoded pieces of a request that the detectors scan (DLP.md §2.0 rule 1).
 *
 * Every view is a node that remembers how its text was derived from its parent, so a match
 * can be mapped back through every decoding layer to the text the client sent:
 *
 *   body bytes ─► RootText (UTF-8 text of the body, a part, the path or the query)
 *                   ├─ offset        a JSON string without escapes (a plain substring)
 *                   ├─ json-string   a JSON string with escapes (escape map)
 *                   ├─ json-number   a JSON number, or the integer it stands for (rewritten as a
 *                   │                string when redacted)
 *                   ├─ percent       %XX-decoded text (form fields, query values, any %-text)
 *                   └─ opaque        base64- or hex-decoded text, binary strings, headers (and the
 *                                    UTF-8 reading of one), a transfer-encoded part as sent: not
 *                                    rewritable
 *
 * Budgets (all per request; exceeding one makes the body uninspectable, never silently
 * skipped): nesting depth ≤ MAX_DEPTH decoding layers, ≤ MAX_BASE64_VIEWS base64 candidates
 * that decode to text or an archive, and the total of derived (decoded) text ≤ the decode budget.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { decodableRuns, decodeBase64, decodeRun, findBase64Runs, isWholeShortRun, MIN_BASE64_RUN, MIN_SHORT_BASE64_RUN, shortBareRuns, shortPaddedRuns, textReading, type TextReading } from './decode-base64.js';
import { integerForm, looksLikeJson, memberSegment, MIN_NUMBER_VIEW, tokenizeJson, unescapeJson, type JsonToken } from './decode-json.js';
import { decodeCharset, nonUtf8Charset, utf16Shape, withoutNuls } from './decode-charset.js';
import { isPrintableHex } from './decode-hex.js';
import { decodeQuotedPrintable, isWholeBase64, parseHeaderParams, parseMultipart, repeatedParams } from './decode-multipart.js';
import { decodeCharRefs, hasCharRef } from './decode-charref.js';
import { decodeTagChars, hasTagChars } from './decode-tags.js';
import { byteLists } from './decode-bytes.js';
import { charDumps, hexDumps, numberDumps, readableCharDump, wrappedBlocks } from './decode-wrapped.js';
import { insidePrivateKeyArmour, unarmoredPrivateKey } from './validators/pem-block.js';
import { secretKeyName } from './validators/secrets.js';
import { hasPercentEscape, percentDecode, percentEncode, splitPairs } from './decode-percent.js';
import type { Detectors } from './types.js';

/** Decoding layers below a first-level view (JSON leaf, form field, part, header…). */
export const MAX_DEPTH = 4;
/** Base64 runs per request that decode to text or to an archive. */
export const MAX_BASE64_VIEWS = 256;
/** The decode budget is 4× the body, at least this much (small bodies with one blob). */
export const MIN_DECODE_BUDGET = 64 * 1024;
/**
 * Shortest printable run kept from binary data (`strings`-style). At 6, compressed or random
 * bytes (images, any binary upload) held an "email" or an "IP address" often enough to block
 * 12 of 100 random 1 MiB bodies; at 10, none of 300. An SSN (11), a card (≥ 13), a token or an
 * assignment such as `ip=10.0.0.1` is still a run of its own.
 */
const MIN_PRINTABLE_RUN = 10;

/** Members that name their sibling `value` (Kubernetes and ECS env lists, CloudFormation parameters). */
const SIBLING_NAMES = new Set(['name', 'key', 'parameterkey']);
const SIBLING_VALUES = new Set(['value', 'parametervalue']);

/**
 * `tokens[k]`, or, for the string of a `value` member right before or after a `name` member that
 * names a secret (`{"name": "DB_PASSWORD", "value": "…"}`, `{"value": "…", "name": "DB_PASSWORD"}`),
 * the same token keyed by that name: the value is scanned as `DB_PASSWORD`'s, as
 * `{"DB_PASSWORD": "…"}` would be (red team, sessions 14 and 16). Adjacent members only, a name of
 * [\w.:-]{1,64}: secrets.yaml generic_secret_sibling_name's prefilter holds every such pair, in
 * either order, so the fast path never passes a body this finds something in.
 */
function siblingNamed(text: string, tokens: readonly JsonToken[], k: number): JsonToken {
  const t = tokens[k] as JsonToken;
  if (t.kind !== 'string' || t.key === null || !SIBLING_VALUES.has(t.key) || k < 1) return t;
  const valueKey = tokens[k - 1] as JsonToken;
  const named = (k >= 3 ? secretSibling(text, tokens[k - 3], tokens[k - 2], valueKey) : null) ?? secretSibling(text, tokens[k + 1], tokens[k + 2], valueKey);
  return named === null ? t : { ...t, key: named };
}

/** The secret name a `name` member (its key token, then its string) gives a sibling keyed `valueKey`, or null. */
function secretSibling(text: string, nameKey: JsonToken | undefined, name: JsonToken | undefined, valueKey: JsonToken): string | null {
  // Both keys in the same object (`<object>{key}`), the name a string member of it.
  if (nameKey?.kind !== 'key' || valueKey.kind !== 'key' || nameKey.where !== valueKey.where) return null;
  if (name?.kind !== 'string' || name.key === null || !SIBLING_NAMES.has(name.key) || name.escaped) return null;
  const named = text.slice(name.start, name.end);
  return /^[\w.:-]{1,64}$/.test(named) && secretKeyName(named) ? named.toLowerCase() : null;
}

/** Replace `[start, end)` of a text with `text`. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** A text the request carries directly (body, part body, path, query); edits land here. */
export interface RootText {
  readonly text: string;
  readonly edits: Edit[];
  /** Encoding for replacements that a match in this very text (not a decoded child) needs. */
  readonly encodeDirect: ((s: string) => string) | null;
}

export type Derivation =
  | { readonly kind: 'root'; readonly root: RootText }
  | { readonly kind: 'offset'; readonly parent: ViewNode; readonly start: number }
  | { readonly kind: 'json-string'; readonly parent: ViewNode; readonly start: number; readonly end: number }
  | { readonly kind: 'json-number'; readonly parent: ViewNode; readonly start: number; readonly end: number }
  | { readonly kind: 'percent'; readonly parent: ViewNode; readonly start: number; readonly end: number; readonly plus: boolean }
  | { readonly kind: 'opaque'; readonly why: OpaqueWhy };

/** Why a view is opaque: what it was read from (it cannot be rewritten in place). */
type OpaqueWhy = 'base64' | 'base32' | 'hex' | 'binary' | 'header' | 'filename' | 'malformed-json' | 'charset' | 'quoted-printable' | 'undecoded-part' | 'charref' | 'tags' | 'wrapped' | 'utf8';

/** One view (or a container such as a JSON text that is walked rather than scanned). */
export interface ViewNode {
  /** The decoded text before normalisation. */
  readonly orig: string;
  readonly where: string;
  readonly key: string | null;
  readonly depth: number;
  readonly derivation: Derivation;
  /** Offset map into the parent (json-string / percent), built when first needed. */
  map: { readonly starts: Int32Array; readonly ends: Int32Array } | null;
  /** Redactions waiting on a JSON number (the whole literal is replaced at once). */
  pending: Edit[] | null;
  /**
   * A name that also appears in `where` paths (JSON key, form or query name, part name, file
   * name): a value matched here must be starred out of every `where` (findings.ts).
   */
  label: boolean;
  /**
   * Scanned for honeytokens only: the agent's own credential headers and what decodes from
   * them. A canary credential is meant to be caught when it is used.
   */
  readonly honeytokensOnly: boolean;
  /**
   * For a view decoded from a label (a base64 JSON key, a hex header name): the label as
   * written. `where` holds that text, encoded, so a value found in the decoded view stars the
   * whole label out of `where` (inspect.ts).
   */
  labelRoot: string | null;
}

/** An archive found by magic bytes. */
export interface ArchiveHit {
  readonly format: string;
  readonly where: string;
  /** SHA-256 of the archive bytes (hex): fingerprinted so equal uploads correlate. */
  readonly digest: string;
  /** The view and span of the base64 run it came from, or null for raw bytes. */
  readonly node: ViewNode | null;
  readonly start: number;
  readonly end: number;
}

/** How to rebuild a body (or a part) after redaction. */
export type BodyModel =
  | { readonly kind: 'none' }
  | { readonly kind: 'text'; readonly root: RootText }
  | { readonly kind: 'opaque' }
  | { readonly kind: 'multipart'; readonly bytes: Buffer; readonly parts: readonly PartModel[] };

export interface PartModel {
  readonly bodyStart: number;
  readonly bodyEnd: number;
  readonly model: BodyModel;
  /** Content-Transfer-Encoding base64: the line length to re-encode with (0: one line); null otherwise. */
  readonly base64LineLength: number | null;
}

/** The request target split for rewriting. */
export interface UrlModel {
  /** `scheme://authority` when the URL was in absolute form, else ''. Not scanned here. */
  readonly prefix: string;
  readonly path: RootText;
  readonly query: RootText | null;
  readonly fragment: string;
}

/** A budget or framing failure: the body is uninspectable. `detail` never holds data. */
export class UninspectableError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'UninspectableError';
  }
}

export interface ContentType {
  /** `type/subtype`, lower case. */
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
  /** Parameters given more than once (decode-multipart.ts repeatedParams). */
  readonly repeated?: readonly string[];
}

/** How a body is decoded: `sniff` means text, or JSON when it parses as JSON. */
export type BodyClass = 'json' | 'form' | 'multipart' | 'text' | 'sniff';

export function parseContentType(header: string | readonly string[] | undefined): ContentType | null {
  const value = typeof header === 'string' ? header : header?.[0];
  if (value === undefined || value.trim() === '') return null;
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (semi < 0) return { type, params: new Map() };
  const repeated = repeatedParams(value.slice(semi));
  return { type, params: parseHeaderParams(value.slice(semi)), ...(repeated.length > 0 ? { repeated } : {}) };
}

export function classifyBody(ct: ContentType | null): BodyClass {
  if (ct === null || ct.type === 'text/plain') return 'sniff';
  const t = ct.type;
  if (t === 'application/json' || t === 'text/json' || t.endsWith('+json')) return 'json';
  if (t === 'application/x-www-form-urlencoded') return 'form';
  if (t.startsWith('multipart/')) return 'multipart';
  return 'text';
}

/** Request headers never scanned: hop-by-hop, framing, and the proxy's own. */
export const UNSCANNED_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length',
]);

/**
 * A Content-Type parameter given more than once that decides how a body is read (`boundary`,
 * `charset`): such a body is uninspectable (addBody), on the fast path too (inspect.ts).
 */
export function ambiguousParam(ct: ContentType | null): string | undefined {
  return ct?.repeated?.find((p) => p === 'boundary' || p === 'charset');
}

/** The `where` of a header name's own findings (the name is not repeated in it). */
export const HEADER_NAME_WHERE = 'header-name';

/**
 * Header names that are common enough to carry nothing of the agent's: their names are not
 * scanned (every other name is, see addHeaders). Exact names only: a prefix such as
 * `x-stainless-` would let `x-stainless-<secret>` through.
 */
const KNOWN_HEADER_NAMES: ReadonlySet<string> = new Set([
  'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'authorization', 'cache-control',
  'content-disposition', 'content-encoding', 'content-language', 'content-md5', 'content-type',
  'cookie', 'date', 'dnt', 'expect', 'forwarded', 'from', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'idempotency-key', 'max-forwards', 'origin',
  'pragma', 'priority', 'range', 'referer', 'sec-fetch-dest', 'sec-fetch-mode', 'sec-fetch-site',
  'sec-fetch-user', 'sec-websocket-key', 'sec-websocket-protocol', 'sec-websocket-version',
  'traceparent', 'tracestate', 'user-agent', 'via', 'x-api-key', 'x-forwarded-for',
  'x-forwarded-host', 'x-forwarded-proto', 'x-request-id', 'x-requested-with',
  // Model APIs and their SDKs.
  'anthropic-beta', 'anthropic-version', 'api-key', 'openai-beta', 'openai-organization',
  'openai-project', 'x-goog-api-client', 'x-goog-api-key', 'x-stainless-arch', 'x-stainless-async',
  'x-stainless-lang', 'x-stainless-os', 'x-stainless-package-version', 'x-stainless-retry-count',
  'x-stainless-runtime', 'x-stainless-runtime-version', 'x-stainless-timeout',
]);

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Longest header, part or file name kept whole in `where`. */
export const MAX_LABEL_CHARS = 64;

/**
 * Header, part and file names are attacker text: keep them short and printable in `where`. A
 * value found in a name is starred out of `where` (findings.ts), but a cut can leave part of
 * it: when a longer name holds a finding, its whole label is starred (inspect.ts).
 */
export function label(s: string): string {
  const clean = s.replace(/[\x00-\x1F\x7F()]/g, '?');
  return clean.length > MAX_LABEL_CHARS ? `${clean.slice(0, MAX_LABEL_CHARS)}…` : clean;
}

/** Printable ASCII runs of binary data, one per line (what `strings` shows). */
export function printableRuns(bytes: Uint8Array): string {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= bytes.length; i++) {
    const c = i < bytes.length ? (bytes[i] ?? 0) : 0;
    const printable = (c >= 0x20 && c < 0x7F) || c === 0x09;
    if (printable) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start >= MIN_PRINTABLE_RUN) out.push(Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('latin1'));
      start = -1;
    }
  }
  return out.join('\n');
}

/**
 * The UTF-8 reading of a header value or name as Node's parser gives it: one character per byte
 * (latin1), so `５３６`, `٥٣٦` or a zero-width space arrive as mojibake that neither NFKC nor the
 * digit folding reads, and the upstream, reading UTF-8, sees the characters. Null when the text
 * holds no byte ≥ 0x80, holds a character no byte stands for (not from the parser: `warden
 * explain --header`, already text), or the bytes are not valid UTF-8 (then the latin1 reading is
 * the only one).
 */
export function utf8Reading(v: string): string | null {
  if (!/[\x80-\xff]/.test(v) || /[^\x00-\xff]/.test(v)) return null;
  const bytes = Buffer.from(v, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}

/**
 * The two readings of one header value or name (utf8Reading): each the set of its view and the
 * views decoded from it. A value both show is one occurrence (inspect.ts dropHeaderReadings).
 */
export interface HeaderReadings {
  readonly asBytes: ReadonlySet<ViewNode>;
  readonly asUtf8: ReadonlySet<ViewNode>;
}

/** A view of the URL or the headers, not of the body. */
function outsideBody(where: string): boolean {
  return where === 'path' || where === HEADER_NAME_WHERE || where.startsWith('header:') || where.startsWith('query');
}

function makeNode(orig: string, where: string, key: string | null, depth: number, derivation: Derivation, label = false, honeytokensOnly = false): ViewNode {
  return { orig, where, key, depth, derivation, map: null, pending: null, label, honeytokensOnly, labelRoot: null };
}

/** `name` and `filename` parameters of a Content-Disposition (scanned as views of their own). */
const DISPOSITION_NAMES = /;\s*(?:name|filename)\*?\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;]*)/gi;

/**
 * Builds every view of one request. Not reusable: budgets are per request. Methods throw
 * UninspectableError when a budget is exceeded or framing is malformed; views added before
 * that stay valid and are still scanned.
 */
export class ViewBuilder {
  /** Views to scan, parents before their derived views. */
  readonly views: ViewNode[] = [];
  readonly archives: ArchiveHit[] = [];
  /**
   * For each view decoded from HTML character references or tag characters: the [start, end)
   * pairs of its text that they produced (decode-charref.ts, decode-tags.ts). The rest is in its
   * parent as written.
   */
  readonly decodedSpans = new Map<ViewNode, readonly number[]>();
  /** Header values and names with a UTF-8 reading besides the one Node gives (addHeaderView). */
  readonly headerReadings: HeaderReadings[] = [];
  /**
   * A body or part that is valid UTF-8 holding NUL bytes was read as text too: its text views,
   * which no longer see NULs (normalize.ts drops control characters), and its readings without
   * NULs show the same values (inspect.ts dropAlternativeReadings).
   */
  nulText = false;
  private decodedBytes = 0;
  private base64Views = 0;
  private readonly seenRuns = new Set<string>();
  /** Short unpadded runs whose text the prefilter did not take (addShortRuns). */
  private readonly bareRunsPassed = new Set<string>();

  constructor(
    private readonly detectors: Detectors,
    private readonly decodeBudgetBytes: number,
    private readonly archivesOn: boolean,
  ) {}

  private charge(units: number): void {
    this.decodedBytes += units;
    if (this.decodedBytes > this.decodeBudgetBytes) {
      throw new UninspectableError(`decoded views exceed the decode budget of ${this.decodeBudgetBytes} bytes`);
    }
  }

  private countBase64(): void {
    if (++this.base64Views > MAX_BASE64_VIEWS) throw new UninspectableError(`more than ${MAX_BASE64_VIEWS} base64 candidates`);
  }

  private derived(parent: ViewNode, orig: string, derivation: Derivation): ViewNode {
    const depth = parent.depth + 1;
    if (depth > MAX_DEPTH) throw new UninspectableError(`encodings nested deeper than ${MAX_DEPTH} levels`);
    const node = makeNode(orig, parent.where, parent.key, depth, derivation, parent.label, parent.honeytokensOnly);
    node.labelRoot = parent.labelRoot ?? (parent.label ? parent.orig : null);
    return node;
  }

  /**
   * Add a view to scan, then the views decoded from it (percent, HTML character references, tag
   * characters, base64). With `hexRunsOnly`,
   * runs are read as hex only (see addUndecodedPart).
   */
  addView(node: ViewNode, hexRunsOnly = false): void {
    this.views.push(node);
    const s = node.orig;
    if (hasPercentEscape(s)) {
      const decoded = percentDecode(s, false, false).text;
      if (decoded !== s) {
        this.charge(decoded.length);
        this.addView(this.derived(node, decoded, { kind: 'percent', parent: node, start: 0, end: s.length, plus: false }));
      }
    }
    if (hasCharRef(s)) {
      const { text, spans } = decodeCharRefs(s);
      if (text !== s) this.decodedSpans.set(this.addDerived(node, text, 'charref'), spans);
    }
    if (hasTagChars(s)) {
      const { text, spans } = decodeTagChars(s);
      this.decodedSpans.set(this.addDerived(node, text, 'tags'), spans);
    }
    if (!hexRunsOnly) this.addShortRuns(node, s);
    if (s.length < MIN_BASE64_RUN) return;
    // Outside the body (the URL, header names and values: short texts), also the parts of a run
    // that does not decode whole: path segments, hex after `-`/`_` (`x-<hex>`, `file-<hex>`).
    const read = hexRunsOnly
      ? (start: number, end: number): 'hex' | null => (isPrintableHex(s, start, end) ? 'hex' : null)
      : (start: number, end: number) => this.readRun(s, start, end);
    let runs = findBase64Runs(s);
    // A text that is one encoded run but for a short prefix (`data:image/png;base64,…`) holds
    // no byte list and no dump (no brackets, no colons): their searches cost ~4 ms per 4 MiB.
    const only = runs.length === 1 ? runs[0] : undefined;
    const oneRun = only !== undefined && s.length - (only.end - only.start) <= 64;
    if (!hexRunsOnly && runs.length > 0) {
      // Lines of one encoded block (`base64 file`, `xxd -p`), read as one run; a block that reads
      // as nothing leaves its lines to be read one by one.
      const inBlocks = new Set<number>();
      for (const block of wrappedBlocks(s, runs)) {
        let joined = block.joined;
        let reading = this.readRun(joined, 0, joined.length);
        if (reading === null && block.tail >= 0) {
          joined = joined.slice(0, block.tail);
          reading = this.readRun(joined, 0, joined.length);
        }
        if (reading === null) {
          // A private key without its armour, wrapped as PEM wraps it: the joined base64 is the
          // text the key pattern reads (secrets.yaml private_key_der), as it would be on one line.
          if (unarmoredPrivateKey(block.joined) !== undefined && !insidePrivateKeyArmour(s, block.start) && this.firstSight(block.joined)) {
            this.addDerived(node, block.joined, 'wrapped');
          }
          continue;
        }
        for (let k = block.firstRun; k <= block.lastRun; k++) inBlocks.add(k);
        this.addRun(node, joined, reading, block.start, block.end);
      }
      if (inBlocks.size > 0) runs = runs.filter((_, k) => !inBlocks.has(k));
    }
    for (const run of decodableRuns(s, read, outsideBody(node.where), runs)) {
      this.addRun(node, s.slice(run.start, run.end), run.reading, run.start, run.end);
    }
    // Bytes written as numbers (`list(data)`, a Uint8Array printed, `xxd -i`).
    if (!hexRunsOnly && !oneRun) this.addByteLists(node, s);
    // `xxd` and `hexdump -C` output: the bytes of the hex columns, read as one hex run.
    if (!hexRunsOnly && !oneRun) {
      for (const dump of hexDumps(s)) {
        const reading = isPrintableHex(dump.hex, 0, dump.hex.length) ? 'hex'
          : this.archivesOn ? this.detectors.detectArchive(Buffer.from(dump.hex, 'hex')) : null;
        if (reading !== null) this.addRun(node, dump.hex, reading === 'hex' ? reading : { archive: reading, hex: true }, dump.start, dump.end);
      }
      // `od -c` output: the bytes of its character fields; `od -t x1`, `od -x`, `od -b`, `hexdump`: of its numbers.
      for (const dump of [...charDumps(s), ...numberDumps(s)]) {
        if (readableCharDump(dump.hex)) this.addRun(node, dump.hex, 'hex', dump.start, dump.end);
      }
    }
  }

  /**
   * Base64 runs too short for findBase64Runs, where they are plausibly base64 (decode-base64.ts
   * MIN_SHORT_BASE64_RUN): the whole text of the view, or padded runs in it, or unpadded runs
   * shaped like base64 of digits (SHORT_BARE_PREFILTER) whose text the detectors' prefilter takes
   * (so that words of that shape, `MS-DOS`, spend no view).
   */
  private addShortRuns(node: ViewNode, s: string): void {
    if (s.length < MIN_SHORT_BASE64_RUN) return;
    if (s.length < MIN_BASE64_RUN && isWholeShortRun(s, 0, s.length)) {
      this.addRun(node, s, 'base64', 0, s.length);
      return;
    }
    for (const run of shortPaddedRuns(s)) this.addRun(node, s.slice(run.start, run.end), 'base64', run.start, run.end);
    for (const run of shortBareRuns(s)) {
      const text = s.slice(run.start, run.end);
      // A run seen before costs no second prefilter pass (4 MiB of one run: 650 ms with one each).
      if (this.seenRuns.has(text) || this.bareRunsPassed.has(text)) continue;
      if (this.detectors.mightMatch(decodeBase64(text), null)) this.addRun(node, text, 'base64', run.start, run.end);
      else this.bareRunsPassed.add(text);
    }
  }

  /**
   * The view (or the archive) of one encoded run `text`, which sits at [start, end) of `node`. An
   * archive is read as base64, or as hex (`hex`: a hex dump's bytes).
   */
  private addRun(node: ViewNode, text: string, reading: TextReading | { readonly archive: string; readonly hex?: boolean }, start: number, end: number): void {
    if (!this.firstSight(text)) return;
    this.countBase64();
    if (typeof reading === 'object') {
      const bytes = reading.hex === true ? Buffer.from(text, 'hex') : decodeBase64(text);
      this.archives.push({ format: reading.archive, where: node.where, digest: sha256(bytes), node, start, end });
      return;
    }
    this.addDerived(node, decodeRun(text, reading).toString('utf8'), reading === 'hex' ? 'hex' : reading === 'base32' ? 'base32' : 'base64');
  }

  /** False when `text` (a run, or what it decodes to) was read already: it shows up again in a percent-decoded child, or repeated in a body. */
  private firstSight(text: string): boolean {
    if (this.seenRuns.has(text)) return false;
    this.seenRuns.add(text);
    return true;
  }

  /** An opaque view of `text`, derived from `node` (charged to the decode budget); returned for its spans. */
  private addDerived(node: ViewNode, text: string, why: OpaqueWhy): ViewNode {
    this.charge(text.length);
    const child = this.derived(node, text, { kind: 'opaque', why });
    this.addView(child);
    return child;
  }

  /** Views of the byte lists in `s`, the text of `node` (decode-bytes.ts). */
  private addByteLists(node: ViewNode, s: string): void {
    for (const list of byteLists(s)) {
      const text = list.bytes.toString('utf8');
      if (!this.firstSight(text)) continue;
      this.countBase64();
      this.addDerived(node, text, 'hex');
    }
  }

  /** How a run decodes: to text (hex first, then base64) or, read as base64, to an archive. */
  private readRun(s: string, start: number, end: number): TextReading | { readonly archive: string } | null {
    const text = textReading(s, start, end);
    if (text === 'hex') return text;
    const archive = this.archivesOn ? this.detectors.detectArchiveInBase64(s, start, end) : null;
    return archive !== null ? { archive } : text;
  }

  /** Text sent upstream that cannot be rewritten (a gzip member's header fields): scanned as written. */
  addOpaqueText(text: string, where: string): void {
    if (text.length === 0) return;
    this.charge(text.length);
    this.addView(makeNode(text, where, null, 0, { kind: 'opaque', why: 'header' }));
  }

  /**
   * Request headers, except hop-by-hop ones. `credentials` (the agent's own credential headers)
   * are scanned for honeytokens only. A header's name is forwarded too, and is agent-chosen
   * text (`x-<secret>: 1`): every name outside KNOWN_HEADER_NAMES is a view of its own
   * (`header-name`), and a label, so a value matched in it is starred out of `header:NAME`.
   * `rawNames` are the names as written (see InspectRequest.rawHeaderNames); a name is scanned
   * as written, and is forwarded lower-cased.
   */
  addHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, credentials: readonly string[], rawNames?: readonly string[]): void {
    const skipped = new Set<string>(UNSCANNED_HEADERS);
    const honeyOnly = new Set(credentials.map((h) => h.toLowerCase()));
    // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    const connection = headers['connection'];
    for (const v of typeof connection === 'string' ? [connection] : connection ?? []) {
      for (const name of v.split(',')) skipped.add(name.trim().toLowerCase());
    }
    const seenNames = new Set<string>();
    for (const written of rawNames ?? Object.keys(headers)) {
      const name = written.toLowerCase();
      if (skipped.has(name) || KNOWN_HEADER_NAMES.has(name) || seenNames.has(written)) continue;
      seenNames.add(written);
      this.addHeaderView(makeNode(written, HEADER_NAME_WHERE, null, 0, { kind: 'opaque', why: 'header' }, true));
    }
    for (const [rawName, value] of Object.entries(headers)) {
      const name = rawName.toLowerCase();
      if (value === undefined || skipped.has(name)) continue;
      for (const v of typeof value === 'string' ? [value] : value) {
        this.addHeaderView(makeNode(v, `header:${label(name)}`, name, 0, { kind: 'opaque', why: 'header' }, false, honeyOnly.has(name)));
      }
    }
  }

  /**
   * A header value or name as Node gives it, and, when its bytes are UTF-8 with some ≥ 0x80, as
   * the UTF-8 text the upstream reads (utf8Reading): normalised and matched like a body, with the
   * same where, key and honeytoken-only flag. Opaque like the header itself: a header is never
   * rewritten, so a redact-level finding in either reading blocks.
   */
  private addHeaderView(node: ViewNode): void {
    const from = this.views.length;
    this.addView(node);
    const text = utf8Reading(node.orig);
    if (text === null) return;
    const mid = this.views.length;
    this.charge(text.length);
    this.addView(this.derived(node, text, { kind: 'opaque', why: 'utf8' }));
    this.headerReadings.push({ asBytes: new Set(this.views.slice(from, mid)), asUtf8: new Set(this.views.slice(mid)) });
  }

  /** The path (raw and percent-decoded) and each query parameter name and value. */
  addUrl(url: string): UrlModel {
    const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
    const prefix = abs?.[0] ?? '';
    let rest = url.slice(prefix.length);
    const hash = rest.indexOf('#');
    const fragment = hash >= 0 ? rest.slice(hash) : '';
    if (hash >= 0) rest = rest.slice(0, hash);
    const q = rest.indexOf('?');
    const pathText = q >= 0 ? rest.slice(0, q) : rest;
    const path: RootText = { text: pathText, edits: [], encodeDirect: (s) => percentEncode(s, false) };
    if (pathText.length > 0) this.addView(makeNode(pathText, 'path', null, 0, { kind: 'root', root: path }));
    if (q < 0) return { prefix, path, query: null, fragment };
    const query: RootText = { text: rest.slice(q + 1), edits: [], encodeDirect: null };
    this.addPairs(makeNode(query.text, 'query', null, 0, { kind: 'root', root: query }), () => 'query', () => 'query');
    return { prefix, path, query, fragment };
  }

  /** `name=value&…` (query or form body): every name and value is a percent-decoded view. */
  private addPairs(parent: ViewNode, whereOfValue: (name: string) => string, whereOfName: () => string): void {
    const s = parent.orig;
    for (const p of splitPairs(s)) {
      const name = percentDecode(s.slice(p.nameStart, p.nameEnd), true, false).text;
      if (name.length > 0) {
        this.addView(makeNode(name, whereOfName(), null, parent.depth,
          { kind: 'percent', parent, start: p.nameStart, end: p.nameEnd, plus: true }, true));
      }
      if (p.valueStart < 0 || p.valueEnd === p.valueStart) continue;
      const value = percentDecode(s.slice(p.valueStart, p.valueEnd), true, false).text;
      this.addView(makeNode(value, whereOfValue(name), name.toLowerCase(), parent.depth,
        { kind: 'percent', parent, start: p.valueStart, end: p.valueEnd, plus: true }));
    }
  }

  /** Walk the JSON text held by `holder`; false (nothing added) when it is not JSON. */
  private addJson(holder: ViewNode, where: string, depth: number): boolean {
    const tokens = tokenizeJson(holder.orig, where);
    if (tokens === null) return false;
    for (let k = 0; k < tokens.length; k++) this.addJsonToken(holder, siblingNamed(holder.orig, tokens, k), depth);
    // A JSON array of byte values (`JSON.stringify(buffer)`) is numbers to the walk above.
    this.addByteLists(holder, holder.orig);
    return true;
  }

  private addJsonToken(holder: ViewNode, t: JsonToken, depth: number): void {
    const raw = holder.orig.slice(t.start, t.end);
    let node: ViewNode;
    const label = t.kind === 'key';
    if (t.kind === 'number') {
      const derivation = { kind: 'json-number', parent: holder, start: t.start, end: t.end } as const;
      if (raw.length >= MIN_NUMBER_VIEW) this.addView(makeNode(raw, t.where, t.key, depth, derivation));
      // Written with a fraction or an exponent (`4.556737586899855e15`, `536228143.0`), it is read
      // upstream as the integer it stands for: scanned in that form too, under the same key, and
      // redacted the same way (the literal becomes a string).
      const integer = integerForm(raw);
      if (integer !== null) this.addView(makeNode(integer, t.where, t.key, depth, derivation));
      return;
    }
    if (!t.escaped) {
      node = makeNode(raw, t.where, t.key, depth, { kind: 'offset', parent: holder, start: t.start }, label);
    } else {
      node = makeNode(unescapeJson(raw, false).text, t.where, t.key, depth,
        { kind: 'json-string', parent: holder, start: t.start, end: t.end }, label);
    }
    // JSON inside a string (tool-call `arguments`, stringified payloads) is walked, not scanned whole.
    if (t.kind === 'string' && looksLikeJson(node.orig)) {
      if (depth + 1 > MAX_DEPTH) throw new UninspectableError(`JSON strings nested deeper than ${MAX_DEPTH} levels`);
      if (this.addJson(node, t.where, depth + 1)) return;
    }
    this.addView(node);
  }

  /** `bytes` in a declared charset; a label no decoder knows makes the body uninspectable. */
  private decodeDeclared(bytes: Uint8Array, charset: string): string {
    const text = decodeCharset(bytes, charset);
    if (text === null) {
      // The label is agent-chosen and the detail is recorded: named only when it is a plain label.
      const plain = /^[a-z0-9._:-]{1,40}$/.test(charset) && this.detectors.scan({ text: charset, where: 'charset', key: null }, null).length === 0;
      throw new UninspectableError(plain ? `unsupported charset "${charset}"` : 'unsupported charset');
    }
    this.charge(text.length);
    return text;
  }

  private addPrintable(bytes: Uint8Array, where: string, key: string | null, depth: number): void {
    const text = printableRuns(bytes);
    if (text.length > 0) {
      this.charge(text.length);
      this.addView(makeNode(text, where, key, depth, { kind: 'opaque', why: 'binary' }));
    }
    // NULs split UTF-16 text into one-character runs that printableRuns drops.
    if (bytes.indexOf(0) >= 0) this.addHiddenUtf16(bytes, where, key, depth);
  }

  /**
   * Views of UTF-16 text in a body that does not declare it: the whole body decoded when it has
   * the shape of UTF-16 (BOM, or NULs on one parity), and the printable runs of the body with
   * NULs removed (ASCII-range UTF-16 anywhere in it, e.g. spliced into other text). Opaque:
   * a finding there blocks, it cannot be rewritten in place.
   */
  private addHiddenUtf16(bytes: Uint8Array, where: string, key: string | null, depth: number): void {
    const shape = utf16Shape(bytes);
    if (shape !== null) {
      const text = new TextDecoder(shape).decode(bytes);
      this.charge(text.length);
      this.addView(makeNode(text, where, key, depth, { kind: 'opaque', why: 'charset' }));
    }
    const stripped = printableRuns(withoutNuls(bytes));
    if (stripped.length > 0) {
      this.charge(stripped.length);
      this.addView(makeNode(stripped, where, key, depth, { kind: 'opaque', why: 'charset' }));
    }
  }

  /**
   * A body (or a multipart part body) by content type. Archive magic wins over the declared
   * type. Returns how to rebuild it after redaction.
   */
  addBody(bytes: Buffer, ct: ContentType | null, where: string, key: string | null, depth: number): BodyModel {
    if (bytes.length === 0) return { kind: 'none' };
    // `boundary=A; boundary=B`, `boundary*=…; boundary=…`: which one a server takes depends on
    // its parser, so what it reads is not what a scan of either would see.
    const ambiguous = ambiguousParam(ct);
    if (ambiguous !== undefined) throw new UninspectableError(`the Content-Type gives \`${ambiguous}\` more than once`);
    const format = this.archivesOn ? this.detectors.detectArchive(bytes) : null;
    if (format !== null) {
      this.archives.push({ format, where, digest: sha256(bytes), node: null, start: 0, end: 0 });
      this.addPrintable(bytes, where, key, depth);
      return { kind: 'opaque' };
    }
    const cls = classifyBody(ct);
    if (cls === 'multipart' && ct !== null) return this.addMultipart(bytes, ct, where, depth);
    const charset = nonUtf8Charset(ct?.params);
    if (charset !== null) {
      // Declared in another charset: scan what the server will read. JSON escapes decoded as
      // for malformed JSON; no structure to rewrite, so a redaction escalates to block. The raw
      // bytes are read too, for a server that ignores the label.
      const text = this.decodeDeclared(bytes, charset);
      this.addView(makeNode(cls === 'json' ? unescapeJson(text, false).text : text, where, key, depth, { kind: 'opaque', why: 'charset' }));
      this.addPrintable(bytes, where, key, depth);
      return { kind: 'opaque' };
    }
    if (!isUtf8(bytes)) {
      this.addPrintable(bytes, where, key, depth);
      return { kind: 'opaque' };
    }
    // Valid UTF-8 can still be UTF-16 in disguise (ASCII as `31 00 32 00`): NUL is valid UTF-8.
    if (bytes.indexOf(0) >= 0) {
      this.addHiddenUtf16(bytes, where, key, depth);
      this.nulText = true;
    }
    const text = bytes.toString('utf8');
    const root: RootText = { text, edits: [], encodeDirect: null };
    const rootNode = makeNode(text, where, key, depth, { kind: 'root', root });
    if (cls === 'json' || (cls === 'sniff' && looksLikeJson(text))) {
      if (this.addJson(rootNode, where, depth)) return { kind: 'text', root };
      if (cls === 'json') {
        // Declared JSON that does not parse: scan it with string escapes decoded (so `\u0040`
        // still reads `@`). There is no structure to rewrite, so redaction escalates to block.
        this.addView(makeNode(unescapeJson(text, false).text, where, key, depth, { kind: 'opaque', why: 'malformed-json' }));
        return { kind: 'text', root };
      }
    }
    if (cls === 'form') {
      this.addPairs(rootNode, (name) => `${where}${memberSegment(name)}`, () => `${where}{key}`);
      return { kind: 'text', root };
    }
    this.addView(rootNode);
    return { kind: 'text', root };
  }

  /**
   * A part with a Content-Transfer-Encoding, read as sent too. RFC 7578 §4.7 deprecates the
   * header for form-data, and most servers (busboy, PHP) ignore it and keep the text as sent, so
   * a value written in the base64 alphabet (`4556 7375 8689 9855`, `AKIA…`) or after something
   * that reads as an escape (`card=4556…`: `=45` decodes to `E`) is garbled in the decoded
   * reading and shows only here. Opaque: the part goes upstream as sent or re-encoded from its
   * decoded reading, never rewritten here, so a finding here blocks. A value both readings show
   * is one occurrence (inspect.ts dropAlternativeReadings). When the part decodes whole
   * (isWholeBase64), each base64 run here decodes to bytes the decoded reading holds, and
   * reading them again would count its findings twice and spend MAX_BASE64_VIEWS on a long
   * file (one run a line): only hex runs are read.
   */
  private addUndecodedPart(sent: Buffer, where: string, key: string | null, depth: number, wholeBase64: boolean): void {
    this.addView(makeNode(sent.toString('utf8'), where, key, depth, { kind: 'opaque', why: 'undecoded-part' }), wholeBase64);
  }

  private addMultipart(bytes: Buffer, ct: ContentType, where: string, depth: number): BodyModel {
    if (depth + 1 > MAX_DEPTH) throw new UninspectableError(`multipart nested deeper than ${MAX_DEPTH} levels`);
    const parsed = parseMultipart(bytes, ct.params.get('boundary') ?? '');
    if (!parsed.ok) throw new UninspectableError(parsed.detail);
    const prefix = where === 'body' ? '' : `${where}/`;
    const parts: PartModel[] = [];
    // Bytes outside the part bodies go upstream too, and a server reads some of them (part
    // headers; a lenient parser, the preamble or the epilogue): scanned as written. They cannot
    // be rewritten, so a finding there blocks.
    const framing = (start: number, end: number, at: string): void => {
      let from = start;
      while (from < end && (bytes[from] === 0x0d || bytes[from] === 0x0a || bytes[from] === 0x20 || bytes[from] === 0x09)) from++;
      const format = this.archivesOn && from < end ? this.detectors.detectArchive(bytes.subarray(from, end)) : null;
      if (format !== null) {
        this.archives.push({ format, where: at, digest: sha256(bytes.subarray(from, end)), node: null, start: 0, end: 0 });
        return;
      }
      if (from < end) {
        this.charge(end - start);
        this.addView(makeNode(bytes.toString('utf8', start, end), at, null, depth + 1, { kind: 'opaque', why: 'undecoded-part' }));
      }
    };
    framing(0, parsed.preambleEnd, `${prefix}preamble`);
    framing(parsed.epilogueStart, bytes.length, `${prefix}epilogue`);
    parsed.parts.forEach((part, index) => {
      const name = part.name ?? String(index);
      const partWhere = `${prefix}part:${label(name)}${part.filename !== null ? `(${label(part.filename)})` : ''}`;
      const partKey = part.name?.toLowerCase() ?? null;
      // Part and file names are scanned (they are attacker text and end up in `where`).
      if (part.name !== null && part.name.length > 0) {
        this.addView(makeNode(part.name, partWhere, 'name', depth + 1, { kind: 'opaque', why: 'filename' }, true));
      }
      if (part.filename !== null && part.filename.length > 0) {
        this.addView(makeNode(part.filename, partWhere, 'filename', depth + 1, { kind: 'opaque', why: 'filename' }, true));
      }
      // The part's other headers (`X-Note: …`), and other parameters of its Content-Disposition.
      const otherHeaders = [...part.headers].map(([h, v]) => (h === 'content-disposition' ? `${h}: ${v.replace(DISPOSITION_NAMES, '')}` : `${h}: ${v}`)).join('\n');
      if (/[^\s]/.test(otherHeaders.replace(/^(?:content-disposition: form-data|content-type: [\w.+/-]+|content-transfer-encoding: [\w-]+)\s*$/gim, ''))) {
        this.charge(otherHeaders.length);
        this.addView(makeNode(otherHeaders, `${partWhere}{headers}`, null, depth + 1, { kind: 'opaque', why: 'header' }));
      }
      const sent = bytes.subarray(part.bodyStart, part.bodyEnd);
      let partBytes = sent;
      let base64LineLength: number | null = null;
      const cte = (part.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
      if (cte === 'quoted-printable') {
        // Scanned decoded (`=3D`, soft breaks); not rewritten in QP, so a redaction there blocks.
        const decoded = decodeQuotedPrintable(partBytes);
        this.charge(decoded.length);
        const charset = nonUtf8Charset(parseContentType(part.headers.get('content-type'))?.params);
        const text = charset !== null ? this.decodeDeclared(decoded, charset) : decoded.toString('utf8');
        this.addView(makeNode(text, partWhere, partKey, depth + 1, { kind: 'opaque', why: 'quoted-printable' }));
        this.addUndecodedPart(sent, partWhere, partKey, depth + 1, false);
        parts.push({ bodyStart: part.bodyStart, bodyEnd: part.bodyEnd, model: { kind: 'opaque' }, base64LineLength: null });
        return;
      }
      let wholeBase64 = false;
      if (cte === 'base64') {
        const encoded = partBytes.toString('latin1');
        if (!/^[A-Za-z0-9+/=\s]*$/.test(encoded)) throw new UninspectableError('malformed multipart body: invalid base64 part');
        const firstBreak = encoded.search(/\r?\n/);
        base64LineLength = firstBreak < 0 ? 0 : firstBreak;
        wholeBase64 = isWholeBase64(encoded);
        partBytes = Buffer.from(encoded.replace(/\s+/g, ''), 'base64');
        this.charge(partBytes.length);
      }
      const model = this.addBody(partBytes, parseContentType(part.headers.get('content-type')), partWhere, partKey, depth + 1);
      if (cte === 'base64') this.addUndecodedPart(sent, partWhere, partKey, depth + 1, wholeBase64);
      parts.push({ bodyStart: part.bodyStart, bodyEnd: part.bodyEnd, model, base64LineLength });
    });
    return { kind: 'multipart', bytes, parts };
  }
}
