/**
 * The DLP inspection pipeline: from an HTTP request to a decision (DESIGN.md "Request path",
 * stage `inspect`; DLP.md §2.0).
 *
 *   body ─► Content-Encoding removed (capped) ─► fast path: provably clean? ──yes──► allow
 *                                                    │ no
 *                                                    ▼
 *   headers, path, query, body ─► views (JSON leaves, form fields, parts, base64, %XX)
 *     ─► normalise ─► group prefilter (mightMatch over ~16 KiB of views) ─► detectors.scan
 *     ─► action per match ─► decision (block > redact > allow)
 *     ─► redact: edits mapped back through every layer ─► body rebuilt, re-compressed
 *     ─► findings (masked samples, keyed fingerprints)
 *
 * Pure and synchronous. Input is untrusted. Fail closed: any exception becomes an
 * `uninspectable` result (block unless the policy says `uninspectable: allow`), never an allow
 * that skipped inspection silently.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { CompiledDlpPolicy, DlpAction } from '../config/types.js';
import { isPrintableBase64, isWholeShortRun, someBase64RunOrControl, someQuotedShortRun, someShortPaddedRun, utf16Base64 } from './decode-base64.js';
import { isPrintableBase32 } from './decode-base32.js';
import { isPrintableHex } from './decode-hex.js';
import { nonUtf8Charset } from './decode-charset.js';
import { decodeContentEncoding, encodeContentEncoding, type Coding } from './decode-content-encoding.js';
import { backslashStringTokens, bytesLookLikeJson, tokenMayBeJson, unescapeJsonBytes } from './decode-json.js';
import { hexVal } from './decode-percent.js';
import { aggregateFindings, type ResolvedArchive, type ResolvedMatch } from './findings.js';
import { normalizeBytes, normalizeText, type NormalizedText } from './normalize.js';
import { looksRandom } from './random-text.js';
import { coversDecoded, hasCharRefBytes } from './decode-charref.js';
import { hasTagCharsBytes } from './decode-tags.js';
import { flushNumberEdits, isRewritable, pushEdit, rebuildBody, rebuildUrl, spanInParent } from './redact.js';
import type { DlpEngine, Detectors, InlineBound, InspectRequest, InspectResult, Match, ScanBudget } from './types.js';
import {
  ambiguousParam, classifyBody, HEADER_NAME_WHERE, label, MAX_DEPTH, MAX_LABEL_CHARS, MIN_DECODE_BUDGET, parseContentType, UninspectableError, ViewBuilder,
  type BodyClass, type BodyModel, type ContentType, type HeaderReadings, type UrlModel, type ViewNode,
} from './views.js';

/** Engine switches for tests and benchmarks; production uses the defaults. */
export interface DlpEngineOptions {
  /** Skip view building for bodies that are provably clean (default true). */
  readonly fastPath?: boolean;
  /** Prefilter views in groups with `mightMatch` before scanning them one by one (default true). */
  readonly groupPrefilter?: boolean;
}

/** Views are prefiltered in groups of about this many characters. */
const GROUP_CHARS = 16 * 1024;
/**
 * The scan budget of one request (types.ts ScanBudget, units of ~1 µs of CPU, charged per raw
 * pattern hit and per libphonenumber call): SCAN_BUDGET_UNITS_PER_BYTE of the body, at least
 * SCAN_BUDGET_MIN_UNITS, at most SCAN_BUDGET_MAX_UNITS. Past it the body is uninspectable.
 *
 * - Numeric data an agent uploads for analysis (CSV or JSON of ids, epoch times, dates, amounts,
 *   quantities, phone-like ids, ~12 bytes a number: numeric-bodies.ts) costs ~0.7 units a byte,
 *   half of it phone-like ids: it fits, up to ~2 MiB (~180,000 numbers).
 * - A body dense with the dearest candidates (national-format phone numbers: ~5 units a byte)
 *   costs at most its budget, and a unit measured 0.5-1 µs of CPU on them: ~100 ms for a small
 *   body, ~180-260 ms at 256 KiB, the largest inspected on the event loop
 *   (server/inspect-pool.ts OFFLOAD_MIN_BYTES), ~1-1.5 s for any larger one (in a worker).
 *
 * A flat 5,000 candidates used to block a CSV of 6,000 order numbers, and let 5,000 phone
 * candidates cost ~0.5-1 s. Measured with test/bench/dlp-numeric-bench.ts.
 */
export const SCAN_BUDGET_MIN_UNITS = 100_000;
export const SCAN_BUDGET_UNITS_PER_BYTE = 1;
export const SCAN_BUDGET_MAX_UNITS = 1_500_000;

