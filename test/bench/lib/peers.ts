// The proxies under test. Each peer starts fresh for every slice, in its own directory, pointed at
// the local upstream for bench.test / *.bench.test, verifying the upstream against the test CA.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startChild, stopChild, waitForPort, freePort, type Child } from './children.js';
import { sleep } from './stats.js';
import type { TestPki } from './certs.js';

export const PEER_NAMES = ['warden', 'squid', 'mitmproxy', 'http-mitm-proxy', 'node-bare', 'direct', 'warden-base'] as const;
export type PeerName = (typeof PEER_NAMES)[number];
/** What a run without --peers compares. warden-base is asked for by name, for an A/B of two builds. */
export const DEFAULT_PEERS: readonly PeerName[] = PEER_NAMES.filter((p) => p !== 'warden-base');
/** warden-base runs `dist/proxy/cli.js` under this directory: another checkout of Warden, built. */
export const BASE_ENV = 'WARDEN_BENCH_BASE';

export interface BenchEnv {
  readonly repoRoot: string;
  readonly tmp: string;
  readonly pki: TestPki;
  readonly upstreamPort: number;
  /** every host name the run will use (for Squid's hosts_file) */
  readonly hostNames: readonly string[];
}

export interface RunningPeer {
  readonly name: PeerName;
  /** root of the proxy's process tree; null for direct */
  readonly pid: number | null;
  readonly proxyPort: number | null;
  /** PEM the client trusts for inspected hosts */
  readonly ca: string;
  /** Warden's admin port, when configured */
  readonly adminPort: number | null;
  /** Node peers: where loop-probe.js writes its window on the second SIGUSR2 (see peers/loop-probe.ts) */
  readonly loopFile: string | null;
  stop(): Promise<void>;
}

export interface PeerDef {
  readonly name: PeerName;
  readonly label: string;
  /** null when the peer can run; otherwise why it is skipped */
  unavailable(env: BenchEnv): string | null;
  /** `tag` distinguishes several starts within one slice (own directory each) */
  start(env: BenchEnv, slice: number, tag?: string): Promise<RunningPeer>;
}

function which(cmd: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

async function waitForFile(path: string, child: Child, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      if (text.includes('-----END CERTIFICATE-----')) return text;
    }
    if (child.exited) break;
    await sleep(100);
  }
  throw new Error(`${child.name}: ${path} did not appear`);
}

