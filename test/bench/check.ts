// Re-evaluate issue 6's targets from a saved benchmark result and exit 1 when one fails.
//   node dist/test/bench/check.js test/bench/results/<date>-<commit>.json
// (`npm run bench -- --check` does the same at the end of a run.) Exit 0: every target that the
// run measured passes; 1: at least one fails; 2: the file cannot be read or holds no Warden data.
import { readFileSync } from 'node:fs';
import { evaluateTargets, type SliceResults } from './lib/report.js';
import type { PeerName } from './lib/peers.js';
import type { Figures, WorkloadId } from './lib/workloads.js';

function main(): number {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/test/bench/check.js RESULTS.json\n');
    return 2;
  }
  let data: { commit?: string; opts?: { workloads?: WorkloadId[] }; results?: Record<string, Record<string, Figures[]>> };
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as typeof data;
  } catch (err) {
    process.stderr.write(`check: cannot read ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  const results: SliceResults = new Map();
  for (const [peer, byWl] of Object.entries(data.results ?? {})) {
    results.set(peer as PeerName, new Map(Object.entries(byWl) as [WorkloadId, Figures[]][]));
  }
  const targets = evaluateTargets(results, data.opts?.workloads ?? []);
  if (targets.length === 0) {
    process.stderr.write(`check: ${file} holds no Warden results\n`);
    return 2;
  }
  let failed = 0;
  for (const t of targets) {
    const verdict = t.warden.pass === null ? 'n/a ' : t.warden.pass ? 'pass' : 'FAIL';
    if (t.warden.pass === false) failed++;
    process.stdout.write(`${verdict}  (${t.workload}) ${t.what}: ${t.warden.measured} (target ${t.target})\n`);
  }
  process.stdout.write(`${failed === 0 ? 'ok' : `${failed} of ${targets.length} target(s) fail`} — commit ${data.commit ?? '?'}\n`);
  return failed === 0 ? 0 : 1;
}

process.exit(main());
