/**
 * What travels with a connection and a request: explicit values, not properties hung on
 * sockets (tunnels are found through a WeakMap keyed by the decrypted socket).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parseHostPort } from '../policy/host-match.js';
import { authenticate } from '../policy/identity.js';
import type { AuditFinding, AuditRecordInput, AuditWriter } from '../audit/events.js';
import type { AuthorityMasker } from '../audit/mask-host.js';
import type { CompiledAllowRule, CompiledConfig, CompiledProfile } from '../config/types.js';
import type { DlpEngine, InspectResult } from '../dlp/types.js';
import type { RefusalCode } from '../errors.js';
import type { DetectionEngine, DetectionEvent } from '../limits/detect.js';
import type { InspectBudget } from '../limits/inspect-budget.js';
import type { Limiter, UploadStatus } from '../limits/limiter.js';
import type { Resolver } from '../upstream/resolve.js';
import type { Upstream } from '../upstream/forward.js';
import type { InspectPool, SharedBodyArena } from './inspect-pool.js';
import type { Logger } from 'pino';
import type { Metrics } from '../admin/metrics.js';

/** Everything derived from one CompiledConfig; swapped as a whole on reload. */
export interface Runtime {
  readonly config: CompiledConfig;
  readonly engine: DlpEngine;
  /** Inspects large bodies off the event loop with the same engine; null when `dlp.workers` is 0. */
  readonly inspectPool: InspectPool | null;
  readonly resolver: Resolver;
  readonly upstream: Upstream;
  /** Bumped on each successful reload; in `config` audit records. */
  readonly generation: number;
  /** Stars sensitive host labels out of audit records (audit/mask-host.ts). */
  readonly auditHosts: AuthorityMasker;
  /** The check for agent-chosen text an audit record would hold as sent (dlp/sensitive.ts). */
  readonly sensitive: (text: string) => boolean;
}

/** Who is talking: fixed at CONNECT (or per plain request). */
export interface ClientIdentity {
  readonly agent: string | null;
  readonly profileName: string;
  /** Limiter / detection key: the agent id, or `ip:<address>` for anonymous clients. */
  readonly agentKey: string;
  readonly clientIp: string;
}

/** A CONNECT tunnel being intercepted. */
export interface TunnelInfo {
  readonly id: string;
  /** What the client speaks inside the tunnel: TLS (intercepted) or plain HTTP (a CONNECT to port 80). */
  readonly scheme: 'https' | 'http';
  readonly host: string;
  readonly port: number;
  readonly identity: ClientIdentity;
  readonly sni: string | null;
  /** In report mode: the refusal enforce mode would have given the CONNECT (null: none). */
  readonly wouldBlock?: RefusalCode | null;
  /** The config key that decided the CONNECT (the allow entry, or what would refuse it): the tunnel_close record's `rule`. */
  readonly rule?: string | null;
}

/** The shared services handlers use. */
export interface ProxyCore {
  runtime(): Runtime;
  readonly limiter: Limiter;
  readonly detection: DetectionEngine;
  readonly inspectBudget: InspectBudget;
  /** Shared memory for bodies inspected on workers, reused across requests. */
  readonly sharedBodies: SharedBodyArena;
  readonly audit: AuditWriter;
  readonly log: Logger;
  readonly metrics: Metrics | null;
  /** Feed a detection event for this client; rules it trips become `alert` audit records. */
  observe(ev: Omit<DetectionEvent, 'agent'>, id: string, identity: ClientIdentity): void;
  /** Count bytes sent upstream against the upload budget and the detection rules. */
  countUpload(identity: ClientIdentity, profile: CompiledProfile, bytes: number, where: { host: string; path?: string }, id: string): UploadStatus;
  /** Track in-flight work for draining on shutdown. */
  track<T>(p: Promise<T>): Promise<T>;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:@\-]{1,128}$/;

/**
 * Honour a sane client X-Request-Id (forwarded and recorded); otherwise make one. The id is
 * written in plaintext into every audit record of the request, and an AWS key id, a JWT or a
 * honeytoken fits its alphabet: an id in which a detector finds anything above low confidence
 * (or a honeytoken) is replaced, so it is neither recorded nor forwarded. The header itself is
 * still scanned with the others, and its finding is recorded masked.
 */
