/**
 * What a reload cannot apply in place. Everything else in a new config (policy, DLP, limits,
 * upstream, alerts, the `server` limits but one) takes effect for the next request or
 * connection; these are bound when `warden start` opens its sockets, CA, audit sinks and leaf
 * cache, so a changed value waits for a restart and the log says which.
 */
import type { CompiledConfig } from './types.js';

/** Config keys (as written in YAML) and how to read each from a compiled config. */
const RESTART_ONLY: ReadonlyArray<readonly [key: string, read: (c: CompiledConfig) => unknown]> = [
  ['listen', (c) => c.listen],
  ['admin', (c) => c.admin],
  ['ca_dir', (c) => c.caDir],
  ['audit', (c) => c.audit],
  ['server.max_cached_leaves', (c) => c.server.maxCachedLeaves],
];

/** The restart-only keys whose value differs between the running config and `next`. */
export function restartOnlyChanges(running: CompiledConfig, next: CompiledConfig): string[] {
  return RESTART_ONLY.filter(([, read]) => JSON.stringify(read(running)) !== JSON.stringify(read(next))).map(([key]) => key);
}

/**
 * What a valid config does that its author may not mean, one sentence each: logged at start and
 * on reload, printed by `warden check` (exit 0 still).
 */
export function configWarnings(cfg: CompiledConfig): string[] {
  const warnings: string[] = [];
  if (cfg.auth === 'optional') {
    const others = cfg.agents.filter((a) => a.profile !== 'default').map((a) => a.id);
    if (others.length > 0) {
      warnings.push(`auth is optional: an agent that leaves out Proxy-Authorization runs as anonymous in profile default, not in its own (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}); set auth: required to hold agents to their profiles`);
    }
  }
  return warnings;
}
