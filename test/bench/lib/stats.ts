// Small numeric helpers for the benchmark (no dependencies).

/** Percentile by nearest rank over an unsorted sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  const idx = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[idx] ?? Number.NaN;
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  if (finite.length % 2 === 1) return finite[mid] ?? Number.NaN;
  return ((finite[mid - 1] ?? 0) + (finite[mid] ?? 0)) / 2;
}

export function maxOf(values: readonly number[]): number {
  let m = Number.NaN;
  for (const v of values) if (Number.isFinite(v) && !(v <= m)) m = v;
  return m;
}

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds from process.hrtime (monotonic, system-wide on Linux). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
