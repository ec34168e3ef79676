/**
 * Contracts inside dlp/: the detectors (packs, matchers, validators: dlp/detectors.ts and
 * friends) and the inspection pipeline (decoders, redaction, policy: dlp/inspect.ts) meet
 * here. Everything in dlp/ is pure: no sockets, no files except pack loading at compile time.
 */
import type { AuditFinding } from '../audit/events.js';
import type { CompiledDlpPolicy, DlpAction, Honeytoken } from '../config/types.js';

export type Confidence = 'low' | 'medium' | 'high';

/** One decoded piece of a request to scan. */
export interface ScanView {
  /** Decoded, normalised text. */
  readonly text: string;
  /** Where it came from: `body`, `query`, `header:x-foo`, `body.messages[0].content`, `part:file(report.csv)`. */
  readonly where: string;
  /** Lower-case name of the JSON key / form field / header / query parameter holding it; null for free text. */
  readonly key: string | null;
}

/** A detection inside one view. `value` is internal only: never logged, never rendered. */
export interface Match {
  /** Finding type from the vocabulary of shared/corpus/README.md (`us_ssn`, `credit_card`, `private_key`, …), or `honeytoken`, or `archive`. */
  readonly type: string;
  /** `<pack>.<pattern id>`, e.g. `pii.us_ssn_delimited`. */
  readonly patternId: string;
  /** Pack the pattern belongs to (`pii`, `secrets`, `archives`, `honeytokens`, or a custom pack). */
  readonly pack: string;
  /** UTF-16 offsets of the sensitive value in `view.text` (what redaction replaces). */
  readonly start: number;
  readonly end: number;
  readonly value: string;
  readonly confidence: Confidence;
  /** The pack's action for this match after downgrades (public test PANs, low confidence → `log`). */
  readonly defaultAction: DlpAction;
  /** Honeytoken id for `type === 'honeytoken'`. */
  readonly honeytokenId?: string;
}

/**
 * Work budget shared by every scan of one request, in units of about a microsecond of CPU: each
 * raw pattern hit costs matcher.ts HIT_COST (an RE2 exec, boundary and context checks, a cheap
 * validator), and a validator that does dearer work charges it too (validators/pii.ts
 * PHONE_LOOKUP_COST per libphonenumber call). Scanning stops once it is spent, so a body dense
 * with candidate values cannot hold the event loop (or a worker) for seconds; the caller treats
 * it as uninspectable. inspect.ts scanBudgetUnits sizes it by the body.
 */
/** How much an inline scan may spend (DlpEngine.inspectWithin). */
export interface InlineBound {
  /** scan budget units (ScanBudget) */
  readonly units: number;
  /** milliseconds since the call, checked before each view is scanned */
  readonly ms: number;
}

export interface ScanBudget {
  remaining: number;
  /** performance.now() past which a bounded scan gives up (inspect.ts scanViews); none: no clock. */
  readonly deadline?: number;
  /**
   * Validator answers that depend on the value alone, memoised for this request (a CSV column
   * repeats its values): a memoised answer costs nothing. Bounded by the validator that fills it.
   */
  readonly memo?: Map<string, boolean>;
}

export interface Detectors {
  /** Every pack loaded (shipped + custom), by name. */
  readonly packNames: readonly string[];
  /**
   * Scan one view with the given packs (null: all). Honeytokens are always included.
   * Overlapping matches are resolved: a more specific type claims its span first.
   */
  scan(view: ScanView, packs: readonly string[] | null, budget?: ScanBudget): Match[];
  /**
   * Cheap pre-check over raw bytes: false only when no pattern of the given packs can match
   * anywhere in `raw` as written (an RE2.Set pass), and `raw` holds no JSON number that the view
   * builder also reads as an integer (decode-json.ts INTEGER_FORM_PREFILTER). Other decoded views
   * may still hide matches. Key patterns (a value found by the name of its key) never match
   * here: see readsKey and keyedMightMatch.
   */
  mightMatch(raw: Buffer, packs: readonly string[] | null): boolean;
  /** Whether a key pattern of the given packs reads views under `key` (as the full scan tests it). */
  readsKey(key: string, packs: readonly string[] | null): boolean;
  /**
   * False only when no key pattern of the given packs can find anything in a value under `key`
   * that starts with `value` (a JSON string with its opening quote, a number, a view's text).
   */
  keyedMightMatch(key: string, value: string, packs: readonly string[] | null): boolean;
  /** Archive format by magic bytes at offset 0 (tar: 257), or null. */
  detectArchive(bytes: Buffer): string | null;
  /** The same for the bytes a base64 run `[start, end)` of `src` decodes to (archives.ts base64ArchiveProbe). */
  detectArchiveInBase64(src: string | Uint8Array, start: number, end: number): string | null;
  /** Masked sample for audit (`***-**-6789`, `****-****-****-1111`, `AKIA************MPLE`…). */
  mask(match: Match): string;
  /** Keyed fingerprint of a value (HMAC-SHA256, first 16 hex chars). */
  fingerprint(value: string): string;
  /** Replacement text used by `redact`: cards keep the last 4 digits, others `[REDACTED:<type>]`. */
  replacement(match: Match): string;
}

