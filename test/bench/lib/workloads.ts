// The workloads (a)–(g). Each runs against one running peer for a bounded time or count and
// returns the figures of its measured window.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { makePool, openTls, requestOnce, type Route } from './client.js';
import { chatBody, uploadBody } from './payloads.js';
import { CpuWindow, RssWatcher, sampleTree } from './proc.js';
import type { RunningPeer } from './peers.js';
import { MiB, maxOf, nowMs, percentile, sleep } from './stats.js';

export const WORKLOAD_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

export const WORKLOAD_TITLES: Readonly<Record<WorkloadId, string>> = {
  a: '(a) keep-alive GET /1k',
  b: '(b) new CONNECT + TLS per request, one host',
  c: '(c) new CONNECT + TLS per request, cold host names',
  d: '(d) 8 MiB uploads (POST /echo)',
  e: '(e) 20 KiB chat completion JSON, sequential',
  f: '(f) SSE per-event delay',
  g: '(g) memory: idle keep-alive connections and passthrough tunnels',
};

export interface Params {
  readonly a: { connections: number; warmupMs: number; durationMs: number };
  readonly b: { concurrency: number; warmupMs: number; durationMs: number };
  readonly c: { names: number; concurrency: number; capMs: number; probeEveryMs: number };
  readonly d: { bytes: number; concurrency: number; warmupMs: number; durationMs: number; probeEveryMs: number };
  readonly e: { bodyBytes: number; warmupMs: number; maxRequests: number; durationMs: number };
  readonly f: { streams: number; events: number; intervalMs: number };
  readonly g: { connections: number; concurrency: number; capMs: number; settleMs: number };
}

export function defaultParams(quick: boolean): Params {
  return quick
    ? {
        a: { connections: 16, warmupMs: 500, durationMs: 2500 },
        b: { concurrency: 8, warmupMs: 300, durationMs: 2000 },
        c: { names: 200, concurrency: 8, capMs: 8000, probeEveryMs: 50 },
        d: { bytes: 8 * MiB, concurrency: 4, warmupMs: 500, durationMs: 2500, probeEveryMs: 50 },
        e: { bodyBytes: 20 * 1024, warmupMs: 500, maxRequests: 5000, durationMs: 2000 },
        f: { streams: 1, events: 100, intervalMs: 20 },
        g: { connections: 1000, concurrency: 50, capMs: 30_000, settleMs: 1000 },
      }
    : {
        a: { connections: 16, warmupMs: 1000, durationMs: 5000 },
        b: { concurrency: 8, warmupMs: 500, durationMs: 5000 },
        c: { names: 200, concurrency: 8, capMs: 12_000, probeEveryMs: 50 },
        d: { bytes: 8 * MiB, concurrency: 4, warmupMs: 1000, durationMs: 5000, probeEveryMs: 50 },
        e: { bodyBytes: 20 * 1024, warmupMs: 1000, maxRequests: 20000, durationMs: 5000 },
        f: { streams: 1, events: 200, intervalMs: 20 },
        g: { connections: 1000, concurrency: 50, capMs: 60_000, settleMs: 1500 },
      };
}

/** Figures of one workload on one peer in one slice. NaN = not applicable / not measured. */
export interface Figures {
  ok: number;
  errors: number;
  seconds: number;
  /** requests/s, connections/s, MiB/s (d) or events/s (f) */
  rate: number;
  /** latency (a–e) or per-event delay (f), ms */
  p50: number;
  p99: number;
  /** proxy tree CPU over the window, ms */
  cpuMs: number;
  /** proxy CPU ms per request / connection / event; per MiB for (d) */
  cpuPerUnit: number;
  peakRssMiB: number;
  /** workload-specific figures (probe latency, stall, RSS deltas...) */
  extra: Record<string, number>;
  errorSamples: string[];
}

export interface WorkloadCtx {
  readonly peer: RunningPeer;
  /** route for inspected hosts (trusts the proxy's CA) */
  readonly route: Route;
  /** route for the passthrough host (trusts the test CA) */
  readonly tunnelRoute: Route;
  readonly params: Params;
  /** cold host names for this slice (workload c) */
  readonly coldNames: readonly string[];
  /** proxy CPU ms per keep-alive request measured by (a) in this slice, to discount probes in (c) */
  keepAliveCpuPerReq: number;
  readonly log: (msg: string) => void;
}

