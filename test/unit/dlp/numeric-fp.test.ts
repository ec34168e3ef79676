/**
 * Numbers that are not cards or SSNs, in bulk: tables, logs and paths an agent uploads. The
 * separators cards and SSNs may be written with (a tab, two spaces, `.`, `/`, `_`) are also how
 * such data joins its numbers; none of these may yield a card or an SSN above low confidence.
 * Deterministic (seeded), ~2,000 lines each.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { prng } from './inspect-helpers.js';

const d = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('unit-test-key') });
const r = prng(42);
const int = (n: number): number => Math.floor(r() * n);
const lines = (f: () => string): string => Array.from({ length: 2000 }, f).join('\n');
const pad = (n: number, w: number): string => String(n).padStart(w, '0');

const corpora: Array<[string, () => string]> = [
  ['CSV of decimals', () => Array.from({ length: 6 }, () => (r() * 10000).toFixed(4)).join(',')],
  ['tab-separated 4-digit integers', () => Array.from({ length: 6 }, () => String(1000 + int(9000))).join('\t')],
  ['tab-separated integers', () => Array.from({ length: 6 }, () => String(int(100000))).join('\t')],
  ['columns aligned with two spaces', () => Array.from({ length: 6 }, () => String(int(10000))).join('  ')],
  ['log lines', () => `2026-11-${pad(1 + int(28), 2)} ${pad(int(24), 2)}:${pad(int(60), 2)}:${pad(int(60), 2)}.${pad(int(1000), 3)} pid=${int(65536)} req=${int(1e9)} took ${int(5000)}ms ip 10.${int(256)}.${int(256)}.${int(256)} v${int(10)}.${int(30)}.${int(100)}`],
  ['REST paths of numeric ids', () => `/api/v1/orders/${1000 + int(9000)}/${1000 + int(9000)}/${1000 + int(9000)}/${1000 + int(9000)} /files/${int(1000)}/${int(100)}/${int(10000)}`],
  ['dotted and underscored numeric names', () => `pkg 1.${int(1000)}.${int(100)}.${int(10000)} k_${int(1000)}_${int(100)}_${int(10000)}`],
];
for (const [name, line] of corpora) {
  test(`no card or SSN above low confidence in ${name}`, () => {
    const text = lines(line);
    const found = d.scan({ text, where: 'body', key: null }, null)
      .filter((m) => (m.type === 'credit_card' || m.type === 'us_ssn') && m.confidence !== 'low')
      .map((m) => m.type);
    assert.deepEqual(found, []);
  });
}