/** The scan budget for a request whose (decoded) body is `bytes` long. */
export function scanBudgetUnits(bytes: number): number {
  return Math.min(SCAN_BUDGET_MAX_UNITS, Math.max(SCAN_BUDGET_MIN_UNITS, Math.ceil(bytes * SCAN_BUDGET_UNITS_PER_BYTE)));
}
/** Texts up to this length are scanned once per (text, key) in a request. */
const MEMO_MAX_CHARS = 256;

function hasPercentBytes(buf: Buffer): boolean {
  let p = buf.indexOf(0x25);
  while (p !== -1) {
    if (hexVal(buf[p + 1] ?? -1) >= 0 && hexVal(buf[p + 2] ?? -1) >= 0) return true;
    p = buf.indexOf(0x25, p + 1);
  }
  return false;
}

const NEWLINE = Buffer.from('\n');

/**
 * Bodies up to this size are JSON-decoded and normalised by the fast path into buffers it keeps,
 * grown in whole MiB as bodies need them: an allocation per body cost ~2 ms of page faults per
 * 4 MiB in about half the calls (the 300 MB/s target is 14 ms). The texts in them never leave
 * isProvablyClean, which is synchronous, so one pair per process is enough. Larger bodies
 * allocate, so the most a process keeps is twice this.
 */
export const FAST_PATH_SCRATCH_MAX = 8 << 20;

/** A buffer kept for reuse (see FAST_PATH_SCRATCH_MAX); undefined for sizes over it. */
function retainedBuffer(): (n: number) => Buffer | undefined {
  let kept: Buffer | null = null;
  return (n) => {
    if (n > FAST_PATH_SCRATCH_MAX) return undefined;
    if (kept === null || kept.length < n) {
      kept = Buffer.allocUnsafeSlow(Math.min(FAST_PATH_SCRATCH_MAX, Math.ceil(n / (1 << 20)) * (1 << 20)));
    }
    return kept;
  };
}
/** For the body with JSON escapes decoded. */
const decodedScratch = retainedBuffer();
/** For the normalised text of whichever buffer is being checked (never the decoded one's own). */
const normalizedScratch = retainedBuffer();

/**
 * The texts a JSON body's nested documents read one level deeper than `level`, for the fast
 * path. The full path walks a string leaf as JSON only when its decoded text looks like JSON,
 * and that nested document's own leaves differ from substrings of the leaf's text only where
 * the text holds a backslash. So only those leaves need decoding again: for each, its decoded
 * text decoded once more (every level-`level + 1` view of it is a substring of that, with the
 * same quotes around it), then the same one level further down. Chat bodies hold code with
 * `\\n` in strings, and decoding the whole body again for them cost a second set pass.
 * Appends to `out`; false when the nesting goes deeper than the full path accepts.
 */
function nestedLevels(json: Buffer, level: number, out: Buffer[]): boolean {
  for (const [start, end] of backslashStringTokens(json)) {
    if (!tokenMayBeJson(json, start, end)) continue; // code and prose: no decoding needed to know
    const leaf = unescapeJsonBytes(json.subarray(start, end));
    if (!bytesLookLikeJson(leaf)) continue;
    const deeper = unescapeJsonBytes(leaf);
    if (deeper === leaf) continue;
    if (level + 1 > MAX_DEPTH + 1) return false;
    out.push(deeper, NEWLINE);
    if (!nestedLevels(leaf, level + 1, out)) return false;
  }
  return true;
}

/** How much of a string value is read for a key pattern (valueStart), at most. */
const VALUE_START_BYTES = 4096;
/**
 * Characters other than whitespace a string value's start must hold before valueStart is trusted
 * on it. A key pattern's value regex needs a few characters after its leading whitespace (a
 * scheme, a space, 6 of a token: `Basic` plus whitespace of any length is the longest); with
 * fewer, the member is left to the full path.
 */
const VALUE_START_CHARS = 64;

/**
 * Whether JSON text `t` has a member whose key a key pattern reads and whose value it may match
 * (Detectors.keyedMightMatch): the fast path's check for what the set cannot see, a value found
 * by the name of its key (`{"api_key": "<secret>"}`). Every `"…"` followed by whitespace and `:`
 * is taken for a key (a superset: text inside a string can look like one); its value is read from
 * its first character after whitespace and `[`s. A number is read whole. A string (`t` may be
 * decoded JSON, where a quote inside a value is bare) is read to its first quote, at most
 * VALUE_START_BYTES, normalised as the full path normalises a view; when that holds fewer than
 * VALUE_START_CHARS characters besides whitespace (a short value, or padding of spaces or
 * zero-width characters before the secret), the member may match. An object, `true`, `false` or
 * `null` is no view of this key. Linear: each colon looks back over its own key and forward over
 * its own whitespace and value start.
 */
