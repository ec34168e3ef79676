#!/usr/bin/env node
/**
 * `warden` commands (DESIGN.md "The contract"): parse arguments, call into the modules,
 * handle signals. No policy logic lives here.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { createMetrics } from './admin/metrics.js';
import { startAdmin } from './admin/server.js';
import { auditCommand } from './audit/cli.js';
import type { AuditWriter } from './audit/events.js';
import { openAuditLog } from './audit/log.js';
import { ConfigError, formatIssue, issueAt, loadConfig } from './config/load.js';
import type { CompiledConfig } from './config/types.js';
import { configWarnings, restartOnlyChanges } from './config/reload.js';
import { tuneGc } from './gc.js';
import { loadOrCreateFingerprintKey } from './keys.js';
import { DEFAULT_CONFIG } from './paths.js';
import { buildDlpEngine, WardenProxy } from './server/proxy.js';
import { PackError } from './dlp/packs.js';
import { loadOrCreateCa } from './tls/ca.js';
import { explainCommand, scanCommand } from './explain.js';

const USAGE = `usage: warden <command> [options]

commands:
  start                 run the proxy
  check                 validate the config (exit 0, or 2 with FILE:LINE:COL key.path: message lines)
  explain [--agent ID] METHOD URL [--body FILE] [--header 'K: V']...
                        the decision Warden would take, sending nothing (exit 0 allow, 1 block)
  scan [--packs a,b] FILE|-
                        run DLP over a file: one JSON line per finding (exit 0 none, 1 findings, 2 error)
  env [--agent ID]      print the shell lines a sandbox needs
  ca export             print the CA certificate (PEM); creates the CA on first use
  audit verify [--pubkey FILE] FILE|DIR...
                        check the audit hash chain and signed checkpoints
  audit pubkey          print the audit signing public key

every command that reads config takes --config FILE (default: ${DEFAULT_CONFIG})
`;

/** How often a running proxy stats its config file to notice a change (see start()). */
const CONFIG_POLL_MS = 500;

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string): void => void process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function readConfig(file: string | undefined): CompiledConfig | null {
  try {
    return loadConfig(file ?? DEFAULT_CONFIG);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const line of e.message.split('\n')) err(line);
      return null;
    }
    throw e;
  }
}

function makeLogger(cfg: CompiledConfig): Logger {
  // The audit stream may own stdout; the operational log then moves to stderr.
  return pino({ level: process.env['WARDEN_LOG_LEVEL'] ?? 'info', base: { svc: 'warden' } }, pino.destination({ fd: cfg.audit.stdout ? 2 : 1, sync: false }));
}

