// Aggregation over slices (median per figure) and the Markdown report.
import type { PeerName } from './peers.js';
import { median } from './stats.js';
import { WORKLOAD_TITLES, type Figures, type WorkloadId } from './workloads.js';

export type SliceResults = Map<PeerName, Map<WorkloadId, Figures[]>>;

export interface Agg {
  /** medians over slices */
  readonly f: Figures;
  readonly slices: number;
  /** errors summed over slices */
  readonly errorsTotal: number;
  readonly errorSamples: string[];
}

export function aggregate(list: readonly Figures[]): Agg {
  const med = (pick: (x: Figures) => number): number => median(list.map(pick));
  const extraKeys = new Set<string>();
  for (const x of list) for (const k of Object.keys(x.extra)) extraKeys.add(k);
  const extra: Record<string, number> = {};
  for (const k of extraKeys) extra[k] = med((x) => x.extra[k] ?? Number.NaN);
  const samples: string[] = [];
  for (const x of list) for (const s of x.errorSamples) if (!samples.includes(s) && samples.length < 3) samples.push(s);
  return {
    f: {
      ok: med((x) => x.ok),
      errors: med((x) => x.errors),
      seconds: med((x) => x.seconds),
      rate: med((x) => x.rate),
      p50: med((x) => x.p50),
      p99: med((x) => x.p99),
      cpuMs: med((x) => x.cpuMs),
      cpuPerUnit: med((x) => x.cpuPerUnit),
      peakRssMiB: med((x) => x.peakRssMiB),
      extra,
      errorSamples: samples,
    },
    slices: list.length,
    errorsTotal: list.reduce((s, x) => s + x.errors, 0),
    errorSamples: samples,
  };
}

export function fmt(v: number | undefined, unit = ''): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  const s = a === 0 ? '0' : a < 1 ? v.toPrecision(2) : a < 10 ? v.toFixed(2) : a < 100 ? v.toFixed(1) : v.toFixed(0);
  return s + unit;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

function delta(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '—';
  const d = a - b;
  return `${d >= 0 ? '+' : ''}${d.toFixed(2)}`;
}

type Row = (name: PeerName, a: Agg, ref: (p: PeerName) => Agg | undefined) => string[];

interface TableSpec {
  readonly header: readonly string[];
  readonly row: Row;
}

const cpuRatios = (a: Agg, ref: (p: PeerName) => Agg | undefined): string[] => [
  ratio(a.f.cpuPerUnit, ref('squid')?.f.cpuPerUnit),
  ratio(a.f.cpuPerUnit, ref('mitmproxy')?.f.cpuPerUnit),
];