function someKeyedMember(t: Buffer, detectors: Detectors, packs: readonly string[] | null): boolean {
  for (let colon = t.indexOf(0x3A); colon !== -1; colon = t.indexOf(0x3A, colon + 1)) {
    let close = colon - 1;
    while (close >= 0 && isJsonSpace(t[close] as number)) close--;
    if (close <= 0 || t[close] !== 0x22) continue;
    const open = t.lastIndexOf(0x22, close - 1);
    if (open === -1) continue;
    const key = t.toString('utf8', open + 1, close);
    if (!detectors.readsKey(key, packs)) continue;
    let v = colon + 1;
    while (v < t.length && isJsonSpace(t[v] as number)) v++;
    // An array: each string and number in it, at any depth of arrays, is read under this key
    // (views.ts), not only the first. Its elements cannot be told apart reliably here (the
    // escape-decoded buffers have lost which quotes were escaped): the full path reads it.
    if (t[v] === 0x5B) return true;
    if (scalarMightMatch(t, v, key, detectors, packs)) return true;
  }
  return false;
}

/** Whether the JSON string or number at `t[v]`, read under `key`, may match a key pattern. */
function scalarMightMatch(t: Buffer, v: number, key: string, detectors: Detectors, packs: readonly string[] | null): boolean {
  const c = t[v] ?? 0;
  let value: string;
  if (c === 0x22) {
    const quote = t.indexOf(0x22, v + 1);
    const end = quote === -1 ? Math.min(t.length, v + 1 + VALUE_START_BYTES) : Math.min(quote, v + 1 + VALUE_START_BYTES);
    const text = normalizeText(t.toString('utf8', v + 1, end)).text;
    if (text.replace(/\s+/g, '').length < VALUE_START_CHARS) return true;
    value = `"${text}`;
  } else if (c === 0x2D || (c >= 0x30 && c <= 0x39)) {
    let e = v + 1;
    while (e < t.length && isNumberByte(t[e] as number)) e++;
    value = t.toString('latin1', v, e);
  } else {
    return false;
  }
  return detectors.keyedMightMatch(key, value, packs);
}

function isNumberByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2E || c === 0x2B || c === 0x2D || c === 0x65 || c === 0x45;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0A || c === 0x0D;
}

/**
 * The fast path (product target: ≥ 300 MB/s on clean JSON). True only when the full path
 * provably finds nothing in the body:
 *
 * - the texts the full path would scan are all contained, with the same `"`-delimited context,
 *   in a few buffers: the raw body (text bodies), the body with JSON escapes decoded (JSON
 *   leaves, keys and numbers, nested JSON without escapes of its own), and the nested documents
 *   that decode differently one level further down (see nestedLevels);
 * - none of those buffers has a `%XX` escape, an HTML character reference, a tag character or
 *   a base64 run that decodes (as hex or as base64) to text or an archive (those create views
 *   that are not substrings; base64 broken into lines, which views.ts reads whole, has a first
 *   line that decodes alone; base32 runs too, decode-base32.ts), nor a control character
 *   other than tab, LF and CR (views drop them, normalizeBytes keeps them), nor a short base64 run that views.ts reads (padded, or a whole
 *   JSON string or text body: decode-base64.ts MIN_SHORT_BASE64_RUN), and the body has no
 *   archive magic;
 * - `detectors.mightMatch` (an RE2.Set pass over every pattern, honeytokens included) is false
 *   for each buffer after normalisation, which is local (normalize.ts), so each normalised leaf
 *   is a substring of the normalised buffer. A key pattern reads the leaf's key, which is not in
 *   the leaf: over JSON, each member whose key a key pattern reads has its value checked
 *   (someKeyedMember), from the same decoded buffers, which hold every key as written. The one view
 *   that is not a substring, the integer a JSON number written with a fraction or an exponent
 *   stands for (views.ts), is covered by the same pass: mightMatch is true wherever such a
 *   number may be (INTEGER_FORM_PREFILTER), and so are the bytes of a hex dump
 *   (HEX_DUMP_PREFILTER).
 *
 * Form and multipart bodies always take the full path, and so do bodies in another charset or
 * holding a NUL byte (the full path reads them decoded: views.ts addHiddenUtf16), and
 * random-looking ones (random-text.ts), on which the pass above would fail by chance.
 */