async function start(configFile: string | undefined): Promise<number> {
  const file = configFile ?? DEFAULT_CONFIG;
  const cfg = readConfig(file);
  if (!cfg) return 2;
  const log = makeLogger(cfg);
  const gcFlags = tuneGc();
  log.info({ v8Flags: gcFlags }, gcFlags.length ? 'garbage collector tuned for large bodies' : 'garbage collector left as V8 sets it (WARDEN_GC=default or an incremental-marking flag given to node)');
  const { ca, created } = await loadOrCreateCa(cfg.caDir, log);
  if (!created) log.info({ ca: join(cfg.caDir, 'ca.pem') }, 'loaded CA');
  const fingerprintKey = loadOrCreateFingerprintKey(cfg.caDir);
  const metrics = createMetrics();
  // Another process taking over the audit lock (lock.ts) means this one can no longer write the
  // chain alone: it stops, with exit status 1.
  let lockLost: (why: string) => void = () => {};
  const audit = await openAuditLog(cfg.audit, { log, onLockLost: (why) => lockLost(why) });
  const counted: AuditWriter = {
    write: (rec) => {
      metrics.auditRecords.inc({ event: rec.event });
      audit.write(rec);
    },
  };
  let proxy: WardenProxy;
  try {
    proxy = new WardenProxy({ config: cfg, audit: counted, log, ca, fingerprintKey, metrics });
  } catch (e) {
    err(`${file}: ${(e as Error).message}`);
    await audit.close();
    return 2;
  }
  const addr = await proxy.listen();
  let admin: Awaited<ReturnType<typeof startAdmin>> | null = null;
  if (cfg.admin) admin = await startAdmin(cfg.admin.host, cfg.admin.port, metrics, proxy);
  audit.write({ event: 'config', id: `config-1`, agent: null, profile: null, decision: 'allow', reason: 'loaded', detail: { file, generation: 1, mode: cfg.mode } });
  log.info({ listen: `${addr.address}:${addr.port}`, admin: admin ? `${admin.address.address}:${admin.address.port}` : null, mode: cfg.mode, config: file }, 'warden listening');
  for (const w of configWarnings(cfg)) log.warn(w);

  // Reload on SIGHUP and when the file changes: a bad file is logged and rejected, the old policy stays.
  let reloadTimer: NodeJS.Timeout | null = null;
  const reload = (why: string): void => {
    let next: CompiledConfig;
    try {
      next = loadConfig(file);
    } catch (e) {
      const issues = e instanceof ConfigError ? e.issues.length : 1;
      log.error({ why, errors: e instanceof ConfigError ? e.message.split('\n') : [(e as Error).message] }, 'config rejected; keeping the running config');
      audit.write({ event: 'config', id: `config-${Date.now()}`, agent: null, profile: null, decision: 'block', reason: 'invalid_config', detail: { file, why, errors: issues } });
      metrics.configReloads.inc({ result: 'rejected' });
      return;
    }
    try {
      const rt = proxy.reload(next);
      const restartNeeded = restartOnlyChanges(cfg, next);
      if (restartNeeded.length) log.warn({ keys: restartNeeded }, 'these settings take effect only after a restart');
      for (const w of configWarnings(next)) log.warn(w);
      audit.write({ event: 'config', id: `config-${rt.generation}`, agent: null, profile: null, decision: 'allow', reason: 'reloaded', detail: { file, why, generation: rt.generation, mode: next.mode } });
      metrics.configReloads.inc({ result: 'applied' });
      log.info({ why, generation: rt.generation }, 'config reloaded');
    } catch (e) {
      log.error({ why, error: (e as Error).message }, 'config rejected; keeping the running config');
      audit.write({ event: 'config', id: `config-${Date.now()}`, agent: null, profile: null, decision: 'block', reason: 'invalid_config', detail: { file, why, errors: 1 } });
      metrics.configReloads.inc({ result: 'rejected' });
    }
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  // Poll the file's status rather than watching its folder with inotify: a folder watch wakes
  // the proxy for every write to any file beside the config (the audit file and the log, when
  // they share it: one event per request), and misses a Kubernetes ConfigMap update, which swaps
  // a `..data` symlink and never touches the config's own name. stat() follows symlinks, so an
  // in-place edit, an editor's rename and a ConfigMap swap all change what it returns.
  const onFileStat = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => reload('file changed'), 250);
  };
  watchFile(file, { interval: CONFIG_POLL_MS, persistent: false }, onFileStat);

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string, code = 0): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'draining');
      unwatchFile(file, onFileStat);
      if (reloadTimer) clearTimeout(reloadTimer);
      void (async () => {
        await proxy.close();
        admin?.server.close();
        await audit.close();
        log.info('stopped');
        log.flush();
        resolve(code);
      })();
    };
    lockLost = (why) => {
      log.error({ why }, 'audit lock lost: another process writes this audit stream; stopping');
      stop('audit lock lost', 1);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function envCommand(cfg: CompiledConfig, agent: string | undefined): number {
  if (agent && !cfg.agents.some((a) => a.id === agent)) {
    err(`unknown agent "${agent}" (agents: ${cfg.agents.map((a) => a.id).join(', ') || 'none'})`);
    return 2;
  }
  const host = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::' ? '127.0.0.1' : cfg.listen.host;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const url = `http://${agent ? `${encodeURIComponent(agent)}:<token>@` : ''}${hostPart}:${cfg.listen.port}`;
  const ca = join(cfg.caDir, 'ca.pem');
  out([
    '# Point a sandbox at Warden (eval "$(warden env)"). Replace <token> with the agent\'s token.',
    `export HTTPS_PROXY='${url}'`,
    `export HTTP_PROXY='${url}'`,
    `export https_proxy='${url}'`,
    `export http_proxy='${url}'`,
    `export NO_PROXY='localhost,127.0.0.1,::1'`,
    `export no_proxy='localhost,127.0.0.1,::1'`,
    '# Trust Warden\'s CA: Node, OpenSSL-based tools, Python requests, curl, git',
    `export NODE_EXTRA_CA_CERTS='${ca}'`,
    `export SSL_CERT_FILE='${ca}'`,
    `export REQUESTS_CA_BUNDLE='${ca}'`,
    `export CURL_CA_BUNDLE='${ca}'`,
    `export GIT_SSL_CAINFO='${ca}'`,
    '# Node >= 24 honours HTTPS_PROXY with this; on Node 20 use undici\'s EnvHttpProxyAgent (see README)',
    'export NODE_USE_ENV_PROXY=1',
  ].join('\n'));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out(USAGE);
    return cmd ? 0 : 2;
  }
  const common = { config: { type: 'string' as const, short: 'c' } };
  try {
    switch (cmd) {
      case 'start': {
        const { values } = parseArgs({ args: rest, options: common, strict: true });
        return await start(values.config);
      }
      case 'check': {
        const { values } = parseArgs({ args: rest, options: common, strict: true });
        const cfg = readConfig(values.config);
        if (!cfg) return 2;
        // Compile the DLP packs too: a custom pattern failing its own examples is a config error.
        try {
          buildDlpEngine(cfg, Buffer.alloc(32));
        } catch (e) {
          // A pack named in dlp.packs points at its entry; a shipped pack (a broken install) at dlp.
          const i = e instanceof PackError ? cfg.dlp.packFiles.indexOf(e.file) : -1;
          err(formatIssue(issueAt(cfg.file, i >= 0 ? ['dlp', 'packs', i] : ['dlp'], (e as Error).message)));
          return 2;
        }
        const rules = [...cfg.profiles.values()].reduce((n, p) => n + p.allow.length, 0);
        for (const w of configWarnings(cfg)) err(`warning: ${cfg.file}: ${w}`);
        out(`ok: ${cfg.file}: ${cfg.profiles.size} profile(s), ${rules} allow rule(s), ${cfg.agents.length} agent(s), mode ${cfg.mode}`);
        return 0;
      }
      case 'env': {
        const { values } = parseArgs({ args: rest, options: { ...common, agent: { type: 'string' } }, strict: true });
        const cfg = readConfig(values.config);
        return cfg ? envCommand(cfg, values.agent) : 2;
      }
      case 'ca': {
        const { values, positionals } = parseArgs({ args: rest, options: common, allowPositionals: true, strict: true });
        if (positionals[0] !== 'export' || positionals.length !== 1) {
          err('usage: warden ca export [--config FILE]');
          return 2;
        }
        const cfg = readConfig(values.config);
        if (!cfg) return 2;
        const { created } = await loadOrCreateCa(cfg.caDir, { info: (_o: object, msg: string) => err(msg), warn: (_o: object, msg: string) => err(msg) });
        if (created) err(`created a new CA in ${cfg.caDir}`);
        out(readFileSync(join(cfg.caDir, 'ca.pem'), 'utf8'));
        return 0;
      }
      case 'explain':
        return await explainCommand(rest, { out, err, readConfig });
      case 'scan':
        return await scanCommand(rest, { out, err, readConfig });
      case 'audit': {
        // --config selects the sign key; the rest is the audit module's own CLI.
        const i = rest.findIndex((a) => a === '--config' || a === '-c');
        const cfgFile = i >= 0 ? rest[i + 1] : undefined;
        const args = i >= 0 ? [...rest.slice(0, i), ...rest.slice(i + 2)] : rest;
        let signKeyPath: string | null = null;
        try {
          signKeyPath = loadConfig(cfgFile ?? DEFAULT_CONFIG).audit.signKeyPath;
        } catch (e) {
          if (cfgFile) {
            if (e instanceof ConfigError) for (const line of e.message.split('\n')) err(line);
            return 2;
          }
        }
        return await auditCommand(args, { stdout: out, stderr: err }, { signKeyPath: signKeyPath ?? '' });
      }
      default:
        err(`unknown command "${cmd}"\n`);
        err(USAGE);
        return 2;
    }
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`${(e as Error).message}\n`);
      err(USAGE);
      return 2;
    }
    err(`warden ${cmd}: ${(e as Error).message}`);
    return 2;
  }
}

const entry = process.argv[1] ?? '';
if (entry.endsWith('cli.js') || entry.endsWith('/warden')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      err(`warden: ${(e as Error).message}`);
      process.exitCode = 2;
    },
  );
}
