// Child processes started by the benchmark: each runs in its own process group, is logged to a
// file, and is stopped (group SIGTERM, then SIGKILL) on normal exit, Ctrl-C and errors.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { sleep } from './stats.js';

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  exited: boolean;
  exitCode: number | null;
}

const live = new Set<Child>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Starts `cmd` in its own process group with stdout and stderr appended to `logFile`. With
 * `extra.ipc` the child also gets a Node IPC channel (`process.send`, 4th stdio entry), which
 * the soak benchmark uses to talk to peers/heap-probe.ts; off by default.
 */
export function startChild(
  name: string,
  cmd: string,
  args: readonly string[],
  logFile: string,
  opts: SpawnOptions = {},
  extra: { readonly ipc?: boolean } = {},
): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(cmd, args, {
    ...opts,
    detached: true, // own process group, so the whole tree can be signalled
    stdio: extra.ipc === true ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd],
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const child: Child = { name, pid: proc.pid, proc, logFile, exited: false, exitCode: null };
  live.add(child);
  proc.on('exit', (code) => {
    child.exited = true;
    child.exitCode = code;
  });
  proc.on('error', () => {
    child.exited = true;
  });
  return child;
}

export async function stopChild(child: Child, graceMs = 5000): Promise<void> {
  if (!child.exited) {
    const gone = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
    killGroup(child.pid, 'SIGTERM');
    const deadline = sleep(graceMs).then(() => 'timeout');
    if ((await Promise.race([gone.then(() => 'ok'), deadline])) === 'timeout') {
      killGroup(child.pid, 'SIGKILL');
      await Promise.race([gone, sleep(2000)]);
    }
  }
  // Helpers that outlived the leader (still in its group) get a last SIGKILL.
  killGroup(child.pid, 'SIGKILL');
  live.delete(child);
}

export function logTail(child: Child, lines = 20): string {
  try {
    return readFileSync(child.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects if the child dies first. */
export async function waitForPort(child: Child | null, port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.exited) {
      throw new Error(`${child.name} exited (code ${child.exitCode}) before listening:\n${logTail(child)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${child?.name ?? 'process'} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** Synchronous last-resort cleanup (process 'exit' handler). */
export function killAllChildrenSync(): void {
  for (const c of live) {
    if (!c.exited) killGroup(c.pid, 'SIGKILL');
  }
  live.clear();
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c, 3000)));
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    import('node:net').then(({ createServer }) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen({ host: '127.0.0.1', port: 0 }, () => {
        const a = srv.address();
        const port = typeof a === 'object' && a ? a.port : 0;
        srv.close(() => resolve(port));
      });
    }, reject);
  });
}

/** A bench script's log line on stderr: `[tag HH:MM:SS] msg`. */
export function stampedLog(tag: string): (msg: string) => void {
  return (msg) => process.stderr.write(`[${tag} ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Run a bench script's `main` and exit with its code; on a throw, log it, kill every child and exit 1. */
export function runMain(main: () => Promise<number>, log: (msg: string) => void): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      killAllChildrenSync();
      process.exit(1);
    },
  );
}