export function blankFigures(): Figures {
  return {
    ok: 0, errors: 0, seconds: 0, rate: Number.NaN, p50: Number.NaN, p99: Number.NaN,
    cpuMs: Number.NaN, cpuPerUnit: Number.NaN, peakRssMiB: Number.NaN, extra: {}, errorSamples: [],
  };
}

function noteError(f: Figures, err: unknown): void {
  f.errors++;
  const msg = err instanceof Error ? err.message : String(err);
  if (f.errorSamples.length < 3 && !f.errorSamples.includes(msg)) f.errorSamples.push(msg.slice(0, 200));
}

/** Runs fn inside a measured window: proxy CPU (tree) and peak RSS. */
async function window<T>(peer: RunningPeer, f: Figures, fn: () => Promise<T>): Promise<T> {
  const cpu = new CpuWindow(peer.pid);
  const rss = peer.pid === null ? null : new RssWatcher(peer.pid);
  rss?.start();
  cpu.begin();
  const t0 = nowMs();
  try {
    return await fn();
  } finally {
    f.seconds = (nowMs() - t0) / 1000;
    f.cpuMs = cpu.end();
    f.peakRssMiB = rss ? rss.stop() / MiB : Number.NaN;
  }
}

/** `concurrency` workers repeat op until the deadline (or `maxOps` ops); latencies of successes. */
async function closedLoop(
  f: Figures | null,
  concurrency: number,
  durationMs: number,
  op: () => Promise<void>,
  maxOps = Number.POSITIVE_INFINITY,
): Promise<number[]> {
  const lat: number[] = [];
  const deadline = nowMs() + durationMs;
  let started = 0;
  const worker = async (): Promise<void> => {
    while (nowMs() < deadline && started < maxOps) {
      started++;
      const t0 = nowMs();
      try {
        await op();
        lat.push(nowMs() - t0);
      } catch (err) {
        if (f) noteError(f, err);
        await sleep(20); // no hot loop on a failing peer
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return lat;
}

function fillLatency(f: Figures, lat: number[]): void {
  f.ok = lat.length;
  f.p50 = percentile(lat, 50);
  f.p99 = percentile(lat, 99);
}

async function expectStatus(res: { statusCode: number; body: { text(): Promise<string> } }, what: string): Promise<string> {
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 120)}`);
  return text;
}

/**
 * Checks that the peer delivers requests for `host` to the upstream with that Host header and TLS
 * SNI (every peer is re-pointed at 127.0.0.1, which must not leak into either). Returns a problem
 * description, or null when all is well.
 */
export async function checkIdentity(route: Route, host: string): Promise<string | null> {
  const pool = makePool(route, host, 1);
  try {
    const res = await pool.request({ method: 'GET', path: '/whoami' });
    const text = await res.body.text();
    if (res.statusCode !== 200) return `GET https://${host}/whoami: HTTP ${res.statusCode}`;
    const who = JSON.parse(text) as { host?: string | null; sni?: string | null };
    if (who.host !== host || who.sni !== host) return `upstream saw Host=${String(who.host)} SNI=${String(who.sni)} for ${host}`;
    return null;
  } catch (err) {
    return `GET https://${host}/whoami: ${(err as Error).message}`;
  } finally {
    await pool.destroy();
  }
}

// (a) keep-alive 1 KiB GETs over N connections
async function keepAlive(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.a;
  const f = blankFigures();
  const pool = makePool(ctx.route, 'bench.test', p.connections);
  const op = async (): Promise<void> => {
    const res = await pool.request({ method: 'GET', path: '/1k' });
    const body = await res.body.arrayBuffer();
    if (res.statusCode !== 200 || body.byteLength !== 1024) throw new Error(`GET /1k: HTTP ${res.statusCode}, ${body.byteLength} B`);
  };
  try {
    await closedLoop(null, p.connections, p.warmupMs, op);
    const lat = await window(ctx.peer, f, () => closedLoop(f, p.connections, p.durationMs, op));
    fillLatency(f, lat);
    f.rate = f.ok / f.seconds;
    f.cpuPerUnit = f.cpuMs / f.ok;
    ctx.keepAliveCpuPerReq = f.cpuPerUnit;
  } finally {
    await pool.destroy();
  }
  return f;
}