function isProvablyClean(bytes: Buffer, ct: ContentType | null, cls: BodyClass, detectors: Detectors, policy: CompiledDlpPolicy, archivesOn: boolean): boolean {
  if (cls === 'form' || cls === 'multipart') return false;
  if (ambiguousParam(ct) !== undefined) return false; // uninspectable: the full path says so
  if (!isAscii(bytes) && !isUtf8(bytes)) return false; // isAscii: 0.2 ms per 4 MiB cheaper, and the usual case
  // Another declared charset, or NULs (UTF-16 that is also valid UTF-8): the full path decodes it.
  if (nonUtf8Charset(ct?.params) !== null) return false;
  if (bytes.indexOf(0) !== -1) return false;
  if (archivesOn && detectors.detectArchive(bytes) !== null) return false;
  // Random-looking text (a base64 image) is all but certain to hold something a pattern's
  // prefilter takes by chance (`+` and three digits, a base58 run): the full path would follow
  // this pass over the whole body anyway.
  if (looksRandom(bytes)) return false;
  const texts: Buffer[] = [];
  const maybeJson = cls === 'json' || (cls === 'sniff' && bytesLookLikeJson(bytes));
  if (cls !== 'json') texts.push(bytes);
  if (maybeJson) {
    const decoded = unescapeJsonBytes(bytes, decodedScratch(bytes.length));
    if (decoded === bytes) {
      if (cls === 'json') texts.push(bytes);
    } else {
      texts.push(decoded);
      // A decoded backslash (memchr) is the only way a leaf can decode differently once more.
      if (decoded.indexOf(0x5C) !== -1) {
        const deeper: Buffer[] = [];
        if (!nestedLevels(bytes, 1, deeper)) return false;
        if (deeper.length > 0) texts.push(Buffer.concat(deeper));
      }
    }
  }
  for (const t of texts) {
    // mightMatch first: it is what fails on dirty bodies (the other checks only matter when it
    // passes).
    // 1 KiB of headroom: normalising can lengthen text (a bigger result gets its own buffer).
    const scanBuf = normalizeBytes(t, normalizedScratch(t.length + 1024));
    if (detectors.mightMatch(scanBuf, policy.packs)) return false;
    if (maybeJson && someKeyedMember(t, detectors, policy.packs)) return false;
    if (hasPercentBytes(t)) return false;
    if (hasCharRefBytes(t)) return false;
    if (hasTagCharsBytes(t)) return false;
    const decodesToSomething = (start: number, end: number): boolean =>
      isPrintableHex(t, start, end) || isPrintableBase64(t, start, end) || utf16Base64(t, start, end) !== null || isPrintableBase32(t, start, end) || (archivesOn && detectors.detectArchiveInBase64(t, start, end) !== null);
    // Control characters (`\u0000`, `\b`, ESC) inside a value: views drop them (normalize.ts),
    // normalizeBytes above does not. Found in the same pass as the runs.
    if (someBase64RunOrControl(t, decodesToSomething)) return false;
    // Short runs read where they are plausibly base64 (decode-base64.ts MIN_SHORT_BASE64_RUN).
    if (someShortPaddedRun(t, () => true) || (maybeJson ? someQuotedShortRun(t) : isWholeShortRun(t, 0, t.length))) return false;
  }
  return true;
}

/** The action for one match before escalation (DESIGN.md; DLP.md §2.0 rule 8). */
export function actionFor(m: Match, policy: CompiledDlpPolicy): DlpAction {
  if (m.type === 'honeytoken') return 'block'; // always, whatever the policy says
  const explicit = policy.actions[m.type];
  if (m.type === 'archive') return explicit === 'log' ? 'log' : 'block'; // an archive cannot be redacted
  if (explicit !== undefined) return explicit;
  if (m.confidence === 'low') return 'log';
  return policy.defaultAction ?? m.defaultAction;
}

interface Scanned {
  readonly node: ViewNode;
  readonly norm: NormalizedText;
  readonly matches: Match[];
  readonly inBody: boolean;
}

/** Format of a base64 archive lead reported by the detectors (`UEsDB…` → `zip`). */
function archiveFormatOf(detectors: Detectors, value: string): string {
  return detectors.detectArchiveInBase64(value, 0, value.length) ?? 'archive';
}

/** The result for a body that could not be inspected: blocked or passed as `policy.uninspectable` says. */
export function failed(policy: CompiledDlpPolicy, detail: string): InspectResult {
  return {
    decision: policy.uninspectable === 'block' ? 'block' : 'allow',
    reason: 'uninspectable',
    findings: [], archives: [], honeytokenIds: [],
    body: null, headers: null, url: null,
    uninspectableDetail: detail,
  };
}

