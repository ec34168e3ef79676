// Warden vs mitmproxy vs Squid (ssl-bump) vs http-mitm-proxy vs direct — macro benchmark (issue 6).
//   npm run bench -- [--quick] [--peers warden,squid,...] [--workloads a,b,...] [--slices N]
//                    [--install-peers] [--upstream-port N] [--keep-tmp] [--check]
// See test/bench/README.md for what is measured and how to read the table.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeColdCerts, makeTestPki } from './lib/certs.js';
import { cpuModel, repoRoot, sh } from './lib/host.js';
import { killAllChildrenSync, runMain, stampedLog, startChild, stopAllChildren, stopChild, waitForPort, freePort, type Child } from './lib/children.js';
import { BASE_ENV, DEFAULT_PEERS, PEERS, PEER_NAMES, type BenchEnv, type PeerName, type RunningPeer } from './lib/peers.js';
import { evaluateTargets, renderReport, type SliceResults } from './lib/report.js';
import { MiB, nowMs } from './lib/stats.js';
import { WORKLOADS, WORKLOAD_IDS, WORKLOAD_TITLES, checkIdentity, defaultParams, blankFigures, memoryPhase, type Figures, type Params, type WorkloadCtx, type WorkloadId } from './lib/workloads.js';

interface Options {
  quick: boolean;
  peers: PeerName[];
  workloads: WorkloadId[];
  slices: number;
  installPeers: boolean;
  upstreamPort: number;
  keepTmp: boolean;
  check: boolean;
}

const USAGE = `usage: node dist/test/bench/run.js [--quick] [--peers ${PEER_NAMES.join(',')}]
       [--workloads ${WORKLOAD_IDS.join(',')}] [--slices N] [--install-peers] [--upstream-port N] [--keep-tmp] [--check]
  --check: exit 1 when any of issue 6's targets measured in this run fails (0 when all that ran pass)`;

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    quick: false,
    peers: [...DEFAULT_PEERS],
    workloads: [...WORKLOAD_IDS],
    slices: 0,
    installPeers: false,
    upstreamPort: 443,
    keepTmp: false,
    check: false,
  };
  const list = <T extends string>(v: string | undefined, allowed: readonly T[], what: string): T[] => {
    const items = (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const it of items) if (!(allowed as readonly string[]).includes(it)) throw new Error(`unknown ${what} "${it}" (one of ${allowed.join(', ')})`);
    if (items.length === 0) throw new Error(`--${what}s needs a list`);
    return allowed.filter((a) => items.includes(a));
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a?.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--peers': o.peers = list(value(), PEER_NAMES, 'peer'); break;
      case '--workloads': o.workloads = list(value(), WORKLOAD_IDS, 'workload'); break;
      case '--slices': o.slices = Math.max(1, Math.min(20, Number(value()) || 1)); break;
      case '--install-peers': o.installPeers = true; break;
      case '--upstream-port': o.upstreamPort = Number(value()); break;
      case '--keep-tmp': o.keepTmp = true; break;
      case '--check': o.check = true; break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: throw new Error(`unknown argument ${String(a)}\n${USAGE}`);
    }
  }
  if (o.slices === 0) o.slices = o.quick ? 1 : 3;
  return o;
}

const log = stampedLog('bench');

function installPeers(): void {
  log('installing peers: apt-get install -y mitmproxy squid-openssl');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const inst = spawnSync('apt-get', ['install', '-y', 'mitmproxy', 'squid-openssl'], { stdio: 'inherit', env });
  if (up.status !== 0 || inst.status !== 0) throw new Error('apt-get failed (are you root?)');
}

