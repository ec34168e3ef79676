/**
 * Detection rules (config `alerts[]`): windowed figures per agent that raise an alert and,
 * when the rule says `action: block DURATION`, quarantine the agent (reason `quarantined`).
 * Pure bookkeeping with an injected clock; the server stage feeds events in and turns the
 * returned alerts into audit `alert` records.
 *
 * Firing: a rule fires **once per crossing**. An event fires the rule when the figure was
 * below the threshold just before the event and is at or past it just after. While the figure
 * stays above, further events do not fire again (no alert storm during a bulk upload); once it
 * falls back below, by the window sliding past old traffic, the next crossing fires again.
 * This needs no "armed" flag: the before/after figures carry it. Windows are
 * {@link SlidingWindow}s (60 buckets), so an event counts for at least `windowMs` and at most
 * one bucket longer (2 s for a 2 m window).
 *
 * ```
 *   figure ▲        ┌──fires          ┌──fires again
 *   thresh ┼ ─ ─ ─ ─●━━━━━━━━━┓─ ─ ─ ─ ●━━━
 *          │  ───── ┘  (quiet) ┗──────┘
 *          └──────────────────────────────────▶ time
 * ```
 *
 * Quarantine state is kept apart from the traffic windows so that flooding the engine with
 * new agent keys evicts counters, never a quarantine; it is bounded by `maxAgents` as well.
 */
import type { LRUCache } from 'lru-cache';
import type { AlertRule } from '../config/types.js';
import { agentStateCache } from './agent-state.js';
import { SlidingWindow } from './sliding-window.js';

/** What the server stage observed. `bytes` counts for `upload`; `path` matters for `requests_to`. */
export interface DetectionEvent {
  /** Agent id, or `ip:<address>` for anonymous clients: the same key the limiter uses. */
  readonly agent: string;
  readonly kind: 'upload' | 'request' | 'dlp_block' | 'archive';
  readonly bytes?: number;
  /** Destination host (no port). */
  readonly host: string;
  /** Request path (query allowed; ignored for matching). Unknown inside uninspected tunnels. */
  readonly path?: string;
}

/** One rule firing, ready to become an audit `alert` record. */
export interface FiredAlert {
  /** `alerts[i].name`. */
  readonly rule: string;
  readonly severity: AlertRule['severity'];
  readonly agent: string;
  /** The windowed figure after the event (bytes or a count). */
  readonly value: number;
  /** The configured `over` (or, without one, `atLeast`). */
  readonly threshold: number;
  readonly windowMs: number;
  /** When the quarantine this firing started or extended ends; null for alert-only rules. */
  readonly quarantineUntilMs: number | null;
}

/** An active quarantine: until when (exclusive) and which rule started it. */
/** The config key of an alert rule (`alerts.bulk_upload`): the audit `rule` of its alerts and quarantines. */
export function alertRule(name: string): string {
  return `alerts.${name}`;
}

export interface Quarantine {
  readonly untilMs: number;
  readonly rule: string;
}

export interface DetectionOptions {
  /** Upper bound on agents tracked (traffic counters; quarantines). Default 50,000. */
  readonly maxAgents?: number;
  /** Clock in ms; inject a fake one in tests. Default `Date.now`. */
  readonly now?: () => number;
}

interface Target {
  readonly host: string;
  /** Path prefix matched on whole segments (`/token` matches `/token` and `/token/x`, not `/tokeninfo`); null = any path. */
  readonly pathPrefix: string | null;
}

interface CompiledRule {
  readonly rule: AlertRule;
  readonly threshold: number;
  readonly targets: readonly Target[];
}

const DEFAULT_MAX_AGENTS = 50_000;

export class DetectionEngine {
  private readonly rules: readonly CompiledRule[];
  private readonly now: () => number;
  // One window per rule index, created on the first event the rule counts for this agent.
  private readonly windows: LRUCache<string, Array<SlidingWindow | undefined>>;
  private readonly quarantines: LRUCache<string, Quarantine>;

  /**
   * @param rules compiled `alerts[]` (trusted config)
   * @throws RangeError when a rule has neither `over` nor `atLeast` (it could never fire):
   *   better to refuse at startup than to run with a silently dead rule.
   */
  constructor(rules: readonly AlertRule[], opts: DetectionOptions = {}) {
    const maxAgents = opts.maxAgents ?? DEFAULT_MAX_AGENTS;
    if (!Number.isInteger(maxAgents) || maxAgents < 1) throw new RangeError(`maxAgents must be a positive integer, got ${maxAgents}`);
    this.rules = rules.map((rule) => {
      const threshold = rule.over ?? rule.atLeast;
      if (threshold === null) throw new RangeError(`alert rule "${rule.name}" has neither over nor at_least`);
      return { rule, threshold, targets: rule.targets.map(parseTarget) };
    });
    this.now = opts.now ?? Date.now;
    this.windows = agentStateCache(maxAgents);
    this.quarantines = agentStateCache(maxAgents);
  }

