import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository (or installed package) root: the nearest ancestor of this file holding
 * Warden's package.json. Compiled code lives at different depths (dist/, per-module build
 * folders), so assets such as dlp-patterns/ and config/ are found from here, never from cwd.
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'warden') return dir;
      } catch { /* not ours: keep climbing */ }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the warden package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const ROOT = findRoot();
export const DEFAULT_CONFIG = join(ROOT, 'config', 'warden.yaml');
export const PATTERNS_DIR = join(ROOT, 'dlp-patterns');
