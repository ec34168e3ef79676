/**
 * Memory bench for the limiter and the detection engine (not part of npm test).
 *
 *   node --expose-gc dist/test/bench/limits-memory.js [maxKeys]
 *
 * Phase 1: 200 agents x 5,000 distinct hosts, one allow entry per host with its own
 * `requests:` override, so every (agent, entry) pair is a key: 1,000,000 keys, 20x maxKeys.
 * Phase 2: 10x maxKeys anonymous clients (`ip:` keys), each with a request, an upload and
 * detection events, which fills the heavier caches (upload windows, detection windows).
 * Phase 3: the worst case, 10x maxKeys anonymous clients that each come back in a later
 * bucket, so every sliding window carries its full ring.
 * Heap is printed (after a forced GC) at each multiple of maxKeys: it must level off.
 */
import type { AlertRule, CompiledAllowRule, CompiledProfile } from '../../proxy/config/types.js';
import { DetectionEngine } from '../../proxy/limits/detect.js';
import { Limiter } from '../../proxy/limits/limiter.js';

const AGENTS = 200;
const HOSTS = 5_000;
const MIB = 1024 * 1024;
const maxKeys = Number(process.argv[2] ?? 50_000);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn('run with --expose-gc for stable heap figures');

interface Sample { label: string; keys: number; rssMiB: number; heapMiB: number }
const samples: Sample[] = [];
function sample(label: string, keys: number): void {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  samples.push({ label, keys, rssMiB: m.rss / MIB, heapMiB: m.heapUsed / MIB });
}

const rules: CompiledAllowRule[] = Array.from({ length: HOSTS }, (_, i) => ({
  id: `profiles.default.allow[${i}]`,
  host: `host-${i}.example.com`,
  ports: [443],
  methods: null,
  paths: null,
  inspect: true,
  credentialHeaders: [],
  requests: { amount: 60, windowMs: 60_000 },
}));
const profile: CompiledProfile = {
  name: 'default',
  allow: rules,
  deny: [],
  limits: { maxBodyBytes: 10 * MIB, upload: { bytes: 50 * MIB, windowMs: 120_000 }, requests: { amount: 600, windowMs: 60_000 } },
  dlp: { packs: [], actions: {}, defaultAction: null, bulkPiiThreshold: null, uninspectable: 'block', maxInspectBytes: MIB },
};
const alertRule = (r: Partial<AlertRule> & Pick<AlertRule, 'name' | 'kind' | 'windowMs'>): AlertRule =>
  ({ over: null, atLeast: null, targets: [], severity: 'warning', quarantineMs: null, ...r });
const alerts: AlertRule[] = [
  alertRule({ name: 'bulk_upload', kind: 'upload_bytes', over: 50 * MIB, windowMs: 120_000 }),
  alertRule({ name: 'credential_spike', kind: 'requests_to', over: 3, windowMs: 300_000, targets: ['host-1.example.com', 'host-2.example.com/token'] }),
  alertRule({ name: 'repeated_dlp', kind: 'dlp_blocks', atLeast: 5, windowMs: 600_000, quarantineMs: 600_000 }),
  alertRule({ name: 'archive', kind: 'archive_upload', atLeast: 1, windowMs: 600_000 }),
];

let nowMs = 0;
const now = (): number => nowMs;
const limiter = new Limiter({ maxKeys, now });
const engine = new DetectionEngine(alerts, { maxAgents: maxKeys, now });

sample('start', 0);

// Phase 1: every (agent, host entry) pair once; hosts outer so every agent stays live.
let ops = 0;
let fired = 0;
let refused = 0;
const nextCheckpoint = (keys: number): number => Math.min(AGENTS * HOSTS, keys + maxKeys * (keys < maxKeys * 2 ? 1 : 5));
let checkpoint = maxKeys;
const t1 = process.hrtime.bigint();
for (let h = 0; h < HOSTS; h++) {
  const rule = rules[h]!;
  for (let a = 0; a < AGENTS; a++) {
    nowMs += 1;
    const agent = `agent-${a}`;
    if (!limiter.admitRequest(agent, profile, rule).ok) refused++;
    limiter.recordUpload(agent, profile, 1_000);
    fired += engine.observe({ agent, kind: 'request', host: rule.host, path: '/token' }).length;
    fired += engine.observe({ agent, kind: 'upload', bytes: 1_000, host: rule.host }).length;
    ops++;
    if (ops === checkpoint) {
      sample(`phase 1: ${ops / maxKeys}x maxKeys agent+entry keys`, ops);
      checkpoint = nextCheckpoint(ops);
    }
  }
}
const phase1Ns = Number(process.hrtime.bigint() - t1);