/** A pack file and the text read from it. */
export interface PackSource {
  readonly file: string;
  readonly text: string;
}

export interface DetectorOptions {
  /** Extra pack files (absolute paths) beyond the shipped dlp-patterns/*.yaml. */
  readonly packFiles?: readonly string[];
  /**
   * Every pack, already read (`readPackSources`): compiled instead of reading the shipped packs
   * and `packFiles`, so that two engines built from one list (the proxy's and its inspection
   * workers') hold the same patterns even if a file changes on disk in between.
   */
  readonly packSources?: readonly PackSource[];
  readonly honeytokens: readonly Honeytoken[];
  /** HMAC key for fingerprints (kept in ca_dir by the server). */
  readonly fingerprintKey: Buffer;
}

/** A request as the inspection pipeline sees it. */
export interface InspectRequest {
  readonly method: string;
  /** Origin-form target: path and query (`/v1/chat/completions?x=1`). */
  readonly url: string;
  /** Node's IncomingHttpHeaders shape: lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body exactly as received (possibly Content-Encoded). Empty Buffer for no body. */
  readonly body: Buffer;
  /** Header names scanned for honeytokens only (the agent's own credentials for this destination). */
  readonly skipHeaders: readonly string[];
  /**
   * The header names as the client wrote them (the even entries of Node's `rawHeaders`), so a
   * case-sensitive detector or honeytoken sees a name before Node lower-cases it. When absent,
   * the keys of `headers` are scanned.
   */
  readonly rawHeaderNames?: readonly string[];
}

export interface InspectResult {
  readonly decision: 'allow' | 'redact' | 'block';
  /** `dlp` / `honeytoken` / `uninspectable` when the decision is block (or allow with an uninspectable body); null otherwise. */
  readonly reason: 'dlp' | 'honeytoken' | 'uninspectable' | null;
  /** Safe to log: aggregated per (type, where), masked samples, fingerprints. */
  readonly findings: readonly AuditFinding[];
  /** Archive formats seen (for detection rules). */
  readonly archives: readonly string[];
  /** Ids of honeytokens hit. */
  readonly honeytokenIds: readonly string[];
  /** With `redact`: the rewritten body, encoded per `headers` below. Null otherwise. */
  readonly body: Buffer | null;
  /** With `redact`: header changes (`content-length` set; `content-encoding` null = remove). */
  readonly headers: Readonly<Record<string, string | null>> | null;
  /** With `redact` of query findings: the rewritten origin-form URL. */
  readonly url: string | null;
  /** Why a body was uninspectable (no data in it), e.g. `unknown content-encoding: zstd`. */
  readonly uninspectableDetail: string | null;
}

export interface DlpEngine {
  readonly detectors: Detectors;
  inspect(req: InspectRequest, policy: CompiledDlpPolicy): InspectResult;
  /**
   * The same, unless scanning the views would spend more than `bound.units` of the scan budget
   * or run past `bound.ms` since the call: then null, after about that much work, so the caller
   * can hand the body to a worker (the event loop's bound, server/inspect-pool.ts). Only where
   * the inspection runs depends on the clock, never its result.
   */
  inspectWithin(req: InspectRequest, policy: CompiledDlpPolicy, bound: InlineBound): InspectResult | null;
}