export function requestIdFrom(headers: IncomingHttpHeaders, sensitive: (text: string) => boolean): string {
  const v = headers['x-request-id'];
  const s = Array.isArray(v) ? v[0] : v;
  if (!s || !REQUEST_ID_RE.test(s)) return randomUUID();
  return sensitive(s) ? randomUUID() : s;
}

/** Host names the config names (allow and deny entries that are not wildcards, connect_to keys). */
export function configuredHosts(config: CompiledConfig): Set<string> {
  const out = new Set<string>();
  for (const p of config.profiles.values()) {
    for (const r of [...p.allow, ...p.deny]) if (!r.host.startsWith('*.')) out.add(r.host);
  }
  for (const k of config.upstream.connectTo.keys()) {
    const hp = parseHostPort(k);
    if (hp) out.add(hp.host);
  }
  return out;
}

/**
 * Whether a host name admitted by a wildcard allow entry (`*.example.com`) holds something a
 * detector finds (`536-22-8143.example.com`): the name the agent chose goes out in the DNS
 * query, the SNI and the Host header, so it is refused with `dlp` like a path would be. A name
 * written in the config is the operator's and is not checked. `raw`, the target as the agent
 * wrote it (a CONNECT target, an absolute URL's authority), is checked too: the name leaves lower-cased, and a
 * case-sensitive pattern (`AKIA…`, a mixed-case canary) only matches it as written. Cached per
 * runtime (the audit record masks the same texts).
 */
export function hostHoldsFinding(rt: Runtime, rule: CompiledAllowRule | null, host: string, raw?: string): boolean {
  if (rule === null || !rule.host.startsWith('*.')) return false;
  return rt.auditHosts.mask(host).starred.length > 0 || (raw !== undefined && rt.auditHosts.mask(raw).starred.length > 0);
}

/** Findings placed in the URL's path or query (whose keys the audit `url` keeps). */
export function findingsInUrl(findings: readonly { readonly where: string }[]): boolean {
  return findings.some((f) => f.where === 'path' || f.where.startsWith('query'));
}

export function profileOf(rt: Runtime, identity: ClientIdentity): CompiledProfile | null {
  return rt.config.profiles.get(identity.profileName) ?? null;
}

/** Base audit fields for a client. */
export function baseRecord(id: string, identity: ClientIdentity | null, profile: string | null): Pick<AuditRecordInput, 'id' | 'agent' | 'profile'> {
  return { id, agent: identity?.agent ?? null, profile };
}

/** Who sent this request (Proxy-Authorization, or the source address); `ok: false` means 407. */
export function identify(core: ProxyCore, req: IncomingMessage): { ok: true; identity: ClientIdentity } | { ok: false } {
  const cfg = core.runtime().config;
  const ip = req.socket.remoteAddress ?? 'unknown';
  const h = req.headers['proxy-authorization'];
  const auth = authenticate(cfg.agents, Array.isArray(h) ? h[0] : h, req.socket.remoteAddress ?? null, cfg.auth);
  if (!auth.ok) return { ok: false };
  const agent = auth.agent?.id ?? null;
  return { ok: true, identity: { agent, profileName: auth.profile, agentKey: agent ?? `ip:${ip}`, clientIp: ip } };
}

/**
 * What a DLP result sets off, whatever carried it (a request body, a WebSocket message): the
 * finding metrics, the detection events (`archive`, `dlp_block`) and, for a honeytoken, the
 * critical `alert` record at once. `findings` are the result's, as the record names them.
 */
export function noteScan(
  core: ProxyCore, r: InspectResult, findings: readonly AuditFinding[],
  at: { readonly id: string; readonly identity: ClientIdentity; readonly profile: string; readonly host: string; readonly port: number; readonly path: string; readonly report: boolean },
): void {
  for (const f of r.findings) core.metrics?.dlpFindings.inc({ type: f.type, action: f.action }, f.count);
  if (r.archives.length) core.observe({ kind: 'archive', host: at.host, path: at.path }, at.id, at.identity);
  if (r.honeytokenIds.length) {
    core.audit.write({
      event: 'alert', ...baseRecord(at.id, at.identity, at.profile), host: at.host, port: at.port,
      decision: 'alert', reason: 'honeytoken', severity: 'critical', rule: `honeytokens.${r.honeytokenIds.join(',')}`,
      findings, ...(at.report ? { mode: 'report' as const } : {}),
    });
  }
  if (r.decision === 'block') core.observe({ kind: 'dlp_block', host: at.host, path: at.path }, at.id, at.identity);
}