function peerVersions(root: string, peers: readonly PeerName[]): string[] {
  const out: string[] = [];
  for (const p of peers) {
    if (p === 'warden') {
      const v = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version;
      out.push(`warden ${v ?? '?'}`);
    } else if (p === 'warden-base') {
      const dir = process.env[BASE_ENV]!;
      out.push(`warden-base ${sh('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'])?.trim() ?? '?'} (${dir})`);
    } else if (p === 'squid') {
      const v = sh('squid', ['-v'])?.split('\n')[0];
      if (v) out.push(v.replace('Squid Cache: Version', 'squid'));
    } else if (p === 'mitmproxy') {
      const v = sh('mitmdump', ['--version'])?.split('\n')[0];
      if (v) out.push(v.replace('Mitmproxy:', 'mitmproxy'));
    } else if (p === 'http-mitm-proxy') {
      try {
        const pj = JSON.parse(readFileSync(join(root, 'node_modules/http-mitm-proxy/package.json'), 'utf8')) as { version?: string };
        out.push(`http-mitm-proxy ${pj.version ?? '?'}`);
      } catch {
        /* not installed */
      }
    }
  }
  return out;
}

function describeParams(p: Params, upstreamPort: number): string[] {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return [
    `upstream: Node https on 127.0.0.1:${upstreamPort} (child process), ECDSA P-256 test CA, keep-alive; TLS without session resumption on the client`,
    `(a) ${p.a.connections} keep-alive connections, ${p.a.connections} requests in flight, warm-up ${s(p.a.warmupMs)}, window ${s(p.a.durationMs)}`,
    `(b) ${p.b.concurrency} concurrent clients, CONNECT + TLS + GET /1k + close per request, warm-up ${s(p.b.warmupMs)}, window ${s(p.b.durationMs)}`,
    `(c) ${p.c.names} fresh host names per slice (x.c<i>-s<slice>.bench.test: each under a parent domain of its own, so each needs its own leaf), ${p.c.concurrency} concurrent, one connection each, cap ${s(p.c.capMs)}; probe GET every ${p.c.probeEveryMs} ms on a kept-alive connection (its CPU discounted at the (a) rate)`,
    `(d) ${p.d.bytes / MiB} MiB text bodies, ${p.d.concurrency} in flight on keep-alive connections, warm-up ${s(p.d.warmupMs)}, window ${s(p.d.durationMs)}`,
    `(e) ${(p.e.bodyBytes / 1024).toFixed(0)} KiB chat completion JSON, sequential on one keep-alive connection, warm-up ${s(p.e.warmupMs)}, window ${s(p.e.durationMs)} or ${p.e.maxRequests} requests`,
    `(f) after one unmeasured 20-event warm-up stream, ${p.f.streams} stream(s) × ${p.f.events} events, one every ${p.f.intervalMs} ms; delay = client receipt − upstream send (CLOCK_MONOTONIC, shared by both processes)`,
    `(g) ${p.g.connections} connections, ${p.g.concurrency} opened at a time, each doing one keep-alive GET then idle; ΔRSS of the proxy tree after ${s(p.g.settleMs)}; then the same through passthrough tunnels to tunnel.bench.test`,
  ];
}