// Phase 2: 10x maxKeys anonymous clients, each a new key in every cache.
const anonymous = 10 * maxKeys;
const t2 = process.hrtime.bigint();
for (let i = 0; i < anonymous; i++) {
  nowMs += 1;
  const agent = `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const rule = rules[i % HOSTS]!;
  limiter.admitRequest(agent, profile, rule);
  limiter.recordUpload(agent, profile, 10_000);
  engine.observe({ agent, kind: 'upload', bytes: 10_000, host: rule.host });
  engine.observe({ agent, kind: 'dlp_block', host: rule.host });
  if ((i + 1) % (2 * maxKeys) === 0) sample(`phase 2: ${(i + 1) / maxKeys}x maxKeys anonymous clients`, i + 1);
}
const phase2Ns = Number(process.hrtime.bigint() - t2);

// Phase 3 (worst case): 10x maxKeys anonymous clients that each come back 2.5 s later, in
// another 2 s bucket, so every window in every cache carries its full ring of buckets.
const LAG = 2_500;
const t3 = process.hrtime.bigint();
for (let i = 0; i < anonymous + LAG; i++) {
  nowMs += 1;
  for (const j of [i, i - LAG]) {
    if (j < 0 || j >= anonymous) continue;
    const agent = `ip:10.${128 + ((j >> 16) & 127)}.${(j >> 8) & 255}.${j & 255}`;
    const rule = rules[j % HOSTS]!;
    limiter.admitRequest(agent, profile, rule);
    limiter.recordUpload(agent, profile, 10_000);
    engine.observe({ agent, kind: 'upload', bytes: 10_000, host: rule.host });
    engine.observe({ agent, kind: 'dlp_block', host: rule.host });
  }
  if ((i + 1) % (2 * maxKeys) === 0) sample(`phase 3: ${(i + 1) / maxKeys}x maxKeys returning clients`, i + 1);
}
const phase3Ns = Number(process.hrtime.bigint() - t3);

console.log(`maxKeys ${maxKeys}; node ${process.version}`);
console.log('label'.padEnd(52), 'keys'.padStart(9), 'rss MiB'.padStart(9), 'heap MiB'.padStart(9));
for (const s of samples) console.log(s.label.padEnd(52), String(s.keys).padStart(9), s.rssMiB.toFixed(1).padStart(9), s.heapMiB.toFixed(1).padStart(9));
console.log(`limiter keys held ${limiter.size} (cap ${2 * maxKeys}); detection agents held ${engine.trackedAgents} (cap ${maxKeys})`);
console.log(`phase 1: ${ops} iterations (admit + upload + 2 observe), ${(phase1Ns / ops).toFixed(0)} ns each; ${refused} refused; ${fired} alerts`);
console.log(`phase 2: ${anonymous} iterations (admit + upload + 2 observe), ${(phase2Ns / anonymous).toFixed(0)} ns each`);
console.log(`phase 3: ${2 * anonymous} visits (admit + upload + 2 observe), ${(phase3Ns / (2 * anonymous)).toFixed(0)} ns each`);
for (const phase of ['phase 1', 'phase 2', 'phase 3']) {
  const inPhase = samples.filter((x) => x.label.startsWith(phase));
  const first = inPhase[0];
  const last = inPhase[inPhase.length - 1];
  if (first && last) console.log(`${phase}: heap ${first.heapMiB.toFixed(1)} MiB at the first sample, ${last.heapMiB.toFixed(1)} MiB at the last (${(last.heapMiB - first.heapMiB).toFixed(1)} MiB)`);
}
