/**
 * Leaf minting cost (STYLE.md §12, micro benchmark; not part of `npm test`).
 *
 *   node dist/test/bench/leaf-bench.js [count]
 *
 * Mints `count` (default 500) leaves for distinct hosts with an ECDSA P-256 CA and prints the
 * mean and p99 in ms: first `mintLeaf` alone (forge ASN.1 + crypto.sign), then a cold
 * `CertCache.getContext` (mint + tls.createSecureContext), then a cached lookup. An RSA-2048 CA
 * (what admins may bring) is measured too. Last, the memory a cached leaf holds: RSS and heap
 * after a full collection, before and after filling a fresh cache with 2,000 names (run with
 * `node --expose-gc` for this row; without it the row is skipped), and the RSS a cache churned by
 * new names reaches without forced collections, as in `warden start` (same GC flags): 10,000
 * names through a 500-entry cache, one mint per event-loop turn. Evicted contexts free their
 * OpenSSL memory at once (cert-cache.ts releaseContext); before that, this row grew by ~25 KiB
 * per name.
 */
import { generateKeyPairSync } from 'node:crypto';
import { memoryUsage } from 'node:process';
import { tuneGc } from '../../proxy/gc.js';
import { generateCa } from '../../proxy/tls/ca.js';
import type { CertificateAuthority } from '../../proxy/tls/ca.js';
import { CertCache } from '../../proxy/tls/cert-cache.js';
import { createLeafKey, mintLeaf } from '../../proxy/tls/leaf.js';

const count = Number(process.argv[2] ?? 500);

function measure(label: string, n: number, fn: (i: number) => void): void {
  for (let i = 0; i < 20; i++) fn(-1 - i); // warm up the JIT
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / n;
  const p50 = times[Math.floor(n * 0.5)] ?? NaN;
  const p99 = times[Math.min(n - 1, Math.ceil(n * 0.99) - 1)] ?? NaN;
  console.log(`${label.padEnd(44)} n=${n}  mean ${mean.toFixed(3)} ms  p50 ${p50.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms`);
}

function run(name: string, ca: CertificateAuthority): void {
  const key = createLeafKey();
  measure(`mintLeaf (${name} CA)`, count, (i) => void mintLeaf(ca, `host-${i}.bench.example`, key));
  const cache = new CertCache(ca, { leafKey: key, max: count + 100 });
  measure(`CertCache.getContext cold (${name} CA)`, count, (i) => void cache.getContext(`host-${i}.bench.example`));
  measure(`CertCache.getContext cached (${name} CA)`, count, (i) => void cache.getContext(`host-${i}.bench.example`));
}

console.log(`node ${process.version}, ${count} leaves per row`);
run('ECDSA P-256', generateCa().ca);
run('RSA-2048', generateCa({ privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }).ca);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  const MEMORY_NAMES = 2_000;
  const settled = (): { rss: number; heap: number } => {
    gc();
    gc();
    const m = memoryUsage();
    return { rss: m.rss, heap: m.heapUsed };
  };
  const ca = generateCa().ca;
  const cache = new CertCache(ca, { leafKey: createLeafKey(), max: MEMORY_NAMES });
  cache.getContext('warm-up.bench.example'); // first-use allocations (OpenSSL providers, JIT) are not per leaf
  const before = settled();
  for (let i = 0; i < MEMORY_NAMES; i++) cache.getContext(`mem-${i}.c${i}.bench.example`);
  const after = settled();
  const kib = (bytes: number): string => (bytes / 1024 / MEMORY_NAMES).toFixed(1);
  console.log(`memory per cached leaf (${MEMORY_NAMES} held)`.padEnd(44), `RSS ${kib(after.rss - before.rss)} KiB  heap ${kib(after.heap - before.heap)} KiB  (cache size ${cache.stats().size})`);
} else {
  console.log('memory per cached leaf: run with `node --expose-gc` to measure');
}

{
  tuneGc();
  const CHURN_NAMES = 10_000;
  const cache = new CertCache(generateCa().ca, { leafKey: createLeafKey(), max: 500 });
  cache.getContext('warm-up.bench.example');
  const rss0 = memoryUsage().rss;
  let peak = rss0;
  for (let i = 0; i < CHURN_NAMES; i++) {
    cache.getContext(`churn-${i}.c${i}.bench.example`);
    await new Promise((resolve) => setImmediate(resolve));
    if (i % 100 === 0) peak = Math.max(peak, memoryUsage().rss);
  }
  const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  console.log(`churn: ${CHURN_NAMES} names through a 500-entry cache`.padEnd(44), `RSS +${mib(memoryUsage().rss - rss0)} MiB at the end, +${mib(peak - rss0)} MiB peak`);
}
