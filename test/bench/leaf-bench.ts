/**
 * Leaf minting cost (STYLE.md §12, micro benchmark; not part of `npm test`).
 *
 *   node dist/test/bench/leaf-bench.js [count]
 *
 * Mints `count` (default 500) leaves for distinct hosts with an ECDSA P-256 CA and prints the
 * mean and p99 in ms: first `mintLeaf` alone (forge ASN.1 + crypto.sign), then a cold
 * `CertCache.getContext` (mint + tls.createSecureContext), then a cached lookup. An RSA-2048 CA
 * (what admins may bring) is measured too.
 */
import { generateKeyPairSync } from 'node:crypto';
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
