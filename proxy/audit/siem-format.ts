/**
 * Request bodies for the SIEM formats of AuditHttpConfig. Pure. Lines are embedded verbatim
 * (never re-serialised) so the SIEM stores exactly the bytes that were hashed and can verify.
 */
import type { AuditHttpConfig } from '../config/types.js';
import type { SpoolEntry } from './spool.js';

/** A POST body and its content type. */
export interface SiemBody {
  readonly body: string;
  readonly contentType: string;
}

/** Splunk HEC sourcetype of Warden events. */
export const SPLUNK_SOURCETYPE = 'warden:audit';

/**
 * - `json`: one JSON array of records per POST.
 * - `splunk-hec`: one `{"event": record, "time": epoch seconds, "sourcetype": "warden:audit"}`
 *   per line (HEC's batch form: objects concatenated, newline-separated).
 * - `elastic-bulk`: NDJSON `{"index":{}}` + record per record, ending in a newline.
 */
export function formatBatch(format: AuditHttpConfig['format'], entries: readonly SpoolEntry[]): SiemBody {
  switch (format) {
    case 'json':
      return { body: `[${entries.map((e) => e.line).join(',')}]`, contentType: 'application/json' };
    case 'splunk-hec':
      return {
        body: entries.map((e) => `{"event":${e.line},"sourcetype":"${SPLUNK_SOURCETYPE}","time":${(e.timeMs / 1000).toFixed(3)}}`).join('\n'),
        contentType: 'application/json',
      };
    case 'elastic-bulk':
      return { body: entries.map((e) => `{"index":{}}\n${e.line}\n`).join(''), contentType: 'application/x-ndjson' };
  }
}

/**
 * The Authorization header for a token taken from the environment. Splunk HEC wants
 * `Splunk <token>`. For the other formats a bare token is sent as `Bearer <token>`; a value that
 * already holds a scheme (`ApiKey …`, `Basic …`: it contains a space) is sent as is, which is
 * how an Elasticsearch API key is given.
 */
export function authorizationHeader(format: AuditHttpConfig['format'], token: string): string {
  if (format === 'splunk-hec') return `Splunk ${token}`;
  return token.includes(' ') ? token : `Bearer ${token}`;
}
