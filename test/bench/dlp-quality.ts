/**
 * DLP quality over the labelled corpus (shared/corpus/dlp-public.jsonl): precision and recall
 * per finding type, then overall, then the ids of misses and false positives. Values are never
 * printed: the corpus is secret-shaped by design.
 *
 *   node dist/test/bench/dlp-quality.js [--corpus FILE] [--json]
 *
 * Matching rules (shared/corpus/README.md): a finding is a TP when its (type, value) equals an
 * expected pair; archives compare by type. `optional` expectations count neither way. Rows
 * with `expect[].encoded` are also scanned in their decoded views; `bytes_encoding: latin1`
 * rows are bytes (archive magic is checked on the bytes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodedViews } from '../../proxy/dlp/decoded-views.js';
import { compileDetectors } from '../../proxy/dlp/detectors.js';
import type { Detectors } from '../../proxy/dlp/types.js';
import { ROOT } from '../../proxy/paths.js';

interface Expectation {
  readonly type: string;
  readonly value: string;
  readonly optional?: boolean;
  readonly encoded?: 'url' | 'base64' | 'json';
}

interface CorpusRow {
  readonly id: string;
  readonly text: string;
  readonly expect: readonly Expectation[];
  readonly bytes_encoding?: 'latin1';
}

export interface TypeStats { tp: number; fp: number; fn: number }

export interface QualityReport {
  readonly perType: ReadonlyMap<string, TypeStats>;
  readonly overall: TypeStats;
  readonly misses: readonly { id: string; type: string }[];
  readonly falsePositives: readonly { id: string; type: string }[];
  readonly rows: number;
}

/** Default corpus location: the shared folder next to the repository. */
export const DEFAULT_CORPUS = join(ROOT, '..', 'shared', 'corpus', 'dlp-public.jsonl');

export function readCorpus(file: string): CorpusRow[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as CorpusRow);
}

/** (type, value) pairs the detectors report for one row, over the text and its decoded views. */
function findingsFor(d: Detectors, row: CorpusRow): Set<string> {
  const found = new Set<string>();
  const texts = [row.text];
  if (row.expect.some((e) => e.encoded !== undefined)) texts.push(...decodedViews(row.text));
  if (row.bytes_encoding === 'latin1') {
    if (d.detectArchive(Buffer.from(row.text, 'latin1')) !== null) found.add('archive\u0000');
  }
  for (const text of texts) {
    for (const m of d.scan({ text, where: 'body', key: null }, null)) {
      found.add(m.type === 'archive' ? 'archive\u0000' : `${m.type}\u0000${m.value}`);
    }
  }
  return found;
}

/** Score `d` on `rows`. */
export function evaluateCorpus(d: Detectors, rows: readonly CorpusRow[]): QualityReport {
  const perType = new Map<string, TypeStats>();
  const stat = (t: string): TypeStats => {
    let s = perType.get(t);
    if (s === undefined) perType.set(t, (s = { tp: 0, fp: 0, fn: 0 }));
    return s;
  };
  const misses: { id: string; type: string }[] = [];
  const falsePositives: { id: string; type: string }[] = [];
  for (const row of rows) {
    const found = findingsFor(d, row);
    const expectedKeys = new Set<string>();
    const optionalKeys = new Set<string>();
    for (const e of row.expect) {
      const k = e.type === 'archive' ? 'archive\u0000' : `${e.type}\u0000${e.value}`;
      (e.optional === true ? optionalKeys : expectedKeys).add(k);
    }
    for (const k of expectedKeys) {
      const type = k.slice(0, k.indexOf('\u0000'));
      if (found.has(k)) stat(type).tp++;
      else {
        stat(type).fn++;
        misses.push({ id: row.id, type });
      }
    }
    for (const k of found) {
      if (expectedKeys.has(k) || optionalKeys.has(k)) continue;
      const type = k.slice(0, k.indexOf('\u0000'));
      stat(type).fp++;
      falsePositives.push({ id: row.id, type });
    }
  }
  const overall: TypeStats = { tp: 0, fp: 0, fn: 0 };
  for (const s of perType.values()) {
    overall.tp += s.tp;
    overall.fp += s.fp;
    overall.fn += s.fn;
  }
  return { perType, overall, misses, falsePositives, rows: rows.length };
}

export function precision(s: TypeStats): number {
  return s.tp + s.fp === 0 ? 1 : s.tp / (s.tp + s.fp);
}

export function recall(s: TypeStats): number {
  return s.tp + s.fn === 0 ? 1 : s.tp / (s.tp + s.fn);
}

/** Markdown rendering of a report (ids and counts only). */
export function renderReport(r: QualityReport): string {
  const f = (x: number): string => x.toFixed(3);
  const lines = ['| type | TP | FP | FN | precision | recall |', '|---|---:|---:|---:|---:|---:|'];
  for (const [t, s] of [...r.perType.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    lines.push(`| ${t} | ${s.tp} | ${s.fp} | ${s.fn} | ${f(precision(s))} | ${f(recall(s))} |`);
  }
  const o = r.overall;
  lines.push(`| **overall** | ${o.tp} | ${o.fp} | ${o.fn} | ${f(precision(o))} | ${f(recall(o))} |`);
  lines.push('', `Rows: ${r.rows}`, '', `Misses (${r.misses.length}):`);
  for (const m of r.misses) lines.push(`- ${m.id} (${m.type})`);
  lines.push('', `False positives (${r.falsePositives.length}):`);
  for (const m of r.falsePositives) lines.push(`- ${m.id} (${m.type})`);
  return lines.join('\n');
}

function main(argv: readonly string[]): void {
  const i = argv.indexOf('--corpus');
  const file = i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] as string : DEFAULT_CORPUS;
  const d = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('dlp-quality') });
  const report = evaluateCorpus(d, readCorpus(file));
  process.stdout.write(renderReport(report) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2));
}