function peerDir(env: BenchEnv, name: string, slice: number, tag = ''): string {
  const d = join(env.tmp, `${name}-s${slice}${tag}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function running(name: PeerName, child: Child, proxyPort: number, ca: string, adminPort: number | null = null, loopFile: string | null = null): RunningPeer {
  return { name, pid: child.pid, proxyPort, ca, adminPort, loopFile, stop: () => stopChild(child) };
}

/** `node` arguments and environment that preload the event-loop probe into a Node peer. */
function loopProbe(dir: string): { args: string[]; env: NodeJS.ProcessEnv; file: string } {
  const file = join(dir, 'loop.json');
  const probe = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'loop-probe.js');
  return { args: ['--import', pathToFileURL(probe).href], env: { ...process.env, WARDEN_BENCH_LOOP_FILE: file }, file };
}

const q = (s: string): string => JSON.stringify(s);

// ---------------------------------------------------------------------------------------- Warden
/**
 * Warden from `root()`: this repo for `warden`, and for `warden-base` the checkout named by
 * WARDEN_BENCH_BASE (e.g. `git worktree add /tmp/base HEAD~1`, built), so that a change is
 * measured against its parent in the same run, slice for slice.
 */
function wardenPeer(name: 'warden' | 'warden-base', root: (env: BenchEnv) => string | null): PeerDef {
  return {
    name,
    label: name === 'warden' ? 'Warden (this repo, dist/proxy/cli.js)' : `Warden baseline (${BASE_ENV}/dist/proxy/cli.js)`,
    unavailable(env) {
      const r = root(env);
      if (r === null) return `set ${BASE_ENV} to a built checkout of Warden to compare against`;
      return existsSync(join(r, 'dist/proxy/cli.js'))
        ? null
        : `${join(r, 'dist/proxy/cli.js')} not built (run \`npm run build\` there)`;
    },
    async start(env, slice, tag) {
      const dir = peerDir(env, name, slice, tag);
      const port = await freePort();
      const admin = await freePort();
      const up = `127.0.0.1:${env.upstreamPort}`;
      const config = join(dir, 'warden.yaml');
      writeFileSync(
        config,
        [
          '# generated by test/bench (Warden benchmark config)',
          `listen: ${q(`127.0.0.1:${port}`)}`,
          `admin: ${q(`127.0.0.1:${admin}`)}`,
          'mode: enforce',
          'auth: "off"',
          `ca_dir: ${q(join(dir, 'ca'))}`,
          'upstream:',
          `  ca_file: ${q(env.pki.caCert)}`,
          '  allow_private: ["127.0.0.0/8"]',
          '  connect_to:',
          `    "bench.test:443": ${q(up)}`,
          `    "*.bench.test:443": ${q(up)}`,
          'profiles:',
          '  default:',
          '    allow:',
          '      - { host: "tunnel.bench.test", inspect: false }',
          '      - { host: "bench.test", inspect: true }',
          '      - { host: "*.bench.test", inspect: true }',
          'audit:',
          `  file: ${q(join(dir, 'audit.jsonl'))}`,
          '',
        ].join('\n'),
      );
      const cli = join(root(env)!, 'dist/proxy/cli.js');
      try {
        execFileSync(process.execPath, [cli, 'check', '--config', config], { stdio: 'pipe', cwd: dir });
      } catch (err) {
        const e = err as { stdout?: Buffer; stderr?: Buffer };
        throw new Error(`warden check rejected the bench config:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
      }
      // WARDEN_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles Warden during a run;
      // WARDEN_BENCH_BASE_NODE_ARGS, when set, replaces it for warden-base (A/B of node flags).
      const argsVar = name === 'warden-base' && process.env['WARDEN_BENCH_BASE_NODE_ARGS'] !== undefined
        ? 'WARDEN_BENCH_BASE_NODE_ARGS'
        : 'WARDEN_BENCH_NODE_ARGS';
      const nodeArgs = (process.env[argsVar] ?? '').split(/\s+/).filter(Boolean);
      const lp = loopProbe(dir);
      const child = startChild(name, process.execPath, [...nodeArgs, ...lp.args, cli, 'start', '--config', config], join(dir, 'warden.log'), {
        cwd: dir,
        env: lp.env,
      });
      await waitForPort(child, port);
      const ca = await waitForFile(join(dir, 'ca', 'ca.pem'), child);
      return running(name, child, port, ca, admin, lp.file);
    },
  };
}
const warden = wardenPeer('warden', (env) => env.repoRoot);
const wardenBase = wardenPeer('warden-base', () => process.env[BASE_ENV] || null);

// ----------------------------------------------------------------------------------------- Squid
const SQUID_CERTGEN = '/usr/lib/squid/security_file_certgen';
const squid: PeerDef = {
  name: 'squid',
  label: 'Squid (squid-openssl, ssl-bump)',
  unavailable(env) {
    if (!which('squid')) return 'squid not installed (`--install-peers` installs squid-openssl)';
    if (!existsSync(SQUID_CERTGEN)) return `${SQUID_CERTGEN} missing (install squid-openssl, not squid)`;
    if (env.upstreamPort !== 443) return 'upstream not on 127.0.0.1:443 (Squid can only map names, not ports, via hosts_file)';
    return null;
  },
  async start(env, slice, tag) {
    const dir = peerDir(env, 'squid', slice, tag);
    const port = await freePort();
    const hosts = join(dir, 'hosts');
    const lines: string[] = [];
    // One name per line: Squid's hosts_file parser cuts long lines (names past ~1 KiB were lost).
    for (const name of env.hostNames) lines.push(`127.0.0.1 ${name}`);
    writeFileSync(hosts, lines.join('\n') + '\n');
    const conf = join(dir, 'squid.conf');
    writeFileSync(
      conf,
      [
        '# generated by test/bench (Squid ssl-bump benchmark config)',
        `http_port 127.0.0.1:${port} ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=16MB ` +
          `tls-cert=${env.pki.squidCaCert} tls-key=${env.pki.squidCaKey}`,
        `sslcrtd_program ${SQUID_CERTGEN} -s ${join(dir, 'ssl_db')} -M 16MB`,
        'sslcrtd_children 8 startup=1 idle=1',
        'acl step1 at_step SslBump1',
        'acl passthrough ssl::server_name tunnel.bench.test',
        'ssl_bump peek step1',
        'ssl_bump splice passthrough',
        'ssl_bump bump all',
        `tls_outgoing_options cafile=${env.pki.caCert}`,
        `hosts_file ${hosts}`,
        'http_access allow all',
        'cache deny all',
        'cache_mem 8 MB',
        `access_log stdio:${join(dir, 'access.log')}`,
        `cache_log ${join(dir, 'cache.log')}`,
        'cache_store_log none',
        'pid_filename none',
        `coredump_dir ${dir}`,
        'pinger_enable off',
        'shutdown_lifetime 0 seconds',
        'max_filedescriptors 16384',
        'client_idle_pconn_timeout 10 minutes',
        'server_idle_pconn_timeout 10 minutes',
        'visible_hostname warden-bench',
        '',
      ].join('\n'),
    );
    execFileSync(SQUID_CERTGEN, ['-c', '-s', join(dir, 'ssl_db'), '-M', '16MB'], { stdio: 'pipe' });
    // Squid drops root privileges to its cache_effective_user: let it write its own directory.
    try {
      execFileSync('chown', ['-R', 'proxy:proxy', dir], { stdio: 'pipe' });
    } catch {
      chmodSync(dir, 0o777);
    }
    const child = startChild('squid', 'squid', ['-N', '-f', conf], join(dir, 'squid.out'), { cwd: dir });
    await waitForPort(child, port);
    return running('squid', child, port, readFileSync(env.pki.squidCaCert, 'utf8'));
  },
};

// ------------------------------------------------------------------------------------- mitmproxy
function addonPath(env: BenchEnv): string {
  return join(env.repoRoot, 'test/bench/peers/mitm_addon.py');
}
const mitmproxy: PeerDef = {
  name: 'mitmproxy',
  label: 'mitmproxy (mitmdump, Debian package)',
  unavailable(env) {
    if (!which('mitmdump')) return 'mitmdump not installed (`--install-peers` installs mitmproxy)';
    if (!existsSync(addonPath(env))) return `${addonPath(env)} missing`;
    return null;
  },
  async start(env, slice, tag) {
    const dir = peerDir(env, 'mitmproxy', slice, tag);
    const port = await freePort();
    const child = startChild(
      'mitmproxy',
      'mitmdump',
      [
        '--listen-host', '127.0.0.1',
        '--listen-port', String(port),
        '--set', `confdir=${dir}`,
        '--set', `ssl_verify_upstream_trusted_ca=${env.pki.caCert}`,
        '--set', 'ignore_hosts=tunnel\\.bench\\.test',
        '-s', addonPath(env),
        '--set', `bench_upstream=127.0.0.1:${env.upstreamPort}`,
      ],
      join(dir, 'mitmdump.log'),
      { cwd: dir },
    );
    await waitForPort(child, port);
    const ca = await waitForFile(join(dir, 'mitmproxy-ca-cert.pem'), child);
    return running('mitmproxy', child, port, ca);
  },
};

// ------------------------------------------------------------------------------- http-mitm-proxy
function hmpLauncher(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'http-mitm-proxy.js');
}
const httpMitmProxy: PeerDef = {
  name: 'http-mitm-proxy',
  label: 'http-mitm-proxy 1.1 (npm, devDependency)',
  unavailable(env) {
    if (!existsSync(join(env.repoRoot, 'node_modules/http-mitm-proxy/package.json'))) return 'node_modules/http-mitm-proxy missing';
    if (!existsSync(hmpLauncher())) return `${hmpLauncher()} not compiled`;
    return null;
  },
  async start(env, slice, tag) {
    const dir = peerDir(env, 'http-mitm-proxy', slice, tag);
    const port = await freePort();
    const lp = loopProbe(dir);
    const child = startChild(
      'http-mitm-proxy',
      process.execPath,
      [
        ...lp.args,
        hmpLauncher(),
        '--port', String(port),
        '--ca-dir', join(dir, 'ca'),
        '--upstream-ca', env.pki.caCert,
        '--upstream-port', String(env.upstreamPort),
      ],
      join(dir, 'http-mitm-proxy.log'),
      { cwd: dir, env: lp.env },
    );
    await waitForPort(child, port, 60_000);
    const ca = await waitForFile(join(dir, 'ca', 'certs', 'ca.pem'), child);
    return running('http-mitm-proxy', child, port, ca, null, lp.file);
  },
};

// ------------------------------------------------------------------------------------- node-bare
function bareLauncher(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'node-bare.js');
}
const nodeBare: PeerDef = {
  name: 'node-bare',
  label: 'node-bare (reference, not a product: Node TLS + http + undici with no policy, DLP or audit; peers/node-bare.ts)',
  unavailable() {
    return existsSync(bareLauncher()) ? null : `${bareLauncher()} not compiled`;
  },
  async start(env, slice, tag) {
    const dir = peerDir(env, 'node-bare', slice, tag);
    const port = await freePort();
    const nodeArgs = (process.env['WARDEN_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean); // as for warden
    const lp = loopProbe(dir);
    const child = startChild(
      'node-bare',
      process.execPath,
      [
        ...nodeArgs,
        ...lp.args,
        bareLauncher(),
        '--port', String(port),
        '--cert', env.pki.serverCert,
        '--key', env.pki.serverKey,
        '--cold-dir', env.tmp,
        '--upstream-ca', env.pki.caCert,
        '--upstream-port', String(env.upstreamPort),
      ],
      join(dir, 'node-bare.log'),
      { cwd: dir, env: lp.env },
    );
    await waitForPort(child, port);
    return running('node-bare', child, port, readFileSync(env.pki.caCert, 'utf8'), null, lp.file);
  },
};

// ---------------------------------------------------------------------------------------- direct
const direct: PeerDef = {
  name: 'direct',
  label: 'direct (no proxy: client dials the upstream)',
  unavailable() {
    return null;
  },
  async start(env) {
    return {
      name: 'direct',
      pid: null,
      proxyPort: null,
      ca: readFileSync(env.pki.caCert, 'utf8'),
      adminPort: null,
      loopFile: null,
      stop: async () => undefined,
    };
  },
};

export const PEERS: Readonly<Record<PeerName, PeerDef>> = {
  warden,
  squid,
  mitmproxy,
  'http-mitm-proxy': httpMitmProxy,
  'node-bare': nodeBare,
  direct,
  'warden-base': wardenBase,
};