/**
 * Scan views, prefiltering them in groups: the concatenation of a group's normalised texts,
 * each between `"` and a line break (the context a JSON leaf has in the raw body), goes through
 * `mightMatch`; only groups that might match are scanned view by view. Sound for the same
 * reason as the fast path.
 */
function scanViews(views: readonly ViewNode[], bodyFrom: number, detectors: Detectors, policy: CompiledDlpPolicy, group: boolean, budget: ScanBudget): Scanned[] {
  const out: Scanned[] = [];
  const norms = views.map((v) => normalizeText(v.orig));
  // JSON repeats short texts under the same key ("role": "user", every key name): their
  // matches depend only on (text, key), so each is scanned once per request.
  const memo = new Map<string, Match[]>();
  const scanOne = (i: number): void => {
    const node = views[i] as ViewNode;
    const norm = norms[i] as NormalizedText;
    if (norm.text.length === 0) return;
    const memoKey = norm.text.length <= MEMO_MAX_CHARS ? `${node.honeytokensOnly ? 'h' : ''}\u0000${node.key ?? ''}\u0000${norm.text}` : null;
    let matches = memoKey === null ? undefined : memo.get(memoKey);
    if (matches === undefined) {
      // No pack for a credential header: detectors.scan runs honeytokens whatever the packs.
      matches = detectors.scan({ text: norm.text, where: node.where, key: node.key }, node.honeytokensOnly ? [] : policy.packs, budget);
      if (memoKey !== null) memo.set(memoKey, matches);
    }
    // A copy: dropDuplicates() edits the list of one view.
    out.push({ node, norm, matches: [...matches], inBody: i >= bodyFrom });
  };
  // A key pattern (`{"password": "…"}`) reads a view's key, which a group's text does not hold:
  // a view it may match is scanned alone.
  const alone = (v: ViewNode, k: number): boolean => {
    if (v.honeytokensOnly) return true; // an agent's real API key would make its group's prefilter fire
    return v.key !== null && detectors.keyedMightMatch(v.key, norms[k]?.text ?? '', policy.packs);
  };
  let i = 0;
  const late = (): boolean => budget.deadline !== undefined && performance.now() > budget.deadline;
  while (i < views.length) {
    if (late()) {
      budget.remaining = -1;
      break;
    }
    if (alone(views[i]!, i)) {
      scanOne(i++);
      continue;
    }
    let j = i;
    let chars = 0;
    while (j < views.length && !alone(views[j]!, j) && (chars === 0 || chars + (norms[j]?.text.length ?? 0) <= GROUP_CHARS)) {
      chars += (norms[j]?.text.length ?? 0) + 3;
      j++;
    }
    let might = true;
    if (group && j - i > 1) {
      const parts: string[] = [];
      for (let k = i; k < j; k++) parts.push(norms[k]?.text ?? '');
      might = detectors.mightMatch(Buffer.from(`"${parts.join('"\n"')}"`, 'utf8'), policy.packs);
    }
    if (might) {
      for (let k = i; k < j && budget.remaining >= 0; k++) {
        if (late()) budget.remaining = -1;
        else scanOne(k);
      }
    }
    if (budget.remaining < 0) break;
    i = j;
  }
  return out;
}

/**
 * In a view decoded from HTML character references or tag characters, keep the matches that
 * cover a character they produced: the others are in the parent view as written, and reported
 * there (where they can be redacted; this view cannot be rewritten).
 */
function keepDecodedMatches(scanned: Scanned[], spansOf: ReadonlyMap<ViewNode, readonly number[]>): void {
  for (const s of scanned) {
    const spans = spansOf.get(s.node);
    if (spans === undefined || s.matches.length === 0) continue;
    const kept = s.matches.filter((m) => {
      const [a, b] = s.norm.toOriginal(m.start, m.end);
      return coversDecoded(spans, a, b);
    });
    s.matches.splice(0, s.matches.length, ...kept);
  }
}

/** Drop matches of a percent-decoded view that its parent view already reported at the same place. */
function dropDuplicates(scanned: Scanned[]): void {
  const byNode = new Map<ViewNode, Scanned>();
  for (const s of scanned) byNode.set(s.node, s);
  for (const s of scanned) {
    const d = s.node.derivation;
    if (d.kind !== 'percent' || s.matches.length === 0) continue;
    const parent = byNode.get(d.parent);
    if (parent === undefined || parent.matches.length === 0) continue;
    const seen = new Set(parent.matches.map((m) => {
      const [a, b] = parent.norm.toOriginal(m.start, m.end);
      return `${m.type}:${a}:${b}`;
    }));
    const kept = s.matches.filter((m) => {
      const [a, b] = s.norm.toOriginal(m.start, m.end);
      const [pa, pb] = spanInParent(s.node, a, b);
      return !seen.has(`${m.type}:${pa}:${pb}`);
    });
    s.matches.splice(0, s.matches.length, ...kept);
  }
}

