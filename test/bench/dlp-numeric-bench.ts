/**
 * The candidate budget on numeric bodies (not part of npm test): CPU ms of `engine.inspect()`,
 * with the shipped packs, on realistic numeric uploads (CSV / JSON of mixed ids, dates, amounts,
 * phone-like ids) and on adversarial bodies made of the dearest candidates per byte, at 200 KiB
 * (inspected on the event loop: under server/inspect-pool.ts OFFLOAD_MIN_BYTES) and 4 MiB (in
 * the worker pool). Plus a JSON body whose keys are secrets (findings.ts sanitizeWhere).
 *
 *   npm run build && node dist/test/bench/dlp-numeric-bench.js [filter]
 *
 * Each row: one warm-up call, then the median CPU time (user + system) of 3 calls.
 */
import { cpus } from 'node:os';
import { compileDetectors } from '../../proxy/dlp/detectors.js';
import { createDlpEngine } from '../../proxy/dlp/inspect.js';
import type { InspectRequest } from '../../proxy/dlp/types.js';
import { policy } from '../unit/dlp/inspect-helpers.js';
import { ADVERSARIAL, adversarialBody, numericCsv, numericJson } from '../unit/dlp/numeric-bodies.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function cpuMs(fn: () => unknown): number {
  fn();
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    xs.push((d.user + d.system) / 1000);
  }
  return xs.sort((a, b) => a - b)[1] ?? 0;
}

/** A JSON object whose keys are AWS key ids, each over a few leaves: `where` paths hold secrets. */
function secretKeysJson(keys: number): string {
  const o: Record<string, unknown> = {};
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  for (let i = 0; i < keys; i++) {
    let k = 'AKIA';
    for (let j = 0, n = i * 7919 + 12345; j < 16; j++, n = Math.floor(n / 3) + j * 31) k += alphabet[n % 32];
    o[k] = { a: 'x', b: 'y', c: 'z' };
  }
  return JSON.stringify(o);
}

function main(): void {
  const filter = process.argv[2] ?? '';
  const detectors = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('bench-key') });
  const pol = policy({ packs: detectors.packNames, maxInspectBytes: 16 * MiB });
  const engine = createDlpEngine(detectors);
  const req = (body: string, ct: string): InspectRequest =>
    ({ method: 'POST', url: '/upload', headers: { 'content-type': ct }, body: Buffer.from(body), skipHeaders: [] });
  const card = '4556737586899855';
  const inputs: [string, InspectRequest][] = [
    ['realistic CSV, 20,000 numbers + 1 card', req(numericCsv(20_000, 11, card), 'text/csv')],
    ['realistic CSV, 100,000 numbers + 1 card', req(numericCsv(100_000, 11, card), 'text/csv')],
    ['realistic JSON array, 100,000 numbers + 1 card', req(numericJson(100_000, 12, card), 'application/json')],
    ['realistic CSV, 300,000 numbers', req(numericCsv(300_000, 11), 'text/csv')],
  ];
  for (const [name, line] of ADVERSARIAL) {
    for (const bytes of [200 * KiB, 4 * MiB]) inputs.push([`adversarial ${name}, ${bytes / KiB} KiB`, req(adversarialBody(line, bytes), 'text/plain')]);
  }
  inputs.push(['JSON keyed by 2,000 AWS key ids', req(secretKeysJson(2_000), 'application/json')]);
  inputs.push(['JSON keyed by 5,000 AWS key ids', req(secretKeysJson(5_000), 'application/json')]);

  console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}. Median CPU ms of 3 calls after one warm-up.\n`);
  console.log('| body | KiB | decision | reason | findings | CPU ms |');
  console.log('|---|---:|---|---|---:|---:|');
  for (const [name, r] of inputs) {
    if (!name.includes(filter)) continue;
    const res = engine.inspect(r, pol);
    const ms = cpuMs(() => engine.inspect(r, pol));
    const n = res.findings.reduce((a, f) => a + f.count, 0);
    const types = [...new Set(res.findings.map((f) => f.type))].join(' ');
    console.log(`| ${name} | ${(r.body.length / KiB).toFixed(0)} | ${res.decision} | ${res.reason ?? '–'}${res.uninspectableDetail === null ? '' : ` (${res.uninspectableDetail})`} | ${n} ${types} | ${ms.toFixed(0)} |`);
  }
}

main();
