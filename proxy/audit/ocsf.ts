/**
 * OCSF 1.1.0 rendering of audit records (AuditConfig.format = 'ocsf').
 *
 * - `request` and `connect` → HTTP Activity (class_uid 4002, category_uid 4), activity by method.
 * - `alert` → Detection Finding (class_uid 2004, category_uid 2).
 * - anything else (tunnel_close, config, checkpoint) → Base Event (class_uid 0).
 *
 * Every event carries the complete Warden record under `unmapped`, chain fields included
 * (`seq`, `prev`, and `hash` once sealed: see chain.ts). That keeps `warden audit verify`
 * format-agnostic and loses nothing a Warden-format consumer would see; the OCSF members are
 * a projection for the SIEM's schema. Pure: no I/O.
 */
import type { AuditRecord } from './events.js';

const OCSF_VERSION = '1.1.0';

/** OCSF HTTP Activity activity_id per method (1.1.0 has no PATCH: it maps to 99 Other). */
const HTTP_ACTIVITY: Readonly<Record<string, number>> = {
  CONNECT: 1, DELETE: 2, GET: 3, HEAD: 4, OPTIONS: 5, POST: 6, PUT: 7, TRACE: 8,
};

const SEVERITY_ID: Readonly<Record<string, number>> = { info: 1, warning: 3, critical: 5 };

/** A record before or after sealing (`hash` is added to `unmapped` by the chain). */
export type OcsfInput = Omit<AuditRecord, 'hash'> & { readonly hash?: string };

/** An OCSF event object as written to the audit stream. */
export interface OcsfEvent {
  readonly class_uid: number;
  readonly category_uid: number;
  readonly activity_id: number;
  readonly type_uid: number;
  readonly time: number;
  readonly severity_id: number;
  readonly metadata: Record<string, unknown>;
  readonly unmapped: Record<string, unknown>;
  readonly [key: string]: unknown;
}

function metadata(rec: OcsfInput): Record<string, unknown> {
  return {
    version: OCSF_VERSION,
    product: { name: 'Warden', vendor_name: 'Warden' },
    uid: `${rec.seq}`,
    correlation_uid: rec.id,
    sequence: rec.seq,
  };
}

function epochMs(time: string): number {
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? ms : 0;
}

/** allow/redact/block/alert → OCSF action and disposition (1 Allowed, 2 Denied/Blocked, 99 Other). */
function disposition(decision: string | undefined): Record<string, unknown> {
  switch (decision) {
    case 'allow':
      return { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' };
    case 'block':
      return { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };
    case 'redact':
      // Forwarded after modification: allowed as an action, "Redacted" as a custom disposition.
      return { action_id: 1, action: 'Allowed', disposition_id: 99, disposition: 'Redacted' };
    default:
      return {};
  }
}

function urlParts(rec: OcsfInput): Record<string, unknown> | undefined {
  if (rec.url === undefined) return undefined;
  let path: string | undefined;
  let hostname = rec.host;
  let port = rec.port;
  try {
    const u = new URL(rec.url);
    path = u.pathname;
    hostname ??= u.hostname;
    if (port === undefined && u.port !== '') port = Number(u.port);
  } catch {
    /* CONNECT authority or a relative form: keep url_string only */
  }
  return { hostname, path, port, url_string: rec.url };
}

/** Render one record as an OCSF event; `unmapped` holds the Warden record itself. */
export function toOcsf(rec: OcsfInput): OcsfEvent {
  const time = epochMs(rec.time);
  const unmapped: Record<string, unknown> = Object.assign({}, rec);
  if (rec.event === 'request' || rec.event === 'connect') {
    const method = (rec.method ?? (rec.event === 'connect' ? 'CONNECT' : '')).toUpperCase();
    const activityId = HTTP_ACTIVITY[method] ?? 99;
    const blocked = rec.decision === 'block';
    return {
      class_uid: 4002,
      class_name: 'HTTP Activity',
      category_uid: 4,
      category_name: 'Network Activity',
      activity_id: activityId,
      activity_name: activityId === 99 ? method || 'Other' : undefined,
      type_uid: 4002 * 100 + activityId,
      time,
      severity_id: blocked ? 3 : 1,
      status_id: blocked ? 2 : 1,
      status: blocked ? 'Failure' : 'Success',
      status_code: rec.status !== undefined ? String(rec.status) : undefined,
      status_detail: rec.reason,
      ...disposition(rec.decision),
      http_request: { http_method: method || undefined, url: urlParts(rec) },
      http_response: rec.status !== undefined ? { code: rec.status } : undefined,
      dst_endpoint: { ip: rec.dest_ip ?? undefined, port: rec.port, hostname: rec.host },
      actor: { user: { uid: rec.agent ?? undefined } },
      tls: rec.tls ? { certificate: { subject: rec.tls.subject, issuer: rec.tls.issuer, expiration_time_dt: rec.tls.valid_to, fingerprints: [{ algorithm: 'SHA-256', value: rec.tls.fingerprint256 }] } } : undefined,
      traffic: rec.bytes_up !== undefined || rec.bytes_down !== undefined ? { bytes_out: rec.bytes_up, bytes_in: rec.bytes_down } : undefined,
      duration: rec.duration_ms,
      metadata: metadata(rec),
      unmapped,
    };
  }
  if (rec.event === 'alert') {
    const severityId = SEVERITY_ID[rec.severity ?? 'warning'] ?? 3;
    return {
      class_uid: 2004,
      class_name: 'Detection Finding',
      category_uid: 2,
      category_name: 'Findings',
      activity_id: 1,
      activity_name: 'Create',
      type_uid: 2004 * 100 + 1,
      time,
      severity_id: severityId,
      severity: rec.severity,
      status_id: 1,
      ...disposition(rec.decision === 'alert' ? undefined : rec.decision),
      finding_info: { uid: rec.id, title: rec.reason ?? 'alert', types: rec.reason !== undefined ? [rec.reason] : undefined },
      actor: { user: { uid: rec.agent ?? undefined } },
      metadata: metadata(rec),
      unmapped,
    };
  }
  return {
    class_uid: 0,
    class_name: 'Base Event',
    category_uid: 0,
    category_name: 'Uncategorized',
    activity_id: 99,
    activity_name: rec.event,
    type_uid: 99,
    time,
    severity_id: 1,
    metadata: metadata(rec),
    unmapped,
  };
}