async function startUpstream(env: { tmp: string; cert: string; key: string }, port: number, script: string): Promise<{ child: Child; port: number }> {
  const child = startChild('upstream', process.execPath, [script, '--cert', env.cert, '--key', env.key, '--cold-dir', env.tmp, '--port', String(port)], join(env.tmp, `upstream-${port}.log`));
  await waitForPort(child, port, 10_000);
  return { child, port };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const root = repoRoot();
  if (opts.installPeers) installPeers();
  const t0 = nowMs();
  const params = defaultParams(opts.quick);
  const tmp = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  chmodSync(tmp, 0o755); // Squid drops to its own user and must reach its directory
  let upstream: Child | null = null;
  let current: RunningPeer | null = null;
  let cleaning = false;
  const cleanup = async (): Promise<void> => {
    if (cleaning) return;
    cleaning = true;
    if (current) await current.stop().catch(() => undefined);
    if (upstream) await stopChild(upstream).catch(() => undefined);
    await stopAllChildren();
    if (!opts.keepTmp) rmSync(tmp, { recursive: true, force: true });
    else log(`kept ${tmp}`);
  };
  process.on('exit', killAllChildrenSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping children`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const pki = makeTestPki(tmp);
    for (const f of [pki.caCert, pki.serverCert, pki.squidCaCert, pki.squidCaKey]) chmodSync(f, 0o644);
    // (c): every name under its own parent domain, so no proxy can serve two from one leaf.
    const coldNames = (slice: number): string[] => Array.from({ length: params.c.names }, (_, i) => `x.c${i}-s${slice}.bench.test`);
    const certStart = nowMs();
    makeColdCerts(pki, tmp, Array.from({ length: opts.slices + 1 }, (_, s) => coldNames(s)).flat());
    log(`made ${(opts.slices + 1) * params.c.names} certificates for (c)'s names in ${((nowMs() - certStart) / 1000).toFixed(1)} s`);
    const script = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'upstream-server.js');
    let up: { child: Child; port: number };
    try {
      up = await startUpstream({ tmp, cert: pki.serverCert, key: pki.serverKey }, opts.upstreamPort, script);
    } catch (err) {
      const fallback = await freePort();
      log(`upstream could not listen on 127.0.0.1:${opts.upstreamPort} (${(err as Error).message.split('\n')[0]}); using ${fallback}`);
      up = await startUpstream({ tmp, cert: pki.serverCert, key: pki.serverKey }, fallback, script);
    }
    upstream = up.child;

    const hostNames = ['bench.test', 'tunnel.bench.test'];
    for (let s = 0; s <= opts.slices; s++) hostNames.push(...coldNames(s)); // slice 0: sanity checks
    const env: BenchEnv = { repoRoot: root, tmp, pki, upstreamPort: up.port, hostNames };

    const skipped: string[] = [];
    const order: PeerName[] = [];
    for (const name of opts.peers) {
      const why = PEERS[name].unavailable(env);
      if (why) {
        skipped.push(`${name}: ${why}`);
        log(`skipping ${name}: ${why}`);
      } else order.push(name);
    }
    const notes: string[] = [];
    const results: SliceResults = new Map();
    for (const p of order) results.set(p, new Map());
    const testCa = readFileSync(pki.caCert, 'utf8');

    for (let slice = 1; slice <= opts.slices; slice++) {
      for (const name of order) {
        log(`slice ${slice}/${opts.slices}: ${name}`);
        try {
          current = await PEERS[name].start(env, slice);
        } catch (err) {
          const msg = `slice ${slice}: ${name} did not start: ${(err as Error).message}`;
          log(msg);
          notes.push(msg.split('\n').slice(0, 6).join(' / '));
          current = null;
          continue;
        }
        const peer = current;
        for (const host of ['bench.test', coldNames(0)[0] ?? 'x.c0-s0.bench.test']) {
          const problem = await checkIdentity({ proxyPort: peer.proxyPort, upstreamPort: up.port, ca: peer.ca }, host);
          if (problem) {
            log(`WARNING ${name}: ${problem}`);
            notes.push(`slice ${slice}: ${name}: ${problem}`);
          }
        }
        const ctx: WorkloadCtx = {
          peer,
          route: { proxyPort: peer.proxyPort, upstreamPort: up.port, ca: peer.ca },
          tunnelRoute: { proxyPort: peer.proxyPort, upstreamPort: up.port, ca: testCa },
          params,
          coldNames: coldNames(slice),
          keepAliveCpuPerReq: Number.NaN,
          log,
        };
        for (const wl of opts.workloads) {
          if (wl === 'g' && peer.pid === null) continue;
          const started = nowMs();
          let fig: Figures;
          try {
            if (wl === 'g') {
              fig = blankFigures();
              for (const phase of ['idle', 'tunnel'] as const) {
                // a fresh process per phase (see memoryPhase)
                await current?.stop();
                current = null;
                current = await PEERS[name].start(env, slice, `-g${phase}`);
                const p = current;
                await memoryPhase(
                  {
                    ...ctx,
                    peer: p,
                    route: { proxyPort: p.proxyPort, upstreamPort: up.port, ca: p.ca },
                    tunnelRoute: { proxyPort: p.proxyPort, upstreamPort: up.port, ca: testCa },
                  },
                  phase,
                  fig,
                );
              }
            } else {
              fig = await WORKLOADS[wl](ctx);
            }
          } catch (err) {
            const msg = `slice ${slice}: ${name} ${WORKLOAD_TITLES[wl]} aborted: ${(err as Error).message}`;
            log(msg);
            notes.push(msg);
            continue;
          }
          const list = results.get(name)?.get(wl) ?? [];
          list.push(fig);
          results.get(name)?.set(wl, list);
          log(
            `  ${wl}: ok ${fig.ok} err ${fig.errors} rate ${fig.rate.toFixed(1)} p50 ${fig.p50.toFixed(2)} p99 ${fig.p99.toFixed(2)} ` +
              `cpu/unit ${fig.cpuPerUnit.toFixed(3)} rss ${fig.peakRssMiB.toFixed(0)} MiB (${((nowMs() - started) / 1000).toFixed(1)} s)` +
              (fig.errorSamples.length > 0 ? ` e.g. ${fig.errorSamples[0]}` : ''),
          );
        }
        await current?.stop();
        current = null;
      }
    }

    if (opts.workloads.includes('c')) {
      notes.push('(c) loop stall: the longest event-loop stall during the window, from monitorEventLoopDelay at 1 ms resolution preloaded into the Node peers (peers/loop-probe.ts; the true stall is within +1 ms); not measurable for Squid and mitmproxy.');
    }
    notes.push('CPU = utime+stime (+ reaped children) of the proxy process and all its descendants from /proc, sampled at the start and end of each window (10 ms tick resolution).');
    notes.push('Each peer is started fresh for every slice, in its own directory; all traffic stays on 127.0.0.1; load generator, proxy and upstream share the machine.');

    const commit = sh('git', ['rev-parse', '--short', 'HEAD'], root) ?? 'uncommitted';
    const date = new Date().toISOString().slice(0, 10);
    const report = renderReport(
      {
        date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
        commit,
        node: process.version,
        cpu: cpuModel(),
        kernel: sh('uname', ['-r']) ?? '?',
        peerVersions: peerVersions(root, order),
        slices: opts.slices,
        order,
        params: [`arguments: ${process.argv.slice(2).join(' ') || '(defaults)'}`, ...describeParams(params, up.port)],
        skipped,
        notes,
        durationS: (nowMs() - t0) / 1000,
      },
      results,
      opts.workloads,
    );
    const outDir = join(root, 'test', 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    // A run of some peers or workloads is named apart (and gitignored), so that profiling one
    // workload never overwrites the full comparison run of the same commit.
    const partial = opts.peers.join() !== DEFAULT_PEERS.join() || opts.workloads.length < WORKLOAD_IDS.length;
    const base = join(outDir, `${date}-${commit}${opts.quick ? '-quick' : partial ? '-partial' : ''}`);
    writeFileSync(`${base}.md`, report + '\n');
    const raw: Record<string, Record<string, Figures[]>> = {};
    for (const [p, m] of results) raw[p] = Object.fromEntries(m);
    const targets = evaluateTargets(results, opts.workloads);
    writeFileSync(`${base}.json`, JSON.stringify({ date, commit, node: process.version, opts, params, targets, results: raw }, null, 1) + '\n');
    process.stdout.write(report + '\n');
    log(`wrote ${base}.md and .json`);
    const failed = targets.filter((t) => t.warden.pass === false);
    if (opts.check) {
      log(failed.length === 0 ? 'check: every target measured in this run passes' : `check: ${failed.length} target(s) fail: ${failed.map((t) => `(${t.workload}) ${t.what}`).join('; ')}`);
      return failed.length === 0 ? 0 : 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

runMain(main, log);
