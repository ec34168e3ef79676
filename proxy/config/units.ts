/**
 * Parsers for the human units used in YAML: sizes (`10MiB`), durations (`30s`) and
 * rates (`50MiB per 2m`, `600 per 1m`). Each throws an Error whose message is safe to
 * show after `FILE:LINE:COL key.path: `.
 */
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new Error(`size must be a non-negative whole number of bytes, got ${input}`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(input);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase() || 'b'];
  if (!m || unit === undefined) throw new Error(`invalid size "${input}": use a number with B, KiB, MiB or GiB (e.g. 10MiB)`);
  return Math.round(Number(m[1]) * unit);
}

export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`duration must be non-negative, got ${input}`);
    return input * 1000; // a bare number means seconds
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(input);
  if (!m) throw new Error(`invalid duration "${input}": use a number with ms, s, m, h or d (e.g. 30s, 2m)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

export interface Rate { readonly amount: number; readonly windowMs: number }

/** `"50MiB per 2m"` (sizes) or `"600 per 1m"` (counts, when `sized` is false). */
export function parseRate(input: string, sized: boolean): Rate {
  const m = /^\s*(.+?)\s+(?:per|\/)\s+(.+?)\s*$/.exec(input);
  if (!m) throw new Error(`invalid rate "${input}": write it as "${sized ? '50MiB' : '600'} per 2m"`);
  let amount: number;
  if (sized) amount = parseSize(m[1]!);
  else {
    if (!/^\d+$/.test(m[1]!.trim())) throw new Error(`invalid count "${m[1]}" in "${input}"`);
    amount = Number(m[1]);
  }
  const windowMs = parseDuration(/^\d/.test(m[2]!) ? m[2]! : `1${m[2]}`);
  if (amount <= 0 || windowMs <= 0) throw new Error(`rate "${input}" must be positive`);
  return { amount, windowMs };
}
