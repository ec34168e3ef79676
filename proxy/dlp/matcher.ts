/**
 * Runs one compiled pattern over one view and turns regex hits into candidates: boundary
 * post-checks, key restriction, hotword context, validator, placeholder and entropy filters,
 * then the confidence ladder and the default action (DLP.md §2.0 rules 5-8).
 */
import type { DlpAction } from '../config/types.js';
import { leftBoundaryOk, rightBoundaryOk } from './boundaries.js';
import { isPlaceholder, shannonEntropy } from './entropy.js';
import type { Utf8Offsets } from './offsets.js';
import type { CompiledPattern } from './packs.js';
import type { Confidence, Match, ScanBudget } from './types.js';

/** A finding before span claiming: a Match plus the priority that decides overlaps. */
export interface Candidate extends Match {
  readonly priority: number;
}

/** One view prepared for matching: its text, UTF-8 bytes and offset map. */
export interface PreparedView {
  readonly text: string;
  readonly buf: Buffer;
  readonly offsets: Utf8Offsets;
  readonly key: string | null;
}

const LEVELS: readonly Confidence[] = ['low', 'medium', 'high'];

function bump(c: Confidence, by: number): Confidence {
  const i = Math.min(LEVELS.indexOf(c) + by, LEVELS.length - 1);
  return LEVELS[i] ?? c;
}

/** The placeholder and entropy filters read this much of a candidate's value. */
const JUDGED_CHARS = 512;

/**
 * Safety valve: a single pattern never yields more than this many raw hits per view. Past it,
 * the budget (when there is one) is spent: the rest of the view was not looked at.
 */
const MAX_HITS_PER_PATTERN = 100_000;

/**
 * What one raw hit costs the scan budget (types.ts ScanBudget, units of ~1 µs): the RE2 exec that
 * finds it (3-6 µs a hit on a numeric body), offsets, boundary and hotword checks and a cheap
 * validator (a Luhn or checksum reject): 7-10 µs all told, measured per pattern on CSV bodies.
 */
export const HIT_COST = 8;
/**
 * What an accepted candidate costs on top: span claiming, its fingerprint (an HMAC), mask and
 * aggregation, a redaction edit. Measured: 4 MiB of SSNs, 100,000 findings, ~2 s, twice the
 * cost of as many rejected hits.
 */
export const FINDING_COST = 8;

/** Run `p` over `view`, appending accepted candidates to `out`. */
export function runPattern(p: CompiledPattern, view: PreparedView, out: Candidate[], budget?: ScanBudget): void {
  if (p.key !== null && (view.key === null || !p.key.test(view.key))) return;
  const keyHasContext = view.key !== null && p.contextWords.some((w) => view.key?.includes(w));
  const re = p.re;
  re.lastIndex = 0;
  let hits = 0;
  for (;;) {
    const m = re.exec(view.buf);
    if (m === null) break;
    if (++hits > MAX_HITS_PER_PATTERN) {
      if (budget !== undefined) budget.remaining = -1;
      break;
    }
    if (budget !== undefined && (budget.remaining -= HIT_COST) < 0) break;
    const whole = m.indices?.[0];
    if (whole === undefined) break;
    if (whole[1] === whole[0]) re.lastIndex = whole[1] + 1;
    const span = m.indices?.[p.group];
    if (span === undefined) continue;
    const cand = evaluate(p, view, m, span[0], span[1], whole[0], keyHasContext, budget);
    if (cand !== null) {
      out.push(cand);
      if (budget !== undefined) budget.remaining -= FINDING_COST;
    }
  }
}

function evaluate(
  p: CompiledPattern,
  view: PreparedView,
  m: { readonly indices?: readonly ([number, number] | undefined)[] },
  byteStart: number,
  byteEnd: number,
  matchByteStart: number,
  keyHasContext: boolean,
  budget: ScanBudget | undefined,
): Candidate | null {
  const text = view.text;
  let start = view.offsets.toUtf16(byteStart);
  let end = view.offsets.toUtf16(byteEnd);
  if (!leftBoundaryOk(text, start, p.left) || !rightBoundaryOk(text, end, p.right)) return null;
  let hasContext = keyHasContext;
  if (!hasContext && p.context !== null) {
    const window = text.slice(Math.max(0, start - p.contextWindow), Math.min(text.length, end + 20)).toLowerCase();
    hasContext = p.context.test(window);
  }
  if (p.contextRequired && !hasContext) return null;
  let confidence = p.confidence;
  let action: DlpAction = p.action;
  let actionFixed = false;
  if (p.validator !== null) {
    const groups: (string | undefined)[] = [];
    for (const g of m.indices ?? []) {
      groups.push(g === undefined ? undefined : text.slice(view.offsets.toUtf16(g[0]), view.offsets.toUtf16(g[1])));
    }
    const verdict = p.validator({
      text, start, end, value: text.slice(start, end), groups,
      matchStart: view.offsets.toUtf16(matchByteStart), key: view.key, hasContext, budget,
    });
    if (verdict === null) return null;
    start = verdict.start ?? start;
    end = verdict.end ?? end;
    confidence = verdict.confidence ?? confidence;
    if (verdict.action !== undefined) {
      action = verdict.action;
      actionFixed = true;
    }
  }
  if (end <= start) return null;
  const value = text.slice(start, end);
  // A validator may follow a value far past the match (secrets.ts wholeValue, up to 1 MiB); the
  // filters judge the first JUDGED_CHARS of it, as the validators do. On the whole span, each of
  // the ~500 candidates in 256 KiB of `password=…password=…` re-read the rest of it (0.7 s).
  const judged = value.length > JUDGED_CHARS ? value.slice(0, JUDGED_CHARS) : value;
  if (p.placeholder && isPlaceholder(judged)) return null;
  if (p.minEntropy !== null && shannonEntropy(judged) < p.minEntropy) return null;
  if (!p.contextRequired && !actionFixed) {
    if (keyHasContext) confidence = bump(confidence, 2);
    else if (hasContext) confidence = bump(confidence, 1);
  }
  // Low confidence never redacts or blocks on its own (DLP.md §2.0 rule 8).
  const defaultAction: DlpAction = confidence === 'low' && !actionFixed ? 'log' : action;
  return {
    type: p.type,
    patternId: p.patternId,
    pack: p.pack,
    start,
    end,
    value,
    confidence,
    defaultAction: confidence === 'low' ? 'log' : defaultAction,
    priority: p.priority,
  };
}