async function newConnection(route: Route, host: string): Promise<void> {
  const sock = await openTls(route, host);
  const status = await requestOnce(sock, host, '/1k');
  if (status !== 200) throw new Error(`GET https://${host}/1k: HTTP ${status}`);
}

// (b) a new CONNECT + TLS handshake per request, one host
async function newConnSameHost(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.b;
  const f = blankFigures();
  const op = (): Promise<void> => newConnection(ctx.route, 'bench.test');
  await closedLoop(null, p.concurrency, p.warmupMs, op);
  const lat = await window(ctx.peer, f, () => closedLoop(f, p.concurrency, p.durationMs, op));
  fillLatency(f, lat);
  f.rate = f.ok / f.seconds;
  f.cpuPerUnit = f.cpuMs / f.ok;
  return f;
}

/** Max event-loop delay Warden reports on its admin /metrics (prom-client resets it per scrape). */
/**
 * Event-loop stall window of a Node peer (peers/loop-probe.ts, preloaded): the first call opens
 * the window, the second closes it and returns the longest stall in ms (the longest timer
 * interval minus the 1 ms sampling period, so the true stall lies in [value, value + 1]).
 * null for peers without the probe.
 */
async function loopWindow(peer: RunningPeer, phase: 'start' | 'end'): Promise<number | null> {
  if (peer.loopFile === null || peer.pid === null) return null;
  if (phase === 'end') rmSync(peer.loopFile, { force: true });
  try {
    process.kill(peer.pid, 'SIGUSR2');
  } catch {
    return null;
  }
  if (phase === 'start') return null;
  for (let i = 0; i < 50; i++) {
    await sleep(20);
    if (!existsSync(peer.loopFile)) continue;
    try {
      const r = JSON.parse(readFileSync(peer.loopFile, 'utf8')) as { max_ms: number; resolution_ms: number };
      return Math.max(0, r.max_ms - r.resolution_ms);
    } catch {
      /* partly written: try again */
    }
  }
  return null;
}

/**
 * A keep-alive GET every `everyMs` on its own connection, opened before the window: how long the
 * proxy makes another client wait while it works on the workload (comparable across peers).
 * `baseline()` first measures it idle; `start()`..`stop()` runs it beside the workload.
 */
function sideProbe(ctx: WorkloadCtx, everyMs: number) {
  const pool = makePool(ctx.route, 'bench.test', 1);
  const once = async (): Promise<number> => {
    const t0 = nowMs();
    const res = await pool.request({ method: 'GET', path: '/1k' });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`probe: HTTP ${res.statusCode}`);
    return nowMs() - t0;
  };
  const idle: number[] = [];
  const busy: number[] = [];
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  return {
    async baseline(): Promise<void> {
      for (let i = 0; i < 20; i++) {
        idle.push(await once());
        await sleep(10);
      }
    },
    start(): void {
      running = true;
      loop = (async () => {
        while (running) {
          try {
            busy.push(await once());
          } catch {
            /* counted by the main loop's errors if the proxy is down */
          }
          await sleep(everyMs);
        }
      })();
    },
    async stop(): Promise<void> {
      running = false;
      await loop;
    },
    /** Probe figures into `f.extra`; returns the probe's CPU to discount (at the keep-alive cost of (a)). */
    report(f: Figures): number {
      f.extra['probe_base_p50_ms'] = percentile(idle, 50);
      f.extra['probe_p99_ms'] = percentile(busy, 99);
      f.extra['probe_max_ms'] = maxOf(busy);
      return Number.isFinite(ctx.keepAliveCpuPerReq) ? busy.length * ctx.keepAliveCpuPerReq : 0;
    },
    destroy: () => pool.destroy(),
  };
}

// (c) the same to distinct host names, each seen by the proxy for the first time
async function coldHosts(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.c;
  const f = blankFigures();
  const names = ctx.coldNames.slice(0, p.names);
  // The probe measures how long the proxy stalls other clients while it mints certificates.
  const probe = sideProbe(ctx, p.probeEveryMs);
  try {
    await probe.baseline();
    await loopWindow(ctx.peer, 'start');
    probe.start();
    let next = 0;
    const lat = await window(ctx.peer, f, async () => {
      const out = await closedLoop(f, p.concurrency, p.capMs, async () => {
        const name = names[next++];
        if (name === undefined) return;
        await newConnection(ctx.route, name);
      }, names.length);
      await probe.stop();
      return out;
    });
    fillLatency(f, lat);
    f.rate = f.ok / f.seconds;
    f.cpuPerUnit = (f.cpuMs - probe.report(f)) / f.ok;
    f.extra['names_done'] = f.ok;
    const stall = await loopWindow(ctx.peer, 'end');
    if (stall !== null) f.extra['loop_stall_max_ms'] = stall;
  } finally {
    await probe.destroy();
  }
  return f;
}

