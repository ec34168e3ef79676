/**
 * Bodies of numbers for the candidate budget (inspect.ts SCAN_BUDGET_*): what a platform team's
 * agent uploads for analysis (realistic), and what an attacker writes to make each byte as dear
 * to inspect as possible (adversarial). Shared by scan-budget.test.ts and bench/dlp-numeric-bench.ts.
 * Deterministic (seeded).
 */
import { prng } from './inspect-helpers.js';

type Rand = () => number;
const digits = (r: Rand, n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(r() * 10));
  return s;
};
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
/** A first digit that is no card IIN at these lengths (snowflakes, epoch ms and µs start with 1). */
const id = (r: Rand, n: number): string => `1${digits(r, n - 1)}`;

/**
 * One value of a realistic numeric column: 6-19 digit ids, epoch seconds and milliseconds, dates,
 * amounts, quantities, phone-like ids with and without separators (2 columns of 11; most are
 * valid phone numbers somewhere, as random digits in these shapes are).
 */
const SHAPES: readonly ((r: Rand) => string)[] = [
  (r) => digits(r, int(r, 6, 9)), // order number
  (r) => id(r, 10), // invoice id
  (r) => `17${digits(r, 8)}`, // epoch seconds
  (r) => `17${digits(r, 11)}`, // epoch milliseconds
  (r) => id(r, int(r, 16, 19)), // snowflake / µs timestamp
  (r) => `20${pad(int(r, 10, 26), 2)}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)}`, // date
  (r) => `20${pad(int(r, 10, 26), 2)}-${pad(int(r, 1, 12), 2)}-${pad(int(r, 1, 28), 2)}T${pad(int(r, 0, 23), 2)}:${pad(int(r, 0, 59), 2)}:${pad(int(r, 0, 59), 2)}Z`,
  (r) => `${int(r, 0, 99999)}.${pad(int(r, 0, 99), 2)}`, // amount
  (r) => String(int(r, 1, 500)), // quantity
  (r) => PHONE_LIKE[int(r, 0, PHONE_LIKE.length - 1)]!(r), // phone-like id with separators
  (r) => digits(r, int(r, 10, 11)), // phone-like id without separators
];
/** Phone-like ids written with separators: a third of them each shape. */
const PHONE_LIKE: readonly ((r: Rand) => string)[] = [
  (r) => `${digits(r, 3)}-${digits(r, 3)}-${digits(r, 4)}`,
  (r) => `${digits(r, 2)} ${digits(r, 4)} ${digits(r, 4)}`,
  (r) => `${digits(r, 3)}-${digits(r, 7)}`,
];

/**
 * A CSV of `n` numbers of mixed shapes (SHAPES, about one of each per row) under a header line.
 * `card`, when given, is written once, in the middle.
 */
export function numericCsv(n: number, seed = 11, card?: string): string {
  const r = prng(seed);
  const rows: string[] = ['order,invoice,ts,ts_ms,snowflake,date,created,amount,qty,ref,ref_n'];
  let row: string[] = [];
  for (let i = 0; i < n; i++) {
    row.push(i === Math.floor(n / 2) && card !== undefined ? card : (SHAPES[i % SHAPES.length] as (r: Rand) => string)(r));
    if (row.length === SHAPES.length) {
      rows.push(row.join(','));
      row = [];
    }
  }
  if (row.length > 0) rows.push(row.join(','));
  return rows.join('\n') + '\n';
}

/** A JSON array of `n` numbers and numeric strings of mixed shapes (SHAPES). */
export function numericJson(n: number, seed = 12, card?: string): string {
  const r = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = i === Math.floor(n / 2) && card !== undefined ? card : (SHAPES[i % SHAPES.length] as (r: Rand) => string)(r);
    out.push(/^\d{1,15}(?:\.\d+)?$/.test(v) ? v : JSON.stringify(v));
  }
  return `{"values":[${out.join(',')}]}`;
}

/**
 * Adversarial bodies: each repeats, all distinct, the candidate that costs most per byte in one
 * detector. `bytes` is the body size aimed at.
 */
export const ADVERSARIAL: readonly (readonly [name: string, line: (r: Rand) => string])[] = [
  // National-format phone candidates (phone_dashed / phone_grouped): libphonenumber over the
  // default regions for each one that no region accepts.
  ['phone dashed 2-7', (r) => `${digits(r, 2)}-${digits(r, 7)}`],
  ['phone grouped 2 4 4', (r) => `${digits(r, 2)} ${digits(r, 4)} ${digits(r, 4)}`],
  ['phone grouped 1-3-3-4', (r) => `${digits(r, 1)}-${digits(r, 3)}-${digits(r, 3)}-${digits(r, 4)}`],
  // 10 digits: credit card, NHS (then a US phone check when mod-11 holds), ABA-adjacent.
  ['10-digit runs', (r) => `2${digits(r, 9)}`],
  // Card-shaped, failing Luhn (the cheapest reject, the most per byte).
  ['card-shaped, Luhn fails', (r) => `4${digits(r, 15)}`],
  // SSN-shaped with separators.
  ['SSN-shaped', (r) => `${pad(int(r, 1, 665), 3)}-${pad(int(r, 1, 99), 2)}-${pad(int(r, 1, 9999), 4)}`],
  // Dotted quads.
  ['dotted quads', (r) => `${int(r, 1, 223)}.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 0, 255)}`],
  // Every shape at once, on one line: each candidate overlaps several patterns.
  ['phone + card + SSN mix', (r) => `${digits(r, 2)}-${digits(r, 7)} 4${digits(r, 15)} ${pad(int(r, 1, 665), 3)}-${pad(int(r, 1, 99), 2)}-${pad(int(r, 1, 9999), 4)}`],
];

/** `bytes` of one adversarial shape, one value per line, all values distinct (by chance). */
export function adversarialBody(line: (r: Rand) => string, bytes: number, seed = 13): string {
  const r = prng(seed);
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const l = line(r);
    parts.push(l);
    size += l.length + 1;
  }
  return parts.join('\n');
}
