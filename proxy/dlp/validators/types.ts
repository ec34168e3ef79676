/**
 * The contract between the match engine (dlp/detectors.ts) and the validators named by
 * `validator:` in a pattern pack. A validator sees one regex candidate and either rejects it
 * (returns null) or accepts it, optionally moving the span, changing confidence or action.
 */
import type { DlpAction } from '../../config/types.js';
import type { Confidence, ScanBudget } from '../types.js';

export interface ValidatorInput {
  /** The whole view text (untrusted). */
  readonly text: string;
  /** UTF-16 span of the candidate value in `text`. */
  readonly start: number;
  readonly end: number;
  /** `text.slice(start, end)`. */
  readonly value: string;
  /** Every capture group of the pattern as text (index 0: whole match), undefined when unset. */
  readonly groups: readonly (string | undefined)[];
  /** UTF-16 start of the whole regex match (group 0) in `text`. */
  readonly matchStart: number;
  /** Lower-case key name of the view (JSON key, header, form field), or null. */
  readonly key: string | null;
  /** A hotword of the pattern's `context` list was found near the value or in the key. */
  readonly hasContext: boolean;
  /** The request's scan budget: a validator charges it for work dearer than a regex hit, and may memoise in it. */
  readonly budget?: ScanBudget;
}

/** Acceptance, with optional adjustments. Omitted fields keep the pattern's values. */
export interface Verdict {
  readonly start?: number;
  readonly end?: number;
  readonly confidence?: Confidence;
  readonly action?: DlpAction;
}

export type Validator = (input: ValidatorInput) => Verdict | null;

/** Accept unchanged. */
export const ACCEPT: Verdict = Object.freeze({});