// (d) 8 MiB uploads, 4 at a time
async function uploads(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.d;
  const f = blankFigures();
  const body = uploadBody(p.bytes);
  const pool = makePool(ctx.route, 'bench.test', p.concurrency);
  const op = async (): Promise<void> => {
    const res = await pool.request({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body,
    });
    const text = await expectStatus(res, 'POST /echo');
    const got = (JSON.parse(text) as { bytes?: number }).bytes;
    if (got !== p.bytes) throw new Error(`POST /echo: upstream received ${String(got)} of ${p.bytes} bytes`);
  };
  // The probe measures how long another client waits while the proxy buffers and scans uploads.
  const probe = sideProbe(ctx, p.probeEveryMs);
  try {
    await probe.baseline();
    await closedLoop(null, p.concurrency, p.warmupMs, op);
    await loopWindow(ctx.peer, 'start');
    probe.start();
    const lat = await window(ctx.peer, f, async () => {
      const out = await closedLoop(f, p.concurrency, p.durationMs, op);
      await probe.stop();
      return out;
    });
    fillLatency(f, lat);
    const mib = (f.ok * p.bytes) / MiB;
    f.rate = mib / f.seconds;
    f.cpuPerUnit = (f.cpuMs - probe.report(f)) / mib;
    f.extra['uploads_per_s'] = f.ok / f.seconds;
    const stall = await loopWindow(ctx.peer, 'end');
    if (stall !== null) f.extra['loop_stall_max_ms'] = stall;
  } finally {
    await probe.destroy();
    await pool.destroy();
  }
  return f;
}

// (e) 20 KiB chat completion request, sequential
async function chat(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.e;
  const f = blankFigures();
  const body = chatBody(p.bodyBytes);
  const pool = makePool(ctx.route, 'bench.test', 1);
  const op = async (): Promise<void> => {
    const res = await pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-not-a-real-key' },
      body,
    });
    const text = await expectStatus(res, 'POST /v1/chat/completions');
    if (!text.includes('chat.completion')) throw new Error('chat: unexpected response body');
  };
  try {
    // Warm up for a time, as (a), (b) and (d) do: a count of 20 requests left the JIT compiling
    // Warden's and node-bare's request path inside the window (10–14% of their CPU per request).
    await closedLoop(null, 1, p.warmupMs, op);
    const lat = await window(ctx.peer, f, () => closedLoop(f, 1, p.durationMs, op, p.maxRequests));
    fillLatency(f, lat);
    f.rate = f.ok / f.seconds;
    f.cpuPerUnit = f.cpuMs / f.ok;
    f.extra['body_bytes'] = body.length;
  } finally {
    await pool.destroy();
  }
  return f;
}

// (f) SSE: delay from the upstream's send time to the client's receipt, per event
async function sse(ctx: WorkloadCtx): Promise<Figures> {
  const p = ctx.params.f;
  const f = blankFigures();
  const pool = makePool(ctx.route, 'bench.test', 1);
  let delays: number[] = [];
  const stream = async (events = p.events, intervalMs = p.intervalMs): Promise<void> => {
    const res = await pool.request({
      method: 'GET',
      path: `/sse?n=${events}&interval=${intervalMs}`,
      headers: { accept: 'text/event-stream' },
      bodyTimeout: 30_000,
    });
    if (res.statusCode !== 200) {
      await res.body.text();
      throw new Error(`GET /sse: HTTP ${res.statusCode}`);
    }
    let pending = '';
    let got = 0;
    for await (const chunk of res.body) {
      const now = process.hrtime.bigint();
      pending += (chunk as Buffer).toString('utf8');
      let idx: number;
      while ((idx = pending.indexOf('\n\n')) >= 0) {
        const ev = pending.slice(0, idx);
        pending = pending.slice(idx + 2);
        const m = /"t":"(\d+)"/.exec(ev);
        if (m && m[1] !== undefined) {
          delays.push(Number(now - BigInt(m[1])) / 1e6);
          got++;
        }
      }
    }
    if (got < events) throw new Error(`SSE: ${got} of ${events} events`);
  };
  try {
    // Warm-up, as (a) and (e) have: one short stream, not measured, so the first events of the
    // window do not time the peer's first-ever streamed response (JIT, lazy set-up).
    await stream(20, 5).catch(() => undefined);
    delays = [];
    await window(ctx.peer, f, async () => {
      for (let s = 0; s < p.streams; s++) {
        try {
          await stream();
        } catch (err) {
          noteError(f, err);
        }
      }
    });
    f.ok = delays.length;
    f.p50 = percentile(delays, 50);
    f.p99 = percentile(delays, 99);
    f.rate = f.ok / f.seconds;
    f.cpuPerUnit = f.cpuMs / f.ok;
  } finally {
    await pool.destroy();
  }
  return f;
}