/**
 * A body that is not plain UTF-8 is read several ways (declared charset, UTF-16 shape, NULs
 * removed, printable runs), and a multipart part with a Content-Transfer-Encoding two ways (as
 * sent, decoded): alternative readings of the same bytes at the same place. A value they all
 * show is one occurrence, not one per reading: per (where, type, value), only the reading that
 * shows it most often keeps its matches (the first on a tie). Confidence and default action are
 * part of the key, so a reading that judges the value more severely (a hotword only the part
 * as sent shows) is never dropped for one that merely logs it. Every such reading is opaque, so
 * whichever keeps a match, the action is the same.
 */
const ALTERNATIVE_READINGS: ReadonlySet<string> = new Set(['charset', 'binary', 'quoted-printable', 'undecoded-part']);
function dropAlternativeReadings(scanned: Scanned[], nulText: boolean): void {
  const isAlt = (s: Scanned): boolean => s.node.derivation.kind === 'opaque' && ALTERNATIVE_READINGS.has(s.node.derivation.why);
  const readings = scanned.filter(isAlt).map((s) => [s]);
  // A UTF-8 body holding NULs: its text views read what the NULs split (normalize.ts drops
  // them), as its readings without NULs do. Its text views are one more reading, after those
  // (which keep a value on a tie: they are opaque, and block).
  if (nulText) readings.push(scanned.filter((s) => s.inBody && !isAlt(s)));
  if (readings.length >= 2) keepBestReading(readings);
}

/**
 * A header value or name with bytes ≥ 0x80 is read twice (views.ts addHeaderView): one
 * character per byte, as Node gives it, and as UTF-8. Both are opaque, so whichever keeps a
 * match, the action is the same; as for dropAlternativeReadings, a value both show (an ASCII
 * SSN beside a word with an accent) is one occurrence.
 */
function dropHeaderReadings(scanned: Scanned[], readings: readonly HeaderReadings[]): void {
  if (readings.length === 0) return;
  for (const r of readings) keepBestReading([scanned.filter((s) => r.asBytes.has(s.node)), scanned.filter((s) => r.asUtf8.has(s.node))]);
}

/**
 * `readings`: the scanned views of each reading of the same bytes. Per (where, type, confidence,
 * default action, value), only the reading that shows it most often keeps its matches (the
 * first on a tie).
 */