const TABLES: Readonly<Record<WorkloadId, TableSpec>> = {
  a: {
    header: ['peer', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'CPU ×Squid', 'CPU ×mitmproxy', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [n, fmt(a.f.rate), fmt(a.f.p50), fmt(a.f.p99), fmt(a.f.cpuPerUnit), ...cpuRatios(a, ref), fmt(a.f.peakRssMiB), String(a.errorsTotal)],
  },
  b: {
    header: ['peer', 'conn/s', 'p50 ms', 'p99 ms', 'CPU ms/conn', 'CPU ×Squid', 'CPU ×mitmproxy', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [n, fmt(a.f.rate), fmt(a.f.p50), fmt(a.f.p99), fmt(a.f.cpuPerUnit), ...cpuRatios(a, ref), fmt(a.f.peakRssMiB), String(a.errorsTotal)],
  },
  c: {
    header: ['peer', 'names done', 'conn/s', 'p50 ms', 'p99 ms', 'CPU ms/conn', 'CPU ×Squid', 'CPU ×mitmproxy', 'probe p50→p99 / max ms', 'loop stall ms', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [
      n, fmt(a.f.extra['names_done']), fmt(a.f.rate), fmt(a.f.p50), fmt(a.f.p99), fmt(a.f.cpuPerUnit), ...cpuRatios(a, ref),
      `${fmt(a.f.extra['probe_base_p50_ms'])}→${fmt(a.f.extra['probe_p99_ms'])} / ${fmt(a.f.extra['probe_max_ms'])}`,
      fmt(a.f.extra['loop_stall_max_ms']), fmt(a.f.peakRssMiB), String(a.errorsTotal),
    ],
  },
  d: {
    header: ['peer', 'MiB/s', 'MiB/s ×Squid', 'p50 ms/upload', 'p99 ms', 'CPU ms/MiB', 'CPU ×Squid', 'CPU ×mitmproxy', 'probe p50→p99 / max ms', 'loop stall ms', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [
      n, fmt(a.f.rate), ratio(a.f.rate, ref('squid')?.f.rate), fmt(a.f.p50), fmt(a.f.p99), fmt(a.f.cpuPerUnit), ...cpuRatios(a, ref),
      `${fmt(a.f.extra['probe_base_p50_ms'])}→${fmt(a.f.extra['probe_p99_ms'])} / ${fmt(a.f.extra['probe_max_ms'])}`,
      fmt(a.f.extra['loop_stall_max_ms']), fmt(a.f.peakRssMiB), String(a.errorsTotal),
    ],
  },
  e: {
    header: ['peer', 'req/s', 'p50 ms', 'p99 ms', 'p50 − direct', 'p99 − direct', 'CPU ms/req', 'CPU ×Squid', 'CPU ×mitmproxy', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [
      n, fmt(a.f.rate), fmt(a.f.p50), fmt(a.f.p99), delta(a.f.p50, ref('direct')?.f.p50), delta(a.f.p99, ref('direct')?.f.p99),
      fmt(a.f.cpuPerUnit), ...cpuRatios(a, ref), fmt(a.f.peakRssMiB), String(a.errorsTotal),
    ],
  },
  f: {
    header: ['peer', 'events', 'delay p50 ms', 'delay p99 ms', 'p50 − direct', 'p99 − direct', 'CPU ms/event', 'peak RSS MiB', 'errors'],
    row: (n, a, ref) => [
      n, fmt(a.f.ok), fmt(a.f.p50), fmt(a.f.p99), delta(a.f.p50, ref('direct')?.f.p50), delta(a.f.p99, ref('direct')?.f.p99),
      fmt(a.f.cpuPerUnit), fmt(a.f.peakRssMiB), String(a.errorsTotal),
    ],
  },
  g: {
    header: ['peer', 'idle conns open', 'idle ΔRSS MiB', 'per 1k MiB', 'tunnels open', 'tunnel ΔRSS MiB', 'per 1k MiB', 'peak RSS MiB', 'errors'],
    row: (n, a) => [
      n, fmt(a.f.extra['idle_open']), fmt(a.f.extra['idle_delta_mib']), fmt(a.f.extra['idle_per_1k_mib']),
      fmt(a.f.extra['tunnel_open']), fmt(a.f.extra['tunnel_delta_mib']), fmt(a.f.extra['tunnel_per_1k_mib']),
      fmt(a.f.peakRssMiB), String(a.errorsTotal),
    ],
  },
};

function mdTable(header: readonly string[], rows: readonly string[][]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export interface ReportMeta {
  readonly date: string;
  readonly commit: string;
  readonly node: string;
  readonly cpu: string;
  readonly kernel: string;
  readonly peerVersions: readonly string[];
  readonly slices: number;
  readonly order: readonly PeerName[];
  readonly params: readonly string[];
  readonly skipped: readonly string[];
  readonly notes: readonly string[];
  readonly durationS: number;
}

type Getter = (p: PeerName) => Agg | undefined;
interface Verdict {
  readonly measured: string;
  /** the figure compared with the target (ratio, ms or MiB); null when it could not be measured */
  readonly value: number | null;
  readonly pass: boolean | null;
}

interface Target {
  readonly workload: WorkloadId;
  readonly what: string;
  readonly target: string;
  /** evaluate for `peer` (Warden, or node-bare as the platform's reference) */
  readonly eval: (w: Getter, peer: PeerName) => Verdict;
}

const NONE: Verdict = { measured: '—', value: null, pass: null };

function vsSquid(wl: Getter, peer: PeerName, pick: (a: Agg) => number, max: number, higherIsBetter = false): Verdict {
  const w = wl(peer);
  const s = wl('squid');
  if (!w || !s) return NONE;
  const r = pick(w) / pick(s);
  if (!Number.isFinite(r)) return NONE;
  return { measured: `${r.toFixed(2)}× Squid`, value: r, pass: higherIsBetter ? r >= max : r <= max };
}

function vsDirect(wl: Getter, peer: PeerName, pick: (a: Agg) => number, maxMs: number): Verdict {
  const w = wl(peer);
  const d = wl('direct');
  if (!w || !d) return NONE;
  const x = pick(w) - pick(d);
  if (!Number.isFinite(x)) return NONE;
  return { measured: `${x >= 0 ? '+' : ''}${x.toFixed(2)} ms`, value: x, pass: x <= maxMs };
}

function absolute(wl: Getter, peer: PeerName, key: string, max: number, unit: string): Verdict {
  const v = wl(peer)?.f.extra[key];
  if (v === undefined || !Number.isFinite(v)) return NONE;
  return { measured: `${v.toFixed(1)} ${unit}`, value: v, pass: v <= max };
}

const TARGETS: readonly Target[] = [
  { workload: 'a', what: 'keep-alive GET: CPU/request', target: '≤ 1.0× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.cpuPerUnit, 1.0) },
  { workload: 'b', what: 'new connection, same host: CPU/connection', target: '≤ 1.0× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.cpuPerUnit, 1.0) },
  { workload: 'c', what: 'cold host names: CPU/connection', target: '≤ 0.5× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.cpuPerUnit, 0.5) },
  { workload: 'c', what: 'cold host names: longest event-loop stall', target: '≤ 10 ms', eval: (w, p) => absolute(w, p, 'loop_stall_max_ms', 10, 'ms') },
  { workload: 'd', what: '8 MiB uploads: throughput', target: '≥ 1.0× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.rate, 1.0, true) },
  { workload: 'd', what: '8 MiB uploads: CPU/MiB', target: '≤ 2.0× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.cpuPerUnit, 2.0) },
  { workload: 'e', what: '20 KiB chat: p50 latency', target: '≤ direct + 2 ms', eval: (w, p) => vsDirect(w, p, (a) => a.f.p50, 2) },
  { workload: 'e', what: '20 KiB chat: CPU/request', target: '≤ 0.5× Squid', eval: (w, p) => vsSquid(w, p, (a) => a.f.cpuPerUnit, 0.5) },
  { workload: 'f', what: 'SSE: p99 per-event delay', target: '≤ direct + 2 ms', eval: (w, p) => vsDirect(w, p, (a) => a.f.p99, 2) },
  { workload: 'g', what: '1,000 idle kept-alive client connections: RSS', target: '≤ 100 MiB', eval: (w, p) => absolute(w, p, 'idle_per_1k_mib', 100, 'MiB') },
  { workload: 'g', what: '1,000 open passthrough tunnels: RSS', target: '≤ 100 MiB', eval: (w, p) => absolute(w, p, 'tunnel_per_1k_mib', 100, 'MiB') },
];

/** One issue-6 target, evaluated for Warden (and for node-bare, the platform reference). */
export interface TargetResult {
  readonly workload: WorkloadId;
  readonly what: string;
  readonly target: string;
  readonly warden: Verdict;
  readonly nodeBare: Verdict;
}

function aggregateAll(results: SliceResults): Map<PeerName, Map<WorkloadId, Agg>> {
  const aggs = new Map<PeerName, Map<WorkloadId, Agg>>();
  for (const [peer, byWl] of results) {
    const m = new Map<WorkloadId, Agg>();
    for (const [wl, list] of byWl) if (list.length > 0) m.set(wl, aggregate(list));
    aggs.set(peer, m);
  }
  return aggs;
}

/** The targets of the workloads that ran, from the raw per-slice results. */
export function evaluateTargets(results: SliceResults, workloads: readonly WorkloadId[]): TargetResult[] {
  const aggs = aggregateAll(results);
  if (!aggs.has('warden')) return [];
  const getter = (wl: WorkloadId): Getter => (p) => aggs.get(p)?.get(wl);
  return TARGETS.filter((t) => workloads.includes(t.workload)).map((t) => ({
    workload: t.workload,
    what: t.what,
    target: t.target,
    warden: t.eval(getter(t.workload), 'warden'),
    nodeBare: t.eval(getter(t.workload), 'node-bare'),
  }));
}

const verdictCell = (v: Verdict): string => (v.pass === null ? 'n/a' : v.pass ? 'pass' : '**FAIL**');

export function renderReport(meta: ReportMeta, results: SliceResults, workloads: readonly WorkloadId[]): string {
  const out: string[] = [];
  out.push(`# Warden benchmark — ${meta.date}`, '');
  out.push(
    `- commit: \`${meta.commit}\``,
    `- node: ${meta.node}; CPU: ${meta.cpu}; kernel: ${meta.kernel}`,
    `- peers: ${meta.peerVersions.join('; ')}`,
    `- slices: ${meta.slices} (order per slice: ${meta.order.join(', ')}); figures are medians over slices, errors are totals`,
    `- wall time: ${meta.durationS.toFixed(0)} s`,
    '- load parameters:',
    ...meta.params.map((p) => `  - ${p}`),
  );
  if (meta.skipped.length > 0) out.push('- skipped:', ...meta.skipped.map((s) => `  - ${s}`));
  out.push('');
  const aggs = aggregateAll(results);
  const getter = (wl: WorkloadId) => (p: PeerName): Agg | undefined => aggs.get(p)?.get(wl);

  const targets = evaluateTargets(results, workloads);
  if (targets.length > 0) {
    out.push('## Targets (Warden)', '');
    const bare = aggs.has('node-bare');
    const header = ['figure', 'target', 'measured', 'result', ...(bare ? ['node-bare (platform reference)'] : [])];
    const rows = targets.map((t) => [
      `(${t.workload}) ${t.what}`, t.target, t.warden.measured, verdictCell(t.warden),
      ...(bare ? [t.nodeBare.measured] : []),
    ]);
    out.push(mdTable(header, rows), '');
    if (bare) {
      out.push('node-bare is not a product: the same Node parts as Warden (CONNECT, in-process TLSSocket, http.Server, undici Pool) with no policy, DLP, audit, limits or leaf minting. Its column is what the platform alone costs on each figure.', '');
    }
  }

  for (const wl of workloads) {
    const spec = TABLES[wl];
    const rows: string[][] = [];
    for (const peer of meta.order) {
      const a = aggs.get(peer)?.get(wl);
      if (!a) continue;
      if (wl === 'g' && peer === 'direct') continue;
      rows.push(spec.row(peer, a, getter(wl)));
    }
    if (rows.length === 0) continue;
    out.push(`## ${WORKLOAD_TITLES[wl]}`, '', mdTable(spec.header, rows), '');
    const errs: string[] = [];
    for (const peer of meta.order) {
      const a = aggs.get(peer)?.get(wl);
      if (a && a.errorSamples.length > 0 && a.errorsTotal > 0) errs.push(`- ${peer} errors: ${a.errorSamples.map((s) => `\`${s.replace(/`/g, "'")}\``).join('; ')}`);
    }
    if (errs.length > 0) out.push(...errs, '');
  }
  if (meta.notes.length > 0) out.push('## Notes', '', ...meta.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