async function settleRss(pid: number, ms: number): Promise<number> {
  await sleep(ms);
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    samples.push(sampleTree(pid).rssBytes);
    await sleep(150);
  }
  return Math.max(...samples);
}

/** Opens n connections (each with one keep-alive GET) and keeps them; returns them. */
async function openIdle(f: Figures, route: Route, host: string, n: number, concurrency: number, capMs: number): Promise<TLSSocket[]> {
  const socks: TLSSocket[] = [];
  await closedLoop(f, concurrency, capMs, async () => {
    const s = await openTls(route, host);
    socks.push(s);
    const status = await requestOnce(s, host, '/1k', { keepOpen: true });
    if (status !== 200) throw new Error(`GET https://${host}/1k: HTTP ${status}`);
  }, n);
  return socks;
}

// (g) RSS added by idle kept-alive client connections, or by open passthrough tunnels. Each phase
// runs on a freshly started peer (run.ts restarts it): memory freed by one phase would otherwise
// be reused by the next and hide its cost.
export type MemoryPhase = 'idle' | 'tunnel';

export async function memoryPhase(ctx: WorkloadCtx, phase: MemoryPhase, f: Figures): Promise<void> {
  const p = ctx.params.g;
  const pid = ctx.peer.pid;
  if (pid === null) throw new Error('memory workload needs a proxy process');
  const route = phase === 'idle' ? ctx.route : ctx.tunnelRoute;
  const host = phase === 'idle' ? 'bench.test' : 'tunnel.bench.test';
  const rss = new RssWatcher(pid);
  rss.start();
  const t0 = nowMs();
  try {
    // warm-up: first-use costs (leaf certificate, lazy modules, pools) are not per-connection
    const warm = await openIdle(f, route, host, 20, 10, p.capMs);
    for (const s of warm) s.destroy();
    const before = await settleRss(pid, 500);
    const errorsBefore = f.errors;
    const socks = await openIdle(f, route, host, p.connections, p.concurrency, p.capMs);
    const after = await settleRss(pid, p.settleMs);
    const open = socks.filter((s) => !s.destroyed).length;
    f.extra[`${phase}_open`] = open;
    f.extra[`${phase}_delta_mib`] = (after - before) / MiB;
    f.extra[`${phase}_per_1k_mib`] = open > 0 ? ((after - before) / MiB) * (1000 / open) : Number.NaN;
    f.ok += open;
    ctx.log(`    g/${phase}: ${open} open, ΔRSS ${((after - before) / MiB).toFixed(1)} MiB, ${f.errors - errorsBefore} errors`);
    for (const s of socks) s.destroy();
  } finally {
    f.seconds += (nowMs() - t0) / 1000;
    f.peakRssMiB = Math.max(Number.isFinite(f.peakRssMiB) ? f.peakRssMiB : 0, rss.stop() / MiB);
  }
}

export const WORKLOADS: Readonly<Record<WorkloadId, (ctx: WorkloadCtx) => Promise<Figures>>> = {
  a: keepAlive,
  b: newConnSameHost,
  c: coldHosts,
  d: uploads,
  e: chat,
  f: sse,
  g: async () => {
    throw new Error('workload g runs through memoryPhase (run.ts restarts the peer per phase)');
  },
};