function keepBestReading(readings: readonly (readonly Scanned[])[]): void {
  const keyOf = (s: Scanned, m: Match): string => `${s.node.where}\u0000${m.type}\u0000${m.confidence}\u0000${m.defaultAction}\u0000${m.value}`;
  const best = new Map<string, { r: number; n: number }>();
  readings.forEach((reading, r) => {
    const counts = new Map<string, number>();
    for (const s of reading) {
      for (const m of s.matches) {
        const k = keyOf(s, m);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    for (const [k, n] of counts) {
      const b = best.get(k);
      if (b === undefined || n > b.n) best.set(k, { r, n });
    }
  });
  readings.forEach((reading, r) => {
    for (const s of reading) {
      const kept = s.matches.filter((m) => best.get(keyOf(s, m))?.r === r);
      s.matches.splice(0, s.matches.length, ...kept);
    }
  });
}

/** Thrown by a bounded scan (DlpEngine.inspectWithin) that runs past its units. */
class OverUnits extends Error {}

function inspectRequest(detectors: Detectors, req: InspectRequest, policy: CompiledDlpPolicy, opts: DlpEngineOptions, bound: InlineBound | null): InspectResult {
  const started = bound === null ? 0 : performance.now();
  const archivesOn = policy.packs.includes('archives');
  let uninspectable: string | null = null;
  let decoded: Buffer | null = null;
  let codings: readonly Coding[] = [];
  let metadata: readonly string[] = [];
  if (req.body.length > policy.maxInspectBytes) {
    uninspectable = `body exceeds the inspection cap of ${policy.maxInspectBytes} bytes`;
  } else if (req.body.length > 0) {
    const r = decodeContentEncoding(req.body, req.headers['content-encoding'], policy.maxInspectBytes);
    if (r.ok) {
      decoded = r.bytes;
      codings = r.codings;
      metadata = r.metadata;
    } else {
      uninspectable = r.detail;
    }
  }
  // Derived (decoded) text may total 4× the body, within the inspection cap.
  const budget = Math.max(MIN_DECODE_BUDGET, Math.min(4 * (decoded?.length ?? 0), policy.maxInspectBytes));
  const builder = new ViewBuilder(detectors, budget, archivesOn);
  let url: UrlModel | null = null;
  try {
    builder.addHeaders(req.headers, req.skipHeaders, req.rawHeaderNames);
    url = builder.addUrl(req.url);
    for (const text of metadata) builder.addOpaqueText(text, 'body{gzip-header}');
  } catch (err) {
    if (!(err instanceof UninspectableError)) throw err;
    uninspectable = err.detail;
  }
  const bodyFrom = builder.views.length;
  let model: BodyModel = { kind: 'none' };
  let bodyRewritable = true;
  if (decoded !== null && decoded.length > 0 && uninspectable === null) {
    const ct = parseContentType(req.headers['content-type']);
    const cls = classifyBody(ct);
    if (!(opts.fastPath !== false && isProvablyClean(decoded, ct, cls, detectors, policy, archivesOn))) {
      try {
        model = builder.addBody(decoded, ct, 'body', null, 0);
      } catch (err) {
        if (!(err instanceof UninspectableError)) throw err;
        uninspectable = err.detail;
        bodyRewritable = false; // the body model is incomplete: nothing in it can be rewritten
      }
    }
  }

  const budgetUnits = scanBudgetUnits(decoded?.length ?? 0);
  const bounded = bound !== null;
  const scanBudget: ScanBudget = bound === null
    ? { remaining: budgetUnits, memo: new Map() }
    : { remaining: Math.min(bound.units, budgetUnits), memo: new Map(), deadline: started + bound.ms };
  const scanned = scanViews(builder.views, bodyFrom, detectors, policy, opts.groupPrefilter !== false, scanBudget);
  if (scanBudget.remaining < 0 && bounded) throw new OverUnits();
  if (scanBudget.remaining < 0) {
    // Findings so far are still reported; the rest of the body was not looked at.
    uninspectable ??= `candidate values too costly to validate: over the inspection budget of ${budgetUnits} units for ${decoded?.length ?? 0} bytes`;
    bodyRewritable = false;
  }
  dropDuplicates(scanned);
  keepDecodedMatches(scanned, builder.decodedSpans);
  dropAlternativeReadings(scanned, builder.nulText);
  dropHeaderReadings(scanned, builder.headerReadings);

  // Archives found in base64 runs that the detectors' own base64-archive pattern also reported.
  const archiveSpans = new Map<ViewNode, [number, number][]>();
  for (const s of scanned) {
    for (const m of s.matches) {
      if (m.type !== 'archive') continue;
      const list = archiveSpans.get(s.node) ?? [];
      list.push(s.norm.toOriginal(m.start, m.end));
      archiveSpans.set(s.node, list);
    }
  }
  const archiveAction: DlpAction = policy.actions['archive'] === 'log' ? 'log' : 'block';
  const archives: ResolvedArchive[] = builder.archives
    .filter((a) => a.node === null || !(archiveSpans.get(a.node) ?? []).some(([s, e]) => s < a.end && a.start < e))
    .map((a) => ({ format: a.format, where: a.where, digest: a.digest, action: archiveAction }));

  // Actions, with escalation to block where a redaction cannot be written.
  const resolved: (ResolvedMatch & { readonly s: Scanned })[] = [];
  const secrets: string[] = [];
  for (const s of scanned) {
    for (const m of s.matches) {
      let action = actionFor(m, policy);
      if (action === 'redact' && (!isRewritable(s.node) || (s.inBody && !bodyRewritable))) action = 'block';
      resolved.push({ match: m, where: s.node.where, action, s });
      if (s.node.label) {
        // As matched, as written, and as memberSegment() quotes odd names in paths.
        const [a, b] = s.norm.toOriginal(m.start, m.end);
        const written = s.node.orig.slice(a, b);
        secrets.push(m.value, written, JSON.stringify(written).slice(1, -1));
        // A header name is scanned as written and appears lower-cased in `header:NAME`.
        const header = s.node.where === HEADER_NAME_WHERE;
        if (header) secrets.push(written.toLowerCase());
        // A long name is cut in `where`, perhaps inside the value: star its whole label.
        if (s.node.orig.length > MAX_LABEL_CHARS) secrets.push(label(header ? s.node.orig.toLowerCase() : s.node.orig));
        // Decoded from a label (base64, hex): `where` holds the label encoded; star all of it.
        const root = s.node.labelRoot;
        if (root !== null) secrets.push(root, root.toLowerCase(), label(root), label(root.toLowerCase()));
      }
    }
  }

  const honeytokenIds = [...new Set(resolved.flatMap((r) => (r.match.honeytokenId === undefined ? [] : [r.match.honeytokenId])))];
  const piiValues = new Set(resolved.filter((r) => r.match.pack === 'pii').map((r) => `${r.match.type}\u0000${r.match.value}`));
  const bulk = policy.bulkPiiThreshold !== null && piiValues.size >= policy.bulkPiiThreshold;
  const anyBlock = resolved.some((r) => r.action === 'block') || archives.some((a) => a.action === 'block');
  const anyRedact = resolved.some((r) => r.action === 'redact');

  let decision: InspectResult['decision'] = 'allow';
  let reason: InspectResult['reason'] = uninspectable === null ? null : 'uninspectable';
  let body: Buffer | null = null;
  let headers: Record<string, string | null> | null = null;
  let newUrl: string | null = null;
  if (honeytokenIds.length > 0) {
    decision = 'block';
    reason = 'honeytoken';
  } else if (anyBlock || bulk) {
    decision = 'block';
    reason = 'dlp';
  } else if (uninspectable !== null && policy.uninspectable === 'block') {
    decision = 'block';
    reason = 'uninspectable';
  } else if (anyRedact) {
    decision = 'redact';
    let ok = true;
    for (const r of resolved) {
      if (r.action !== 'redact') continue;
      const [a, b] = r.s.norm.toOriginal(r.match.start, r.match.end);
      ok = pushEdit(r.s.node, a, b, detectors.replacement(r.match)) && ok;
    }
    ok = flushNumberEdits(resolved.map((r) => r.s.node)) && ok;
    if (!ok) {
      // A number whose two readings were redacted differently (flushNumberEdits); otherwise
      // unreachable while isRewritable() and pushEdit() agree: fail closed if they ever do not.
      decision = 'block';
      reason = 'dlp';
    } else {
      const rebuilt = rebuildBody(model);
      if (rebuilt !== null) {
        body = encodeContentEncoding(rebuilt, codings);
        headers = { 'content-length': String(body.length) };
      }
      newUrl = url === null ? null : rebuildUrl(url);
    }
  }

  return {
    decision,
    reason,
    findings: aggregateFindings(detectors, resolved, archives, secrets),
    archives: [...new Set([
      ...archives.map((a) => a.format),
      ...resolved.filter((r) => r.match.type === 'archive').map((r) => archiveFormatOf(detectors, r.match.value)),
    ])],
    honeytokenIds,
    body,
    headers,
    url: newUrl,
    uninspectableDetail: uninspectable,
  };
}

/**
 * Build the inspection engine over compiled detectors. `inspect(req, policy)` is pure and
 * synchronous and never throws; the request is untrusted.
 *
 * - `decision`: block > redact > allow. `block` carries reason `honeytoken` (any honeytoken
 *   hit), else `dlp` (a block-level finding, an archive, bulk PII at `bulkPiiThreshold`, or a
 *   redact-level finding where no rewrite is possible: headers, base64-decoded text, binary
 *   bodies, a body that failed to decode half-way), else `uninspectable` (policy `block`).
 * - With an uninspectable body and policy `uninspectable: allow`, the decision is computed from
 *   what could be scanned (headers, URL, views built before the failure) and `reason` is
 *   `uninspectable` (also for `redact`); `uninspectableDetail` says why, without data.
 * - With `redact`: `body` is the rewritten body, re-encoded with the request's Content-Encoding,
 *   and `headers` is `{ 'content-length': '<n>' }` (Content-Encoding unchanged); both are null
 *   when only the URL changed. `url` is the rewritten origin-form target when the path or
 *   query changed, else null.
 * - `findings` are safe to log (see findings.ts). A matched value never leaves this module: the
 *   rewritten body holds replacements (`[REDACTED:<type>]`, cards with their last 4 digits only).
 */
export function createDlpEngine(detectors: Detectors, options: DlpEngineOptions = {}): DlpEngine {
  return {
    detectors,
    inspect(req: InspectRequest, policy: CompiledDlpPolicy): InspectResult {
      try {
        return inspectRequest(detectors, req, policy, options, null);
      } catch {
        // No data in the detail: the error may quote what it choked on.
        return failed(policy, 'internal inspection error');
      }
    },
    inspectWithin(req: InspectRequest, policy: CompiledDlpPolicy, bound: InlineBound): InspectResult | null {
      try {
        return inspectRequest(detectors, req, policy, options, bound);
      } catch (err) {
        return err instanceof OverUnits ? null : failed(policy, 'internal inspection error');
      }
    },
  };
}