  /** Count one event against every rule it concerns; returns the rules that crossed (usually none). */
  observe(ev: DetectionEvent): FiredAlert[] {
    const fired: FiredAlert[] = [];
    const nowMs = this.now();
    let windows: Array<SlidingWindow | undefined> | undefined;
    for (let i = 0; i < this.rules.length; i++) {
      const compiled = this.rules[i]!;
      const amount = amountFor(compiled, ev);
      if (amount <= 0) continue;
      windows ??= this.agentWindows(ev.agent);
      const window = (windows[i] ??= new SlidingWindow(compiled.rule.windowMs));
      const before = window.total(nowMs);
      window.add(nowMs, amount);
      const after = window.total(nowMs);
      if (trips(compiled.rule, before) || !trips(compiled.rule, after)) continue;
      fired.push({
        rule: compiled.rule.name,
        severity: compiled.rule.severity,
        agent: ev.agent,
        value: after,
        threshold: compiled.threshold,
        windowMs: compiled.rule.windowMs,
        quarantineUntilMs: this.quarantine(ev.agent, compiled.rule, nowMs),
      });
    }
    return fired;
  }

  /** The agent's active quarantine, or null. Ends by the clock at `untilMs` (exclusive). */
  isQuarantined(agent: string): Quarantine | null {
    const q = this.quarantines.get(agent);
    if (!q) return null;
    if (this.now() >= q.untilMs) {
      this.quarantines.delete(agent);
      return null;
    }
    return q;
  }

  /**
   * Quarantine `key` too, until `untilMs`, for `ruleName` (never shortening one it has): the
   * anonymous key of the address a quarantined agent came from (proxy.ts observe).
   */
  extendTo(key: string, untilMs: number, ruleName: string): void {
    const existing = this.quarantines.get(key);
    if (existing && existing.untilMs >= untilMs) return;
    this.quarantines.set(key, { untilMs, rule: ruleName });
  }

  /** Lift one agent's quarantine (admin action); true if there was one. */
  lift(agent: string): boolean {
    return this.quarantines.delete(agent);
  }

  /**
   * Lift every quarantine (SIGHUP / reload: "an admin lifts it"). Traffic windows are kept:
   * an agent still above a threshold does not re-fire until it falls below and crosses again.
   */
  liftAll(): void {
    this.quarantines.clear();
  }

  /** Agents with traffic counters (for the admin port and the memory bench). */
  get trackedAgents(): number {
    return this.windows.size;
  }

  private agentWindows(agent: string): Array<SlidingWindow | undefined> {
    let windows = this.windows.get(agent);
    if (!windows) {
      windows = new Array<SlidingWindow | undefined>(this.rules.length);
      this.windows.set(agent, windows);
    }
    return windows;
  }

  // A later firing may extend a quarantine, never shorten it.
  private quarantine(agent: string, rule: AlertRule, nowMs: number): number | null {
    if (rule.quarantineMs === null) return null;
    const untilMs = nowMs + rule.quarantineMs;
    const existing = this.quarantines.get(agent);
    if (existing && existing.untilMs > nowMs && existing.untilMs >= untilMs) return existing.untilMs;
    this.quarantines.set(agent, { untilMs, rule: rule.name });
    return untilMs;
  }
}

function trips(rule: AlertRule, value: number): boolean {
  return (rule.over !== null && value > rule.over) || (rule.atLeast !== null && value >= rule.atLeast);
}

/** How much `ev` adds to the rule's figure (0 = not concerned). */
function amountFor(compiled: CompiledRule, ev: DetectionEvent): number {
  switch (compiled.rule.kind) {
    case 'upload_bytes':
      return ev.kind === 'upload' && ev.bytes !== undefined && Number.isFinite(ev.bytes) ? Math.max(0, ev.bytes) : 0;
    case 'requests_to':
      return ev.kind === 'request' && matchesAnyTarget(compiled.targets, ev.host, ev.path) ? 1 : 0;
    case 'dlp_blocks':
      return ev.kind === 'dlp_block' ? 1 : 0;
    case 'archive_upload':
      return ev.kind === 'archive' ? 1 : 0;
  }
}

function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  if (slash < 0) return { host: normaliseHost(text), pathPrefix: null };
  const prefix = text.slice(slash);
  return { host: normaliseHost(text.slice(0, slash)), pathPrefix: prefix === '/' ? null : prefix.replace(/\/+$/, '') };
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

function matchesAnyTarget(targets: readonly Target[], rawHost: string, rawPath: string | undefined): boolean {
  const host = normaliseHost(rawHost);
  let path: string | null | undefined;
  for (const target of targets) {
    if (target.host !== host) continue;
    if (target.pathPrefix === null) return true;
    // Inside an uninspected tunnel the path is unknown: a path-specific rule cannot count it.
    if (rawPath === undefined) continue;
    path ??= normalisePath(rawPath);
    if (path === target.pathPrefix || path.startsWith(`${target.pathPrefix}/`)) return true;
  }
  return false;
}

// Drop query and fragment, and decode percent-encoded unreserved characters (RFC 3986
// §6.2.2.2: `/%74oken` and `/token` are the same resource), so an encoding trick does not
// dodge a path-specific rule.
function normalisePath(rawPath: string): string {
  const end = rawPath.search(/[?#]/);
  const path = end < 0 ? rawPath : rawPath.slice(0, end);
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(ch) ? ch : escape;
  });
}
