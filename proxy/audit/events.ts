/**
 * Audit record fields (DESIGN.md "Audit record"). snake_case names are the public contract:
 * defined once here and never repurposed. The audit log adds `time`, `seq`, `prev`, `hash`.
 */
export type AuditEvent = 'connect' | 'request' | 'tunnel_close' | 'alert' | 'config' | 'checkpoint';

export interface AuditFinding {
  readonly type: string;
  readonly count: number;
  readonly action: 'redact' | 'block' | 'log';
  /** `body`, `query`, `header:NAME`, a JSON path (`body.messages[0].content`), a multipart part. */
  readonly where: string;
  /** Masked preview (`***-**-6789`); never the value. */
  readonly sample: string;
  /** Keyed fingerprint (HMAC-SHA256, hex prefix) so equal values correlate across records. */
  readonly fp: string;
}

export interface UpstreamTls {
  readonly subject: string;
  readonly issuer: string;
  readonly fingerprint256: string;
  readonly valid_to: string;
}

/** What the request path hands to the audit log. Absent fields are omitted from the line. */
export interface AuditRecordInput {
  readonly event: AuditEvent;
  readonly id: string;
  readonly agent: string | null;
  readonly profile: string | null;
  readonly method?: string;
  /** URL with query values masked (see maskUrl in audit/mask-url.ts). */
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly dest_ip?: string | null;
  readonly tls?: UpstreamTls | null;
  readonly decision?: 'allow' | 'redact' | 'block' | 'alert';
  readonly reason?: string;
  readonly rule?: string | null;
  readonly severity?: 'info' | 'warning' | 'critical';
  readonly findings?: readonly AuditFinding[];
  readonly bytes_up?: number;
  readonly bytes_down?: number;
  readonly status?: number;
  readonly duration_ms?: number;
  /** Present (`report`) when the decision was only recorded, not enforced. */
  readonly mode?: 'report';
  /** Free-form, non-sensitive detail: alert figures, config reload outcome, error code. */
  readonly detail?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AuditRecord extends AuditRecordInput {
  readonly time: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

/** The narrow interface the request path depends on; audit/log.ts implements it. */
export interface AuditWriter {
  write(record: AuditRecordInput): void;
}
