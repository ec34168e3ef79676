// What the bench scripts (run.ts, soak.ts) need to know about the checkout and the machine.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the first folder above this file holding package.json and test/bench. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test', 'bench'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root (package.json + test/bench) not found above ' + fileURLToPath(import.meta.url));
}

/** A command's trimmed stdout, or null when it fails or is missing. */
export function sh(cmd: string, args: readonly string[], cwd?: string): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd }).trim();
  } catch {
    return null;
  }
}

/** "<model name> (<n> logical CPUs)" from /proc/cpuinfo. */
export function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? 'unknown';
    const cores = info.split('\n').filter((l) => l.startsWith('processor')).length;
    return `${model} (${cores} logical CPUs)`;
  } catch {
    return 'unknown';
  }
}
